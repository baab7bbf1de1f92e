"""Shared helpers of the descriptor tests: random structures and batching."""

from __future__ import annotations

import numpy as np


def batch_arrays(structures):
    """Concatenate [(positions, cell, pbc), ...] into batch arrays."""
    offsets = np.zeros(len(structures) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s[0]) for s in structures])
    positions = np.concatenate([np.asarray(s[0], float).reshape(-1, 3) for s in structures])
    cells = np.array([np.zeros((3, 3)) if s[1] is None else s[1] for s in structures], dtype=float)
    pbcs = np.array([s[2] for s in structures], dtype=bool).reshape(-1, 3)
    return positions, cells, pbcs, offsets


def random_structure(rng, n_atoms, cell_scale, pbc, skew=0.4, spread=(0.0, 1.0)):
    """Random atoms (min distance ~0.7 Å enforced loosely) in a skewed cell."""
    cell = np.eye(3) * cell_scale + rng.uniform(-skew, skew, size=(3, 3)) * cell_scale
    pos = []
    while len(pos) < n_atoms:
        p = rng.uniform(*spread, size=3) @ cell
        if all(np.linalg.norm(p - q) > 0.7 for q in pos):
            pos.append(p)
    return np.array(pos), cell, np.array(pbc, dtype=bool)
