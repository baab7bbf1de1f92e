"""Numba kernels of the Behler2011 symmetry functions G1–G5 (values, per-pair derivatives, forces).

This module owns the jitted loops only; parameter handling, validation and the output order live
in :mod:`anncli.descriptors.behler`, which flattens a setup into the tables described below.
Kernels trust their inputs (float64/int64, C-contiguous, CSR neighbour list of
:mod:`anncli.descriptors.base`).

Definitions (ænet ``symmfunc.f90``; distances in Å, ``PI = 3.14159265358979`` as in ænet)::

    fc(R)  = 0.5 (cos(PI R / Rc) + 1)  for R < Rc, else 0
    G1     = sum_j fc(R_ij)
    G2     = sum_j exp(-eta (R_ij - Rs)^2) fc(R_ij)
    G3     = sum_j cos(kappa R_ij) fc(R_ij)
    G4     = 2^(1-zeta) sum_{j<k} (1 + lambda cos t_ijk)^zeta
                 exp(-eta (R_ij^2 + R_ik^2 + R_jk^2)) fc(R_ij) fc(R_ik) fc(R_jk)
    G5     = G4 without the R_jk factors

How the angular sum is organised: the neighbours of a centre are sorted by environment species,
so the unordered pairs {j, k} of one species pair (t2, t3) are two plain loops.  Every angular
function is a product of an *angle key* ``A(lambda, zeta) = 2^(1-zeta) (1 + lambda cos)^zeta``
and a *radial key* ``E(eta, Rc) = exp(-eta R^2) fc(R)`` evaluated at R_ij, R_ik (and R_jk for
G4).  Per pair (j, k) each distinct key is evaluated once (``E`` of R_ij and R_ik is
precomputed per neighbour) and each function costs one multiply-add.  Integer zeta uses
exponentiation by squaring.

Tables (built by ``behler._build_tables``; all C-contiguous)
--------------------------------------------------------------
rad_off : int64 (n_env + 1,)      radial functions of neighbour species t are rows
                                  rad_off[t]:rad_off[t+1] of rad_i / rad_f
rad_i   : int64 (n_rad, 2)        [kind (1, 2, 3), output column]
rad_f   : float64 (n_rad, 4)      [Rc, eta, Rs, kappa]
grp_i   : int64 (n_grp, 9)        per species pair: [t2, t3, f0, f1, r0, r1, a0, a1, has_g4]
                                  (functions f0:f1, radial keys r0:r1, angle keys a0:a1)
grp_f   : float64 (n_grp,)        largest Rc of the group
fn_i    : int64 (n_ang, 4)        [kind (4, 5), radial key (absolute), angle key (absolute), column]
rk_f    : float64 (n_rk, 2)       radial keys [eta, Rc], sorted by Rc inside each group
ak_f    : float64 (n_ak, 3)       angle keys [lambda, zeta, 2^(1-zeta)]
ak_i    : int64 (n_ak,)           integer zeta, or -1 if zeta is not an integer
"""

from __future__ import annotations

import logging

import numpy as np
from numba import njit, prange

logger = logging.getLogger(__name__)

PI = 3.14159265358979  # ænet's truncated constant (symmfunc.f90)


@njit(cache=True, nogil=True, inline="always")
def _ipow(x, n):  # pragma: no cover - jitted
    """``x**n`` for an integer ``n >= 0`` by squaring (exact ænet-compatible products)."""
    result = 1.0
    base = x
    while n > 0:
        if n & 1:
            result *= base
        base *= base
        n >>= 1
    return result


@njit(cache=True, nogil=True, inline="always")
def _angle(c, lam, zeta, pref, izeta):  # pragma: no cover - jitted
    """``A = pref (1 + lam c)^zeta`` and ``dA/dc``."""
    base = 1.0 + lam * c
    if base <= 0.0:
        base = 0.0
    if izeta >= 0:
        pm1 = _ipow(base, izeta - 1) if izeta >= 1 else 0.0
        a = pref * pm1 * base if izeta >= 1 else pref
    else:
        pm1 = base ** (zeta - 1.0)
        a = pref * base**zeta
    da = pref * zeta * lam * pm1
    return a, da


@njit(cache=True, nogil=True)
def _gather(i, offsets, index, vectors, distances, env_types, cutoff, n_env, rk_f):  # pragma: no cover
    """Neighbours of centre ``i`` within ``cutoff``, sorted by environment species.

    Returns local arrays: ``lp`` (pair offset from ``offsets[i]``), ``ld`` (distance), ``lu``
    (unit vector), ``ts`` (species starts, n_env + 1), and ``E``/``dE`` (m, n_rk): the radial
    keys ``exp(-eta R^2) fc(R)`` and their derivative w.r.t. R for every neighbour.
    """
    p0 = offsets[i]
    p1 = offsets[i + 1]
    ts = np.zeros(n_env + 1, dtype=np.int64)
    for p in range(p0, p1):
        t = env_types[index[p]]
        if t >= 0 and distances[p] < cutoff:
            ts[t + 1] += 1
    for t in range(n_env):
        ts[t + 1] += ts[t]
    m = ts[n_env]
    fill = ts[:n_env].copy()
    lp = np.empty(m, dtype=np.int64)
    ld = np.empty(m)
    lu = np.empty((m, 3))
    for p in range(p0, p1):
        t = env_types[index[p]]
        d = distances[p]
        if t >= 0 and d < cutoff:
            q = fill[t]
            fill[t] += 1
            lp[q] = p - p0
            ld[q] = d
            inv = 1.0 / d
            lu[q, 0] = vectors[p, 0] * inv
            lu[q, 1] = vectors[p, 1] * inv
            lu[q, 2] = vectors[p, 2] * inv
    n_rk = rk_f.shape[0]
    E = np.zeros((m, n_rk))
    dE = np.zeros((m, n_rk))
    for q in range(m):
        d = ld[q]
        for r in range(n_rk):
            eta = rk_f[r, 0]
            rc = rk_f[r, 1]
            if d < rc:
                x = PI * d / rc
                fc = 0.5 * (np.cos(x) + 1.0)
                dfc = -0.5 * PI / rc * np.sin(x)
                e = np.exp(-eta * d * d)
                E[q, r] = e * fc
                dE[q, r] = e * (dfc - 2.0 * eta * d * fc)
    return lp, ld, lu, ts, E, dE


@njit(cache=True, nogil=True, inline="always")
def _radial(kind, d, rc, eta, rs, kappa):  # pragma: no cover - jitted
    """Value and d/dR of one radial term (G1, G2 or G3) at distance ``d < rc``."""
    x = PI * d / rc
    fc = 0.5 * (np.cos(x) + 1.0)
    dfc = -0.5 * PI / rc * np.sin(x)
    if kind == 1:
        return fc, dfc
    if kind == 2:
        a = d - rs
        e = np.exp(-eta * a * a)
        return e * fc, e * (dfc - 2.0 * eta * a * fc)
    ck = np.cos(kappa * d)
    return ck * fc, ck * dfc - kappa * np.sin(kappa * d) * fc


@njit(cache=True, nogil=True, inline="always")
def _rjk(lu, ld, jj, kk):  # pragma: no cover - jitted
    """cos(theta_jik) (clipped to [-1, 1]), the vector R_k - R_j and its length."""
    c = lu[jj, 0] * lu[kk, 0] + lu[jj, 1] * lu[kk, 1] + lu[jj, 2] * lu[kk, 2]
    if c > 1.0:
        c = 1.0
    elif c < -1.0:
        c = -1.0
    dj = ld[jj]
    dk = ld[kk]
    x = lu[kk, 0] * dk - lu[jj, 0] * dj
    y = lu[kk, 1] * dk - lu[jj, 1] * dj
    z = lu[kk, 2] * dk - lu[jj, 2] * dj
    return c, x, y, z, np.sqrt(x * x + y * y + z * z)


@njit(cache=True, nogil=True)
def _centre_features(i, offsets, index, vectors, distances, env_types, cutoff, n_env,
                     rad_off, rad_i, rad_f, grp_i, grp_f, fn_i, rk_f, ak_f, ak_i, out):  # pragma: no cover
    lp, ld, lu, ts, E, dE = _gather(i, offsets, index, vectors, distances, env_types,
                                    cutoff, n_env, rk_f)
    # radial functions
    for t in range(n_env):
        for q in range(ts[t], ts[t + 1]):
            d = ld[q]
            for f in range(rad_off[t], rad_off[t + 1]):
                rc = rad_f[f, 0]
                if d < rc:
                    v, dv = _radial(rad_i[f, 0], d, rc, rad_f[f, 1], rad_f[f, 2], rad_f[f, 3])
                    out[rad_i[f, 1]] += v
    n_rk = rk_f.shape[0]
    n_ak = ak_f.shape[0]
    R4 = np.zeros(n_rk)
    R5 = np.zeros(n_rk)
    A = np.zeros(n_ak)
    for g in range(grp_i.shape[0]):
        t2 = grp_i[g, 0]
        t3 = grp_i[g, 1]
        f0 = grp_i[g, 2]
        f1 = grp_i[g, 3]
        r0 = grp_i[g, 4]
        r1 = grp_i[g, 5]
        a0 = grp_i[g, 6]
        a1 = grp_i[g, 7]
        has4 = grp_i[g, 8]
        only4 = has4 == 2
        rcg = grp_f[g]
        for jj in range(ts[t2], ts[t2 + 1]):
            if ld[jj] >= rcg:
                continue
            kbeg = jj + 1 if t2 == t3 else ts[t3]
            for kk in range(kbeg, ts[t3 + 1]):
                if ld[kk] >= rcg:
                    continue
                c, x, y, z, djk = _rjk(lu, ld, jj, kk)
                if only4 and djk >= rcg:
                    continue
                last_rc = -1.0
                fc = 0.0
                for r in range(r0, r1):
                    p = E[jj, r] * E[kk, r]
                    R5[r] = p
                    if has4 > 0:
                        rc = rk_f[r, 1]
                        if djk < rc:
                            if rc != last_rc:
                                fc = 0.5 * (np.cos(PI * djk / rc) + 1.0)
                                last_rc = rc
                            R4[r] = p * (np.exp(-rk_f[r, 0] * djk * djk) * fc)
                        else:
                            R4[r] = 0.0
                for a in range(a0, a1):
                    A[a], _ = _angle(c, ak_f[a, 0], ak_f[a, 1], ak_f[a, 2], ak_i[a])
                for f in range(f0, f1):
                    if fn_i[f, 0] == 4:
                        out[fn_i[f, 3]] += A[fn_i[f, 2]] * R4[fn_i[f, 1]]
                    else:
                        out[fn_i[f, 3]] += A[fn_i[f, 2]] * R5[fn_i[f, 1]]


@njit(cache=True, nogil=True, parallel=True)
def features_nb(offsets, index, vectors, distances, centers, env_types, cutoff, n_env,
                n_features, rad_off, rad_i, rad_f, grp_i, grp_f, fn_i, rk_f, ak_f,
                ak_i):  # pragma: no cover
    """Features of the atoms ``centers``; returns float64 (len(centers), n_features)."""
    n = centers.shape[0]
    G = np.zeros((n, n_features))
    for c in prange(n):
        _centre_features(centers[c], offsets, index, vectors, distances, env_types, cutoff,
                         n_env, rad_off, rad_i, rad_f, grp_i, grp_f, fn_i, rk_f, ak_f, ak_i,
                         G[c])
    return G


@njit(cache=True, nogil=True)
def _centre_grad(i, offsets, index, vectors, distances, env_types, cutoff, n_env,
                 rad_off, rad_i, rad_f, grp_i, grp_f, fn_i, rk_f, ak_f, ak_i,
                 out, dG, w, gp, mode):  # pragma: no cover
    """Values ``out`` and either dG (mode 1, rows of this centre) or pair gradients ``gp``
    (mode 2, weights ``w`` = dE/dG of this centre)."""
    lp, ld, lu, ts, E, dE = _gather(i, offsets, index, vectors, distances, env_types,
                                    cutoff, n_env, rk_f)
    for t in range(n_env):
        for q in range(ts[t], ts[t + 1]):
            d = ld[q]
            pq = lp[q]
            for f in range(rad_off[t], rad_off[t + 1]):
                rc = rad_f[f, 0]
                if d < rc:
                    col = rad_i[f, 1]
                    v, dv = _radial(rad_i[f, 0], d, rc, rad_f[f, 1], rad_f[f, 2], rad_f[f, 3])
                    out[col] += v
                    if mode == 1:
                        for x in range(3):
                            dG[pq, col, x] += dv * lu[q, x]
                    else:
                        s = w[col] * dv
                        for x in range(3):
                            gp[pq, x] += s * lu[q, x]
    n_rk = rk_f.shape[0]
    n_ak = ak_f.shape[0]
    R4 = np.zeros((n_rk, 4))  # value, d/dRij, d/dRik, d/dRjk
    R5 = np.zeros((n_rk, 3))
    A = np.zeros(n_ak)
    dA = np.zeros(n_ak)
    dcj = np.empty(3)
    dck = np.empty(3)
    ujk = np.empty(3)
    for g in range(grp_i.shape[0]):
        t2 = grp_i[g, 0]
        t3 = grp_i[g, 1]
        f0 = grp_i[g, 2]
        f1 = grp_i[g, 3]
        r0 = grp_i[g, 4]
        r1 = grp_i[g, 5]
        a0 = grp_i[g, 6]
        a1 = grp_i[g, 7]
        has4 = grp_i[g, 8]
        only4 = has4 == 2
        rcg = grp_f[g]
        for jj in range(ts[t2], ts[t2 + 1]):
            dj = ld[jj]
            if dj >= rcg:
                continue
            pj = lp[jj]
            kbeg = jj + 1 if t2 == t3 else ts[t3]
            for kk in range(kbeg, ts[t3 + 1]):
                dk = ld[kk]
                if dk >= rcg:
                    continue
                c, x, y, z, djk = _rjk(lu, ld, jj, kk)
                if only4 and djk >= rcg:
                    continue
                pk = lp[kk]
                for a in range(3):
                    dcj[a] = (lu[kk, a] - c * lu[jj, a]) / dj
                    dck[a] = (lu[jj, a] - c * lu[kk, a]) / dk
                if djk > 0.0:
                    ujk[0] = x / djk
                    ujk[1] = y / djk
                    ujk[2] = z / djk
                else:
                    ujk[0] = 0.0
                    ujk[1] = 0.0
                    ujk[2] = 0.0
                last_rc = -1.0
                fc = 0.0
                dfc = 0.0
                for r in range(r0, r1):
                    ej = E[jj, r]
                    ek = E[kk, r]
                    dej = dE[jj, r]
                    dek = dE[kk, r]
                    R5[r, 0] = ej * ek
                    R5[r, 1] = dej * ek
                    R5[r, 2] = ej * dek
                    if has4 > 0:
                        rc = rk_f[r, 1]
                        if djk < rc:
                            if rc != last_rc:
                                arg = PI * djk / rc
                                fc = 0.5 * (np.cos(arg) + 1.0)
                                dfc = -0.5 * PI / rc * np.sin(arg)
                                last_rc = rc
                            eta = rk_f[r, 0]
                            ex = np.exp(-eta * djk * djk)
                            e = ex * fc
                            de = ex * (dfc - 2.0 * eta * djk * fc)
                        else:
                            e = 0.0
                            de = 0.0
                        R4[r, 0] = ej * ek * e
                        R4[r, 1] = dej * ek * e
                        R4[r, 2] = ej * dek * e
                        R4[r, 3] = ej * ek * de
                for a in range(a0, a1):
                    A[a], dA[a] = _angle(c, ak_f[a, 0], ak_f[a, 1], ak_f[a, 2], ak_i[a])
                if mode == 1:
                    for f in range(f0, f1):
                        col = fn_i[f, 3]
                        r = fn_i[f, 1]
                        a = fn_i[f, 2]
                        av = A[a]
                        if fn_i[f, 0] == 4:
                            out[col] += av * R4[r, 0]
                            sc = dA[a] * R4[r, 0]
                            sj = av * R4[r, 1]
                            sk = av * R4[r, 2]
                            sjk = av * R4[r, 3]
                        else:
                            out[col] += av * R5[r, 0]
                            sc = dA[a] * R5[r, 0]
                            sj = av * R5[r, 1]
                            sk = av * R5[r, 2]
                            sjk = 0.0
                        for xx in range(3):
                            dG[pj, col, xx] += sc * dcj[xx] + sj * lu[jj, xx] - sjk * ujk[xx]
                            dG[pk, col, xx] += sc * dck[xx] + sk * lu[kk, xx] + sjk * ujk[xx]
                else:
                    sc = 0.0
                    sj = 0.0
                    sk = 0.0
                    sjk = 0.0
                    for f in range(f0, f1):
                        col = fn_i[f, 3]
                        r = fn_i[f, 1]
                        a = fn_i[f, 2]
                        av = A[a]
                        wf = w[col]
                        if fn_i[f, 0] == 4:
                            out[col] += av * R4[r, 0]
                            wa = wf * av
                            sc += wf * dA[a] * R4[r, 0]
                            sj += wa * R4[r, 1]
                            sk += wa * R4[r, 2]
                            sjk += wa * R4[r, 3]
                        else:
                            out[col] += av * R5[r, 0]
                            wa = wf * av
                            sc += wf * dA[a] * R5[r, 0]
                            sj += wa * R5[r, 1]
                            sk += wa * R5[r, 2]
                    for xx in range(3):
                        gp[pj, xx] += sc * dcj[xx] + sj * lu[jj, xx] - sjk * ujk[xx]
                        gp[pk, xx] += sc * dck[xx] + sk * lu[kk, xx] + sjk * ujk[xx]


@njit(cache=True, nogil=True, parallel=True)
def features_and_derivatives_nb(offsets, index, vectors, distances, centers, pair_start,
                                env_types, cutoff, n_env, n_features, rad_off, rad_i, rad_f,
                                grp_i, grp_f, fn_i, rk_f, ak_f, ak_i):  # pragma: no cover
    """Features (n_centers, n_features) and per-pair derivatives (n_center_pairs, n_features, 3).

    ``pair_start[c]`` is the first row of centre ``c`` in the derivative array (length
    n_centers + 1).
    """
    n = centers.shape[0]
    G = np.zeros((n, n_features))
    dG = np.zeros((pair_start[n], n_features, 3))
    w = np.zeros(1)
    gp = np.zeros((1, 3))
    for c in prange(n):
        _centre_grad(centers[c], offsets, index, vectors, distances, env_types, cutoff, n_env,
                     rad_off, rad_i, rad_f, grp_i, grp_f, fn_i, rk_f, ak_f, ak_i,
                     G[c], dG[pair_start[c]:pair_start[c + 1]], w, gp, 1)
    return G, dG


@njit(cache=True, nogil=True, parallel=True)
def pair_gradients_nb(offsets, index, vectors, distances, centers, pair_start, env_types,
                      cutoff, n_env, n_features, dE_dG, rad_off, rad_i, rad_f, grp_i, grp_f,
                      fn_i, rk_f, ak_f, ak_i):  # pragma: no cover
    """Per-pair vectors ``g_q = sum_f dE_dG[c, f] dG_cf / d vectors[q]``, (n_center_pairs, 3)."""
    n = centers.shape[0]
    gp = np.zeros((pair_start[n], 3))
    dG = np.zeros((1, 1, 3))
    for c in prange(n):
        out = np.zeros(n_features)
        _centre_grad(centers[c], offsets, index, vectors, distances, env_types, cutoff, n_env,
                     rad_off, rad_i, rad_f, grp_i, grp_f, fn_i, rk_f, ak_f, ak_i,
                     out, dG, dE_dG[c], gp[pair_start[c]:pair_start[c + 1]], 2)
    return gp
