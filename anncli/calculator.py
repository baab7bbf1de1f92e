"""ASE calculator for anncli potentials: ``atoms.calc = ANNCalculator("model.h5")``.

This module owns :class:`ANNCalculator`, the bridge between ASE (molecular dynamics,
geometry optimisation, phonons, ...) and the potential engine
(:class:`anncli.potential.evaluate.Potential`).  One call evaluates energy, per-atom
energies, forces and (for cells periodic in all three directions) the stress together.
"""

from __future__ import annotations

import logging

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from anncli.descriptors.verlet import DEFAULT_SKIN, VerletList
from anncli.potential.evaluate import Potential, load_potential
from anncli.potential.results import force_spread

logger = logging.getLogger(__name__)

__all__ = ["ANNCalculator"]


class ANNCalculator(Calculator):
    """ASE calculator evaluating an anncli (or ænet) neural-network potential.

    Parameters
    ----------
    model : str, Path, Model, Potential or dict of str to path
        An anncli model file, a loaded :class:`~anncli.potential.model_file.Model`, a
        :class:`~anncli.potential.evaluate.Potential`, or ``{species: path}`` of ænet
        ``.nn`` files.
    extrapolation : bool
        Check every evaluation for features outside the training range and log a
        warning (at most ``max_warnings`` times); ``n_extrapolating`` holds the number of
        such atoms of the last evaluation.
    max_warnings : int
        Extrapolation warnings logged over the calculator's lifetime.
    committee_forces : bool
        For a committee model: also every member's forces, for ``forces_std`` (one more
        pair pass per member; False gives ``energy_std`` only, at almost no extra cost).
    baseline : dict, str or ase Calculator, optional
        For a Δ-learning model: the baseline calculator to add instead of the recorded one
        (needed when the model's baseline was stored in the structure files).  A model's
        baseline is always included in the results.
    skin : float, Å
        Skin of a Verlet neighbour list kept between calculations (MD, relaxations): the
        list is built with the cutoff plus ``skin`` and rebuilt only when an atom has moved
        more than ``skin / 2`` (or the cell changed); results equal a fresh list's to
        round-off.  The default 0 builds the list at every calculation, which measured as
        fast or faster (see :data:`anncli.descriptors.verlet.DEFAULT_SKIN`).
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Raises
    ------
    anncli.exceptions.DataError
        From a calculation: a species the potential lacks, two atoms at the same position
        (the pair is named), or a neighbour species missing from a descriptor's env list.

    Notes
    -----
    Units: energies eV, forces eV/Å, stress eV/Å³ (ASE's sign and Voigt order
    xx, yy, zz, yz, xz, xy).  ``energies`` are atomic energies including the free-atom
    reference energies (they sum to ``energy``); ``free_energy`` equals ``energy``.
    For a committee model, energy and forces are the members' mean, and ``calc.results``
    also holds ``energy_std`` (eV), ``energy_members`` (eV) and ``forces_std`` (eV/Å per
    atom, the RMS deviation of the members' force vectors from the mean), so an MD script
    can stop or record frames where the committee disagrees.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]
    #: Results besides the implemented properties: ``n_extrapolating`` (atoms outside the
    #: training range) and, for a committee, ``energy_members`` (eV), ``energy_std`` (eV) and
    #: ``forces_std`` (n_atoms,) (eV/Å): read them from ``calc.results`` after a calculation.

    def __init__(self, model, *, extrapolation: bool = True, max_warnings: int = 10,
                 committee_forces: bool = True, baseline=None, skin: float = DEFAULT_SKIN, **kwargs) -> None:
        super().__init__(**kwargs)
        self.potential: Potential = load_potential(model, **({"baseline": baseline} if baseline is not None else {}))
        if not (isinstance(skin, (int, float)) and np.isfinite(skin) and skin >= 0):
            raise ValueError(f"skin must be a number >= 0 (Å); got {skin!r}")
        self.skin = float(skin)
        self._verlet: VerletList | None = None
        self.committee_forces = committee_forces
        self.extrapolation = extrapolation
        self.max_warnings = max_warnings
        self.n_warnings = 0
        self.n_extrapolating = 0
        self._numbers: np.ndarray | None = None
        self._species_index: np.ndarray | None = None

    @property
    def species(self) -> list[str]:
        """Species of the potential."""
        return list(self.potential.species)

    def _index(self, atoms) -> np.ndarray:
        numbers = atoms.numbers
        if self._numbers is None or len(numbers) != len(self._numbers) or not np.array_equal(numbers, self._numbers):
            self._species_index = self.potential.species_index(atoms.get_chemical_symbols(), "Atoms")
            self._numbers = numbers.copy()
        return self._species_index

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        """Evaluate energy, per-atom energies, forces and (periodic cells) stress."""
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        pbc = np.asarray(atoms.pbc, dtype=bool)
        if "stress" in properties and not pbc.all():
            raise PropertyNotImplementedError("stress needs a cell periodic in all three directions")
        n = len(atoms)
        cell = np.asarray(atoms.cell[:], dtype=float)
        index = self._index(atoms)
        nl = None
        if self.skin > 0 and n:
            if self._verlet is None:
                self._verlet = VerletList(self.potential.cutoff, self.skin)
            nl = self._verlet.get(atoms.positions, cell, pbc)
        res = self.potential.evaluate_arrays(
            atoms.positions, cell[None], pbc[None], np.array([0, n], dtype=np.int64), index,
            forces=True, stress=bool(pbc.all()), extrapolation=self.extrapolation,
            committee_forces=self.committee_forces, neighbor_list=nl,
        )
        energy = float(res.energy[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": res.atomic_energies,
            "forces": res.forces,
        }
        if pbc.all():
            self.results["stress"] = full_3x3_to_voigt_6_stress(res.stress[0])
        if res.energy_members is not None:
            self.results["energy_members"] = res.energy_members[:, 0].copy()
            self.results["energy_std"] = float(res.energy_members[:, 0].std())
            if res.forces_members is not None:
                self.results["forces_std"] = force_spread(res.forces_members, res.forces)
        self.results["n_extrapolating"] = len(res.extrapolation)
        ex = res.extrapolation
        self.n_extrapolating = len(ex)
        if len(ex) and self.n_warnings < self.max_warnings:
            self.n_warnings += 1
            k = int(np.argmax(np.abs(ex.value - np.clip(ex.value, ex.low, ex.high))))
            logger.warning(
                "%d atom(s) outside the training range of the potential, e.g. atom %d (%s): feature %s = %s%s",
                len(ex), ex.atom[k] + 1, ex.species[k],
                self.potential.feature_label(ex.species[k], int(ex.feature[k])), ex.excess_text(k),
                " (further warnings suppressed)" if self.n_warnings == self.max_warnings else "",
            )
