"""The schema of the ``anncli validate`` input file (see ``example_inputs/validate.yaml``).

:class:`ValidateConfig` is the single source of truth for the keys, their types, defaults
and documentation.  The potential and the test structures are named as in ``predict``;
every test structure must carry a reference energy (forces are compared where present).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from anncli.config.base import Bool, Float, InputPath, Int, Section
from anncli.config.predict import PotentialAndStructures

__all__ = ["ValidateConfig", "ValidateExtrapolation"]


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
    min_distance: Annotated[Float, Field(ge=0)] = Field(
        0.1, description="Atom pairs closer than this (Å) are an input error; two atoms at the same position always are."
    )
    batch_atoms: Annotated[Int, Field(ge=1)] = Field(32768, description="Atoms evaluated together in one engine call.")
    n_threads: Annotated[Int, Field(ge=1)] | None = Field(None, description="Threads; null = all cores.")

    @model_validator(mode="after")
    def _one_potential(self) -> "ValidateConfig":
        self._check_potential_and_structures("validate")
        return self
