"""Feedforward networks (one per species) evaluated in batches over atoms.

This module owns the network arithmetic: a layer computes ``h_l = f_l(h_{l-1} W_l^T + b_l)``
with ``W_l`` of shape (n_out, n_in) and ``b_l`` of shape (n_out,); the last layer has one
linear output.  All atoms of a species go through the network in one batched pass (numpy
matmul, i.e. BLAS), and the parameters of all species live in one flat vector so that
optimisers see a single array.

Parameter layout of a network (its slice of the flat vector): for every layer, ``W_l``
row-major, then ``b_l``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from anncli.network.activations import activate, canonical_name, second_derivative

logger = logging.getLogger(__name__)


@dataclass
class Network:
    """A feedforward network with a single linear output.

    Parameters
    ----------
    sizes : list of int
        Nodes per layer including input and output, e.g. ``[44, 15, 15, 1]``.
    activations : list of str
        One per non-input layer; the last one must be ``linear``.
    params : ndarray of shape (n_params,), optional
        Flat parameters (a view into a larger vector is fine, it is used in place).
    """

    sizes: list[int]
    activations: list[str]
    params: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.sizes = [int(n) for n in self.sizes]
        self.activations = [canonical_name(a) for a in self.activations]
        if len(self.sizes) < 2 or any(n < 1 for n in self.sizes):
            raise ValueError(f"invalid layer sizes {self.sizes}")
        if self.sizes[-1] != 1:
            raise ValueError(f"the output layer must have one node, got sizes {self.sizes}")
        if len(self.activations) != len(self.sizes) - 1:
            raise ValueError(
                f"{len(self.sizes) - 1} activations expected for sizes {self.sizes}, "
                f"got {self.activations}"
            )
        if self.activations[-1] != "linear":
            raise ValueError("the output layer of a network is linear")
        if self.params is None:
            self.params = np.zeros(self.n_params)
        if self.params.shape != (self.n_params,):
            raise ValueError(f"params of shape {self.params.shape}, expected ({self.n_params},)")
        self._bind()

    @staticmethod
    def count_params(sizes: list[int]) -> int:
        """Number of weights and biases of a network with layer ``sizes``."""
        return int(sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:])))

    @property
    def n_params(self) -> int:
        return self.count_params(self.sizes)

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    def _bind(self) -> None:
        """Create the views W_l, b_l into ``params``."""
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        self.slices: list[tuple[slice, slice]] = []
        pos = 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            ws = slice(pos, pos + n_out * n_in)
            pos += n_out * n_in
            bs = slice(pos, pos + n_out)
            pos += n_out
            self.weights.append(self.params[ws].reshape(n_out, n_in))
            self.biases.append(self.params[bs])
            self.slices.append((ws, bs))

    def _buf(self, key, n: int, m: int) -> np.ndarray:
        """Scratch array (n, m) reused between calls (grown when too small)."""
        ws = self.__dict__.setdefault("_workspace", {})
        buf = ws.get(key)
        if buf is None or buf.shape[0] < n or buf.shape[1] != m:
            buf = np.empty((max(n, 16), m))
            ws[key] = buf
        return buf[:n]

    def _ones(self, n: int) -> np.ndarray:
        ones = self.__dict__.get("_ones_buf")
        if ones is None or len(ones) < n:
            ones = self.__dict__["_ones_buf"] = np.ones(max(n, 16))
        return ones[:n]

    def set_params(self, params: np.ndarray) -> None:
        """Use ``params`` (shape (n_params,), used in place, not copied) as the parameters."""
        if params.shape != (self.n_params,):
            raise ValueError(f"params of shape {params.shape}, expected ({self.n_params},)")
        self.params = params
        self._bind()

    # ------------------------------------------------------------------ evaluation
    def forward(self, x: np.ndarray, keep: bool = False):
        """Evaluate the network on a batch.

        Parameters
        ----------
        x : ndarray of shape (n, n_inputs)
            Normalised inputs.
        keep : bool
            Also return the cache needed by :meth:`backward` / :meth:`input_gradient`.
            The cache lives in scratch arrays of this network: it is valid until the next
            call of :meth:`forward` on the same network (not thread-safe).

        Returns
        -------
        y : ndarray of shape (n,)
            Outputs.
        cache : list, only if ``keep``
            Layer inputs and activation derivatives.
        """
        h = x
        n = x.shape[0]
        inputs = []
        derivs = []
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = self._buf(("z", l), n, w.shape[0])
            np.matmul(h, w.T, out=z)
            z += b
            if keep:
                inputs.append(h)
            if l == last:
                h = z
            else:
                h, d = activate(self.activations[l], z, self._buf(("f", l), n, w.shape[0]),
                                self._buf(("d", l), n, w.shape[0]))
                if keep:
                    derivs.append(d)
        y = h[:, 0].copy()
        if keep:
            return y, (inputs, derivs)
        return y

    def backward(self, cache, dy: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
        """Accumulate the gradient of ``sum(dy * y)`` with respect to the parameters.

        Parameters
        ----------
        cache : from :meth:`forward` with ``keep=True``
        dy : ndarray of shape (n,)
            Derivative of the loss with respect to each output.
        grad : ndarray of shape (n_params,), optional
            Added to in place (a view of a larger gradient is fine); zeros if None.

        Returns
        -------
        grad : ndarray of shape (n_params,)
        """
        inputs, derivs = cache[0], cache[1]
        if grad is None:
            grad = np.zeros(self.n_params)
        delta = dy[:, None]
        for l in range(len(self.weights) - 1, -1, -1):
            ws, bs = self.slices[l]
            grad[ws] += (delta.T @ inputs[l]).ravel()
            grad[bs] += self._ones(delta.shape[0]) @ delta  # BLAS; faster than sum(axis=0)
            if l > 0:
                nxt = self._buf(("delta", l), delta.shape[0], self.weights[l].shape[1])
                np.matmul(delta, self.weights[l], out=nxt)
                nxt *= derivs[l - 1]
                delta = nxt
        return grad

    def per_sample_jacobian(self, cache) -> np.ndarray:
        """Gradient of every single output with respect to the parameters.

        Returns
        -------
        ndarray of shape (n, n_params)
            Row i is d y_i / d params.
        """
        inputs, derivs = cache
        n = inputs[0].shape[0]
        jac = np.empty((n, self.n_params))
        delta = np.ones((n, 1))
        for l in range(len(self.weights) - 1, -1, -1):
            ws, bs = self.slices[l]
            jac[:, ws] = (delta[:, :, None] * inputs[l][:, None, :]).reshape(n, -1)
            jac[:, bs] = delta
            if l > 0:
                delta = delta @ self.weights[l]
                delta *= derivs[l - 1]
        return jac

    def input_gradient(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outputs and their gradients with respect to the inputs.

        Parameters
        ----------
        x : ndarray of shape (n, n_inputs)

        Returns
        -------
        y : ndarray of shape (n,)
        dy_dx : ndarray of shape (n, n_inputs)
        """
        y, (inputs, derivs) = self.forward(x, keep=True)
        delta = np.ones((x.shape[0], 1))
        for l in range(len(self.weights) - 1, -1, -1):
            delta = delta @ self.weights[l]
            if l > 0:
                delta = delta * derivs[l - 1]
        return y, delta

    # ------------------------------------------------------------------ force training
    def forward_curvature(self, x: np.ndarray):
        """:meth:`forward` keeping also f''(z) of every hidden layer (for :meth:`force_backward`).

        Returns
        -------
        y : ndarray of shape (n,)
        cache : tuple
            (layer inputs, f'(z), f''(z)); valid until the next forward pass of this network.
        """
        y, (inputs, derivs) = self.forward(x, keep=True)
        n = x.shape[0]
        seconds = [second_derivative(self.activations[l], self._buf(("z", l), n, w.shape[0]),
                                     inputs[l + 1], derivs[l])
                   for l, w in enumerate(self.weights[:-1])]
        return y, (inputs, derivs, seconds)

    def input_gradient_from_cache(self, cache) -> np.ndarray:
        """d y / d x of every sample, shape (n, n_inputs), from a :meth:`forward` cache."""
        inputs, derivs = cache[0], cache[1]
        delta = np.broadcast_to(self.weights[-1], (inputs[0].shape[0], self.weights[-1].shape[1]))
        for l in range(len(self.weights) - 1, 0, -1):
            delta = (delta * derivs[l - 1]) @ self.weights[l - 1]
        return np.ascontiguousarray(delta)

    def force_backward(self, cache, v: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
        """Accumulate the parameter gradient of ``J = sum_i v_i . dy/dx (x_i)``.

        Force losses depend on the parameters through the input gradient; this is the
        reverse pass through that gradient (forward-mode tangent along ``v``, then backward
        through both the network and its tangent).

        Parameters
        ----------
        cache : from :meth:`forward_curvature`
        v : ndarray of shape (n, n_inputs)
            Direction of every sample.
        grad : ndarray of shape (n_params,), optional
            Added to in place; zeros if None.
        """
        inputs, derivs, seconds = cache
        if grad is None:
            grad = np.zeros(self.n_params)
        last = len(self.weights) - 1
        hdots, zdots = [v], []
        for l, w in enumerate(self.weights):  # tangents: z_l and h_l moved along v
            zd = hdots[-1] @ w.T
            zdots.append(zd)
            if l < last:
                hdots.append(derivs[l] * zd)
        adj_zd = np.ones((v.shape[0], 1))  # dJ/d(tangent of z_l)
        adj_z = None  # dJ/dz_l (zero at the output: J does not depend on y itself)
        for l in range(last, -1, -1):
            ws, bs = self.slices[l]
            gw = adj_zd.T @ hdots[l]
            if adj_z is not None:
                gw += adj_z.T @ inputs[l]
                grad[bs] += adj_z.sum(axis=0)
            grad[ws] += gw.ravel()
            if l > 0:
                w = self.weights[l]
                adj_hd = adj_zd @ w
                new_z = adj_hd * seconds[l - 1] * zdots[l - 1]
                if adj_z is not None:
                    new_z += (adj_z @ w) * derivs[l - 1]
                adj_zd = adj_hd * derivs[l - 1]
                adj_z = new_z
        return grad


def init_network_params(net: Network, rng: np.random.Generator) -> None:
    """Initialise the weights in place (ænet's scheme, seeded).

    Each weight of layer l (biases included) is drawn uniformly from ±sqrt(3/(n_in+1)), i.e.
    standard deviation 1/sqrt(n_in+1): with z-scored inputs the pre-activations then have
    unit variance, inside the non-linear range of tanh-like activations.  For ``relu``,
    ``gelu``, ``softplus`` and ``swish`` the range is widened by sqrt(2) (He scaling).
    """
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        n_in = w.shape[1]
        act = net.activations[l]
        bound = np.sqrt(3.0 / (n_in + 1))
        if act in ("relu", "gelu", "softplus", "swish"):
            bound *= np.sqrt(2.0)
        w[...] = rng.uniform(-bound, bound, size=w.shape)
        b[...] = rng.uniform(-bound, bound, size=b.shape)
