"""The schema of the ``anncli active`` input file (see ``example_inputs/active.yaml``).

:class:`ActiveConfig` is the single source of truth for the keys, their types, defaults and
documentation.  Its parts are those of the stages the loop runs: the labelling method as in
``anncli label`` (``calculator`` or ``command``), the descriptors and free-atom energies as in
``anncli generate``, a ``train`` section as in ``anncli train`` (the loop sets the training
set and the outputs), the MD runs of ``explore.md`` as in validate's ``md`` section, and the
selection of ``select`` as in validate's ``candidates``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from anncli.config.base import Bool, Float, InputPath, Int, Section, SectionError, Str
from anncli.config.generate import BaselineCalculator, _check_symbol
from anncli.config.label import CalculatorSpec, ExternalCommand
from anncli.config.sample import SampleDescriptor
from anncli.config.train import TrainConfig
from anncli.config.validate import MDTest

__all__ = ["ActiveConfig", "ActiveTrain", "ExploreSection", "ExploreMD", "SelectSection", "StopSection"]

_SET_BY_LOOP = "Set by the loop (iter_<k>/...): leave out."


class ActiveTrain(TrainConfig):
    """``anncli train``'s keys for the committee retrained every iteration."""

    trainset: InputPath | None = Field(None, description=_SET_BY_LOOP)
    output: InputPath | None = Field(None, description=_SET_BY_LOOP)
    output_dir: InputPath | None = Field(None, description=_SET_BY_LOOP)
    overwrite: Bool = Field(True, description="Set by the loop (a rerun after a kill resumes): leave out.")

    @model_validator(mode="after")
    def _loop_keys(self) -> "ActiveTrain":
        for key in ("trainset", "output", "output_dir"):
            if getattr(self, key) is not None:
                raise SectionError("is set by the loop (iter_<k>/trainset.h5, iter_<k>/model/model.h5); "
                                   f"leave it out, got {getattr(self, key)}", key)
        if self.committee is None:
            raise SectionError("expected a committee {members: 3, ...}: the loop selects structures by the "
                               "committee's spread, got null", "committee")
        return self


class ExploreMD(MDTest):
    """MD runs with the committee: stability verdicts and (``candidates: true``) candidate frames."""

    candidates: Bool = Field(True, description="The recorded MD frames (every 'interval' steps) are candidates "
                             "for selection; false = the runs only give the stability verdicts.")


class ExploreSection(Section):
    """Where the candidates of an iteration come from: MD with the committee and/or given files."""

    md: ExploreMD | None = Field(
        None, description="MD with the current committee: {structures, format, frames, temperatures, ensemble, "
        "steps, timestep, friction, interval, seed, min_distance, max_drift, max_forces_std, candidates}; "
        "null = no MD (and no MD stability verdicts).")
    structures: Annotated[list[Str], Field(min_length=1)] | None = Field(
        None, description="Candidate structure files (no labels needed; e.g. a pool of 'anncli sample' with "
        "write_pool): files, directories, glob patterns or list files, relative to the input file; null = "
        "MD frames only. Structures already in the training set are not selected again.")
    format: Str | None = Field(None, description="Format of the candidate files; null = guess from each file name.")
    frames: Str = Field(":", description="Frames of multi-frame candidate files: ':' all, '::10' every tenth, ...")

    @model_validator(mode="after")
    def _some(self) -> "ExploreSection":
        if self.md is None and self.structures is None:
            raise SectionError("expected 'md' (MD with the committee) or 'structures' (candidate files), got neither")
        return self


class SelectSection(Section):
    """Which candidates are labelled: uncertain ones, far from each other in feature space."""

    n: Annotated[Int, Field(ge=1)] = Field(10, description="At most this many structures per iteration.")
    rank_by: Literal["force_spread", "energy_spread"] = Field(
        "force_spread", description="Committee score: force_spread (largest per-atom spread of the members' "
        "forces, eV/Å) or energy_spread (spread of their energies, meV/atom).")
    threshold: Annotated[Float, Field(ge=0)] = Field(
        0.05, description="Candidates scoring above this (units of rank_by) are selectable.")
    extrapolation: Annotated[Float, Field(ge=0)] | None = Field(
        0.05, description="Candidates whose extrapolation grade (largest feature excess over the training range, "
        "in units of that range) is above this are selectable whatever their score; null = not used.")
    diverse: Bool = Field(True, description="Farthest-point sampling in feature space among the pool * n "
                          "highest-scoring selectable candidates, instead of the n highest.")
    pool: Annotated[Int, Field(ge=1)] = Field(5, description="Pool size for diverse selection, in units of n.")


class StopSection(Section):
    """When the loop ends (whichever comes first)."""

    max_iterations: Annotated[Int, Field(ge=1)] = Field(
        5, description="Committees trained at most (iteration 0 trains on the initial structures).")
    no_candidates: Bool = Field(True, description="Stop when no candidate is selectable (none above the "
                                "thresholds).")
    md_stable: Bool = Field(False, description="Stop when every MD run of explore.md passes its stability test.")


class ActiveConfig(Section):
    """Input of ``anncli active``: the active-learning loop (explore, select, label, retrain, validate)."""

    initial: Annotated[list[Str], Field(min_length=1)] = Field(
        description="Initial structures, labelled with the reference method in iteration 0 (e.g. "
        "sample/candidates.extxyz): files, directories, glob patterns or list files. Relative to the input file.")
    format: Str | None = Field(None, description="Format of the initial files; null = guess from each file name.")
    frames: Str = Field(":", description="Frames of multi-frame initial files.")
    output_dir: InputPath = Field(
        "active", description="Everything the loop writes: iter_<k>/ per iteration (labelled.extxyz, new.h5, "
        "trainset.h5, model/, validation/, md/, candidates.csv, selected.extxyz, state.json), label_work/, "
        "report.json, report.md, progress.png, model.h5 (the last committee). A rerun resumes here. Relative "
        "to the input file.")
    calculator: CalculatorSpec | None = Field(
        None, description="Reference method, an ASE calculator: {name, kwargs} as in 'anncli label'. Give this "
        "or 'command'.")
    command: ExternalCommand | None = Field(
        None, description="Reference method, an external code driven by files: {run, input, output, timeout} as "
        "in 'anncli label'. Give this or 'calculator'.")
    properties: Annotated[list[Literal["energy", "forces", "stress"]], Field(min_length=1)] = Field(
        ["energy", "forces"], description="What the reference method computes: energy (required), forces, stress.")
    workers: Annotated[Int, Field(ge=1)] = Field(1, description="Reference calculations run at the same time.")
    max_attempts: Annotated[Int, Field(ge=1)] = Field(
        2, description="A structure whose calculation failed this many times is left out (listed in the report).")
    reference_energies: Annotated[dict[Str, Float], Field(min_length=1)] = Field(
        description="Free-atom energies (eV) by chemical symbol, as in generate (numbers: every iteration's "
        "structures must have the same cohesive-energy reference). Defines the species and their order.")
    descriptors: Annotated[dict[Str, SampleDescriptor], Field(min_length=1)] = Field(
        description="Descriptor setup by species ('default' for the others), as in generate (chebyshev or "
        "behler2011; not 'type: aenet').")
    baseline: BaselineCalculator | None = Field(
        None, description="Δ-learning: {calculator, kwargs}, an ASE calculator as in generate's baseline; its "
        "energies and forces are subtracted from the reference labels, the committee learns the difference, and "
        "validation, MD and selection use baseline + committee. reference_energies then apply to the difference. "
        "null = the committee is the whole potential.")
    warm_start: Bool = Field(
        False, description="Every iteration after the first starts each committee member from the same member "
        "of the previous iteration's committee (train's initial_model: the normalisation is converted exactly "
        "to the grown training set's) and keeps the validation split (the previous validation structures stay there; validation_fraction of the "
        "new ones join them); false = every committee from random weights (or train.initial_model) on a new "
        "random split (the default: warm starts saved no time and gained no accuracy in bench_active).")
    train: ActiveTrain = Field(description="The committee trained every iteration: the keys of 'anncli train' "
                               "(committee required) without trainset, output and output_dir; initial_model "
                               "starts iteration 0 (and, with warm_start: false, every iteration).")
    test: Annotated[list[Str], Field(min_length=1)] | None = Field(
        None, description="Fixed labelled test set, never selected from (files, globs, list files): errors per "
        "iteration; null = no test errors.")
    test_format: Str | None = Field(None, description="Format of the test files; null = guess from each file name.")
    explore: ExploreSection = Field(description="Candidates of every iteration: {md, structures, format, frames}.")
    select: SelectSection = Field(default_factory=SelectSection,
                                  description="Selection: {n, rank_by, threshold, extrapolation, diverse, pool}.")
    stop: StopSection = Field(default_factory=StopSection,
                              description="End of the loop: {max_iterations, no_candidates, md_stable}.")
    plots: Bool = Field(True, description="Draw progress.png (test error and training-set size per iteration) "
                        "and the validation plots.")

    @field_validator("reference_energies")
    @classmethod
    def _symbols(cls, value: dict[str, float]) -> dict[str, float]:
        for sym in value:
            _check_symbol(sym, sym)
        return value

    @field_validator("properties")
    @classmethod
    def _energy_needed(cls, value: list[str]) -> list[str]:
        if "energy" not in value:
            raise SectionError(f"must include energy, got [{', '.join(value)}]")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _one_method(self) -> "ActiveConfig":
        if (self.calculator is None) == (self.command is None):
            which = "both" if self.calculator is not None else "neither"
            raise SectionError(f"give exactly one of 'calculator' (an ASE calculator) and 'command' (an external "
                               f"code), got {which}", *(("command",) if which == "both" else ()))
        if self.train.force_weight > 0 and "forces" not in self.properties:
            raise SectionError("train.force_weight > 0 needs forces from the reference method; add forces to "
                               "properties", "properties")
        return self

    @property
    def output_path(self) -> Path:
        """``output_dir`` as a Path."""
        return Path(self.output_dir)
