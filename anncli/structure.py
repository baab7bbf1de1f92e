"""The atomic structure type shared by every stage, and which of a file's energies it holds.

Units inside anncli are eV and Å: readers convert on input.

DFT codes with electronic smearing report several energies of one calculation.  Three
*energy kinds* are distinguished (the ``energy`` key of the generate and predict input):

``free``
    The force-consistent (Mermin free) energy F = E − TS, whose negative gradient the
    forces are: ASE's ``free_energy`` result (VASP ``free energy TOTEN`` in OUTCAR,
    ``e_fr_energy`` in vasprun.xml; Quantum ESPRESSO's ``!`` total energy; an extxyz
    ``free_energy`` key).
``zero_kelvin``
    The energy extrapolated to zero smearing (σ → 0): ASE's ``energy`` result in a file
    that also gives ``free_energy`` (VASP ``energy(sigma->0)`` / ``e_0_energy``; an
    extxyz ``energy`` key next to a ``free_energy`` key).  Quantum ESPRESSO output has no
    such value (ASE's reader copies the free energy into ``energy``).
``total``
    The energy the file calls ``energy``, taken as it is (ASE's ``energy`` result, the
    ``total energy`` line of an ænet XSF file): the only energy of most extxyz files.

Without a choice (``None``) a structure holds the free energy where the file has it,
else the file's ``energy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from anncli.exceptions import DataError

#: The energy kinds a structure file can provide (see the module docstring).
ENERGY_KINDS = ("free", "zero_kelvin", "total")

_KIND_TEXT = {
    "free": "free (force-consistent) energy",
    "zero_kelvin": "energy extrapolated to zero smearing (zero_kelvin)",
    "total": "total energy",
}

#: ASE formats whose readers put the free energy into ``energy`` as well (no σ→0 value).
NO_ZERO_KELVIN_FORMATS = frozenset({"espresso-out"})


def energy_kinds(results: Mapping, format: str | None = None) -> tuple[str, ...]:
    """The energy kinds an ASE results mapping provides.

    Parameters
    ----------
    results : mapping
        A calculator's ``results`` (``energy``, ``free_energy``, ...).
    format : str, optional
        The ASE format the results were read from (``espresso-out`` has no σ→0 value).

    Returns
    -------
    tuple of str
        A subset of :data:`ENERGY_KINDS`, in that order.
    """
    has_free = results.get("free_energy") is not None
    has_energy = results.get("energy") is not None
    kinds = []
    if has_free:
        kinds.append("free")
    if has_free and has_energy and format not in NO_ZERO_KELVIN_FORMATS:
        kinds.append("zero_kelvin")
    if has_energy:
        kinds.append("total")
    return tuple(kinds)


def select_energy(
    results: Mapping, choice: str | None, label: str, format: str | None = None
) -> tuple[float | None, str | None, tuple[str, ...]]:
    """Pick the energy asked for by ``choice`` from an ASE results mapping.

    Parameters
    ----------
    results : mapping
        A calculator's ``results``.
    choice : {"free", "zero_kelvin", "total"} or None
        The energy kind to take; None takes ``free`` where present, else ``total``.
    label : str
        The structure's ``file@frame`` label, for the error message.
    format : str, optional
        The ASE format the results were read from.

    Returns
    -------
    (energy, kind, kinds)
        The energy (eV, None if the results hold no energy at all), its kind, and every
        kind the results provide.

    Raises
    ------
    DataError
        If the results hold an energy but not the kind asked for (naming file and frame).
    """
    if choice is not None and choice not in ENERGY_KINDS:
        raise ValueError(f"energy kind must be one of {', '.join(ENERGY_KINDS)} or None, got {choice!r}")
    kinds = energy_kinds(results, format)
    if not kinds:
        return None, None, kinds
    kind = choice if choice is not None else kinds[0]
    if kind not in kinds:
        why = " (Quantum ESPRESSO output gives no energy extrapolated to zero smearing)" if (
            kind == "zero_kelvin" and format in NO_ZERO_KELVIN_FORMATS) else ""
        raise DataError(
            f"{label}: 'energy: {kind}' asks for the {_KIND_TEXT[kind]}, but this structure has only the "
            f"{' and the '.join(_KIND_TEXT[k] for k in kinds)}{why}; "
            f"set 'energy' to {' or '.join(kinds)} (or leave it out)"
        )
    value = results["free_energy"] if kind == "free" else results["energy"]
    return float(value), kind, kinds


def structure_label(source: str, frame: int) -> str:
    """``source`` or ``source@frame`` (frames after the first); ``structure N`` without a source."""
    if not source:
        return f"structure {frame}"
    return source if frame == 0 else f"{source}@{frame}"


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
        Reference energy (which of the file's energies: ``energy_kind``).
    forces : ndarray of shape (n_atoms, 3), eV/Å, or None
        Atomic forces.
    cohesive_energy : float or None, eV
        Cohesive energy when the file states one (ænet's ``cohesive energy`` line).
    source : str
        Path of the file the structure was read from ("" if made in memory).
    frame : int
        Index of the structure (frame) inside its source file.
    info : dict
        Free-form extra data.
    energy_kind : str or None
        Which energy ``energy`` is: ``"free"``, ``"zero_kelvin"`` or ``"total"``
        (see the module docstring); None when unknown or without energy.
    energy_kinds : tuple of str
        Every energy kind the source file gave for this structure.
    stress : ndarray of shape (3, 3), eV/Å³, or None
        Reference stress (ASE's sign convention: positive under tension), where the file
        has one (VASP, Quantum ESPRESSO, extxyz with a ``stress`` entry).
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
    energy_kind: str | None = None
    energy_kinds: tuple[str, ...] = ()
    stress: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.symbols = list(self.symbols)
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float64).reshape(-1, 3)
        if self.stress is not None:
            st = np.asarray(self.stress, dtype=np.float64)
            if st.shape == (6,):  # Voigt order xx yy zz yz xz xy
                xx, yy, zz, yz, xz, xy = st
                st = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
            self.stress = st.reshape(3, 3)
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
        return structure_label(self.source, self.frame)

    def to_ase(self):
        """Return an :class:`ase.Atoms` with energy and forces attached (if present).

        The energy becomes ASE's ``energy`` result; a free energy (``energy_kind ==
        "free"``) is also given as ``free_energy``, so that reading the written file back
        selects the same value.
        """
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
            if self.energy_kind == "free":
                results["free_energy"] = self.energy
        if self.forces is not None:
            results["forces"] = self.forces.copy()
        if self.stress is not None:
            results["stress"] = self.stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]  # Voigt
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        return atoms

    @classmethod
    def from_ase(
        cls, atoms, source: str = "", frame: int = 0, energy: str | None = None, format: str | None = None
    ) -> "Structure":
        """Build a structure from an :class:`ase.Atoms` (energy/forces from its calculator).

        Parameters
        ----------
        atoms : ase.Atoms
            The structure; energies and forces are taken from ``atoms.calc.results``.
        source, frame : str, int
            File and frame index, for messages and provenance.
        energy : {"free", "zero_kelvin", "total"} or None
            Which energy to take (:func:`select_energy`); None: the free energy where the
            calculator has one, else its ``energy``.
        format : str, optional
            The ASE format the atoms were read from (``espresso-out`` has no σ→0 energy).

        Raises
        ------
        DataError
            If the calculator has an energy but not the kind asked for.
        """
        value = forces = kind = stress = None
        kinds: tuple[str, ...] = ()
        if atoms.calc is not None:
            results = getattr(atoms.calc, "results", {})
            value, kind, kinds = select_energy(results, energy, structure_label(source, frame), format)
            forces = results.get("forces")
            stress = results.get("stress")
        pbc = tuple(bool(p) for p in atoms.pbc)
        cell = np.array(atoms.cell[:], dtype=float) if any(pbc) else None
        return cls(
            symbols=atoms.get_chemical_symbols(),
            positions=atoms.get_positions(),
            cell=cell,
            pbc=pbc,
            energy=value,
            forces=None if forces is None else np.array(forces, dtype=float),
            source=source,
            frame=frame,
            energy_kind=kind,
            energy_kinds=kinds,
            stress=None if stress is None or not any(pbc) else np.array(stress, dtype=float),
        )
