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

__all__ = ["ValidateConfig", "ValidateExtrapolation", "Candidates"]


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
        "{structures, format, frames, n, rank_by, threshold, diverse, pool}; null = none. With candidates, "
        "'structures' (the test set) may be left out.")
    min_distance: Annotated[Float, Field(ge=0)] = Field(
        0.1, description="Atom pairs closer than this (Å) are an input error; two atoms at the same position always are."
    )
    batch_atoms: Annotated[Int, Field(ge=1)] = Field(32768, description="Atoms evaluated together in one engine call.")
    n_threads: Annotated[Int, Field(ge=1)] | None = Field(None, description="Threads; null = all cores.")

    @model_validator(mode="after")
    def _one_potential(self) -> "ValidateConfig":
        if self.candidates is not None and self.structures is None:
            self.structures = []  # candidate selection only: no test set
        self._check_potential_and_structures("validate")
        return self
