"""Taylor-expansion augmentation: displaced copies of structures with forces (generate's ``taylor``).

Cooper, Kästner, Urban and Artrith (npj Comput. Mater. 6, 54 (2020)) turn forces into extra
energy points: a copy of structure R displaced by a small δ is labelled with the first-order
Taylor expansion

    E(R + δ) ≈ E(R) − Σ_i F_i · δ_i

(the paper's, and aenet-python's, first order; the error is ½ δᵀHδ, which is why δ is kept at
0.01–0.03 Å) and the model is then trained on energies only.  This module owns the
displacements and the copies' labels; the generate workflow adds the copies right after their
parent and records the parent's row (``/structures/parent``), on which ``anncli train`` splits.

Displacements.  ``mode: all``: every atom moves by a Gaussian-random vector; ``mode: single``:
one random atom moves in a random direction.  In both, the mass-weighted mean displacement is
subtracted (the centre of mass does not move) and the result is scaled so that the largest
atom displacement |δ_i| equals ``displacement``.  Copy k of the structure at row p of the
training set draws from ``numpy.random.default_rng([seed, p, k])``: the file does not depend
on how generate batches the structures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from anncli.structure import Structure

logger = logging.getLogger(__name__)


def atomic_masses(symbols: list[str]) -> np.ndarray:
    """Standard atomic masses (u) of ``symbols`` (ASE's table), shape (n_atoms,)."""
    from ase.data import atomic_masses as masses, atomic_numbers

    return np.array([masses[atomic_numbers[s]] for s in symbols], dtype=float)


def displacement(masses: np.ndarray, size: float, mode: str, seed: int, row: int, k: int) -> np.ndarray:
    """The displacement δ of copy ``k`` of the structure at training-set row ``row``.

    Parameters
    ----------
    masses : ndarray of shape (n_atoms,), u
        Atomic masses (the centre of mass is kept in place).
    size : float, Å
        The largest atom displacement max_i |δ_i| of the result.
    mode : {"all", "single"}
        Every atom displaced, or one random atom (plus the small opposite shift of all
        atoms that keeps the centre of mass).
    seed, row, k : int
        The draw comes from ``numpy.random.default_rng([seed, row, k])``.

    Returns
    -------
    ndarray of shape (n_atoms, 3), Å
        With Σ_i m_i δ_i = 0; all zeros for a single atom (no internal displacement).
    """
    rng = np.random.default_rng([seed, row, k])
    n = len(masses)
    if mode == "single":
        delta = np.zeros((n, 3))
        atom = int(rng.integers(n))
        delta[atom] = rng.standard_normal(3)
    else:
        delta = rng.standard_normal((n, 3))
    delta -= (masses @ delta) / masses.sum()
    largest = float(np.sqrt((delta**2).sum(axis=1)).max())
    if largest <= 1e-12:  # one atom: moving it is a translation
        return np.zeros((n, 3))
    return delta * (size / largest)


def taylor_energy(energy: float, forces: np.ndarray, delta: np.ndarray) -> float:
    """First-order energy E − Σ_i F_i·δ_i (eV) of a copy displaced by ``delta`` (Å), ``forces`` in eV/Å."""
    return float(energy) - float(np.einsum("ij,ij->", forces, delta))


@dataclass
class TaylorCounts:
    """What the augmentation did, for the log: copies added, structures without forces."""

    copies: int = 0
    parents: int = 0
    without_forces: int = 0
    single_atom: int = 0

    def report(self) -> None:
        """Log the counts (info; a warning when structures got no copies)."""
        logger.info("taylor: %d displaced copies of %d structures added", self.copies, self.parents)
        if self.without_forces:
            logger.warning("taylor: %d structure(s) without reference forces got no copies",
                           self.without_forces)
        if self.single_atom:
            logger.warning("taylor: %d single-atom structure(s) got no copies (no displacement "
                           "keeps the centre of mass)", self.single_atom)


def taylor_copies(s: Structure, e_coh: float, row: int, cfg, counts: TaylorCounts) -> list[tuple[Structure, float]]:
    """The displaced copies of ``s`` and their cohesive energies.

    Parameters
    ----------
    s : Structure
        An accepted structure (energies eV, positions Å, forces eV/Å or None).
    e_coh : float, eV
        Its cohesive energy.
    row : int
        Its row in the training-set file (seeds the draws, see the module docstring).
    cfg : anncli.config.generate.TaylorAugmentation
        ``copies``, ``displacement``, ``mode``, ``seed``.
    counts : TaylorCounts
        Updated in place.

    Returns
    -------
    list of (Structure, float)
        ``cfg.copies`` copies (none without forces or for one atom): positions R + δ, total
        energy E − F·δ (None if ``s`` has none), no forces, same source and frame; with the
        cohesive energy e_coh − F·δ.
    """
    if s.forces is None:
        counts.without_forces += 1
        return []
    if s.n_atoms < 2:
        counts.single_atom += 1
        return []
    masses = atomic_masses(s.symbols)
    out = []
    for k in range(cfg.copies):
        delta = displacement(masses, cfg.displacement, cfg.mode, cfg.seed, row, k)
        d_e = taylor_energy(0.0, s.forces, delta)
        copy = replace(s, positions=s.positions + delta, forces=None, stress=None,
                       energy=None if s.energy is None else s.energy + d_e,
                       cohesive_energy=None, info={"taylor_parent": row, "taylor_copy": k})
        out.append((copy, e_coh + d_e))
    counts.parents += 1
    counts.copies += len(out)
    return out
