"""Slow plain-numpy references for the Behler2011 tests: brute-force neighbour list and features.

Written straight from the definitions (aenet-reference §1b), independently of the kernels:
periodic images by explicit enumeration of lattice translations, angular terms by an explicit
enumeration of the unordered pairs j < k.  Features are returned in *function-list* order.
"""

from __future__ import annotations

import itertools

import numpy as np

from anncli.descriptors.base import NeighborList

PI = 3.14159265358979


def brute_force_neighbor_list(structures, cutoff: float) -> tuple[NeighborList, np.ndarray]:
    """CSR neighbour list of a batch, by enumerating all images.

    Parameters
    ----------
    structures : list of (positions (n, 3), cell (3, 3) or None)
        Cell rows are lattice vectors; ``None`` means isolated.
    cutoff : float

    Returns
    -------
    nl : NeighborList
    structure_offsets : ndarray (n_structures + 1,)
    """
    offsets = [0]
    index, vectors = [], []
    base = 0
    s_off = [0]
    for pos, cell in structures:
        pos = np.asarray(pos, float)
        n = len(pos)
        if cell is None:
            shifts = np.zeros((1, 3))
        else:
            cell = np.asarray(cell, float)
            recip = np.linalg.inv(cell).T  # rows b_i with a_i . b_j = delta_ij
            spacing = 1.0 / np.linalg.norm(recip, axis=1)
            frac = pos @ np.linalg.inv(cell)
            span = frac.max(axis=0) - frac.min(axis=0)
            nmax = np.ceil(cutoff / spacing + span).astype(int) + 1
            ranges = [range(-m, m + 1) for m in nmax]
            shifts = np.array(list(itertools.product(*ranges)), float) @ cell
        for i in range(n):
            for j in range(n):
                v = pos[j] + shifts - pos[i]
                d = np.linalg.norm(v, axis=1)
                ok = (d > 1e-12) & (d <= cutoff)
                for vv in v[ok]:
                    index.append(base + j)
                    vectors.append(vv)
            offsets.append(len(index))
        base += n
        s_off.append(base)
    vectors = np.asarray(vectors, float).reshape(-1, 3)
    nl = NeighborList(
        offsets=np.asarray(offsets, np.int64),
        index=np.asarray(index, np.int64),
        vectors=vectors,
        distances=np.linalg.norm(vectors, axis=1),
        cutoff=float(cutoff),
    )
    return nl, np.asarray(s_off, np.int64)


def fc(r, rc):
    r = np.asarray(r, float)
    return np.where(r < rc, 0.5 * (np.cos(PI * r / rc) + 1.0), 0.0)


def reference_features(nl: NeighborList, centers, species, functions) -> np.ndarray:
    """Features in function-list order, (len(centers), len(functions)).

    ``species[a]`` is the symbol of batch atom ``a``; ``functions`` are dicts (ænet keys).
    """
    out = np.zeros((len(centers), len(functions)))
    for c, i in enumerate(centers):
        p = np.arange(nl.offsets[i], nl.offsets[i + 1])
        vec = nl.vectors[p]
        d = np.linalg.norm(vec, axis=1)
        sp = np.array([species[a] for a in nl.index[p]], dtype=object)
        jj, kk = np.triu_indices(len(p), k=1)  # all unordered pairs j < k
        for n, f in enumerate(functions):
            g = f["G"]
            if g <= 3:
                m = sp == f["type2"]
                r = d[m]
                if g == 1:
                    out[c, n] = np.sum(fc(r, f["Rc"]))
                elif g == 2:
                    out[c, n] = np.sum(np.exp(-f["eta"] * (r - f.get("Rs", 0.0)) ** 2)
                                       * fc(r, f["Rc"]))
                else:
                    out[c, n] = np.sum(np.cos(f["kappa"] * r) * fc(r, f["Rc"]))
                continue
            want = sorted((f["type2"], f["type3"]))
            m = np.array([sorted((sp[a], sp[b])) == want for a, b in zip(jj, kk)], bool)
            a, b = jj[m], kk[m]
            if len(a) == 0:
                continue
            rij, rik = d[a], d[b]
            cos = np.clip(np.sum(vec[a] * vec[b], axis=1) / (rij * rik), -1.0, 1.0)
            rjk = np.linalg.norm(vec[b] - vec[a], axis=1)
            eta, lam, zeta, rc = f["eta"], f["lambda"], f["zeta"], f["Rc"]
            term = (2.0 * (0.5 * (1.0 + lam * cos)) ** zeta
                    * np.exp(-eta * (rij**2 + rik**2)) * fc(rij, rc) * fc(rik, rc))
            if g == 4:
                term = term * np.exp(-eta * rjk**2) * fc(rjk, rc)
            out[c, n] = np.sum(term)
    return out


def expected_order(functions, env) -> list[int]:
    """ænet's sf_build_index order, written independently from the rule in the brief."""
    pos = {s: n for n, s in enumerate(env)}
    keyed = []
    for n, f in enumerate(functions):
        if f["G"] <= 3:
            key = (pos[f["type2"]], -1, f["G"], n)
        else:
            a, b = sorted((pos[f["type2"]], pos[f["type3"]]))
            key = (a, b, f["G"], n)
        keyed.append(key)
    return [k[3] for k in sorted(keyed)]
