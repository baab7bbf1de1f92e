"""Small random Cu-Au structures and setups for the engine tests (imported as pot_helpers)."""

from __future__ import annotations

import numpy as np
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.structure import Structure

SPECIES = ["Cu", "Au"]


def triclinic_structure(seed: int = 1, n: int = 6) -> Structure:
    """A small triclinic periodic cell with atoms at least 1.2 Å apart."""
    rng = np.random.default_rng(seed)
    cell = np.array([[4.0, 0.3, 0.1], [0.5, 4.2, 0.2], [-0.3, 0.4, 4.1]])
    pos: list[np.ndarray] = []
    while len(pos) < n:
        p = rng.uniform(0, 1, 3) @ cell
        if all(_periodic_distance(p, q, cell) > 1.2 for q in pos):
            pos.append(p)
    symbols = [SPECIES[k % 2] for k in range(n)]
    return Structure(symbols, np.array(pos), cell, (True, True, True))


def _periodic_distance(p, q, cell) -> float:
    frac = np.linalg.solve(cell.T, p - q)
    frac -= np.round(frac)
    return float(np.linalg.norm(frac @ cell))


def cluster_structure(seed: int = 2, n: int = 7) -> Structure:
    """An isolated cluster (no cell)."""
    rng = np.random.default_rng(seed)
    pos: list[np.ndarray] = []
    while len(pos) < n:
        p = rng.uniform(-2.5, 2.5, 3)
        if all(np.linalg.norm(p - q) > 1.5 for q in pos):
            pos.append(p)
    return Structure([SPECIES[(k + 1) % 2] for k in range(n)], np.array(pos))


def small_setups() -> dict:
    return {s: ChebyshevSetup(s, SPECIES, 4.0, 6, 3.5, 3) for s in SPECIES}


