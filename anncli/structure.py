"""The atomic structure type shared by every stage.

Units inside anncli are eV and Å: readers convert on input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Structure:
    """One atomic structure with optional reference energy and forces.

    Parameters
    ----------
    symbols : list of str
        Chemical symbol of every atom.
    positions : ndarray of shape (n_atoms, 3), Å
        Cartesian coordinates.
    cell : ndarray of shape (3, 3), Å, or None
        Lattice vectors as rows; None for an isolated structure.
    pbc : tuple of 3 bool
        Periodic boundary conditions along each lattice vector.
    energy : float or None, eV
        Total energy.
    forces : ndarray of shape (n_atoms, 3), eV/Å, or None
        Atomic forces.
    cohesive_energy : float or None, eV
        Cohesive energy when the file states one (ænet's ``cohesive energy`` line).
    source : str
        Path of the file the structure was read from ("" if made in memory).
    frame : int
        Index of the structure (frame) inside its source file.
    """

    symbols: list[str]
    positions: np.ndarray
    cell: np.ndarray | None = None
    pbc: tuple[bool, bool, bool] = (False, False, False)
    energy: float | None = None
    forces: np.ndarray | None = None
    cohesive_energy: float | None = None
    source: str = ""
    frame: int = 0
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.symbols = list(self.symbols)
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float64).reshape(-1, 3)
        if self.cell is not None:
            self.cell = np.ascontiguousarray(self.cell, dtype=np.float64).reshape(3, 3)
        pbc = self.pbc
        if not (type(pbc) is tuple and len(pbc) == 3 and all(type(p) is bool for p in pbc)):
            self.pbc = tuple(bool(p) for p in np.broadcast_to(pbc, 3))
        if self.forces is not None:
            self.forces = np.ascontiguousarray(self.forces, dtype=np.float64).reshape(-1, 3)

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return len(self.symbols)

    @property
    def species(self) -> list[str]:
        """Distinct chemical symbols in order of first appearance."""
        return list(dict.fromkeys(self.symbols))

    @property
    def is_periodic(self) -> bool:
        """True if any direction is periodic."""
        return any(self.pbc)

    @property
    def label(self) -> str:
        """``source`` or ``source@frame`` for multi-frame files; used in messages."""
        if not self.source:
            return f"structure {self.frame}"
        return self.source if self.frame == 0 else f"{self.source}@{self.frame}"

    def to_ase(self):
        """Return an :class:`ase.Atoms` with energy and forces attached (if present)."""
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms = Atoms(
            symbols=self.symbols,
            positions=self.positions,
            cell=self.cell if self.cell is not None else np.zeros((3, 3)),
            pbc=self.pbc,
        )
        results = {}
        if self.energy is not None:
            results["energy"] = self.energy
        if self.forces is not None:
            results["forces"] = self.forces.copy()
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        return atoms

    @classmethod
    def from_ase(cls, atoms, source: str = "", frame: int = 0) -> "Structure":
        """Build a structure from an :class:`ase.Atoms` (energy/forces from its calculator)."""
        energy = forces = None
        if atoms.calc is not None:
            results = getattr(atoms.calc, "results", {})
            energy = results.get("energy", results.get("free_energy"))
            forces = results.get("forces")
        pbc = tuple(bool(p) for p in atoms.pbc)
        cell = np.array(atoms.cell[:], dtype=float) if any(pbc) else None
        return cls(
            symbols=atoms.get_chemical_symbols(),
            positions=atoms.get_positions(),
            cell=cell,
            pbc=pbc,
            energy=None if energy is None else float(energy),
            forces=None if forces is None else np.array(forces, dtype=float),
            source=source,
            frame=frame,
        )
