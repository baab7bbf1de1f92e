"""One species' network with feature normalisation and energy scale folded into its weights.

This module owns the batched evaluation of atomic energies and their gradients with respect
to the raw features, as the potential engine needs them (:mod:`anncli.potential.evaluate`).
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["FoldedNetwork", "NET_CHUNK"]

#: Rows per network matmul: OpenBLAS goes multi-threaded above a few thousand rows, which for
#: these skinny matrices is slower (and much slower on a busy machine) than one thread.
NET_CHUNK = 2048


class FoldedNetwork:
    """One species' network with the feature normalisation and energy scale folded in.

    ``E_i = ANN((G_i - mean) * inv_std) / scale + shift + E_atom`` (the Model's
    convention, ``inv_std = 0`` where ``std <= 1e-10``) is evaluated as a network on the
    raw features whose first layer is ``W1 * inv_std`` with bias ``b1 - (W1 * inv_std) @ mean``
    and whose output layer is divided by ``scale``.
    """

    def __init__(self, model, sym: str, net=None) -> None:
        from anncli.network.activations import activate

        self._activate = activate
        net = model.networks[sym] if net is None else net  # a committee member's network
        std = np.asarray(model.feature_std[sym], dtype=float)
        inv = np.where(std > 1e-10, 1.0 / np.where(std > 1e-10, std, 1.0), 0.0)
        mean = np.asarray(model.feature_mean[sym], dtype=float)
        ws = [np.array(w, dtype=float) for w in net.weights]
        bs = [np.array(b, dtype=float) for b in net.biases]
        ws[0] = ws[0] * inv[None, :]
        bs[0] = bs[0] - ws[0] @ mean
        ws[-1] = ws[-1] / model.energy_scale
        bs[-1] = bs[-1] / model.energy_scale + model.energy_shift + model.reference_energy(sym)
        self.wt = [np.ascontiguousarray(w.T) for w in ws]  # (n_in, n_out) for x @ wt
        self.w = [np.ascontiguousarray(w) for w in ws]
        self.b = bs
        self.acts = list(net.activations)

    def energies(self, x: np.ndarray) -> np.ndarray:
        """Atomic energies (eV, reference included) of raw features ``x`` (n, n_features)."""
        out = np.empty(x.shape[0])
        for a in range(0, x.shape[0], NET_CHUNK):
            out[a:a + NET_CHUNK] = self._energies(x[a:a + NET_CHUNK])
        return out

    def energies_and_gradients(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Atomic energies (eV) and dE_i/dG_i (eV per feature unit), shapes (n,), (n, n_features)."""
        e = np.empty(x.shape[0])
        g = np.empty(x.shape)
        for a in range(0, x.shape[0], NET_CHUNK):
            e[a:a + NET_CHUNK], g[a:a + NET_CHUNK] = self._energies_and_gradients(x[a:a + NET_CHUNK])
        return e, g

    def _energies(self, x: np.ndarray) -> np.ndarray:
        h = x
        last = len(self.wt) - 1
        for l, (wt, b) in enumerate(zip(self.wt, self.b)):
            z = h @ wt
            z += b
            h = z if l == last else self._act(l, z, need_d=False)[0]
        return h[:, 0]

    def _act(self, l: int, z: np.ndarray, need_d: bool = True):
        name = self.acts[l]
        if name == "tanh":
            f = np.tanh(z, out=z)
            if not need_d:
                return f, None
            d = f * f
            np.subtract(1.0, d, out=d)
            return f, d
        return self._activate(name, z)

    def _energies_and_gradients(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = x
        derivs = []
        last = len(self.wt) - 1
        for l, (wt, b) in enumerate(zip(self.wt, self.b)):
            z = h @ wt
            z += b
            if l == last:
                h = z
            else:
                h, d = self._act(l, z)
                derivs.append(d)
        delta = np.broadcast_to(self.w[last], (x.shape[0], self.w[last].shape[1]))
        for l in range(last - 1, -1, -1):
            delta = delta * derivs[l]
            delta = delta @ self.w[l]
        return h[:, 0], delta
