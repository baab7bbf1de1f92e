"""Result types of the potential engine: per-batch and per-structure predictions, extrapolation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["Extrapolation", "BatchPrediction", "Prediction", "force_spread"]


@dataclass
class Extrapolation:
    """Atoms whose features lie outside the training range of the model.

    Attributes
    ----------
    structure : ndarray of shape (n,), int64
        Batch structure index of every flagged atom.
    atom : ndarray of shape (n,), int64
        0-based index of the atom within its structure.
    species : list of str
    feature : ndarray of shape (n,), int64
        0-based index of the feature furthest out of range (relative to its range).
    value, low, high : ndarray of shape (n,)
        That feature's value and the training range [low, high].
    n_features : ndarray of shape (n,), int64
        How many features of the atom are out of range.
    grade : ndarray of shape (n,), float64
        That feature's distance to the range as a fraction of the range (the absolute
        distance for a feature that was constant in training): the atom's extrapolation grade.
    """

    structure: np.ndarray
    atom: np.ndarray
    species: list[str]
    feature: np.ndarray
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_features: np.ndarray
    grade: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.grade is None:
            self.grade = np.zeros(len(self.atom))

    def __len__(self) -> int:
        return len(self.atom)

    def excess_text(self, k: int) -> str:
        """``"-9.2791 is 0.00021 below the training minimum -9.27889 (0.004 % of the range)"``.

        Enough digits to tell the value from the bound however small the excess.
        """
        v, lo, hi = float(self.value[k]), float(self.low[k]), float(self.high[k])
        below = v < lo
        bound = lo if below else hi
        excess = abs(v - bound)
        digits = 6
        while digits < 17 and float(f"{v:.{digits}g}") == float(f"{bound:.{digits}g}"):
            digits += 1
        span = hi - lo
        rel = f" ({100 * excess / span:.2g} % of the range)" if span > 0 else ""
        return (f"{v:.{digits}g} is {excess:.2g} {'below the training minimum' if below else 'above the training maximum'} "
                f"{bound:.{digits}g}{rel}")

    @staticmethod
    def empty() -> "Extrapolation":
        z = np.zeros(0, dtype=np.int64)
        f = np.zeros(0)
        return Extrapolation(z, z, [], z, f, f, f, z, f)

    @staticmethod
    def concatenate(parts: Sequence["Extrapolation"]) -> "Extrapolation":
        if not parts:
            return Extrapolation.empty()
        cat = np.concatenate
        return Extrapolation(
            cat([p.structure for p in parts]), cat([p.atom for p in parts]),
            [s for p in parts for s in p.species], cat([p.feature for p in parts]),
            cat([p.value for p in parts]), cat([p.low for p in parts]), cat([p.high for p in parts]),
            cat([p.n_features for p in parts]), cat([p.grade for p in parts]),
        )

    def per_structure(self, n_structures: int) -> np.ndarray:
        """Number of flagged atoms in each structure, int64 of shape (n_structures,)."""
        return np.bincount(self.structure, minlength=n_structures).astype(np.int64)


@dataclass
class BatchPrediction:
    """Result of :meth:`Potential.evaluate_arrays` for a batch of ``n_s`` structures.

    Attributes
    ----------
    energy : ndarray of shape (n_s,), eV
        Total energy (atomic reference energies included).
    cohesive_energy : ndarray of shape (n_s,), eV
    atomic_energies : ndarray of shape (n_atoms,), eV
        Energy of every atom (reference energy included).
    forces : ndarray of shape (n_atoms, 3), eV/Å, or None
    virial : ndarray of shape (n_s, 3, 3), eV, or None
        ``-sum over pairs of outer(r, g)``.
    stress : ndarray of shape (n_s, 3, 3), eV/Å³, or None
        ASE convention; NaN for structures not periodic in all three directions.
    extrapolation : Extrapolation
    min_distance : ndarray of shape (n_s,), Å
        Shortest pair distance within the cutoff (inf if none).
    energy_members : ndarray of shape (n_members, n_s), eV, or None
        Total energy predicted by every member of a committee (``energy`` is their mean);
        None for a single model.
    forces_members : ndarray of shape (n_members, n_atoms, 3), eV/Å, or None
        Forces of every member (only when asked for; ``forces`` is their mean).
    """

    energy: np.ndarray
    cohesive_energy: np.ndarray
    atomic_energies: np.ndarray
    forces: np.ndarray | None = None
    virial: np.ndarray | None = None
    stress: np.ndarray | None = None
    extrapolation: Extrapolation = field(default_factory=Extrapolation.empty)
    min_distance: np.ndarray | None = None
    energy_members: np.ndarray | None = None
    forces_members: np.ndarray | None = None


@dataclass
class Prediction:
    """Prediction for one structure (see :class:`BatchPrediction` for units).

    ``n_extrapolating`` counts its atoms with features outside the training range;
    ``extrapolation_grade`` is the largest excess among them as a fraction of the feature's
    training range (0 when none; see :class:`Extrapolation`).

    For a committee, ``energy`` and ``forces`` are the members' mean, ``energy_members`` (eV)
    every member's total energy and ``energy_std`` (eV) their standard deviation; with member
    forces, ``forces_std`` (n_atoms,) (eV/Å) is every atom's RMS deviation of the force vector
    from the mean, ``sqrt(mean_k |F_k - F|^2)``.  None for a single model.
    """

    energy: float
    cohesive_energy: float
    atomic_energies: np.ndarray
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    virial: np.ndarray | None = None
    n_extrapolating: int = 0
    min_distance: float = float("inf")
    extrapolation_grade: float = 0.0
    energy_members: np.ndarray | None = None
    energy_std: float | None = None
    forces_std: np.ndarray | None = None


def force_spread(forces_members: np.ndarray, forces: np.ndarray) -> np.ndarray:
    """Per-atom spread of a committee's forces, ``sqrt(mean_k |F_k - F|^2)`` (eV/Å).

    Parameters
    ----------
    forces_members : ndarray of shape (n_members, n_atoms, 3), eV/Å
    forces : ndarray of shape (n_atoms, 3), eV/Å
        Their mean.

    Returns
    -------
    ndarray of shape (n_atoms,)
    """
    dev = forces_members - forces
    return np.sqrt(np.mean(np.sum(dev * dev, axis=2), axis=0))
