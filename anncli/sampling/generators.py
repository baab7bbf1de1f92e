"""The structure generators of ``anncli sample``: one pure function per kind of candidate.

Each function takes an :class:`ase.Atoms` (not modified) and a :class:`numpy.random.Generator`
where it draws anything, and returns new Atoms (or a list of them).  Units: Å, fractions for
strains, K and fs for MD.  Orchestration (which generators run on which ideal structure, with
which seed) is in :mod:`anncli.sampling.pool`.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from anncli.exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["supercell", "rattle", "strain_isotropic", "strain_anisotropic", "vacancies", "interstitials",
           "substitutions", "slab", "md_snapshots", "min_distance"]


def _copy(atoms):
    out = atoms.copy()
    out.calc = None
    return out


def supercell(atoms, min_atoms: int):
    """Repeat a periodic cell along its shortest periodic direction until it has ≥ ``min_atoms`` atoms.

    One repetition at a time is added along the periodic direction with the smallest
    perpendicular width (cell volume / area of the opposite face), so that the supercell
    stays as compact as possible.  Non-periodic directions are never repeated; a cluster is returned unchanged.
    """
    out = _copy(atoms)
    periodic = [k for k in range(3) if out.pbc[k]]
    if not periodic or len(out) == 0:
        return out
    reps = [1, 1, 1]
    cell = np.array(atoms.cell[:])
    while len(atoms) * int(np.prod(reps)) < min_atoms:
        widths = []
        for k in periodic:
            a, b = cell[(k + 1) % 3] * reps[(k + 1) % 3], cell[(k + 2) % 3] * reps[(k + 2) % 3]
            area = np.linalg.norm(np.cross(a, b))
            widths.append(abs(np.linalg.det(cell * np.array(reps)[:, None])) / area if area > 0 else np.inf)
        reps[periodic[int(np.argmin(widths))]] += 1
    return out.repeat(reps) if reps != [1, 1, 1] else out


def rattle(atoms, sigma: float, rng: np.random.Generator):
    """Copy with every atom displaced by a Gaussian of standard deviation ``sigma`` (Å) per component."""
    out = _copy(atoms)
    if sigma > 0:
        out.positions = out.positions + rng.normal(0.0, sigma, size=out.positions.shape)
    return out


def _strained(atoms, eps: np.ndarray):
    """Cell deformed by the symmetric strain ``eps`` (3x3): new cell rows = cell rows @ (1 + eps).

    Atoms keep their fractional coordinates along periodic directions (Cartesian positions are
    transformed by the same matrix, which is the same thing for a periodic cell).
    """
    out = _copy(atoms)
    f = np.eye(3) + eps
    out.set_cell(np.array(atoms.cell[:]) @ f, scale_atoms=False)
    out.positions = atoms.positions @ f
    return out


def strain_isotropic(atoms, eps: float):
    """Copy with every length scaled by ``1 + eps`` (a fraction: 0.03 = +3 %)."""
    return _strained(atoms, eps * np.eye(3))


def strain_anisotropic(atoms, max_eps: float, rng: np.random.Generator):
    """Copy under a random symmetric strain whose six components are uniform in [-max_eps, max_eps].

    Returns
    -------
    atoms : ase.Atoms
    eps : ndarray of shape (3, 3)
        The strain tensor applied (cell rows @ (1 + eps)).
    """
    v = rng.uniform(-max_eps, max_eps, size=6)  # Voigt: xx yy zz yz xz xy
    eps = np.array([[v[0], v[5], v[4]], [v[5], v[1], v[3]], [v[4], v[3], v[2]]])
    return _strained(atoms, eps), eps


def _pick(rng: np.random.Generator, candidates: np.ndarray, count: int) -> np.ndarray:
    return np.sort(rng.choice(candidates, size=count, replace=False))


def vacancies(atoms, count: int, rng: np.random.Generator, species: Sequence[str] | None = None):
    """Copy with ``count`` atoms removed at random (only atoms of ``species`` if given).

    Returns None when the structure has fewer than ``count + 1`` such atoms (nothing to make).
    """
    symbols = np.array(atoms.get_chemical_symbols())
    allowed = np.flatnonzero(np.isin(symbols, list(species))) if species else np.arange(len(atoms))
    if len(allowed) < count or len(atoms) - count < 1:
        return None
    out = _copy(atoms)
    del out[list(_pick(rng, allowed, count))]
    return out


def _nearest(points: np.ndarray, atoms) -> np.ndarray:
    """Distance of every point (n, 3) to the nearest atom (periodic images included)."""
    from ase.geometry import get_distances

    if len(atoms) == 0:
        return np.full(len(points), np.inf)
    _, d = get_distances(points, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return d.min(axis=1)


def interstitials(atoms, species: Sequence[str], count: int, rng: np.random.Generator, tries: int = 200):
    """Copy with ``count`` extra atoms, each of a species drawn from ``species``, put in open space.

    For every added atom ``tries`` random points are drawn (uniform in the cell; for
    non-periodic directions within the atoms' extent) and the one farthest from every atom
    (periodic images included) is taken: the atom lands in or near the largest void found.
    """
    out = _copy(atoms)
    cell = np.array(atoms.cell[:])
    pbc = np.asarray(atoms.pbc)
    for _ in range(count):
        frac = rng.random((tries, 3))
        if pbc.all():
            points = frac @ cell
        else:  # box around the atoms along non-periodic directions
            lo, hi = out.positions.min(axis=0), out.positions.max(axis=0)
            points = lo + frac * np.maximum(hi - lo, 1e-3)
            if pbc.any():
                inv = np.linalg.pinv(cell)
                scaled = points @ inv
                scaled[:, pbc] = frac[:, pbc]
                points = np.where(pbc, scaled @ cell, points)
        best = int(np.argmax(_nearest(points, out)))
        sym = species[int(rng.integers(len(species)))]
        from ase import Atom

        out.append(Atom(sym, points[best]))
    return out


def substitutions(atoms, count: int, replace: dict[str, Sequence[str]], rng: np.random.Generator):
    """Copy with ``count`` atoms of the species in ``replace`` swapped for one of their replacements.

    Returns None when fewer than ``count`` atoms can be replaced.
    """
    symbols = list(atoms.get_chemical_symbols())
    allowed = np.array([i for i, s in enumerate(symbols) if replace.get(s)], dtype=np.int64)
    if len(allowed) < count:
        return None
    out = _copy(atoms)
    for i in _pick(rng, allowed, count):
        choices = list(replace[symbols[i]])
        symbols[i] = choices[int(rng.integers(len(choices)))]
    out.set_chemical_symbols(symbols)
    return out


def slab(atoms, miller: Sequence[int], layers: int, vacuum: float, periodic: bool = True,
         repeat: Sequence[int] = (1, 1)):
    """A surface slab of the bulk ``atoms`` (ase.build.surface) with ``vacuum`` Å on each side.

    Parameters
    ----------
    miller : three ints
        Surface normal (h, k, l) in terms of the bulk cell.
    layers : int
        Number of repetitions of the surface cell along the normal.
    periodic : bool
        Periodic along the normal (vacuum inside the cell, as plane-wave codes need).
    repeat : two ints
        Repetitions in the surface plane.

    Raises
    ------
    ConfigError
        Miller indices ASE cannot build a surface for (e.g. all zero).
    """
    from ase.build import surface

    if not all(atoms.pbc):
        raise ValueError("a slab needs a 3-D periodic bulk structure")
    try:
        out = surface(_copy(atoms), tuple(int(m) for m in miller), int(layers), vacuum=float(vacuum),
                      periodic=periodic)
    except Exception as exc:  # noqa: BLE001 - ASE's errors on bad indices
        raise ConfigError(f"surfaces.miller: cannot build the surface {list(miller)}: {exc}") from None
    out.calc = None
    if tuple(repeat) != (1, 1):
        out = out.repeat((int(repeat[0]), int(repeat[1]), 1))
    return out


def md_snapshots(atoms, calc, temperature: float, steps: int, interval: int, timestep: float, friction: float,
                 rng: np.random.Generator) -> list:
    """Frames of a short Langevin run (ASE) with a cheap calculator, every ``interval`` steps.

    Parameters
    ----------
    calc : ase calculator
        Forces for the dynamics (EMT, a previous potential, ...).
    temperature : float
        K (initial Maxwell-Boltzmann velocities and thermostat).
    steps, interval : int
    timestep : float
        fs.
    friction : float
        1/fs.

    Returns
    -------
    list of ase.Atoms
        ``steps // interval`` frames, without calculator.
    """
    from ase import units
    from ase.md import velocitydistribution as vd
    from ase.md.langevin import Langevin

    work = _copy(atoms)
    work.calc = calc
    if hasattr(vd, "thermalize_momenta"):  # ASE >= 3.28
        vd.thermalize_momenta(work, temperature, rng=rng)
    else:  # pragma: no cover - older ASE
        vd.MaxwellBoltzmannDistribution(work, temperature_K=temperature, rng=rng)
    dyn = Langevin(work, timestep * units.fs, temperature_K=temperature, friction=friction / units.fs,
                   fixcm=False, rng=rng)
    frames = []
    for _ in range(steps // interval):
        dyn.run(interval)
        frame = _copy(work)
        frame.arrays.pop("momenta", None)  # positions to compute, not a trajectory
        frames.append(frame)
    return frames


def min_distance(atoms) -> float:
    """Smallest distance between two atoms (periodic images included), inf for one atom."""
    from ase.neighborlist import neighbor_list

    if len(atoms) < 2 and not any(atoms.pbc):
        return float("inf")
    try:
        d = neighbor_list("d", atoms, 3.0)
    except Exception:  # noqa: BLE001 - a degenerate cell: fall back to all pairs
        d = atoms.get_all_distances(mic=any(atoms.pbc))[np.triu_indices(len(atoms), 1)]
    return float(d.min()) if len(d) else float("inf")
