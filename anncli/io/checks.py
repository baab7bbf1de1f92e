"""Sanity checks of structures read from files.

This module owns the checks that a structure is usable: finite energy, positions
and forces of the right shape, a non-singular cell for periodic structures, and no
two atoms closer than a minimum distance (periodic images included).  Every
failure raises :class:`~anncli.exceptions.DataError` naming the file and frame.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np

from anncli.exceptions import DataError
from anncli.structure import Structure

logger = logging.getLogger(__name__)

__all__ = ["check_structure", "close_pairs", "check_min_distance"]


def _where(s: Structure) -> str:
    if not s.source:
        return f"structure {s.frame}"
    return f"file {s.source}" + (f" (frame {s.frame})" if s.frame else "")


def _first_bad_row(a: np.ndarray) -> int:
    return int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])


def check_structure(structure: Structure, require_energy: bool = False) -> None:
    """Check that a structure holds valid, finite data.

    Checks: at least one atom; positions of shape (n_atoms, 3) and finite; forces
    (if present) of shape (n_atoms, 3) and finite; energies finite; an energy
    present if ``require_energy``; for periodic structures a finite cell whose
    periodic lattice vectors are linearly independent.

    Parameters
    ----------
    structure : Structure
        The structure to check.
    require_energy : bool
        Raise if the structure has no total energy.

    Raises
    ------
    DataError
        Naming the file and frame and what is wrong (atom numbers are 1-based).
    """
    s = structure
    where = _where(s)
    n = len(s.symbols)
    if n == 0:
        raise DataError(f"{where}: the structure has no atoms")
    if s.positions.shape != (n, 3):
        raise DataError(f"{where}: positions have shape {s.positions.shape}, expected ({n}, 3)")
    if not np.isfinite(s.positions).all():
        k = _first_bad_row(s.positions)
        raise DataError(f"{where}: atom {k + 1} ({s.symbols[k]}) has a non-finite position {s.positions[k]}")
    if s.forces is not None:
        if s.forces.shape != (n, 3):
            raise DataError(f"{where}: forces have shape {s.forces.shape}, expected ({n}, 3)")
        if not np.isfinite(s.forces).all():
            k = _first_bad_row(s.forces)
            raise DataError(f"{where}: atom {k + 1} ({s.symbols[k]}) has a non-finite force {s.forces[k]}")
    for label, value in (("total energy", s.energy), ("cohesive energy", s.cohesive_energy)):
        if value is not None and not math.isfinite(value):
            raise DataError(f"{where}: the {label} is {value}; it must be a finite number")
    if require_energy and s.energy is None:
        raise DataError(f"{where}: no total energy given; a reference energy is required")
    if s.is_periodic:
        if s.cell is None:
            raise DataError(f"{where}: periodic structure (pbc {s.pbc}) without a cell")
        if not np.isfinite(s.cell).all():
            raise DataError(f"{where}: the cell has non-finite entries {s.cell.tolist()}")
        rows = s.cell[list(np.flatnonzero(s.pbc))]
        norms = np.linalg.norm(rows, axis=1)
        sv = np.linalg.svd(rows, compute_uv=False)
        if norms.min() == 0.0 or sv.min() <= 1e-10 * norms.max():
            raise DataError(
                f"{where}: the periodic lattice vectors are linearly dependent (singular cell {s.cell.tolist()})"
            )


#: Up to this many atoms, periodic pairs are found with one dense numpy pass.
_DENSE_MAX_ATOMS = 256


def close_pairs(structure: Structure, min_distance: float = 0.1) -> list[tuple[int, int, float]]:
    """Find pairs of atoms closer than ``min_distance`` (periodic images included).

    Parameters
    ----------
    structure : Structure
        Periodic or isolated structure (Å).
    min_distance : float, Å
        Pairs at a distance strictly below this are returned.

    Returns
    -------
    list of (int, int, float)
        ``(i, j, d)`` with 0-based atom indices ``i <= j`` and the shortest
        distance ``d`` (Å) over all periodic images; ``i == j`` means an atom is
        close to its own image (a tiny cell).  Sorted by ``(i, j)``.

    Notes
    -----
    Isolated structures use a k-d tree (O(N log N)).  For periodic structures
    with ``min_distance`` below half of every cell height, at most one image of
    an atom can be that close to another, and it must be the image whose
    fractional offset lies within ``min_distance / height`` in every direction:
    small cells test that in one dense numpy pass, large cells add image ("ghost")
    atoms near the faces to a k-d tree.  Other cases (tiny cells, partial
    periodicity) fall back to ASE's neighbour list.
    """
    n = structure.n_atoms
    if min_distance <= 0 or n == 0:
        return []
    r = float(min_distance)
    pos = structure.positions
    if not structure.is_periodic:
        return _pairs_tree(pos, r, n) if n > 1 else []
    cell = structure.cell
    if not all(structure.pbc):
        return _pairs_ase(structure, r)
    volume = abs(np.linalg.det(cell))
    heights = volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    if not r < 0.5 * heights.min():
        return _pairs_ase(structure, r)
    frac = np.linalg.solve(cell.T, pos.T).T
    frac -= np.floor(frac)
    limit = r / heights
    if n <= _DENSE_MAX_ATOMS:
        return _pairs_dense(frac, cell, limit, r)
    return _pairs_ghosts(frac, cell, limit, r)


@lru_cache(maxsize=64)
def _upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, k=1)


def _pairs_dense(frac: np.ndarray, cell: np.ndarray, limit: np.ndarray, r: float) -> list:
    i, j = _upper_pairs(len(frac))
    g = frac[j] - frac[i]
    g -= np.rint(g)
    keep = (np.abs(g) < limit).all(axis=1)
    if not keep.any():
        return []
    d = np.linalg.norm(g[keep] @ cell, axis=1)
    ok = d < r
    return [(int(a), int(b), float(c)) for a, b, c in zip(i[keep][ok], j[keep][ok], d[ok])]


def _pairs_tree(pos: np.ndarray, r: float, n_orig: int, orig: np.ndarray | None = None) -> list:
    from scipy.spatial import cKDTree

    pairs = cKDTree(pos).query_pairs(r, output_type="ndarray")
    best: dict[tuple[int, int], float] = {}
    for a, b in pairs.tolist():
        if a >= n_orig:  # ghost-ghost: a translate of another pair
            continue
        d = float(np.linalg.norm(pos[b] - pos[a]))
        if d >= r:
            continue
        jb = b if orig is None else int(orig[b])
        key = (a, jb) if a <= jb else (jb, a)
        if d < best.get(key, math.inf):
            best[key] = d
    return sorted((i, j, d) for (i, j), d in best.items())


def _pairs_ghosts(frac: np.ndarray, cell: np.ndarray, limit: np.ndarray, r: float) -> list:
    import itertools

    n = len(frac)
    lo = frac < limit  # near the lower face: its +1 image is near the upper face
    hi = frac > 1.0 - limit
    chunks = [frac]
    owners = [np.arange(n)]
    for shift in itertools.product((-1, 0, 1), repeat=3):
        if shift == (0, 0, 0):
            continue
        mask = np.ones(n, dtype=bool)
        for k, s in enumerate(shift):
            if s == 1:
                mask &= lo[:, k]
            elif s == -1:
                mask &= hi[:, k]
        if mask.any():
            chunks.append(frac[mask] + np.array(shift, dtype=float))
            owners.append(np.flatnonzero(mask))
    pos = np.concatenate(chunks) @ cell
    return _pairs_tree(pos, r, n, np.concatenate(owners))


def _pairs_ase(structure: Structure, r: float) -> list:
    from ase.neighborlist import neighbor_list

    ii, jj, dd = neighbor_list("ijd", structure.to_ase(), r, self_interaction=False)
    best: dict[tuple[int, int], float] = {}
    for i, j, d in zip(ii.tolist(), jj.tolist(), dd.tolist()):
        if i > j or d >= r:
            continue
        if d < best.get((i, j), math.inf):
            best[(i, j)] = d
    return sorted((i, j, d) for (i, j), d in best.items())


def check_min_distance(structure: Structure, min_distance: float) -> None:
    """Raise if two atoms (or an atom and a periodic image) are closer than ``min_distance``.

    The message gives 1-based atom numbers, e.g. ``file x.xsf (frame 2): atoms 3
    (O) and 7 (H) are 0.05 Å apart (min_distance is 0.1 Å)``, for the closest pair.

    Parameters
    ----------
    structure : Structure
        The structure (Å).
    min_distance : float, Å
        Smallest allowed interatomic distance.

    Raises
    ------
    DataError
        If any pair is closer than ``min_distance``.
    """
    pairs = close_pairs(structure, min_distance)
    if not pairs:
        return
    i, j, d = min(pairs, key=lambda p: p[2])
    sym = structure.symbols
    more = f"; {len(pairs) - 1} more pair(s) are too close" if len(pairs) > 1 else ""
    what = (
        f"atom {i + 1} ({sym[i]}) and its own periodic image are"
        if i == j
        else f"atoms {i + 1} ({sym[i]}) and {j + 1} ({sym[j]}) are"
    )
    raise DataError(
        f"{_where(structure)}: {what} {d:.3g} Å apart (min_distance is {min_distance:g} Å){more}"
    )
