"""Numba kernels of force training: forces from compact feature derivatives, and their adjoint.

The derivative data is a :class:`~anncli.network.pair_data.PairData` (see its module for the
layout).  A batch is given by ``rows`` (rows of the pair data, structure after structure),
``row_start`` (rows of batch structure s are ``row_start[s]:row_start[s + 1]``) and ``shift``
(atom numbers of the pair data plus ``shift[s]`` are batch atoms).  Both kernels run in
parallel over the batch structures: the atoms of one structure are only touched by its own
iteration, so the scatter of pair terms has no races.

``h[r, f]`` is the derivative of the energy with respect to the *raw* feature f of row r (the
network's input gradient times the inverse feature standard deviation).  With the pair terms
``t_p = sum_f h[r, f] dG_f(p)``, the forces are ``F_j -= t_p`` and ``F_k += t_p`` (j the
neighbour, k the centre of pair p).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, nogil=True, fastmath=True)
def pair_forces_nb(h, rows, row_start, shift, active, center_atom, pair_offset, neighbor, ptype,
                   unit, radial, basis, channel, cw, ang_offset, ang_pair, ang, ang_features,
                   forces) -> None:
    """forces[j] -= t_p, forces[k] += t_p for every pair p of every row of the active structures."""
    n_f = h.shape[1]
    n_b = radial.shape[1]
    n_t = cw.shape[0]
    n_a = ang_features.shape[0]
    todo = np.flatnonzero(active)  # a prange over the active structures only balances the threads
    for i_s in prange(todo.shape[0]):
        s = todo[i_s]
        hb = np.zeros((n_t, n_b))
        for r in range(row_start[s], row_start[s + 1]):
            g = rows[r]
            c = center_atom[g] + shift[s]
            hb[:, :] = 0.0
            for f in range(n_f):
                m = basis[f]
                if m >= 0:
                    hf = h[r, f]
                    for t in range(n_t):
                        hb[t, m] += cw[t, channel[f]] * hf
            for p in range(pair_offset[g], pair_offset[g + 1]):
                t = ptype[p]
                sc = 0.0
                for m in range(n_b):
                    sc += radial[p, m] * hb[t, m]
                j = neighbor[p] + shift[s]
                for a in range(3):
                    v = sc * unit[p, a]
                    forces[j, a] -= v
                    forces[c, a] += v
            for q in range(ang_offset[g], ang_offset[g + 1]):
                j = neighbor[ang_pair[q]] + shift[s]
                v0 = 0.0
                v1 = 0.0
                v2 = 0.0
                for i in range(n_a):
                    hf = h[r, ang_features[i]]
                    v0 += hf * ang[q, i, 0]
                    v1 += hf * ang[q, i, 1]
                    v2 += hf * ang[q, i, 2]
                forces[j, 0] -= v0
                forces[j, 1] -= v1
                forces[j, 2] -= v2
                forces[c, 0] += v0
                forces[c, 1] += v1
                forces[c, 2] += v2


@njit(parallel=True, cache=True, nogil=True, fastmath=True)
def contract_pairs_nb(adj, rows, row_start, shift, active, center_atom, pair_offset, neighbor, ptype,
                      unit, radial, basis, channel, cw, ang_offset, ang_pair, ang, ang_features,
                      out) -> None:
    """out[r, f] = sum_p dG_f(p) . (adj[j] - adj[k]): the adjoint of the forces with respect to
    the raw feature gradients (0 for rows of inactive structures)."""
    n_f = out.shape[1]
    n_b = radial.shape[1]
    n_t = cw.shape[0]
    n_a = ang_features.shape[0]
    for s in range(row_start.shape[0] - 1):
        if not active[s]:  # explicit loops: a slice assignment here would be a parallel region per structure
            for r in range(row_start[s], row_start[s + 1]):
                for f in range(n_f):
                    out[r, f] = 0.0
    todo = np.flatnonzero(active)
    for i_s in prange(todo.shape[0]):
        s = todo[i_s]
        acc = np.zeros((n_t, n_b))
        for r in range(row_start[s], row_start[s + 1]):
            for f in range(n_f):
                out[r, f] = 0.0
            g = rows[r]
            c = center_atom[g] + shift[s]
            acc[:, :] = 0.0
            for p in range(pair_offset[g], pair_offset[g + 1]):
                j = neighbor[p] + shift[s]
                du = ((adj[j, 0] - adj[c, 0]) * unit[p, 0] + (adj[j, 1] - adj[c, 1]) * unit[p, 1]
                      + (adj[j, 2] - adj[c, 2]) * unit[p, 2])
                t = ptype[p]
                for m in range(n_b):
                    acc[t, m] += radial[p, m] * du
            for f in range(n_f):
                m = basis[f]
                if m >= 0:
                    v = 0.0
                    for t in range(n_t):
                        v += cw[t, channel[f]] * acc[t, m]
                    out[r, f] = v
            for q in range(ang_offset[g], ang_offset[g + 1]):
                j = neighbor[ang_pair[q]] + shift[s]
                d0 = adj[j, 0] - adj[c, 0]
                d1 = adj[j, 1] - adj[c, 1]
                d2 = adj[j, 2] - adj[c, 2]
                for i in range(n_a):
                    out[r, ang_features[i]] += ang[q, i, 0] * d0 + ang[q, i, 1] * d1 + ang[q, i, 2] * d2


@njit(parallel=True, cache=True, nogil=True)
def compress_pairs_nb(dG, vectors, ptype, basis, channel, cw, ang_features, n_basis,
                      unit, radial, is_angular, error, largest) -> None:
    """Compact form of dense derivatives ``dG`` (n_pairs, n_features, 3), float64.

    ``radial[p, m]`` is the least-squares coefficient of basis m over the features that share
    it; ``error[p]`` the largest absolute difference between ``dG[p]``'s radial features and
    their compact form (0 up to rounding when the radial structure is right), ``largest[p]``
    the largest absolute derivative of the pair; ``is_angular[p]`` is True where an angular
    feature's derivative is non-zero.
    """
    n_f = dG.shape[1]
    n_a = ang_features.shape[0]
    for p in prange(dG.shape[0]):
        num = np.zeros(n_basis)
        den = np.zeros(n_basis)
        d = np.sqrt(vectors[p, 0] ** 2 + vectors[p, 1] ** 2 + vectors[p, 2] ** 2)
        u0 = vectors[p, 0] / d
        u1 = vectors[p, 1] / d
        u2 = vectors[p, 2] / d
        unit[p, 0] = u0
        unit[p, 1] = u1
        unit[p, 2] = u2
        t = ptype[p]
        for f in range(n_f):
            m = basis[f]
            if m >= 0:
                w = cw[t, channel[f]]
                num[m] += w * (dG[p, f, 0] * u0 + dG[p, f, 1] * u1 + dG[p, f, 2] * u2)
                den[m] += w * w
        for m in range(n_basis):
            if den[m] > 0.0:
                num[m] /= den[m]
            else:
                num[m] = 0.0
            radial[p, m] = num[m]
        worst = 0.0
        big = 0.0
        for f in range(n_f):
            big = max(big, abs(dG[p, f, 0]), abs(dG[p, f, 1]), abs(dG[p, f, 2]))
            m = basis[f]
            if m >= 0:
                a = cw[t, channel[f]] * num[m]
                worst = max(worst, abs(dG[p, f, 0] - a * u0), abs(dG[p, f, 1] - a * u1),
                            abs(dG[p, f, 2] - a * u2))
        error[p] = worst
        largest[p] = big
        flag = False
        for i in range(n_a):
            f = ang_features[i]
            if dG[p, f, 0] != 0.0 or dG[p, f, 1] != 0.0 or dG[p, f, 2] != 0.0:
                flag = True
        is_angular[p] = flag


@njit(parallel=True, cache=True, nogil=True)
def gather_angular_nb(dG, ang_pair, ang_features, out) -> None:
    """out[q, i] = dG[ang_pair[q], ang_features[i]] as float32."""
    for q in prange(ang_pair.shape[0]):
        p = ang_pair[q]
        for i in range(ang_features.shape[0]):
            f = ang_features[i]
            for a in range(3):
                out[q, i, a] = dG[p, f, a]
