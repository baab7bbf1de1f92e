"""The schema of the ``anncli predict`` input file (see ``example_inputs/predict.yaml``).

:class:`PredictConfig` is the single source of truth for the keys, their types, defaults
and documentation.  Exactly one of ``model`` (anncli model file) and ``aenet_networks``
(ænet ``.nn`` files by species) names the potential.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from anncli.config.base import Bool, Float, InputPath, Int, Section, SectionError, Str
from anncli.config.generate import (ENERGY_DESCRIPTION, ENERGY_KEY_DESCRIPTION, FORCES_KEY_DESCRIPTION,
                                    BaselineCalculator, EnergyKind, Units)

__all__ = ["PredictConfig", "PredictOutput", "Extrapolation", "Relax", "PotentialAndStructures"]

PositiveFloat = Annotated[Float, Field(gt=0)]


def _optimizer_name(value: Any) -> Any:
    if isinstance(value, str):
        return {"bfgs": "BFGS", "fire": "FIRE"}.get(value.lower(), value)
    return value


class PredictOutput(Section):
    """Machine-readable output files (each written to a temporary name, then renamed)."""

    extxyz: InputPath | None = Field(
        "predictions.extxyz",
        description="Structures with predicted energy, forces, stress and per-atom energies "
        "(extended XYZ); null = not written. Relative to the input file.",
    )
    csv: InputPath | None = Field(
        "predictions.csv",
        description="One row per structure: file, frame, n_atoms, energies, max force, "
        "reference energy and error; null = not written.",
    )
    json_: InputPath | None = Field(None, alias="json", description="The same records plus a summary as JSON; null = not written.")


class Extrapolation(Section):
    """Warnings for atoms whose features lie outside the training range stored in the model."""

    check: Bool = Field(True, description="Compare every feature with the model's training range.")
    max_warnings: Annotated[Int, Field(ge=0)] = Field(
        10, description="Atoms listed individually; the rest are only counted in the summary."
    )
    tolerance: Annotated[Float, Field(ge=0)] = Field(
        1e-6, description="Allowed excess as a fraction of each feature's training range "
        "(the default ignores rounding noise on the boundary; 0 = any excess)."
    )


class Relax(Section):
    """Geometry optimisation of every structure before the prediction (ænet's RELAX)."""

    optimizer: Annotated[Literal["BFGS", "FIRE"], BeforeValidator(_optimizer_name)] = Field(
        "BFGS", description="ASE optimiser: BFGS | FIRE."
    )
    fmax: PositiveFloat = Field(0.05, description="Converged when every atomic force is below this (eV/Å).")
    steps: Annotated[Int, Field(ge=1)] = Field(200, description="Maximum number of optimiser steps per structure.")
    output: InputPath = Field(
        "relaxed.extxyz", description="Relaxed structures (extended XYZ, with convergence info). Relative to the input file."
    )


class PotentialAndStructures(Section):
    """Keys shared by the stages that evaluate a potential on structure files (predict, validate)."""

    model: InputPath | Annotated[list[InputPath], Field(min_length=1)] | None = Field(
        None, description="anncli model file (written by 'anncli train'), relative to the input file; a list of "
        "model files (same species and descriptors, e.g. trained as separate jobs) is used as one committee.")
    aenet_networks: Annotated[dict[Str, InputPath], Field(min_length=1)] | None = Field(
        None, description="Instead of 'model': ænet potential files by species, e.g. {Ti: Ti.nn, O: O.nn}."
    )
    structures: Annotated[list[Str], Field(min_length=1)] | None = Field(
        None,
        description="Structure files: files, directories, glob patterns, or list files "
        "('@files.txt' or *.list). Relative to the input file. Required unless structure files are given "
        "on the command line, which replace this list."
    )
    format: Str | None = Field(None, description="Structure file format; null = guess from each file name.")
    frames: Str = Field(":", description="Frames of multi-frame files: ':' all, '-1' last, '0:10:2', ...")
    units: Units = Field(default_factory=Units, description="Units of the structure files: {energy, length}.")
    energy: EnergyKind | None = Field(
        None, description=ENERGY_DESCRIPTION.replace("is the reference", "is the reference label the "
                                                     "predictions are compared with", 1))
    energy_key: Str | None = Field(None, description=ENERGY_KEY_DESCRIPTION)
    forces_key: Str | None = Field(None, description=FORCES_KEY_DESCRIPTION)
    min_distance: Annotated[Float, Field(ge=0)] = Field(
        0.1, description="Atom pairs closer than this (Å) are an input error; two atoms at the same position always are."
    )
    batch_atoms: Annotated[Int, Field(ge=1)] = Field(32768, description="Atoms evaluated together in one engine call.")
    n_threads: Annotated[Int, Field(ge=1)] | None = Field(None, description="Threads; null = all cores.")
    baseline: BaselineCalculator | None = Field(
        None, description="Δ-learning models: {calculator, kwargs}, the baseline calculator added to the networks' "
        "energies, forces and stress instead of the one the model records; required for a model trained on "
        "baseline values stored in the structure files. null = the model's own baseline (if any).")

    def _check_potential_and_structures(self, stage: str) -> None:
        if self.structures is None:
            raise SectionError(f"missing required key 'structures' (or give structure files on the command line: "
                               f"anncli {stage} CONFIG FILES...)")
        if self.model is None and self.aenet_networks is None:
            raise SectionError("missing required key 'model' (an anncli model file) or 'aenet_networks'")
        if self.model is not None and self.aenet_networks is not None:
            raise SectionError("give either 'model' or 'aenet_networks', not both", "aenet_networks")
        if self.aenet_networks is not None and self.baseline is not None:
            raise SectionError("ænet potentials have no Δ-learning baseline; remove 'baseline'", "baseline")


class PredictConfig(PotentialAndStructures):
    """Input of ``anncli predict``: energies, forces and stress of structures with a trained potential."""

    forces: Bool = Field(True, description="Compute forces (and stress for periodic cells).")
    stress: Bool = Field(True, description="Compute the stress of cells periodic in all three directions.")
    print: Annotated[Literal["energies", "atoms", "none"], BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)] = Field(
        "energies",
        description="Table on standard output: 'energies' (per structure), 'atoms' (also coordinates, "
        "forces and atomic energies of every atom), 'none'.",
    )
    output: PredictOutput = Field(default_factory=PredictOutput, description="Output files: {extxyz, csv, json}.")
    extrapolation: Extrapolation = Field(
        default_factory=Extrapolation, description="Extrapolation warnings: {check, max_warnings, tolerance}."
    )
    relax: Relax | None = Field(None, description="Relax every structure first: {optimizer, fmax, steps, output}; null = no relaxation.")

    @model_validator(mode="after")
    def _one_potential(self) -> "PredictConfig":
        self._check_potential_and_structures("predict")
        if self.relax is not None and not self.forces:
            raise SectionError("relaxation needs forces; set 'forces: true' or remove 'relax'", "relax")
        return self
