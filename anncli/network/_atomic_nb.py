"""One atom's network pass inside Numba kernels: energy and dE/dG (private).

The potential engine's fused force kernel (:mod:`anncli.descriptors._chebyshev_forces`)
evaluates every centre's network right after its features, while the centre's neighbour data
are still in cache.  This module owns the flat packing of one species' networks (one or the
members of a committee, normalisation folded in: :class:`anncli.potential.folded.FoldedNetwork`)
and the per-atom forward and backward pass.

Packing: ``wflat`` holds, for every member and layer, ``W_l`` (n_out, n_in) row-major and
then ``b_l``; ``layers[m, l] = (n_in, n_out, w_offset, b_offset, activation code)``;
``n_layers[m]`` layers of member ``m`` (the last one linear with one output).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit

logger = logging.getLogger(__name__)

__all__ = ["ACTIVATION_CODES", "PackedNetworks", "pack_networks"]

#: Activations the kernel evaluates, by code (as :mod:`anncli.network.activations`).
ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "mtanh": 3, "twist": 4, "relu": 5, "gelu": 6,
                    "softplus": 7, "swish": 8}
_MTANH_A = 1.7159
_MTANH_B = 0.666666666666667
_TWIST_SLOPE = 0.1
_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


class PackedNetworks:
    """The networks of one species (a committee's members), packed for the kernels.

    Attributes
    ----------
    wflat : ndarray of shape (n_params,), float64
    layers : ndarray of shape (n_members, max_layers, 5), int64
    n_layers : ndarray of shape (n_members,), int64
    width : int
        Largest layer width (inputs included).
    """

    def __init__(self, wflat: np.ndarray, layers: np.ndarray, n_layers: np.ndarray, width: int) -> None:
        self.wflat = wflat
        self.layers = layers
        self.n_layers = n_layers
        self.width = width

    @property
    def n_members(self) -> int:
        """Number of networks."""
        return int(self.layers.shape[0])


def pack_networks(folded: list) -> PackedNetworks | None:
    """Pack :class:`~anncli.potential.folded.FoldedNetwork` objects (one species); None if impossible.

    Parameters
    ----------
    folded : list of FoldedNetwork
        Weights ``w[l]`` (n_out, n_in), biases ``b[l]`` and hidden-layer activations ``acts``.

    Returns
    -------
    PackedNetworks or None
        None if an activation has no kernel code (the caller then uses the batched path).
    """
    chunks: list[np.ndarray] = []
    n_max = max(len(f.w) for f in folded)
    layers = np.zeros((len(folded), n_max, 5), dtype=np.int64)
    n_layers = np.zeros(len(folded), dtype=np.int64)
    off = 0
    width = 1
    for m, f in enumerate(folded):
        n_layers[m] = len(f.w)
        for l, (w, b) in enumerate(zip(f.w, f.b)):
            w = np.ascontiguousarray(w, dtype=np.float64)
            b = np.ascontiguousarray(b, dtype=np.float64).ravel()
            last = l == len(f.w) - 1
            act = "linear" if last else f.acts[l]
            if act not in ACTIVATION_CODES or (last and w.shape[0] != 1):
                return None
            n_out, n_in = w.shape
            layers[m, l] = (n_in, n_out, off, off + w.size, ACTIVATION_CODES[act])
            chunks += [w.ravel(), b]
            off += w.size + b.size
            width = max(width, n_in, n_out)
    return PackedNetworks(np.concatenate(chunks), layers, n_layers, width)


@njit(cache=True, nogil=True, inline="always")
def _activate(code, z):  # pragma: no cover
    """f(z) and f'(z) of activation ``code``."""
    if code == 1:
        f = math.tanh(z)
        return f, 1.0 - f * f
    if code == 0:
        return z, 1.0
    if code == 2:
        f = 1.0 / (1.0 + math.exp(-z)) if z >= 0.0 else math.exp(z) / (1.0 + math.exp(z))
        return f, f * (1.0 - f)
    if code == 3 or code == 4:
        t = math.tanh(_MTANH_B * z)
        f = _MTANH_A * t
        d = _MTANH_A * _MTANH_B * (1.0 - t * t)
        if code == 4:
            return f + _TWIST_SLOPE * z, d + _TWIST_SLOPE
        return f, d
    if code == 5:
        return (z, 1.0) if z > 0.0 else (0.0, 0.0)
    if code == 6:
        cdf = 0.5 * (1.0 + math.erf(z * _SQRT_HALF))
        return z * cdf, cdf + z * _INV_SQRT_2PI * math.exp(-0.5 * z * z)
    s = 1.0 / (1.0 + math.exp(-z)) if z >= 0.0 else math.exp(z) / (1.0 + math.exp(z))
    if code == 7:  # softplus = logaddexp(0, z)
        return max(z, 0.0) + math.log1p(math.exp(-abs(z))), s
    f = z * s  # swish
    return f, s + f * (1.0 - s)


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def energy_and_gradient(x, wflat, layers, n_layers, m, hbuf, dbuf, grad):  # pragma: no cover
    """Energy of member ``m`` for features ``x`` (n_in,); dE/dx into ``grad`` (n_in,).

    ``hbuf`` (max_layers + 1, width) and ``dbuf`` (max_layers, width) are scratch.
    """
    nlay = n_layers[m]
    n0 = layers[m, 0, 0]
    for i in range(n0):
        hbuf[0, i] = x[i]
    for l in range(nlay):
        n_in = layers[m, l, 0]
        n_out = layers[m, l, 1]
        wo = layers[m, l, 2]
        bo = layers[m, l, 3]
        code = layers[m, l, 4]
        hin = hbuf[l]
        for o in range(n_out):
            base = wo + o * n_in
            z = 0.0
            for i in range(n_in):
                z += wflat[base + i] * hin[i]
            z += wflat[bo + o]
            if l == nlay - 1:
                hbuf[l + 1, o] = z
            else:
                f, d = _activate(code, z)
                hbuf[l + 1, o] = f
                dbuf[l, o] = d
    energy = hbuf[nlay, 0]
    # backward: delta_l = (delta_{l+1} W_{l+1}) * f'_l, starting from the linear output row
    last = nlay - 1
    n_in = layers[m, last, 0]
    wo = layers[m, last, 2]
    # rows 0 and 1 of hbuf (width >= every layer; the activations are no longer needed) hold
    # delta and the next delta: ``grad`` has the input's length only, narrower than a hidden
    # layer may be
    delta = hbuf[0]
    acc = hbuf[1]
    for i in range(n_in):
        delta[i] = wflat[wo + i]
    for l in range(last - 1, -1, -1):
        n_in = layers[m, l, 0]
        n_out = layers[m, l, 1]
        wo = layers[m, l, 2]
        for o in range(n_out):
            delta[o] *= dbuf[l, o]
        for i in range(n_in):
            acc[i] = 0.0
        for o in range(n_out):
            do = delta[o]
            base = wo + o * n_in
            for i in range(n_in):
                acc[i] += do * wflat[base + i]
        for i in range(n_in):
            delta[i] = acc[i]
    for i in range(n0):
        grad[i] = delta[i]
    return energy
