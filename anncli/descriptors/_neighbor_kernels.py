"""Numba kernels of the batched cell-list neighbour search (private).

The orchestration (cell geometry, bin sizes, validation) lives in
:mod:`anncli.descriptors.neighbors`; these kernels trust their input:
float64 C-contiguous arrays, int64 indices, cells with a positive triangular
``cz``/``by``/``ax`` (see ``tri`` below).

Geometry conventions
--------------------
Every structure ``s`` has an *effective* cell ``cells[s]`` (rows = lattice vectors; for
non-periodic directions an arbitrary non-degenerate completion) and its inverse.
``tri[s] = (ax, bx, by, cx, cy, cz)`` are the lattice vectors in a rotated frame where the
cell is lower triangular: ``a = (ax, 0, 0)``, ``b = (bx, by, 0)``, ``c = (cx, cy, cz)``.
A fractional coordinate ``f`` maps to ``x = f0 ax + f1 bx + f2 cx``, ``y = f1 by + f2 cy``,
``z = f2 cz`` in that frame.  Only bin bounds use the rotated frame; displacement vectors
are computed in the original frame from the wrapped positions ``W = R - shift @ cell``
plus an integer lattice translation (equal to ``R_j + T - R_i`` up to round-off).

Bins: along direction ``k`` bin ``e`` covers the fractional interval
``[origin[s, k] + e * width[s, k], origin[s, k] + (e + 1) * width[s, k]]``.  Periodic
directions have origin 0, width 1/nb and any integer ``e`` (``e // nb`` is the image
shift); non-periodic directions only ``0 <= e < nb``.

Passes: the count pass tests every candidate (branch-free) and records one bit per candidate
(is it a pair?) in a per-atom bit stream; the fill pass enumerates the same candidates in the
same order and writes only those whose bit is set.  A pair is listed iff ``lo2 < d2 <= hi2``
(squared bounds chosen by the caller so that this equals ``1e-12 < sqrt(d2) <= cutoff``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.cpython.unsafe.numbers import trailing_zeros

#: Extra search radius (Å) covering round-off in fractional coordinates.
_SKIN = 1e-8
#: Modes of ``_search``.
MODE_COUNT = 0
MODE_FILL_BITS = 1
MODE_FILL_TEST = 2


@njit(cache=True, nogil=True)
def fractional_nb(positions, inv_cells, pbcs, atom_structure, frac, shifts):  # pragma: no cover
    """Fractional coordinates, wrapped into [0, 1) along periodic directions.

    Fills ``frac`` (n_atoms, 3) and the integer wraps ``shifts`` (n_atoms, 3) so that the
    wrapped position is ``positions[a] - shifts[a] @ cells[s]``.
    """
    n = positions.shape[0]
    for a in range(n):
        s = atom_structure[a]
        for k in range(3):
            f = (
                positions[a, 0] * inv_cells[s, 0, k]
                + positions[a, 1] * inv_cells[s, 1, k]
                + positions[a, 2] * inv_cells[s, 2, k]
            )
            sh = 0
            if pbcs[s, k]:
                fl = np.floor(f)
                sh = np.int64(fl)
                f = f - fl
                if f >= 1.0:
                    f = 0.0
                    sh += 1
            frac[a, k] = f
            shifts[a, k] = sh


@njit(cache=True, nogil=True)
def frac_extent_nb(frac, structure_offsets, lo, hi):  # pragma: no cover
    """Per-structure minimum and maximum fractional coordinate (lo, hi of shape (n_s, 3))."""
    n_s = structure_offsets.shape[0] - 1
    for s in range(n_s):
        for k in range(3):
            mn = np.inf
            mx = -np.inf
            for a in range(structure_offsets[s], structure_offsets[s + 1]):
                v = frac[a, k]
                if v < mn:
                    mn = v
                if v > mx:
                    mx = v
            if mn > mx:
                mn = 0.0
                mx = 0.0
            lo[s, k] = mn
            hi[s, k] = mx


@njit(cache=True, nogil=True)
def bin_atoms_nb(
    frac, structure_offsets, nbins, origin, width, bin_offsets, bin_start, sorted_atoms,
    positions, shifts, cells, wrapped, sorted_xyz,
):  # pragma: no cover
    """Counting sort of the atoms of every structure into its bins.

    ``bin_start`` (n_total_bins + 1) receives global CSR offsets into ``sorted_atoms``;
    ``wrapped[a] = positions[a] - shifts[a] @ cells[s]`` and ``sorted_xyz`` (3, n_atoms) holds
    their x, y and z in bin order (contiguous candidates for the distance loop).
    """
    n_s = structure_offsets.shape[0] - 1
    for s in range(n_s):
        a0 = structure_offsets[s]
        a1 = structure_offsets[s + 1]
        g0 = bin_offsets[s]
        nb0 = nbins[s, 0]
        nb1 = nbins[s, 1]
        nb2 = nbins[s, 2]
        nbt = nb0 * nb1 * nb2
        counts = np.zeros(nbt + 1, dtype=np.int64)
        ids = np.empty(a1 - a0, dtype=np.int64)
        for a in range(a0, a1):
            e0 = _bin_index(frac[a, 0], origin[s, 0], width[s, 0], nb0)
            e1 = _bin_index(frac[a, 1], origin[s, 1], width[s, 1], nb1)
            e2 = _bin_index(frac[a, 2], origin[s, 2], width[s, 2], nb2)
            b = (e2 * nb1 + e1) * nb0 + e0
            ids[a - a0] = b
            counts[b + 1] += 1
        for b in range(nbt):
            counts[b + 1] += counts[b]
        for b in range(nbt + 1):
            bin_start[g0 + b] = a0 + counts[b]
        for a in range(a0, a1):
            for k in range(3):
                wrapped[a, k] = (
                    positions[a, k]
                    - shifts[a, 0] * cells[s, 0, k]
                    - shifts[a, 1] * cells[s, 1, k]
                    - shifts[a, 2] * cells[s, 2, k]
                )
        for a in range(a0, a1):
            b = ids[a - a0]
            q = a0 + counts[b]
            sorted_atoms[q] = a
            sorted_xyz[0, q] = wrapped[a, 0]
            sorted_xyz[1, q] = wrapped[a, 1]
            sorted_xyz[2, q] = wrapped[a, 2]
            counts[b] += 1


@njit(cache=True, nogil=True)
def _bin_index(f, o, w, nb):  # pragma: no cover
    e = np.int64(np.floor((f - o) / w))
    if e < 0:
        e = 0
    if e >= nb:
        e = nb - 1
    return e


@njit(cache=True, nogil=True)
def _range(lo_coord, hi_coord, o, iw, nb, periodic):  # pragma: no cover
    """Bins whose fractional interval meets [lo_coord, hi_coord] (``iw`` = 1 / bin width).

    Round-off in the bounds is far below the search skin, so a bin that is left out holds no pair.
    """
    e_lo = np.int64(np.floor((lo_coord - o) * iw))
    e_hi = np.int64(np.floor((hi_coord - o) * iw))
    if not periodic:
        if e_lo < 0:
            e_lo = 0
        if e_hi > nb - 1:
            e_hi = nb - 1
    return e_lo, e_hi


@njit(cache=True, nogil=True, inline="always")
def _floordiv(e, nb):  # pragma: no cover
    """``e // nb`` (floor), without a division for the common single-bin case."""
    if nb == 1:
        return e
    return e // nb


@njit(cache=True, nogil=True)
def _search(
    i, mode, start, wrapped, sorted_xyz, frac, s, cells, tri, inv, pbcs, nbins, origin, width,
    bin_offsets, bin_start, sorted_atoms, cutoff, lo2, hi2, bits, out_index, out_vectors, out_distances,
    n_close,
):  # pragma: no cover
    """Count, or write from ``start`` on, the neighbours of atom ``i``; returns their number.

    A pair is listed iff ``lo2 < d2 <= hi2`` for its squared distance ``d2``, which the caller
    chose equivalent to ``1e-12 < sqrt(d2) <= cutoff``.  Along the first lattice direction the
    bins of one periodic image are contiguous in ``sorted_xyz``, so every (z, y) bin row is
    scanned as at most one contiguous segment per image.  Candidates are enumerated in the same
    order in every mode:

    * ``MODE_COUNT``: count, and record which candidates are pairs as a bit stream in
      ``bits[i]`` (one bit per candidate, in enumeration order); returns ``-(count + 1)`` if
      the stream did not fit in ``bits[i]``.  ``n_close[i]`` gets the number of candidates with
      ``d2 <= lo2``: 1 (the atom itself) unless other atoms sit at the same position.
    * ``MODE_FILL_BITS``: write the pairs whose bits are set (no distance test, no mispredicted
      branches).
    * ``MODE_FILL_TEST``: write the pairs found by testing every candidate (atoms whose bit
      stream did not fit).
    """
    ax = tri[s, 0]
    bx = tri[s, 1]
    by = tri[s, 2]
    cx = tri[s, 3]
    cy = tri[s, 4]
    cz = tri[s, 5]
    f0 = frac[i, 0]
    f1 = frac[i, 1]
    f2 = frac[i, 2]
    zi = f2 * cz
    yi = f1 * by + f2 * cy
    xi = f0 * ax + f1 * bx + f2 * cx
    r = cutoff + _SKIN
    r2 = r * r
    nb0 = nbins[s, 0]
    nb1 = nbins[s, 1]
    nb2 = nbins[s, 2]
    o0 = origin[s, 0]
    o1 = origin[s, 1]
    o2 = origin[s, 2]
    w1 = width[s, 1]
    w2 = width[s, 2]
    # inv[s] = (1 / ax, 1 / by, 1 / cz, 1 / w0, 1 / w1, 1 / w2)
    iax = inv[s, 0]
    iby = inv[s, 1]
    icz = inv[s, 2]
    iw0 = inv[s, 3]
    iw1 = inv[s, 4]
    iw2 = inv[s, 5]
    p0 = pbcs[s, 0]
    p1 = pbcs[s, 1]
    p2 = pbcs[s, 2]
    g0 = bin_offsets[s]
    wix = wrapped[i, 0]
    wiy = wrapped[i, 1]
    wiz = wrapped[i, 2]
    c00 = cells[s, 0, 0]
    c01 = cells[s, 0, 1]
    c02 = cells[s, 0, 2]
    c10 = cells[s, 1, 0]
    c11 = cells[s, 1, 1]
    c12 = cells[s, 1, 2]
    c20 = cells[s, 2, 0]
    c21 = cells[s, 2, 1]
    c22 = cells[s, 2, 2]
    sx = sorted_xyz[0]
    sy = sorted_xyz[1]
    sz = sorted_xyz[2]
    count = 0
    close = 0  # candidates at d2 <= lo2: the atom itself and any atom on top of it
    cur = 0  # position in the bit stream
    cap = bits.shape[1] * 64
    fits = True
    e2_lo, e2_hi = _range((zi - r) * icz, (zi + r) * icz, o2, iw2, nb2, p2)
    for e2 in range(e2_lo, e2_hi + 1):
        f2a = o2 + e2 * w2
        f2b = f2a + w2
        dz = max(0.0, f2a * cz - zi, zi - f2b * cz)
        ry2 = r2 - dz * dz
        if ry2 < 0.0:
            continue
        ry = np.sqrt(ry2)
        cyl = min(f2a * cy, f2b * cy)
        cyh = max(f2a * cy, f2b * cy)
        cxl = min(f2a * cx, f2b * cx)
        cxh = max(f2a * cx, f2b * cx)
        if p2:
            n2 = _floordiv(e2, nb2)
            b2 = e2 - n2 * nb2
        else:
            n2 = 0
            b2 = e2
        e1_lo, e1_hi = _range((yi - ry - cyh) * iby, (yi + ry - cyl) * iby, o1, iw1, nb1, p1)
        for e1 in range(e1_lo, e1_hi + 1):
            f1a = o1 + e1 * w1
            f1b = f1a + w1
            dy = max(0.0, f1a * by + cyl - yi, yi - f1b * by - cyh)
            rx2 = ry2 - dy * dy
            if rx2 < 0.0:
                continue
            rx = np.sqrt(rx2)
            xl = min(f1a * bx, f1b * bx) + cxl
            xh = max(f1a * bx, f1b * bx) + cxh
            if p1:
                n1 = _floordiv(e1, nb1)
                b1 = e1 - n1 * nb1
            else:
                n1 = 0
                b1 = e1
            e0_lo, e0_hi = _range((xi - rx - xh) * iax, (xi + rx - xl) * iax, o0, iw0, nb0, p0)
            if e0_hi < e0_lo:
                continue
            if p0:
                n0_lo = _floordiv(e0_lo, nb0)
                n0_hi = _floordiv(e0_hi, nb0)
            else:
                n0_lo = 0
                n0_hi = 0
            row = g0 + (b2 * nb1 + b1) * nb0
            for n0 in range(n0_lo, n0_hi + 1):
                # bins [b_lo, b_hi] of image n0 along the first direction: one contiguous segment
                b_lo = max(e0_lo - n0 * nb0, 0)
                b_hi = min(e0_hi - n0 * nb0, nb0 - 1)
                q0 = bin_start[row + b_lo]
                q1 = bin_start[row + b_hi + 1]
                # translation of this image minus the centre: vectors = W_j + T - W_i
                ox = n0 * c00 + n1 * c10 + n2 * c20 - wix
                oy = n0 * c01 + n1 * c11 + n2 * c21 - wiy
                oz = n0 * c02 + n1 * c12 + n2 * c22 - wiz
                if mode == MODE_COUNT:
                    qb = q0
                    while qb < q1:
                        nq = min(64, q1 - qb)
                        m = np.uint64(0)
                        for k in range(nq):
                            q = qb + k
                            vx = sx[q] + ox
                            vy = sy[q] + oy
                            vz = sz[q] + oz
                            d2 = vx * vx + vy * vy + vz * vz
                            hit = (d2 <= hi2) & (d2 > lo2)
                            count += hit
                            close += d2 <= lo2
                            m |= np.uint64(hit) << np.uint64(k)
                        if fits and cur + nq > cap:
                            fits = False
                        if fits:
                            w = cur >> 6
                            sh = cur & 63
                            if sh == 0:
                                bits[i, w] = m
                            else:
                                bits[i, w] |= m << np.uint64(sh)
                                if sh + nq > 64:
                                    bits[i, w + 1] = m >> np.uint64(64 - sh)
                        cur += nq
                        qb += 64
                elif mode == MODE_FILL_BITS:
                    qb = q0
                    while qb < q1:
                        nq = min(64, q1 - qb)
                        w = cur >> 6
                        sh = cur & 63
                        m = bits[i, w] >> np.uint64(sh)
                        if sh + nq > 64:
                            m |= bits[i, w + 1] << np.uint64(64 - sh)
                        if nq < 64:
                            m &= (np.uint64(1) << np.uint64(nq)) - np.uint64(1)
                        cur += nq
                        while m != 0:
                            q = qb + trailing_zeros(m)
                            m &= m - np.uint64(1)
                            vx = sx[q] + ox
                            vy = sy[q] + oy
                            vz = sz[q] + oz
                            p = start + count
                            out_index[p] = sorted_atoms[q]
                            out_vectors[p, 0] = vx
                            out_vectors[p, 1] = vy
                            out_vectors[p, 2] = vz
                            out_distances[p] = np.sqrt(vx * vx + vy * vy + vz * vz)
                            count += 1
                        qb += 64
                else:
                    for q in range(q0, q1):
                        vx = sx[q] + ox
                        vy = sy[q] + oy
                        vz = sz[q] + oz
                        d2 = vx * vx + vy * vy + vz * vz
                        if d2 <= hi2 and d2 > lo2:
                            p = start + count
                            out_index[p] = sorted_atoms[q]
                            out_vectors[p, 0] = vx
                            out_vectors[p, 1] = vy
                            out_vectors[p, 2] = vz
                            out_distances[p] = np.sqrt(d2)
                            count += 1
    if mode == MODE_COUNT:
        n_close[i] = close
        if not fits:
            return -(count + 1)
    return count


@njit(cache=True, nogil=True, parallel=True)
def neighbor_pass_nb(
    wrapped, sorted_xyz, frac, atom_structure, cells, tri, inv, pbcs, nbins, origin, width,
    bin_offsets, bin_start, sorted_atoms, cutoff, lo2, hi2, fill, offsets, counts, bits, out_index, out_vectors,
    out_distances, n_close,
):  # pragma: no cover
    """One pass over all atoms of the batch (parallel).

    ``fill`` False: number of neighbours of every atom into ``counts`` (n_atoms,), and the bit
    stream of its candidates into ``bits`` (n_atoms, n_words) uint64; an atom whose stream does
    not fit gets ``-(count + 1)``.
    ``fill`` True: the pairs of atom ``i`` into ``out_*[offsets[i]:offsets[i + 1]]``, from the bit
    stream where ``counts[i] >= 0``, else by testing the candidates again.
    The count pass also writes ``n_close`` (n_atoms,): candidates at ``d2 <= lo2``, the atom
    itself included (more than 1 means another atom sits on top of it).
    """
    for i in prange(wrapped.shape[0]):
        if fill:
            mode = MODE_FILL_BITS if counts[i] >= 0 else MODE_FILL_TEST
            _search(
                i, mode, offsets[i], wrapped, sorted_xyz, frac, atom_structure[i], cells, tri, inv, pbcs, nbins,
                origin, width, bin_offsets, bin_start, sorted_atoms, cutoff, lo2, hi2, bits, out_index,
                out_vectors, out_distances, n_close,
            )
        else:
            counts[i] = _search(
                i, MODE_COUNT, 0, wrapped, sorted_xyz, frac, atom_structure[i], cells, tri, inv, pbcs, nbins,
                origin, width, bin_offsets, bin_start, sorted_atoms, cutoff, lo2, hi2, bits, out_index,
                out_vectors, out_distances, n_close,
            )


@njit(cache=True, nogil=True, parallel=True)
def min_distance_per_structure_nb(offsets, distances, structure_offsets, out):  # pragma: no cover
    """Smallest pair distance of every structure (inf if it has no pair)."""
    n_s = structure_offsets.shape[0] - 1
    for s in prange(n_s):
        m = np.inf
        for p in range(offsets[structure_offsets[s]], offsets[structure_offsets[s + 1]]):
            if distances[p] < m:
                m = distances[p]
        out[s] = m


@njit(cache=True, nogil=True)
def first_missing_neighbor_nb(offsets, index, distances, centers, env_types, cutoff):  # pragma: no cover
    """First (centre, pair) whose neighbour within ``cutoff`` has ``env_types == -1``.

    Returns (-1, -1) if every neighbour species is known.
    """
    for c in range(centers.shape[0]):
        i = centers[c]
        for p in range(offsets[i], offsets[i + 1]):
            if distances[p] <= cutoff and env_types[index[p]] < 0:
                return c, p
    return -1, -1
