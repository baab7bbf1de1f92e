"""The schema of the ``anncli scan`` input file (see ``example_inputs/scan.yaml``).

:class:`ScanConfig` is the single source of truth for the keys, their types, defaults and
documentation.  A scan holds a base ``generate`` section (the keys of ``anncli generate``
without ``output``) and a base ``train`` section (the keys of ``anncli train`` without the
training set, the outputs and the split), and a ``grid`` of lists: every combination of the
``grid.descriptors`` values is one descriptor point, every combination of the
``grid.networks`` values one architecture.  Each grid point is validated as a whole
generate or train input by :mod:`anncli.workflows.scan` (a value invalid for one point is
named with that point).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from anncli.config.base import Bool, Float, InputPath, Int, Section, SectionError, Str
from anncli.config.generate import GenerateConfig
from anncli.config.train import TrainConfig

__all__ = ["ScanConfig", "ScanGenerate", "ScanTrain", "ScanGrid", "Recommend"]

_SET_BY_SCAN = "Set by the scan (output_dir/d<i>/...): leave out."


class ScanGenerate(GenerateConfig):
    """``anncli generate``'s keys: the base of every descriptor point."""

    output: InputPath | None = Field(None, description=_SET_BY_SCAN)
    overwrite: Bool = Field(True, description="Set by the scan: leave out.")

    @model_validator(mode="after")
    def _scan_keys(self) -> "ScanGenerate":
        if self.output is not None:
            raise SectionError(f"is set by the scan (output_dir/d<i>/trainset.h5); leave it out, got {self.output}",
                               "output")
        return self


class ScanTrain(TrainConfig):
    """``anncli train``'s keys: the base of every architecture (the grid sets ``networks``)."""

    trainset: InputPath | None = Field(None, description=_SET_BY_SCAN)
    output: InputPath | None = Field(None, description=_SET_BY_SCAN)
    output_dir: InputPath | None = Field(None, description=_SET_BY_SCAN)
    overwrite: Bool = Field(True, description="Set by the scan: leave out.")

    @model_validator(mode="after")
    def _scan_keys(self) -> "ScanTrain":
        for key in ("trainset", "output", "output_dir", "validation_set"):
            if getattr(self, key) is not None:
                raise SectionError("is set by the scan (one split, or the folds, for every point); leave it out, "
                                   f"got {getattr(self, key)}", key)
        if self.initial_model is not None:
            raise SectionError("cannot be used in a scan: the grid's architectures and descriptors differ from "
                               f"the model's, and every point starts from random weights; got {self.initial_model}",
                               "initial_model")
        return self


GridValues = Annotated[list[Any], Field(min_length=1)]


class ScanGrid(Section):
    """The values to scan: every combination is one point."""

    descriptors: dict[Str, GridValues] = Field(
        default_factory=dict,
        description="Descriptor settings: a key of generate's descriptors section as a dotted path "
        "(radial.cutoff, angular.order, functions, default.radial.order, Cu.radial.cutoff, or a whole "
        "entry: default) with a list of values. A path that does not start with a species or 'default' "
        "applies to every entry of generate.descriptors. Each combination is generated once.")
    networks: dict[Str, GridValues] = Field(
        default_factory=dict,
        description="Architectures: hidden (a list of layer lists, e.g. [[10], [15, 15]]) and/or activation "
        "(a list of names, or of per-layer lists), for every species; '<species>.hidden' for one species. "
        "Each combination is trained on the features of every descriptor point.")

    @model_validator(mode="after")
    def _not_empty(self) -> "ScanGrid":
        if not self.descriptors and not self.networks:
            raise SectionError("the grid is empty; give at least one list of values under 'descriptors' "
                               "(e.g. radial.cutoff: [4.0, 5.0]) or 'networks' (e.g. hidden: [[5], [10, 10]])")
        for part, keys in (("descriptors", self.descriptors), ("networks", self.networks)):
            for key in keys:
                if not key or any(not p for p in key.split(".")):
                    raise SectionError(f"expected a dotted key path such as radial.cutoff, got {key!r}", part, key)
        return self


class Recommend(Section):
    """How the recommended point is chosen from the table."""

    rule: Literal["auto", "tolerance", "one_se"] = Field(
        "auto", description="tolerance = the cheapest point whose error is within 'tolerance' % of the best "
        "error; one_se = the cheapest point within one standard error (spread over the folds / sqrt(folds)) "
        "of the best point's mean error (needs folds >= 2); auto = one_se with folds >= 2, else tolerance.")
    tolerance: Annotated[Float, Field(ge=0)] = Field(10.0, description="Percent above the best error that "
                                                      "still counts as good enough (rule tolerance).")
    metric: Literal["energy", "forces"] = Field(
        "energy", description="Error that ranks the points: energy (validation energy RMSE, meV/atom) or "
        "forces (validation force RMSE, meV/Å; needs train.force_weight > 0).")
    cost: Literal["parameters", "predict_us", "features"] = Field(
        "parameters", description="Cost that decides among good-enough points, also the x axis of the plot: "
        "parameters (weights and biases of all networks), predict_us (predict time per atom, µs) or features "
        "(descriptor length, summed over species).")


class ScanConfig(Section):
    """Input of ``anncli scan``: model selection over descriptor settings and architectures."""

    generate: ScanGenerate = Field(description="Base generate input (the keys of 'anncli generate' without "
                                   "output): the structures, reference energies and descriptors the grid modifies.")
    train: ScanTrain = Field(description="Base train input (the keys of 'anncli train' without trainset, "
                             "output, output_dir and validation_set); the grid sets networks.")
    grid: ScanGrid = Field(description="The lists of values to scan: {descriptors, networks}.")
    folds: Annotated[Int, Field(ge=1)] = Field(
        1, description="1 = one fixed split (train.validation_fraction, train.seed) for every point; k >= 2 = "
        "k-fold cross-validation (the same k folds, drawn with train.seed, for every point): every point is "
        "trained k times and its error is the mean over the folds, with their spread.")
    output_dir: InputPath = Field(
        "scan", description="Everything the scan writes: scan.json (state), scan.csv (the table), scan.png, "
        "recommendation.txt, d<i>/trainset.h5 per descriptor point and d<i>/n<j>/fold<f>/ per training. A "
        "rerun with the same input skips finished points. Relative to the input file.")
    overwrite: Bool = Field(False, description="When output_dir holds a scan of a different input: false = "
                            "refuse; true = delete that scan and start again.")
    n_workers: Annotated[Int, Field(ge=1)] = Field(
        1, description="Points generated and trained at the same time, in separate processes (each with "
        "cores / n_workers threads).")
    timing_repeats: Annotated[Int, Field(ge=1)] = Field(
        3, description="Predict timings per point (energies and forces of the validation structures, after one "
        "warm-up call); the fastest counts.")
    recommend: Recommend = Field(default_factory=Recommend,
                                 description="Choice of the recommended point: {rule, tolerance, metric, cost}.")
    plots: Bool = Field(True, description="Draw scan.png (validation error against cost, Pareto front marked).")

    @model_validator(mode="after")
    def _cross(self) -> "ScanConfig":
        if self.recommend.rule == "one_se" and self.folds < 2:
            raise SectionError("rule one_se needs the spread over folds: set folds >= 2, or use rule tolerance",
                               "recommend", "rule")
        if self.recommend.metric == "forces" and self.train.force_weight == 0:
            raise SectionError("metric forces needs force training (train.force_weight > 0)", "recommend", "metric")
        return self
