"""Δ-learning labels for ``anncli generate``: reference minus baseline.

This module owns :class:`LabelBaseline`, which turns every structure generate accepts (and
its Taylor copies) into the difference the networks learn: energy and cohesive energy minus
the baseline energy, forces minus the baseline forces; the baseline values are kept for the
training set's ``baseline_energy`` / ``baseline_forces`` columns.  The baseline is an ASE
calculator or values stored in the structure files (:mod:`anncli.potential.baseline`).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from anncli.exceptions import DataError
from anncli.potential.baseline import BaselineCalculator, baseline_spec, describe, is_stored
from anncli.structure import Structure

logger = logging.getLogger(__name__)

__all__ = ["LabelBaseline", "in_input_file"]


def in_input_file(exc: Exception, source, key: str = "baseline"):
    """``exc`` (a ConfigError about the baseline) naming the input file and the line of ``key``.

    The message keeps its own key path when it starts with one (``baseline.calculator: ...``).
    """
    from anncli.exceptions import ConfigError

    if source is None:
        return exc
    message = str(exc)
    head, sep, rest = message.partition(": ")
    if sep and head.split(".")[0] == key and " " not in head:
        key, message = head, rest
    line = None
    from pathlib import Path

    if Path(source).suffix.lower() in (".yaml", ".yml"):
        try:
            from anncli.config.loader import load_yaml

            locations = load_yaml(source)[1]
            path = tuple(key.split("."))
            while path and line is None:
                line = locations.get(path)
                path = path[:-1]
        except (ConfigError, OSError):
            line = None
    where = f"{source}, line {line}" if line else str(source)
    return ConfigError(f"{where}: {key}: {message}")


class LabelBaseline:
    """Subtracts a Δ-learning baseline from the labels of structures.

    Parameters
    ----------
    section : anncli.config.generate.Baseline
        The generate input's ``baseline`` section.

    Raises
    ------
    ConfigError
        The calculator is not installed or cannot be created (before any file is read).
    """

    def __init__(self, section) -> None:
        self.spec = baseline_spec(section)
        self.calc = None if is_stored(self.spec) else BaselineCalculator(self.spec)
        self.energy_key = self.spec.get("energy_key")
        self.forces_key = self.spec.get("forces_key")
        # per-atom statistics of reference and difference (for the summary)
        self._sums = np.zeros(6)  # n, sum e_ref, sum e_ref², sum e_d, sum e_d², (unused)
        self._f = np.zeros(3)  # force components, sum F_ref², sum F_d²

    def describe(self) -> str:
        """The baseline for people."""
        return describe(self.spec)

    def apply(self, member: Structure, cohesive: float, parent: Structure
              ) -> tuple[Structure, float, float, np.ndarray]:
        """The Δ-labelled copy of ``member`` (``parent`` itself or a Taylor copy of it).

        Returns
        -------
        (structure, cohesive, baseline_energy, baseline_forces)
            ``member`` with energy and forces minus the baseline's; its cohesive energy (eV)
            minus the baseline energy; the baseline energy (eV) and forces ((n_atoms, 3),
            eV/Å; NaN where not known).

        Raises
        ------
        DataError
            Naming the structure: the calculator failed on it, or a stored baseline value is
            missing (no forces under ``forces_key`` for a structure with reference forces).
        """
        n = member.n_atoms
        forces_b = np.full((n, 3), np.nan)
        if self.calc is not None:
            v = self.calc.compute(member.symbols, member.positions, member.cell, member.pbc,
                                  label=member.label, forces=member.forces is not None)
            energy_b = v.energy
            if v.forces is not None:
                forces_b = v.forces
        else:
            energy_b = float(parent.info["baseline_energy"])
            stored_f = parent.info.get("baseline_forces")
            if member is not parent:  # a Taylor copy: first order in its displacement, like its label
                if stored_f is None:
                    raise DataError(f"{parent.label}: Taylor copies need the baseline's forces "
                                    "(baseline.forces_key) to shift the stored baseline energy")
                energy_b -= float(np.sum(stored_f * (member.positions - parent.positions)))
            elif stored_f is not None:
                forces_b = stored_f
            if member.forces is not None and stored_f is None:
                raise DataError(f"{member.label}: the structure has reference forces but the baseline has none; "
                                "give baseline.forces_key (the baseline's forces are subtracted from the "
                                "reference forces)")
        delta = dataclasses.replace(
            member,
            energy=None if member.energy is None else member.energy - energy_b,
            forces=None if member.forces is None else member.forces - forces_b,
            cohesive_energy=member.cohesive_energy - energy_b if member.cohesive_energy else member.cohesive_energy,
            info=dict(member.info),
        )
        e_d = cohesive - energy_b
        self._sums[:5] += (n, cohesive, cohesive**2 / n, e_d, e_d**2 / n)
        if member.forces is not None:
            self._f += (member.forces.size, float(np.sum(member.forces**2)), float(np.sum(delta.forces**2)))
        return delta, e_d, energy_b, forces_b

    def report(self) -> str:
        """Two lines: how much of the reference the baseline explains (spread of the per-atom
        energy and RMS force, reference against difference)."""
        n_atoms, s1, s2, d1, d2 = self._sums[:5]
        lines = [f"Δ-learning baseline {self.describe()}: the networks learn reference − baseline"]
        if n_atoms:
            # atom-weighted spread of the per-structure energy per atom
            sd_ref = np.sqrt(max(s2 / n_atoms - (s1 / n_atoms) ** 2, 0.0))
            sd_d = np.sqrt(max(d2 / n_atoms - (d1 / n_atoms) ** 2, 0.0))
            lines.append(f"  spread of the energy per atom: reference {1000 * sd_ref:.4g} meV/atom, "
                         f"difference {1000 * sd_d:.4g} meV/atom")
        if self._f[0]:
            lines.append(f"  RMS force component: reference {np.sqrt(self._f[1] / self._f[0]):.4g} eV/Å, "
                         f"difference {np.sqrt(self._f[2] / self._f[0]):.4g} eV/Å")
        return "\n".join(lines)
