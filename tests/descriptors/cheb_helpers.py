"""Shared helpers of the descriptor tests: random structures, batching, a tiny XSF reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_xsf_minimal(path: Path):
    """(symbols, positions, cell or None) of a single-frame ænet XSF (PRIMVEC/PRIMCOORD or ATOMS)."""
    lines = Path(path).read_text().splitlines()
    cell = None
    start = None
    for n, line in enumerate(lines):
        if "PRIMVEC" in line:
            cell = np.array([[float(x) for x in lines[n + k].split()[:3]] for k in (1, 2, 3)])
        if "PRIMCOORD" in line:
            start = n + 2
        elif "ATOMS" in line and start is None:
            start = n + 1
    symbols, pos = [], []
    for line in lines[start:]:
        if not line.strip():
            break
        tok = line.split()
        symbols.append(tok[0])
        pos.append([float(x) for x in tok[1:4]])
    return symbols, np.array(pos), cell


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
