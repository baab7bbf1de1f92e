"""Numba kernels of the Chebyshev (Artrith-Urban-Ceder) descriptor (private).

Preconditions (checked by :class:`anncli.descriptors.chebyshev.ChebyshevSetup`, trusted
here): CSR neighbour arrays as in :mod:`anncli.descriptors.base`; ``centers`` int64;
``env_types`` int32 with every listed neighbour within a cutoff mapped to a valid
position of ``weights``; ``cp_offsets`` (n_centers + 1) are the offsets of the centres'
pairs in the per-pair outputs.

Radial terms (x = (2d - Rc)/Rc, fc with ænet's truncated pi):

.. math:: R_n = \\sum_j f_c(d_j) T_n(x_j),\\qquad \\tilde R_n = \\sum_j s_j f_c(d_j) T_n(x_j)

Angular terms by moments (O(M) instead of O(M^2) for M neighbours): with unit vectors
u_j, f_j = f_c(d_j) and the monomial moments S_abc = sum_j f_j u_jx^a u_jy^b u_jz^c,

.. math:: \\sum_{j,k} f_j f_k (u_j\\cdot u_k)^m = \\sum_{a+b+c=m} \\frac{m!}{a!b!c!} S_{abc}^2,
          \\qquad A_n = \\tfrac12\\Big(\\sum_m t_{nm} P_m - \\sum_j f_j^2\\Big)

where T_n(x) = sum_m t_nm x^m (the j = k terms contribute T_n(1) = 1).  The derivative
with respect to the pair vector v_p uses G_n(u) = sum_k f_k T_n(u . u_k), a polynomial in
u with coefficients t_nm mult_abc S_abc:

.. math:: \\partial A_n/\\partial v_p = f'_p (G_n(u_p) - f_p) u_p + f_p (I - u_p u_p^T)\\nabla G_n(u_p)/d_p
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: ænet's truncated pi (sfbasis.f90).
PI_AENET = 3.14159265358979


def monomial_tables(order: int):
    """Monomials x^a y^b z^c with a + b + c <= order, sorted by degree.

    Returns
    -------
    deg : (n_mono,) int64
    mult : (n_mono,) float64
        Multinomial m!/(a! b! c!).
    parent, axis : (n_mono,) int64
        ``M[i] = M[parent[i]] * u[axis[i]]`` (parent -1 for the constant).
    lower : (n_mono, 3) int64
        Index of the monomial with one power less along each axis (-1 if none).
    power : (n_mono, 3) int64
    """
    from math import factorial

    mons = [(a, b, m - a - b) for m in range(order + 1) for a in range(m, -1, -1) for b in range(m - a, -1, -1)]
    pos = {mon: i for i, mon in enumerate(mons)}
    n = len(mons)
    deg = np.array([sum(mn) for mn in mons], dtype=np.int64)
    mult = np.array([factorial(sum(mn)) / (factorial(mn[0]) * factorial(mn[1]) * factorial(mn[2])) for mn in mons])
    parent = np.full(n, -1, dtype=np.int64)
    axis = np.zeros(n, dtype=np.int64)
    lower = np.full((n, 3), -1, dtype=np.int64)
    power = np.array(mons, dtype=np.int64).reshape(n, 3)
    for i, mn in enumerate(mons):
        for k in range(3):
            if mn[k] > 0:
                low = list(mn)
                low[k] -= 1
                lower[i, k] = pos[tuple(low)]
        if i > 0:
            k = next(k for k in range(3) if mn[k] > 0)
            parent[i] = lower[i, k]
            axis[i] = k
    return deg, mult, parent, axis, lower, power


def chebyshev_power_coefficients(order: int) -> np.ndarray:
    """t[n, m]: T_n(x) = sum_m t[n, m] x^m, exact integers as float64, shape (order+1, order+1)."""
    t = [[0] * (order + 1) for _ in range(order + 1)]
    t[0][0] = 1
    if order >= 1:
        t[1][1] = 1
    for n in range(1, order):
        for m in range(order + 1):
            t[n + 1][m] = (2 * t[n][m - 1] if m > 0 else 0) - t[n - 1][m]
    return np.array(t, dtype=np.float64)


@njit(cache=True, inline="always")
def _fc(d, rc):  # pragma: no cover
    return 0.5 * (np.cos(PI_AENET * d / rc) + 1.0)


@njit(cache=True, inline="always")
def _dfc(d, rc):  # pragma: no cover
    return -0.5 * PI_AENET / rc * np.sin(PI_AENET * d / rc)


@njit(cache=True)
def _chebyshev(x, n_max, t):  # pragma: no cover
    t[0] = 1.0
    if n_max >= 1:
        t[1] = x
    for n in range(1, n_max):
        t[n + 1] = 2.0 * x * t[n] - t[n - 1]


@njit(cache=True)
def _chebyshev_d(x, n_max, t, dt):  # pragma: no cover
    t[0] = 1.0
    dt[0] = 0.0
    if n_max >= 1:
        t[1] = x
        dt[1] = 1.0
    for n in range(1, n_max):
        t[n + 1] = 2.0 * x * t[n] - t[n - 1]
        dt[n + 1] = 2.0 * t[n] + 2.0 * x * dt[n] - dt[n - 1]


@njit(cache=True)
def _monomials(ux, uy, uz, parent, axis, m):  # pragma: no cover
    m[0] = 1.0
    for q in range(1, parent.shape[0]):
        k = axis[q]
        c = ux if k == 0 else (uy if k == 1 else uz)
        m[q] = m[parent[q]] * c


@njit(cache=True)
def _centre_features(
    i, offsets, vectors, distances, index, env_types, weights, typed, rr, nr, ra, na,
    deg, mult, parent, axis, tcoef, tbuf, mono, s_mom, st_mom, row,
):  # pragma: no cover
    """Features of atom ``i`` into ``row``; moments into ``s_mom``/``st_mom``."""
    nm = s_mom.shape[0]
    nrad = nr + 1
    nang = na + 1
    half = nrad + nang
    for f in range(row.shape[0]):
        row[f] = 0.0
    for q in range(nm):
        s_mom[q] = 0.0
        st_mom[q] = 0.0
    qsum = 0.0
    qtsum = 0.0
    for p in range(offsets[i], offsets[i + 1]):
        d = distances[p]
        s = 0.0
        if typed:
            s = weights[env_types[index[p]]]
        if d <= rr:
            fc = _fc(d, rr)
            _chebyshev((2.0 * d - rr) / rr, nr, tbuf)
            for n in range(nrad):
                v = fc * tbuf[n]
                row[n] += v
                if typed:
                    row[half + n] += s * v
        if d <= ra:
            fa = _fc(d, ra)
            inv = 1.0 / d
            _monomials(vectors[p, 0] * inv, vectors[p, 1] * inv, vectors[p, 2] * inv, parent, axis, mono)
            qsum += fa * fa
            for q in range(nm):
                s_mom[q] += fa * mono[q]
            if typed:
                sf = s * fa
                qtsum += sf * sf
                for q in range(nm):
                    st_mom[q] += sf * mono[q]
    # P_m = sum over monomials of degree m of mult * S^2
    for n in range(nang):
        acc = 0.0
        acct = 0.0
        for q in range(nm):
            c = tcoef[n, deg[q]]
            if c != 0.0:
                acc += c * mult[q] * s_mom[q] * s_mom[q]
                if typed:
                    acct += c * mult[q] * st_mom[q] * st_mom[q]
        row[nrad + n] = 0.5 * (acc - qsum)
        if typed:
            row[half + nrad + n] = 0.5 * (acct - qtsum)


def _features(
    offsets, vectors, distances, index, centers, env_types, weights, typed, rr, nr, ra, na,
    deg, mult, parent, axis, tcoef, block, out,
):  # pragma: no cover
    n_c = centers.shape[0]
    n_blocks = (n_c + block - 1) // block
    nm = deg.shape[0]
    for b in prange(n_blocks):
        tbuf = np.empty(max(nr, na) + 1)
        mono = np.empty(nm)
        s_mom = np.empty(nm)
        st_mom = np.empty(nm)
        for c in range(b * block, min(n_c, (b + 1) * block)):
            _centre_features(
                centers[c], offsets, vectors, distances, index, env_types, weights, typed, rr, nr,
                ra, na, deg, mult, parent, axis, tcoef, tbuf, mono, s_mom, st_mom, out[c],
            )


features_nb = njit(cache=True, parallel=True)(_features)


@njit(cache=True)
def _poly_grad(coef, mono, lower, power):  # pragma: no cover
    """Value and gradient of sum_q coef[q] * monomial_q at the point whose monomials are ``mono``."""
    g = 0.0
    hx = 0.0
    hy = 0.0
    hz = 0.0
    for q in range(coef.shape[0]):
        c = coef[q]
        if c == 0.0:
            continue
        g += c * mono[q]
        if power[q, 0] > 0:
            hx += c * power[q, 0] * mono[lower[q, 0]]
        if power[q, 1] > 0:
            hy += c * power[q, 1] * mono[lower[q, 1]]
        if power[q, 2] > 0:
            hz += c * power[q, 2] * mono[lower[q, 2]]
    return g, hx, hy, hz


def _features_and_derivatives(
    offsets, vectors, distances, index, centers, env_types, weights, typed, rr, nr, ra, na,
    deg, mult, parent, axis, lower, power, tcoef, cp_offsets, block, out, dout,
):  # pragma: no cover
    n_c = centers.shape[0]
    n_blocks = (n_c + block - 1) // block
    nm = deg.shape[0]
    nrad = nr + 1
    nang = na + 1
    half = nrad + nang
    for b in prange(n_blocks):
        tbuf = np.empty(max(nr, na) + 1)
        dtbuf = np.empty(max(nr, na) + 1)
        mono = np.empty(nm)
        s_mom = np.empty(nm)
        st_mom = np.empty(nm)
        coef = np.empty((nang, nm))
        coeft = np.empty((nang, nm))
        for c in range(b * block, min(n_c, (b + 1) * block)):
            i = centers[c]
            row = out[c]
            _centre_features(
                i, offsets, vectors, distances, index, env_types, weights, typed, rr, nr,
                ra, na, deg, mult, parent, axis, tcoef, tbuf, mono, s_mom, st_mom, row,
            )
            for n in range(nang):
                for q in range(nm):
                    w = tcoef[n, deg[q]] * mult[q]
                    coef[n, q] = w * s_mom[q]
                    coeft[n, q] = w * st_mom[q]
            q0 = cp_offsets[c] - offsets[i]
            for p in range(offsets[i], offsets[i + 1]):
                dg = dout[q0 + p]
                dg[:, :] = 0.0
                d = distances[p]
                inv = 1.0 / d
                ux = vectors[p, 0] * inv
                uy = vectors[p, 1] * inv
                uz = vectors[p, 2] * inv
                s = 0.0
                if typed:
                    s = weights[env_types[index[p]]]
                if d <= rr:
                    fc = _fc(d, rr)
                    dfc = _dfc(d, rr)
                    _chebyshev_d((2.0 * d - rr) / rr, nr, tbuf, dtbuf)
                    for n in range(nrad):
                        v = dfc * tbuf[n] + fc * dtbuf[n] * 2.0 / rr
                        dg[n, 0] = v * ux
                        dg[n, 1] = v * uy
                        dg[n, 2] = v * uz
                        if typed:
                            dg[half + n, 0] = s * v * ux
                            dg[half + n, 1] = s * v * uy
                            dg[half + n, 2] = s * v * uz
                if d <= ra:
                    fa = _fc(d, ra)
                    dfa = _dfc(d, ra)
                    _monomials(ux, uy, uz, parent, axis, mono)
                    for n in range(nang):
                        g, hx, hy, hz = _poly_grad(coef[n], mono, lower, power)
                        hu = hx * ux + hy * uy + hz * uz
                        a = dfa * (g - fa)
                        bfac = fa * inv
                        dg[nrad + n, 0] = a * ux + bfac * (hx - hu * ux)
                        dg[nrad + n, 1] = a * uy + bfac * (hy - hu * uy)
                        dg[nrad + n, 2] = a * uz + bfac * (hz - hu * uz)
                        if typed:
                            g, hx, hy, hz = _poly_grad(coeft[n], mono, lower, power)
                            hu = hx * ux + hy * uy + hz * uz
                            a = s * dfa * (g - s * fa)
                            bfac = s * fa * inv
                            dg[half + nrad + n, 0] = a * ux + bfac * (hx - hu * ux)
                            dg[half + nrad + n, 1] = a * uy + bfac * (hy - hu * uy)
                            dg[half + nrad + n, 2] = a * uz + bfac * (hz - hu * uz)


features_and_derivatives_nb = njit(cache=True, parallel=True)(_features_and_derivatives)


def _pair_gradients(
    offsets, vectors, distances, index, centers, env_types, weights, typed, rr, nr, ra, na,
    deg, mult, parent, axis, lower, power, tcoef, cp_offsets, de_dg, block, out,
):  # pragma: no cover
    n_c = centers.shape[0]
    n_blocks = (n_c + block - 1) // block
    nm = deg.shape[0]
    nrad = nr + 1
    nang = na + 1
    half = nrad + nang
    nf = de_dg.shape[1]
    for b in prange(n_blocks):
        tbuf = np.empty(max(nr, na) + 1)
        dtbuf = np.empty(max(nr, na) + 1)
        mono = np.empty(nm)
        s_mom = np.empty(nm)
        st_mom = np.empty(nm)
        row = np.empty(nf)
        coef = np.empty(nm)
        coeft = np.empty(nm)
        wdeg = np.empty(nang)
        wdegt = np.empty(nang)
        for c in range(b * block, min(n_c, (b + 1) * block)):
            i = centers[c]
            e = de_dg[c]
            _centre_features(
                i, offsets, vectors, distances, index, env_types, weights, typed, rr, nr,
                ra, na, deg, mult, parent, axis, tcoef, tbuf, mono, s_mom, st_mom, row,
            )
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
            for q in range(nm):
                coef[q] = wdeg[deg[q]] * mult[q] * s_mom[q]
                coeft[q] = wdegt[deg[q]] * mult[q] * st_mom[q] if typed else 0.0
            q0 = cp_offsets[c] - offsets[i]
            for p in range(offsets[i], offsets[i + 1]):
                d = distances[p]
                inv = 1.0 / d
                ux = vectors[p, 0] * inv
                uy = vectors[p, 1] * inv
                uz = vectors[p, 2] * inv
                s = 0.0
                if typed:
                    s = weights[env_types[index[p]]]
                gx = 0.0
                gy = 0.0
                gz = 0.0
                if d <= rr:
                    fc = _fc(d, rr)
                    dfc = _dfc(d, rr)
                    _chebyshev_d((2.0 * d - rr) / rr, nr, tbuf, dtbuf)
                    v = 0.0
                    for n in range(nrad):
                        w = e[n]
                        if typed:
                            w += s * e[half + n]
                        v += w * (dfc * tbuf[n] + fc * dtbuf[n] * 2.0 / rr)
                    gx += v * ux
                    gy += v * uy
                    gz += v * uz
                if d <= ra:
                    fa = _fc(d, ra)
                    dfa = _dfc(d, ra)
                    _monomials(ux, uy, uz, parent, axis, mono)
                    g, hx, hy, hz = _poly_grad(coef, mono, lower, power)
                    g = g - fa * esum
                    if typed:
                        g2, hx2, hy2, hz2 = _poly_grad(coeft, mono, lower, power)
                        g += s * (g2 - s * fa * esumt)
                        hx += s * hx2
                        hy += s * hy2
                        hz += s * hz2
                    hu = hx * ux + hy * uy + hz * uz
                    a = dfa * g
                    bfac = fa * inv
                    gx += a * ux + bfac * (hx - hu * ux)
                    gy += a * uy + bfac * (hy - hu * uy)
                    gz += a * uz + bfac * (hz - hu * uz)
                out[q0 + p, 0] = gx
                out[q0 + p, 1] = gy
                out[q0 + p, 2] = gz


pair_gradients_nb = njit(cache=True, parallel=True)(_pair_gradients)
