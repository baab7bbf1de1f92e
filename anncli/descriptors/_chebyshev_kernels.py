"""Numba kernels of the Chebyshev (Artrith-Urban-Ceder) descriptor (private).

Features and per-pair derivatives run in one compiled kernel, :func:`chebyshev_nb`
(``mode`` selects; the per-pair gradient contractions and the fused force pass are in
:mod:`anncli.descriptors._chebyshev_forces`), parallel over blocks of centres of the whole batch; per block, scratch arrays hold the centre's neighbours
within the cutoffs in compact form so that the loops over neighbours vectorise.
The cutoff function is evaluated as sin(z)^2 with a Taylor polynomial (no libm call,
no cancellation near the cutoff); it equals ænet's (cos(pi' d/Rc) + 1)/2 to 1e-15.

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



#: Reductions over neighbours may be reassociated (vectorised) and fused multiply-adds
#: used; no assumptions about NaN/inf.  Agreement with the ordered sums is checked to
#: 1e-12 by the tests (reference implementation and ænet golden values).
FASTMATH = {"reassoc", "contract"}
_HALF_PI = 0.5 * np.pi
# Taylor coefficients of sin and cos up to z^23 / z^22 (|error| < 1e-19 for 0 <= z <= pi/2)
_S1, _S3, _S5, _S7 = 1.0, -1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0
_S9, _S11, _S13 = 1.0 / 362880.0, -1.0 / 39916800.0, 1.0 / 6227020800.0
_S15, _S17 = -1.0 / 1307674368000.0, 1.0 / 355687428096000.0
_S19, _S21, _S23 = -1.0 / 121645100408832000.0, 1.0 / 51090942171709440000.0, -1.0 / 25852016738884976640000.0
_C2, _C4, _C6, _C8 = -0.5, 1.0 / 24.0, -1.0 / 720.0, 1.0 / 40320.0
_C10, _C12, _C14 = -1.0 / 3628800.0, 1.0 / 479001600.0, -1.0 / 87178291200.0
_C16, _C18 = 1.0 / 20922789888000.0, -1.0 / 6402373705728000.0
_C20, _C22 = 1.0 / 2432902008176640000.0, -1.0 / 1124000727777607680000.0


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _sin_poly(z):  # pragma: no cover
    z2 = z * z
    p = _S21 + z2 * _S23
    p = _S19 + z2 * p
    p = _S17 + z2 * p
    p = _S15 + z2 * p
    p = _S13 + z2 * p
    p = _S11 + z2 * p
    p = _S9 + z2 * p
    p = _S7 + z2 * p
    p = _S5 + z2 * p
    p = _S3 + z2 * p
    return z * (_S1 + z2 * p)


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _cos_poly(z):  # pragma: no cover
    z2 = z * z
    p = _C20 + z2 * _C22
    p = _C18 + z2 * p
    p = _C16 + z2 * p
    p = _C14 + z2 * p
    p = _C12 + z2 * p
    p = _C10 + z2 * p
    p = _C8 + z2 * p
    p = _C6 + z2 * p
    p = _C4 + z2 * p
    p = _C2 + z2 * p
    return 1.0 + z2 * p


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _cutoff_functions(d, n, rc, fc, dfc):  # pragma: no cover
    """fc(d) = (cos(pi' d/rc) + 1)/2 = sin(z)^2 and its derivative, z = pi/2 - pi' d/(2 rc).

    pi' is ænet's truncated pi; the half-angle form has no cancellation near the cutoff.
    ``d[:n]`` is overwritten by nothing; results go to ``fc[:n]``, ``dfc[:n]``.
    """
    a = 0.5 * PI_AENET / rc
    b = -PI_AENET / rc
    for k in range(n):
        z = _HALF_PI - a * d[k]
        sz = _sin_poly(z)
        fc[k] = sz * sz
        dfc[k] = b * sz * _cos_poly(z)


@njit(cache=True, nogil=True)
def _gather(i, offsets, vectors, distances, index, env_types, weights, typed, rr, ra, sc):  # pragma: no cover
    """Copy the pairs of atom ``i`` within the radial / angular cutoffs into compact scratch.

    Scratch ``sc`` rows (each of length max neighbours): 0 radial x, 1 fc_r, 2 dfc_r,
    3 s (radial), 4 d (radial); 5 fc_a, 6 dfc_a, 7 s (angular), 8 s*fc_a, 9 d (angular),
    10-12 unit vector (angular), 13-15 unit vector (radial), 16 local pair index (radial),
    17 local pair index (angular), 18 s*fc_r.
    """
    nrp = 0
    nap = 0
    p0 = offsets[i]
    rmax = max(rr, ra)
    for p in range(p0, offsets[i + 1]):
        d = distances[p]
        if d > rmax:  # listed by a longer neighbour list; its species may be unknown here
            continue
        s = 0.0
        if typed:
            s = weights[env_types[index[p]]]
        inv = 1.0 / d
        ux = vectors[p, 0] * inv
        uy = vectors[p, 1] * inv
        uz = vectors[p, 2] * inv
        loc = p - p0
        # written unconditionally, kept by the increment: no unpredictable branch (nrp, nap <= loc)
        sc[4, nrp] = d
        sc[3, nrp] = s
        sc[13, nrp] = ux
        sc[14, nrp] = uy
        sc[15, nrp] = uz
        sc[16, nrp] = loc
        nrp += 1 if d <= rr else 0
        sc[9, nap] = d
        sc[7, nap] = s
        sc[10, nap] = ux
        sc[11, nap] = uy
        sc[12, nap] = uz
        sc[17, nap] = loc
        nap += 1 if d <= ra else 0
    _cutoff_functions(sc[4], nrp, rr, sc[1], sc[2])
    _cutoff_functions(sc[9], nap, ra, sc[5], sc[6])
    x = sc[0]
    d = sc[4]
    for k in range(nrp):
        x[k] = (2.0 * d[k] - rr) / rr
    if typed:
        for k in range(nrp):
            sc[18, k] = sc[3, k] * sc[1, k]
        for k in range(nap):
            sc[8, k] = sc[7, k] * sc[5, k]
    return nrp, nap


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _radial(nrp, sc, typed, nr, half, tb, row):  # pragma: no cover
    """R_n (and R~_n) from the gathered radial pairs; ``tb`` is (2, max neighbours) scratch."""
    x = sc[0]
    fr = sc[1]
    gs = sc[18]
    tprev = tb[0]
    tcur = tb[1]
    a = 0.0
    at = 0.0
    for k in range(nrp):
        a += fr[k]
        tprev[k] = 1.0
        tcur[k] = x[k]
    row[0] = a
    if typed:
        for k in range(nrp):
            at += gs[k]
        row[half] = at
    if nr < 1:
        return
    a = 0.0
    at = 0.0
    for k in range(nrp):
        a += fr[k] * x[k]
    row[1] = a
    if typed:
        for k in range(nrp):
            at += gs[k] * x[k]
        row[half + 1] = at
    for n in range(2, nr + 1):
        a = 0.0
        at = 0.0
        if typed:
            for k in range(nrp):
                t = 2.0 * x[k] * tcur[k] - tprev[k]
                tprev[k] = t
                a += fr[k] * t
                at += gs[k] * t
            row[half + n] = at
        else:
            for k in range(nrp):
                t = 2.0 * x[k] * tcur[k] - tprev[k]
                tprev[k] = t
                a += fr[k] * t
        row[n] = a
        tprev, tcur = tcur, tprev


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _angular(nap, sc, typed, nrad, half, na, deg, mult, parent, axis, tcoef, mono, s_mom, st_mom, row):  # pragma: no cover
    """A_n (and A~_n) by monomial moments; fills ``mono`` (n_mono, max neighbours) and the moments."""
    fa = sc[5]
    gs = sc[8]
    nm = deg.shape[0]
    m0 = mono[0]
    for k in range(nap):
        m0[k] = 1.0
    for q in range(1, nm):
        mp = mono[parent[q]]
        u = sc[10 + axis[q]]
        mq = mono[q]
        for k in range(nap):
            mq[k] = mp[k] * u[k]
    qsum = 0.0
    qtsum = 0.0
    for k in range(nap):
        qsum += fa[k] * fa[k]
    if typed:
        for k in range(nap):
            qtsum += gs[k] * gs[k]
    for q in range(nm):
        mq = mono[q]
        acc = 0.0
        for k in range(nap):
            acc += fa[k] * mq[k]
        s_mom[q] = acc
        if typed:
            acc = 0.0
            for k in range(nap):
                acc += gs[k] * mq[k]
            st_mom[q] = acc
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


@njit(cache=True, nogil=True)
def _scratch(maxm, nr, na, nm):  # pragma: no cover
    return (
        np.zeros((19, maxm)),
        np.zeros((4, maxm)),
        np.zeros((nm, maxm)),
        np.zeros(nm),
        np.zeros(nm),
        np.zeros((8, maxm)),
    )


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _poly_eval(coef, nap, mono, lower, power, g, h):  # pragma: no cover
    """g[k] = sum_q coef[q] M_q(u_k) and h[:, k] its gradient, for the gathered angular pairs."""
    for k in range(nap):
        g[k] = 0.0
        h[0, k] = 0.0
        h[1, k] = 0.0
        h[2, k] = 0.0
    for q in range(coef.shape[0]):
        c = coef[q]
        if c == 0.0:
            continue
        mq = mono[q]
        for k in range(nap):
            g[k] += c * mq[k]
        for ax in range(3):
            pw = power[q, ax]
            if pw > 0:
                cl = c * pw
                ml = mono[lower[q, ax]]
                hx = h[ax]
                for k in range(nap):
                    hx[k] += cl * ml[k]



@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _derivatives_centre(
    nrp, nap, sc, tb, mono, s_mom, st_mom, pe, coef, typed, nr, na, deg, mult, lower, power, tcoef, rr, q0, dout,
):  # pragma: no cover
    """Per-pair derivatives of one centre into ``dout[q0 + local pair]`` (zero on entry)."""
    nm = deg.shape[0]
    nrad = nr + 1
    half = nrad + na + 1
    two_rr = 2.0 / rr
    g = pe[0]
    h = pe[1:4]
    # radial: d(fc T_n)/dd along the unit vector
    x = sc[0]
    fr = sc[1]
    dfr = sc[2]
    sr = sc[3]
    tprev = tb[0]
    tcur = tb[1]
    dprev = tb[2]
    dcur = tb[3]
    for k in range(nrp):
        tprev[k] = 1.0
        tcur[k] = x[k]
        dprev[k] = 0.0
        dcur[k] = 1.0
    for n in range(nrad):
        for k in range(nrp):
            if n == 0:
                v = dfr[k]
            elif n == 1:
                v = dfr[k] * x[k] + fr[k] * two_rr
            else:
                t = 2.0 * x[k] * tcur[k] - tprev[k]
                dt = 2.0 * tcur[k] + 2.0 * x[k] * dcur[k] - dprev[k]
                tprev[k] = t
                dprev[k] = dt
                v = dfr[k] * t + fr[k] * dt * two_rr
            dg = dout[q0 + np.int64(sc[16, k])]
            dg[n, 0] = v * sc[13, k]
            dg[n, 1] = v * sc[14, k]
            dg[n, 2] = v * sc[15, k]
            if typed:
                sv = sr[k] * v
                dg[half + n, 0] = sv * sc[13, k]
                dg[half + n, 1] = sv * sc[14, k]
                dg[half + n, 2] = sv * sc[15, k]
        if n >= 2:
            tprev, tcur = tcur, tprev
            dprev, dcur = dcur, dprev
    # angular: f' (G_n - f) u + f (I - u u^T) grad G_n / d
    fa = sc[5]
    dfa = sc[6]
    sa = sc[7]
    da = sc[9]
    for copy in range(2 if typed else 1):
        mom = st_mom if copy == 1 else s_mom
        base = half + nrad if copy == 1 else nrad
        for n in range(na + 1):
            for q in range(nm):
                coef[q] = tcoef[n, deg[q]] * mult[q] * mom[q]
            _poly_eval(coef, nap, mono, lower, power, g, h)
            for k in range(nap):
                ux = sc[10, k]
                uy = sc[11, k]
                uz = sc[12, k]
                s = sa[k] if copy == 1 else 1.0
                hu = h[0, k] * ux + h[1, k] * uy + h[2, k] * uz
                av = s * dfa[k] * (g[k] - s * fa[k])
                bv = s * fa[k] / da[k]
                dg = dout[q0 + np.int64(sc[17, k])]
                dg[base + n, 0] = av * ux + bv * (h[0, k] - hu * ux)
                dg[base + n, 1] = av * uy + bv * (h[1, k] - hu * uy)
                dg[base + n, 2] = av * uz + bv * (h[2, k] - hu * uz)


#: Modes of :func:`chebyshev_nb` (pair gradients: :mod:`anncli.descriptors._chebyshev_forces`).
FEATURES, DERIVATIVES = 0, 1


def _chebyshev(
    mode, offsets, vectors, distances, index, centers, env_types, weights, typed, rr, nr, ra, na,
    deg, mult, parent, axis, lower, power, tcoef, cp_offsets, block, maxm, out, dout,
):  # pragma: no cover
    """Features (and per-pair derivatives), parallel over blocks of centres (one compiled kernel).

    mode FEATURES: ``out`` (n_centers, n_features).  DERIVATIVES: also ``dout``
    (n_center_pairs, n_features, 3), zero on entry.
    """
    n_c = centers.shape[0]
    n_blocks = (n_c + block - 1) // block
    nm = deg.shape[0]
    nrad = nr + 1
    nang = na + 1
    half = nrad + nang
    for b in prange(n_blocks):
        sc, tb, mono, s_mom, st_mom, pe = _scratch(maxm, nr, na, nm)
        coef = np.empty(nm)
        for c in range(b * block, min(n_c, (b + 1) * block)):
            row = out[c]
            nrp, nap = _gather(centers[c], offsets, vectors, distances, index, env_types, weights, typed, rr, ra, sc)
            _radial(nrp, sc, typed, nr, half, tb, row)
            _angular(nap, sc, typed, nrad, half, na, deg, mult, parent, axis, tcoef, mono, s_mom, st_mom, row)
            if mode == DERIVATIVES:
                _derivatives_centre(
                    nrp, nap, sc, tb, mono, s_mom, st_mom, pe, coef, typed, nr, na, deg, mult, lower, power,
                    tcoef, rr, cp_offsets[c], dout,
                )


chebyshev_nb = njit(cache=True, nogil=True, parallel=True, fastmath=FASTMATH)(_chebyshev)
