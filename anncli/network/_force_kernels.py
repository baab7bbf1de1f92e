"""Numba kernels of force training: forces from feature gradients, and their adjoint.

Pairs follow the training-set layout (docs/trainset-format.md): the pairs of centre row ``k``
are ``pair_offset[k]:pair_offset[k+1]``, ``neighbor[p]`` is the batch atom of pair ``p`` and
``dx[p, f, :]`` the derivative of (normalised) feature ``f`` of the centre with respect to
the pair vector R_j + T - R_k, so that d x_kf / d R_j = dx[p, f] and d x_kf / d R_k =
-sum_p dx[p, f].
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, nogil=True)
def pair_terms_nb(g: np.ndarray, pair_offset: np.ndarray, dx: np.ndarray, out: np.ndarray) -> None:
    """out[p] = sum_f g[k, f] * dx[p, f] for every pair p of every centre row k."""
    n_f = g.shape[1]
    for k in prange(g.shape[0]):
        for p in range(pair_offset[k], pair_offset[k + 1]):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            for f in range(n_f):
                gf = g[k, f]
                s0 += gf * dx[p, f, 0]
                s1 += gf * dx[p, f, 1]
                s2 += gf * dx[p, f, 2]
            out[p, 0] = s0
            out[p, 1] = s1
            out[p, 2] = s2


@njit(cache=True, nogil=True)
def scatter_forces_nb(centers: np.ndarray, pair_offset: np.ndarray, neighbor: np.ndarray,
                      terms: np.ndarray, forces: np.ndarray) -> None:
    """forces[j] -= terms[p], forces[centre] += terms[p] for every pair (serial: no races)."""
    for k in range(centers.shape[0]):
        c = centers[k]
        for p in range(pair_offset[k], pair_offset[k + 1]):
            j = neighbor[p]
            for a in range(3):
                forces[j, a] -= terms[p, a]
                forces[c, a] += terms[p, a]


@njit(parallel=True, cache=True, nogil=True)
def contract_pairs_nb(adj: np.ndarray, centers: np.ndarray, pair_offset: np.ndarray,
                      neighbor: np.ndarray, dx: np.ndarray, out: np.ndarray) -> None:
    """out[k, f] = sum_p dx[p, f] . (adj[neighbor[p]] - adj[centre k]): the adjoint of the
    forces with respect to the feature gradients."""
    n_f = dx.shape[1]
    for k in prange(centers.shape[0]):
        c = centers[k]
        for f in range(n_f):
            out[k, f] = 0.0
        for p in range(pair_offset[k], pair_offset[k + 1]):
            j = neighbor[p]
            d0 = adj[j, 0] - adj[c, 0]
            d1 = adj[j, 1] - adj[c, 1]
            d2 = adj[j, 2] - adj[c, 2]
            for f in range(n_f):
                out[k, f] += dx[p, f, 0] * d0 + dx[p, f, 1] * d1 + dx[p, f, 2] * d2
