"""The schema of the ``anncli validate`` input file (see ``example_inputs/validate.yaml``).

:class:`ValidateConfig` is the single source of truth for the keys, their types, defaults
and documentation.  The potential and the test structures are named as in ``predict``;
every test structure must carry a reference energy (forces are compared where present).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from anncli.config.base import Bool, Float, InputPath, Int, Section, Str
from anncli.config.predict import PotentialAndStructures

__all__ = ["ValidateConfig", "ValidateExtrapolation", "Candidates", "MDTest"]


class ValidateExtrapolation(Section):
    """Which atoms count as extrapolating, and what is written about them."""

    tolerance: Annotated[Float, Field(ge=0)] = Field(
        1e-6, description="Allowed excess as a fraction of each feature's training range "
        "(the default ignores rounding noise on the boundary; 0 = any excess)."
    )
    write: Bool = Field(
        True, description="Write the structures with extrapolating atoms to extrapolating.extxyz in output_dir "
        "(ready for reference calculations)."
    )
    atoms_listed: Annotated[Int, Field(ge=0)] = Field(
        1000, description="Extrapolating atoms listed one by one in extrapolation.csv (the worst first)."
    )


class Candidates(Section):
    """Unlabelled structures (MD frames, any file) ranked by uncertainty: which to compute next."""

    structures: Annotated[list[Str], Field(min_length=1)] = Field(
        description="Candidate structure files (no reference labels needed): files, directories, glob "
        "patterns or list files. Relative to the input file.")
    format: Str | None = Field(None, description="Their file format; null = guess from each file name.")
    frames: Str = Field(":", description="Frames of multi-frame files: ':' all, '::10' every tenth, ...")
    n: Annotated[Int, Field(ge=1)] = Field(20, description="Number of structures to select.")
    rank_by: Literal["force_spread", "energy_spread", "extrapolation"] | None = Field(
        None, description="Score: force_spread (largest per-atom spread of the committee's forces, eV/Å), "
        "energy_spread (spread of the committee's energies, meV/atom) or extrapolation (largest feature "
        "excess over the training range); null = force_spread for a committee, extrapolation otherwise.")
    threshold: Annotated[Float, Field(ge=0)] = Field(
        0.0, description="Only candidates scoring above this are selected (units of rank_by).")
    diverse: Bool = Field(
        True, description="Thin by farthest-point sampling in feature space: pick n of the pool * n "
        "highest-scoring candidates, far from each other, instead of the n highest.")
    pool: Annotated[Int, Field(ge=1)] = Field(5, description="Pool size for diverse selection, in units of n.")


class MDTest(Section):
    """MD stability runs (Langevin or NVE) through the ASE calculator, watched for failures."""

    structures: Annotated[list[Str], Field(min_length=1)] = Field(
        description="Start structures (files, directories, glob patterns or list files); one run per "
        "structure and temperature. Relative to the input file.")
    format: Str | None = Field(None, description="Their file format; null = guess from each file name.")
    frames: Str = Field("-1", description="Frames of multi-frame files used as start structures ('-1': the last).")
    temperatures: Annotated[list[Annotated[Float, Field(gt=0)]], Field(min_length=1)] = Field(
        [300.0], description="Temperatures (K): initial velocities and the Langevin thermostat.")
    ensemble: Literal["langevin", "nve"] = Field(
        "langevin", description="langevin (thermostat; tests stability) | nve (velocity Verlet; also tests "
        "energy conservation).")
    steps: Annotated[Int, Field(ge=1)] = Field(1000, description="MD steps per run.")
    timestep: Annotated[Float, Field(gt=0)] = Field(1.0, description="Time step (fs).")
    friction: Annotated[Float, Field(gt=0)] = Field(0.01, description="Langevin friction (1/fs).")
    interval: Annotated[Int, Field(ge=1)] = Field(10, description="Record and check every N steps.")
    seed: Int = Field(0, description="Seed of the initial velocities and the Langevin noise.")
    min_distance: Annotated[Float, Field(gt=0)] = Field(
        0.5, description="Fail when two atoms come closer than this (Å).")
    max_drift: Annotated[Float, Field(gt=0)] = Field(
        10.0, description="NVE: fail when the total energy drifts by more than this (meV/atom).")
    max_forces_std: Annotated[Float, Field(gt=0)] | None = Field(
        None, description="Committee: fail when an atom's force spread exceeds this (eV/Å); null = not checked.")


class ValidateConfig(PotentialAndStructures):
    """Input of ``anncli validate``: errors of a potential on labelled test structures, with plots."""

    trainset: InputPath | None = Field(
        None, description="The training set (HDF5) the model was trained on: its energies are drawn under the "
        "test set's in energy_distribution.png; null = test set only."
    )
    output_dir: InputPath = Field(
        "validation", description="Directory of the report (report.html, report.json, structures.csv, PNG plots, "
        "extrapolation.csv, extrapolating.extxyz). Relative to the input file."
    )
    forces: Bool = Field(True, description="Compare forces where the structure files have reference forces.")
    plots: Bool = Field(True, description="Draw the PNG figures (parity, histograms, distributions).")
    worst: Annotated[Int, Field(ge=0)] = Field(10, description="Structures with the largest errors listed in the report.")
    extrapolation: ValidateExtrapolation = Field(
        default_factory=ValidateExtrapolation, description="Extrapolation analysis: {tolerance, write, atoms_listed}."
    )
    candidates: Candidates | None = Field(
        None, description="Rank unlabelled structures by uncertainty and select the next ones to compute: "
        "{structures, format, frames, n, rank_by, threshold, diverse, pool}; null = none. With candidates "
        "or md, 'structures' (the test set) may be left out.")
    md: MDTest | None = Field(
        None, description="MD stability test: {structures, format, frames, temperatures, ensemble, steps, timestep, "
        "friction, interval, seed, min_distance, max_drift, max_forces_std}; null = none.")

    @model_validator(mode="after")
    def _one_potential(self) -> "ValidateConfig":
        if (self.candidates is not None or self.md is not None) and self.structures is None:
            self.structures = []  # candidate selection or MD only: no test set
        self._check_potential_and_structures("validate")
        return self
