"""Numba kernels of the potential engine: scatter of per-pair gradients into forces and virials.

Given the per-pair vectors ``g_q = dE/d vectors[p]`` of the pairs of a set of centres (see
:mod:`anncli.descriptors.base`), forces follow from ``F_j -= g_q`` (neighbour) and
``F_i += g_q`` (centre), the virial of the centre's structure from ``W -= outer(r_p, g_q)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from anncli.descriptors._scatter_kernels import scatter_centre


@njit(cache=True, nogil=True, parallel=True)
def scatter_columns_nb(nl_offsets, nl_index, nl_vectors, centers, center_pairs, g, atom_structure, do_virial,
                       forces, virials):
    """Add the pair gradients ``g`` of ``centers`` to ``forces`` and ``virials`` (in place), per column.

    Parameters
    ----------
    nl_offsets : int64 (n_atoms + 1,)
    nl_index : int64 (n_pairs,)
    nl_vectors : float64 (n_pairs, 3), Å
    centers : int64 (n_centers,)
        Their pairs, in neighbour-list order, are the rows of ``g``.
    center_pairs : int64 (n_centers + 1,)
        Rows ``center_pairs[c]:center_pairs[c + 1]`` of ``g`` are the pairs of centre ``c``.
    g : float64 (n_columns, n_center_pairs, 3), eV/Å
        One set of pair gradients per column (e.g. per committee member).
    atom_structure : int64 (n_atoms,)
        Structure of every batch atom.
    do_virial : bool
    forces : float64 (n_chunks, n_columns, n_atoms, 3), eV/Å
    virials : float64 (n_chunks, n_columns, n_structures, 3, 3), eV
        The centres are split into ``n_chunks`` contiguous chunks that run in parallel (with
        the columns), each adding to its own copy; the caller sums the copies.  The virial of
        every centre's pairs is summed before it is added to its structure's.
    """
    n_chunks = forces.shape[0]
    n_cols = g.shape[0]
    n_c = centers.shape[0]
    for item in prange(n_chunks * n_cols):
        k = item // n_cols
        col = item % n_cols
        c0 = (n_c * k) // n_chunks
        c1 = (n_c * (k + 1)) // n_chunks
        f = forces[k, col]
        for c in range(c0, c1):
            i = centers[c]
            q = center_pairs[c]
            count = nl_offsets[i + 1] - nl_offsets[i]
            scatter_centre(i, atom_structure[i], nl_offsets, nl_index, nl_vectors, count, g[col, q:q + count],
                           do_virial, f, virials[k, col])


@njit(cache=True)
def features_out_of_range_nb(x, lo, hi, tol, inv_span):
    """Per row: features outside ``[lo - tol, hi + tol]``, the worst of them and its excess.

    The excess of a feature is its distance to ``[lo, hi]`` times ``inv_span`` (1 / the
    training range): 0.5 means half the range beyond the nearest bound.

    Returns
    -------
    count : int64 (n,)
        Number of features out of range.
    worst : int64 (n,)
        The feature with the largest excess (-1 where count is 0).
    grade : float64 (n,)
        That largest excess (0 where count is 0).
    """
    n, m = x.shape
    count = np.zeros(n, dtype=np.int64)
    worst = np.full(n, -1, dtype=np.int64)
    grade = np.zeros(n)
    for a in range(n):
        for f in range(m):
            v = x[a, f]
            if v < lo[f] - tol[f] or v > hi[f] + tol[f]:
                e = (lo[f] - v if v < lo[f] else v - hi[f]) * inv_span[f]
                if count[a] == 0 or e > grade[a]:
                    worst[a] = f
                    grade[a] = e
                count[a] += 1
    return count, worst, grade
