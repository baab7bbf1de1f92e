"""Slow plain-numpy references for the neighbour list and the Chebyshev descriptor.

Brute force on purpose: every periodic image in a box of translations that surely
covers the cutoff sphere, and an explicit loop over neighbour pairs j < k.  Written
from the formulas in docs (aenet-reference.md §1b), independent of the kernels.
"""

from __future__ import annotations

import itertools

import numpy as np

PI_AENET = 3.14159265358979


def brute_force_pairs(positions, cell, pbc, cutoff):
    """All (i, j, vector) with 1e-12 < |vector| <= cutoff for one structure.

    Returns a list (one entry per atom) of lists of (j, vector) tuples.
    """
    positions = np.asarray(positions, dtype=float)
    n = len(positions)
    ranges = []
    cell = np.asarray(cell, dtype=float)
    for k in range(3):
        if pbc[k]:
            # plane spacing along k
            other = [cell[d] for d in range(3) if d != k]
            normal = np.cross(*other)
            h = abs(np.dot(cell[k], normal)) / np.linalg.norm(normal)
            # positions can be anywhere (not wrapped): add their spread
            frac = positions @ np.linalg.inv(cell)
            spread = np.ptp(frac[:, k]) if n else 0.0
            nmax = int(np.ceil(cutoff / h + spread)) + 1
            ranges.append(range(-nmax, nmax + 1))
        else:
            ranges.append(range(0, 1))
    out = [[] for _ in range(n)]
    for t in itertools.product(*ranges):
        shift = np.asarray(t, dtype=float) @ cell if any(pbc) else np.zeros(3)
        for i in range(n):
            vec = positions + shift - positions[i]
            d = np.sqrt((vec**2).sum(axis=1))
            for j in np.flatnonzero((d > 1e-12) & (d <= cutoff)):
                out[i].append((int(j), vec[j].copy()))
    return out


def fc(d, rc):
    """ænet cutoff function with its truncated pi."""
    return 0.5 * (np.cos(PI_AENET * d / rc) + 1.0) if d <= rc else 0.0


def chebyshev_T(n_max, x):
    t = np.zeros(n_max + 1)
    t[0] = 1.0
    if n_max >= 1:
        t[1] = x
    for n in range(1, n_max):
        t[n + 1] = 2.0 * x * t[n] - t[n - 1]
    return t


def typespin(n_env):
    """ænet's species weights by ENV position."""
    s = -(n_env // 2)
    out = []
    for _ in range(n_env):
        if s == 0 and n_env % 2 == 0:
            s += 1
        out.append(float(s))
        s += 1
    return np.array(out)


def chebyshev_reference(pairs_of_atom, types, rr, nr, ra, na, weights):
    """Features of one atom from its list of (j, vector) and the env type of every atom.

    ``weights`` None means a single env species (no typed copy).
    """
    rad = np.zeros(nr + 1)
    ang = np.zeros(na + 1)
    trad = np.zeros(nr + 1)
    tang = np.zeros(na + 1)
    for j, v in pairs_of_atom:
        d = np.linalg.norm(v)
        if d <= rr:
            term = fc(d, rr) * chebyshev_T(nr, (2.0 * d - rr) / rr)
            rad += term
            if weights is not None:
                trad += weights[types[j]] * term
    m = len(pairs_of_atom)
    for a in range(m):
        j, vj = pairs_of_atom[a]
        dj = np.linalg.norm(vj)
        if dj > ra:
            continue
        for b in range(a + 1, m):
            k, vk = pairs_of_atom[b]
            dk = np.linalg.norm(vk)
            if dk > ra:
                continue
            cos = np.dot(vj, vk) / (dj * dk)
            term = fc(dj, ra) * fc(dk, ra) * chebyshev_T(na, cos)
            ang += term
            if weights is not None:
                tang += weights[types[j]] * weights[types[k]] * term
    if weights is None:
        return np.concatenate([rad, ang])
    return np.concatenate([rad, ang, trad, tang])
