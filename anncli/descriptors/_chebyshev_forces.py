"""Numba kernels of Chebyshev pair gradients and of the fused force pass (private).

:func:`pair_gradients_nb` contracts dE/dG with the per-pair feature derivatives (one or
several columns, e.g. committee members) without storing them.  :func:`fused_forces_scatter_nb`
does the whole per-centre work of a force evaluation in one sweep: neighbour gathering,
features, the species' network(s) (:mod:`anncli.network._atomic_nb`), the pair gradients and
their forces and virial, so the gathered pairs, Chebyshev tables and angular moments are
computed once per centre and used while still in cache, and no per-pair array goes through
memory (forces go into one copy per thread).  Both run in parallel over blocks of centres.

Per centre (see :mod:`anncli.descriptors._chebyshev_kernels` for the notation), the radial
tables ``T_n(x_k)`` and ``T'_n(x_k)`` are computed once and every column costs one pass
over them; the angular part of a column evaluates the polynomial
``P(u) = sum_n e_n G_n(u)`` and its gradient on the monomial basis, where the monomials of
the top degree ``na`` contribute to ``P`` only (their derivatives are of lower degree).
Preconditions as in :mod:`anncli.descriptors._chebyshev_kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from anncli.descriptors._chebyshev_kernels import FASTMATH, _gather
from anncli.descriptors._scatter_kernels import scatter_centre
from anncli.network._atomic_nb import energy_and_gradient
# Numba's on-disk cache of this module's kernels is keyed by this file alone: a change of
# energy_and_gradient (compiled into the fused kernel) must come with a change here, or an
# existing cache keeps the old code (2026-11-26: energy_and_gradient no longer writes past dE/dx).


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _radial_tables(nrp, sc, typed, nr, half, tt, dt, row):  # pragma: no cover
    """R_n (and R~_n) into ``row``; T_n(x_k) into ``tt[n, k]`` and T'_n(x_k) into ``dt[n, k]``."""
    for k in range(nrp):
        tt[0, k] = 1.0
        dt[0, k] = 0.0
    if nr >= 1:
        for k in range(nrp):
            tt[1, k] = sc[0, k]
            dt[1, k] = 1.0
    for n in range(2, nr + 1):
        for k in range(nrp):
            x = sc[0, k]
            tt[n, k] = 2.0 * x * tt[n - 1, k] - tt[n - 2, k]
            dt[n, k] = 2.0 * tt[n - 1, k] + 2.0 * x * dt[n - 1, k] - dt[n - 2, k]
    for n in range(nr + 1):
        a = 0.0
        for k in range(nrp):
            a += sc[1, k] * tt[n, k]
        row[n] = a
        if typed:
            a = 0.0
            for k in range(nrp):
                a += sc[18, k] * tt[n, k]
            row[half + n] = a


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _angular_2d(nap, sc, typed, nrad, half, na, deg, mult, parent, axis, tcoef, mono, s_mom, st_mom, row):  # pragma: no cover
    """:func:`~anncli.descriptors._chebyshev_kernels._angular` with 2-D indexing (no row views,
    whose reference counts cost more than the arithmetic here) and both moments in one sweep."""
    nm = deg.shape[0]
    for k in range(nap):
        mono[0, k] = 1.0
    for q in range(1, nm):
        pq = parent[q]
        aq = 10 + axis[q]
        for k in range(nap):
            mono[q, k] = mono[pq, k] * sc[aq, k]
    qsum = 0.0
    qtsum = 0.0
    for k in range(nap):
        qsum += sc[5, k] * sc[5, k]
    if typed:
        for k in range(nap):
            qtsum += sc[8, k] * sc[8, k]
        for q in range(nm):
            acc = 0.0
            acct = 0.0
            for k in range(nap):
                m = mono[q, k]
                acc += sc[5, k] * m
                acct += sc[8, k] * m
            s_mom[q] = acc
            st_mom[q] = acct
    else:
        for q in range(nm):
            acc = 0.0
            for k in range(nap):
                acc += sc[5, k] * mono[q, k]
            s_mom[q] = acc
    for n in range(na + 1):
        acc = 0.0
        acct = 0.0
        for q in range(nm):
            c = tcoef[n, deg[q]] * mult[q]
            acc += c * s_mom[q] * s_mom[q]
            if typed:
                acct += c * st_mom[q] * st_mom[q]
        row[nrad + n] = 0.5 * (acc - qsum)
        if typed:
            row[half + nrad + n] = 0.5 * (acct - qtsum)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _column(
    nrp, nap, sc, tt, dt, mono, s_mom, st_mom, acc, kc, wdeg, wdegt, e, typed, nr, na, deg, mult, lower,
    power, tcoef, rr, q0, gout,
):  # pragma: no cover
    """sum_f e_f dG_f/dv for the pairs of one centre, added to ``gout[q0 + local pair]``.

    ``acc`` (6, max neighbours) is scratch; ``kc`` (8, n_mono), ``wdeg``/``wdegt`` (na + 1).
    Arrays are indexed in 2-D throughout (row views would cost a reference count each).
    """
    nm = deg.shape[0]
    nrad = nr + 1
    nang = na + 1
    half = nrad + nang
    two_rr = 2.0 / rr
    # ---- radial: v_k = fc'(d) sum_n w_n T_n + fc(d) (2/rc) sum_n w_n T'_n, w_n = e_n + s_k e~_n
    # (four orders per sweep over the pairs; absent orders repeat the last with weight 0)
    for k in range(nrp):
        acc[0, k] = 0.0
        acc[1, k] = 0.0
    for n in range(0, nrad, 4):
        n1 = min(n + 1, nr)
        n2 = min(n + 2, nr)
        n3 = min(n + 3, nr)
        e0 = e[n]
        e1 = e[n1] if n + 1 <= nr else 0.0
        e2 = e[n2] if n + 2 <= nr else 0.0
        e3 = e[n3] if n + 3 <= nr else 0.0
        if typed:
            f0 = e[half + n]
            f1 = e[half + n1] if n + 1 <= nr else 0.0
            f2 = e[half + n2] if n + 2 <= nr else 0.0
            f3 = e[half + n3] if n + 3 <= nr else 0.0
            for k in range(nrp):
                s = sc[3, k]
                w0 = e0 + s * f0
                w1 = e1 + s * f1
                w2 = e2 + s * f2
                w3 = e3 + s * f3
                acc[0, k] += w0 * tt[n, k] + w1 * tt[n1, k] + w2 * tt[n2, k] + w3 * tt[n3, k]
                acc[1, k] += w0 * dt[n, k] + w1 * dt[n1, k] + w2 * dt[n2, k] + w3 * dt[n3, k]
        else:
            for k in range(nrp):
                acc[0, k] += e0 * tt[n, k] + e1 * tt[n1, k] + e2 * tt[n2, k] + e3 * tt[n3, k]
                acc[1, k] += e0 * dt[n, k] + e1 * dt[n1, k] + e2 * dt[n2, k] + e3 * dt[n3, k]
    for k in range(nrp):
        v = sc[2, k] * acc[0, k] + sc[1, k] * acc[1, k] * two_rr
        p = q0 + np.int64(sc[16, k])
        gout[p, 0] += v * sc[13, k]
        gout[p, 1] += v * sc[14, k]
        gout[p, 2] += v * sc[15, k]
    # ---- angular: polynomial coefficients sum_n e_n t_nm mult_q S_q on the monomials
    esum = 0.0
    esumt = 0.0
    for m in range(nang):
        wdeg[m] = 0.0
        wdegt[m] = 0.0
    for n in range(nang):
        esum += e[nrad + n]
        if typed:
            esumt += e[half + nrad + n]
        for m in range(nang):
            wdeg[m] += e[nrad + n] * tcoef[n, m]
            if typed:
                wdegt[m] += e[half + nrad + n] * tcoef[n, m]
    for r in range(8):
        for q in range(nm):
            kc[r, q] = 0.0
    for q in range(nm):
        c = wdeg[deg[q]] * mult[q] * s_mom[q]
        kc[0, q] = c
        for ax in range(3):
            if power[q, ax] > 0:
                kc[1 + ax, lower[q, ax]] += c * power[q, ax]
        if typed:
            c = wdegt[deg[q]] * mult[q] * st_mom[q]
            kc[4, q] = c
            for ax in range(3):
                if power[q, ax] > 0:
                    kc[5 + ax, lower[q, ax]] += c * power[q, ax]
    # monomials of degree < na carry value and gradient coefficients, those of degree na the value
    # only; four monomials per sweep over the pairs (absent ones repeat the last with coefficient 0)
    n_low = nm - (na + 1) * (na + 2) // 2
    for k in range(nap):
        acc[2, k] = 0.0
        acc[3, k] = 0.0
        acc[4, k] = 0.0
        acc[5, k] = 0.0
    r = 0
    while r < nm:
        top = r >= n_low
        end = nm if top else n_low
        r1 = min(r + 1, end - 1)
        r2 = min(r + 2, end - 1)
        r3 = min(r + 3, end - 1)
        z1 = 1.0 if r + 1 < end else 0.0
        z2 = 1.0 if r + 2 < end else 0.0
        z3 = 1.0 if r + 3 < end else 0.0
        c00 = kc[0, r]
        c01 = z1 * kc[0, r1]
        c02 = z2 * kc[0, r2]
        c03 = z3 * kc[0, r3]
        c40 = kc[4, r]
        c41 = z1 * kc[4, r1]
        c42 = z2 * kc[4, r2]
        c43 = z3 * kc[4, r3]
        if top:
            if typed:
                for k in range(nap):
                    s = sc[7, k]
                    acc[2, k] += ((c00 + s * c40) * mono[r, k] + (c01 + s * c41) * mono[r1, k]
                                  + (c02 + s * c42) * mono[r2, k] + (c03 + s * c43) * mono[r3, k])
            else:
                for k in range(nap):
                    acc[2, k] += c00 * mono[r, k] + c01 * mono[r1, k] + c02 * mono[r2, k] + c03 * mono[r3, k]
            r += min(4, end - r)
            continue
        c10 = kc[1, r]
        c11 = z1 * kc[1, r1]
        c12 = z2 * kc[1, r2]
        c13 = z3 * kc[1, r3]
        c20 = kc[2, r]
        c21 = z1 * kc[2, r1]
        c22 = z2 * kc[2, r2]
        c23 = z3 * kc[2, r3]
        c30 = kc[3, r]
        c31 = z1 * kc[3, r1]
        c32 = z2 * kc[3, r2]
        c33 = z3 * kc[3, r3]
        if typed:
            c50 = kc[5, r]
            c51 = z1 * kc[5, r1]
            c52 = z2 * kc[5, r2]
            c53 = z3 * kc[5, r3]
            c60 = kc[6, r]
            c61 = z1 * kc[6, r1]
            c62 = z2 * kc[6, r2]
            c63 = z3 * kc[6, r3]
            c70 = kc[7, r]
            c71 = z1 * kc[7, r1]
            c72 = z2 * kc[7, r2]
            c73 = z3 * kc[7, r3]
            for k in range(nap):
                s = sc[7, k]
                v0 = mono[r, k]
                v1 = mono[r1, k]
                v2 = mono[r2, k]
                v3 = mono[r3, k]
                acc[2, k] += (c00 + s * c40) * v0 + (c01 + s * c41) * v1 + (c02 + s * c42) * v2 + (c03 + s * c43) * v3
                acc[3, k] += (c10 + s * c50) * v0 + (c11 + s * c51) * v1 + (c12 + s * c52) * v2 + (c13 + s * c53) * v3
                acc[4, k] += (c20 + s * c60) * v0 + (c21 + s * c61) * v1 + (c22 + s * c62) * v2 + (c23 + s * c63) * v3
                acc[5, k] += (c30 + s * c70) * v0 + (c31 + s * c71) * v1 + (c32 + s * c72) * v2 + (c33 + s * c73) * v3
        else:
            for k in range(nap):
                v0 = mono[r, k]
                v1 = mono[r1, k]
                v2 = mono[r2, k]
                v3 = mono[r3, k]
                acc[2, k] += c00 * v0 + c01 * v1 + c02 * v2 + c03 * v3
                acc[3, k] += c10 * v0 + c11 * v1 + c12 * v2 + c13 * v3
                acc[4, k] += c20 * v0 + c21 * v1 + c22 * v2 + c23 * v3
                acc[5, k] += c30 * v0 + c31 * v1 + c32 * v2 + c33 * v3
        r += min(4, end - r)
    for k in range(nap):
        ux = sc[10, k]
        uy = sc[11, k]
        uz = sc[12, k]
        fa = sc[5, k]
        gv = acc[2, k] - fa * esum
        if typed:
            gv -= sc[7, k] * sc[7, k] * fa * esumt
        hx = acc[3, k]
        hy = acc[4, k]
        hz = acc[5, k]
        hu = hx * ux + hy * uy + hz * uz
        av = sc[6, k] * gv
        bv = fa / sc[9, k]
        p = q0 + np.int64(sc[17, k])
        gout[p, 0] += av * ux + bv * (hx - hu * ux)
        gout[p, 1] += av * uy + bv * (hy - hu * uy)
        gout[p, 2] += av * uz + bv * (hz - hu * uz)


@njit(cache=True, nogil=True)
def _scratch(maxm, nr, na, nm):  # pragma: no cover
    """Per-block scratch: gathered pairs, radial tables (2), monomials, moments (2), column accumulators."""
    return (
        np.zeros((19, maxm)),
        np.zeros((nr + 1, maxm)),
        np.zeros((nr + 1, maxm)),
        np.zeros((nm, maxm)),
        np.zeros(nm),
        np.zeros(nm),
        np.zeros((6, maxm)),
    )


def _pair_gradients(
    offsets, vectors, distances, index, centers, env_types, weights, typed, rr, nr, ra, na,
    deg, mult, parent, axis, lower, power, tcoef, cp_offsets, de_dg, block, maxm, n_features, gout,
):  # pragma: no cover
    """``gout[col, q] += sum_f de_dg[c, col, f] dG_cf/dv_q``: (n_columns, n_center_pairs, 3), zero on entry."""
    n_c = centers.shape[0]
    n_blocks = (n_c + block - 1) // block
    nm = deg.shape[0]
    nrad = nr + 1
    nang = na + 1
    half = nrad + nang
    for b in prange(n_blocks):
        sc, tt, dt, mono, s_mom, st_mom, acc = _scratch(maxm, nr, na, nm)
        row = np.empty(n_features)
        kc = np.empty((8, nm))
        wdeg = np.empty(nang)
        wdegt = np.empty(nang)
        for c in range(b * block, min(n_c, (b + 1) * block)):
            nrp, nap = _gather(centers[c], offsets, vectors, distances, index, env_types, weights, typed, rr, ra, sc)
            _radial_tables(nrp, sc, typed, nr, half, tt, dt, row)
            _angular_2d(nap, sc, typed, nrad, half, na, deg, mult, parent, axis, tcoef, mono, s_mom, st_mom, row)
            for col in range(de_dg.shape[1]):
                _column(nrp, nap, sc, tt, dt, mono, s_mom, st_mom, acc, kc, wdeg, wdegt, de_dg[c, col], typed,
                        nr, na, deg, mult, lower, power, tcoef, rr, cp_offsets[c], gout[col])


pair_gradients_nb = njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH)(_pair_gradients)


def _fused_forces_scatter(
    offsets, vectors, distances, index, centers, env_types, weights, typed, rr, nr, ra, na,
    deg, mult, parent, axis, lower, power, tcoef, chunks, maxm,
    wflat, layers, n_layers, width, mean_column, atom_structure, do_virial, features, energies, forces, virials,
):  # pragma: no cover
    """Features, network energies and forces and virials of every centre in one sweep.

    ``features`` (n_centers, n_features); ``energies`` (n_members, n_centers), eV.  Every
    centre's pair gradients are added to the forces and virials at once, while in cache.
    Centres ``chunks[k]:chunks[k + 1]`` add to copy ``k`` of ``forces`` (n_chunks, n_columns,
    n_atoms, 3) and ``virials`` (n_chunks, n_columns, n_structures, 3, 3), in order, one
    chunk per thread at a time (the caller sums the copies): the sums do not depend on the
    number of threads.  One column per member, or (``mean_column``) one for the members' mean
    dE/dG.  ``atom_structure`` (n_atoms,): structure of every atom.
    """
    nm = deg.shape[0]
    nrad = nr + 1
    nang = na + 1
    half = nrad + nang
    n_f = features.shape[1]
    n_mem = layers.shape[0]
    max_layers = layers.shape[1]
    n_cols = forces.shape[1]
    for t in prange(chunks.shape[0] - 1):
        sc, tt, dt, mono, s_mom, st_mom, acc = _scratch(maxm, nr, na, nm)
        kc = np.empty((8, nm))
        wdeg = np.empty(nang)
        wdegt = np.empty(nang)
        hbuf = np.empty((max_layers + 1, width))
        dbuf = np.empty((max_layers, width))
        grads = np.empty((n_mem, n_f))
        ecol = np.empty(n_f)
        gl = np.empty((n_cols, maxm, 3))
        for c in range(chunks[t], chunks[t + 1]):
            i = centers[c]
            row = features[c]
            nrp, nap = _gather(i, offsets, vectors, distances, index, env_types, weights, typed, rr, ra, sc)
            _radial_tables(nrp, sc, typed, nr, half, tt, dt, row)
            _angular_2d(nap, sc, typed, nrad, half, na, deg, mult, parent, axis, tcoef, mono, s_mom, st_mom, row)
            for m in range(n_mem):
                energies[m, c] = energy_and_gradient(row, wflat, layers, n_layers, m, hbuf, dbuf, grads[m])
            count = offsets[i + 1] - offsets[i]
            for col in range(n_cols):
                for q in range(count):
                    gl[col, q, 0] = 0.0
                    gl[col, q, 1] = 0.0
                    gl[col, q, 2] = 0.0
            if mean_column:
                for f in range(n_f):
                    s = 0.0
                    for m in range(n_mem):
                        s += grads[m, f]
                    ecol[f] = s / n_mem
                _column(nrp, nap, sc, tt, dt, mono, s_mom, st_mom, acc, kc, wdeg, wdegt, ecol, typed,
                        nr, na, deg, mult, lower, power, tcoef, rr, 0, gl[0])
            else:
                for m in range(n_mem):
                    _column(nrp, nap, sc, tt, dt, mono, s_mom, st_mom, acc, kc, wdeg, wdegt, grads[m], typed,
                            nr, na, deg, mult, lower, power, tcoef, rr, 0, gl[m])
            s_i = atom_structure[i]
            for col in range(n_cols):
                scatter_centre(i, s_i, offsets, index, vectors, count, gl[col], do_virial, forces[t, col],
                                virials[t, col])


fused_forces_scatter_nb = njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH)(_fused_forces_scatter)
