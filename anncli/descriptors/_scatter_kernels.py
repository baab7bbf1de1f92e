"""One centre's pair gradients into forces and its structure's virial (a Numba kernel piece).

Given ``g_p = dE/d vectors[p]`` for the pairs p of centre i (:mod:`anncli.descriptors.base`):
``F_j -= g_p`` (neighbour), ``F_i += sum_p g_p`` (centre), ``W_s -= sum_p outer(r_p, g_p)``.
Shared by the fused Chebyshev force pass and the potential engine's scatter of pair gradients.
"""

from __future__ import annotations

from numba import njit

__all__ = ["scatter_centre"]


@njit(cache=True, nogil=True)
def scatter_centre(i, s, offsets, index, vectors, count, g, do_virial, f, v):  # pragma: no cover
    """Add one centre's pair gradients ``g`` (count, 3) to the forces ``f`` (F_j -= g, F_i += g)
    and its virial to ``v[s]`` (W -= sum_p outer(r_p, g_p))."""
    fx = 0.0
    fy = 0.0
    fz = 0.0
    w00 = 0.0
    w01 = 0.0
    w02 = 0.0
    w10 = 0.0
    w11 = 0.0
    w12 = 0.0
    w20 = 0.0
    w21 = 0.0
    w22 = 0.0
    p0 = offsets[i]
    for q in range(count):
        p = p0 + q
        gx = g[q, 0]
        gy = g[q, 1]
        gz = g[q, 2]
        j = index[p]
        f[j, 0] -= gx
        f[j, 1] -= gy
        f[j, 2] -= gz
        fx += gx
        fy += gy
        fz += gz
        if do_virial:
            rx = vectors[p, 0]
            ry = vectors[p, 1]
            rz = vectors[p, 2]
            w00 += rx * gx
            w01 += rx * gy
            w02 += rx * gz
            w10 += ry * gx
            w11 += ry * gy
            w12 += ry * gz
            w20 += rz * gx
            w21 += rz * gy
            w22 += rz * gz
    f[i, 0] += fx
    f[i, 1] += fy
    f[i, 2] += fz
    if do_virial:
        v[s, 0, 0] -= w00
        v[s, 0, 1] -= w01
        v[s, 0, 2] -= w02
        v[s, 1, 0] -= w10
        v[s, 1, 1] -= w11
        v[s, 1, 2] -= w12
        v[s, 2, 0] -= w20
        v[s, 2, 1] -= w21
        v[s, 2, 2] -= w22
