"""Choosing the structures to compute next: ranking by uncertainty, thinning by diversity.

This module owns the two steps of query-by-committee selection: a score per candidate
structure (committee spread or extrapolation grade) and farthest-point sampling in a
structure-level feature space, so that N selected structures are not N near-copies of one
MD frame.  Plain numpy; the caller supplies the scores and fingerprints.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["farthest_point_sampling", "structure_fingerprints", "select_candidates"]


def farthest_point_sampling(x: np.ndarray, n: int, first: int | Sequence[int] = 0) -> np.ndarray:
    """Indices of ``n`` rows of ``x`` chosen greedily to be far from each other.

    Starts from row ``first`` (or the rows ``first``, in that order); every next row is the one
    whose Euclidean distance to the nearest already chosen row is largest (ties: the lowest index).
    No row is chosen twice, even among duplicates.

    Parameters
    ----------
    x : ndarray of shape (n_points, n_dims)
    n : int
        Number of rows to choose (at most ``n_points``).
    first : int or sequence of int
        The first row(s) chosen (e.g. structures that must be kept).

    Returns
    -------
    ndarray of shape (min(n, n_points),), int64
        In the order chosen.
    """
    x = np.asarray(x, dtype=float)
    m = len(x)
    n = min(int(n), m)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    firsts = [int(first)] if np.ndim(first) == 0 else [int(i) for i in first]
    firsts = list(dict.fromkeys(firsts))[:n] or [0]
    chosen = np.empty(n, dtype=np.int64)
    chosen[:len(firsts)] = firsts
    d = np.full(m, np.inf)
    for i in firsts:
        np.minimum(d, np.linalg.norm(x - x[i], axis=1), out=d)
    d[firsts] = -1.0  # never chosen twice, also when the rest are duplicates (distance 0)
    for k in range(len(firsts), n):
        nxt = int(np.argmax(d))
        chosen[k] = nxt
        np.minimum(d, np.linalg.norm(x - x[nxt], axis=1), out=d)
        d[nxt] = -1.0
    return chosen


def structure_fingerprints(features: dict[str, np.ndarray], structure_index: dict[str, np.ndarray],
                           n_structures: int, mean: dict[str, np.ndarray], std: dict[str, np.ndarray],
                           species: list[str]) -> np.ndarray:
    """One vector per structure: per species, the mean z-scored features of its atoms and the
    species' atom fraction, concatenated.

    Parameters
    ----------
    features : dict of str to ndarray of shape (n_atoms_sp, n_features)
        Raw features of every atom, by species.
    structure_index : dict of str to ndarray of shape (n_atoms_sp,), int
        Structure of every atom.
    n_structures : int
    mean, std : dict of str to ndarray of shape (n_features,)
        The model's feature normalisation.
    species : list of str

    Returns
    -------
    ndarray of shape (n_structures, sum(n_features + 1))
    """
    blocks = []
    counts = np.zeros((n_structures, len(species)))
    for t, sym in enumerate(species):
        x = np.asarray(features[sym], dtype=float)
        s = np.asarray(structure_index[sym], dtype=np.int64)
        sd = np.where(np.asarray(std[sym]) > 1e-10, std[sym], 1.0)
        z = (x - mean[sym]) / sd
        total = np.zeros((n_structures, x.shape[1]))
        np.add.at(total, s, z)
        counts[:, t] = np.bincount(s, minlength=n_structures)
        with np.errstate(invalid="ignore", divide="ignore"):
            blocks.append(np.where(counts[:, t:t + 1] > 0, total / counts[:, t:t + 1], 0.0))
    n_atoms = counts.sum(axis=1, keepdims=True)
    blocks.append(counts / np.where(n_atoms > 0, n_atoms, 1.0))
    return np.hstack(blocks)


def select_candidates(scores: np.ndarray, n: int, fingerprints: np.ndarray | None = None,
                      threshold: float = 0.0, pool: int = 5) -> np.ndarray:
    """The ``n`` candidates to compute next.

    Candidates with ``score > threshold`` are ranked by score; without fingerprints the top
    ``n`` are taken, with them farthest-point sampling picks ``n`` of the top ``pool * n``,
    starting from the highest score.

    Parameters
    ----------
    scores : ndarray of shape (n_candidates,)
        Larger = more uncertain.
    n : int
    fingerprints : ndarray of shape (n_candidates, n_dims), optional
    threshold : float
    pool : int

    Returns
    -------
    ndarray of int64
        Candidate indices, in the order chosen.
    """
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] > threshold]
    if fingerprints is None or len(order) <= n:
        return order[:n].astype(np.int64)
    top = order[: max(n, pool * n)]
    picked = farthest_point_sampling(np.asarray(fingerprints)[top], n, first=0)
    return top[picked].astype(np.int64)
