"""The schema of the ``anncli label`` input file (see ``example_inputs/label.yaml``).

:class:`LabelConfig` is the single source of truth for the keys, their types, defaults and
documentation.  Exactly one labelling method is given: an ASE ``calculator`` (name and keyword
arguments) or an external ``command`` driven by files.  :class:`CalculatorSpec` is also the
``md.calculator`` of ``anncli sample``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from anncli.config.base import Float, InputPath, Int, Section, SectionError, Str

__all__ = ["LabelConfig", "CalculatorSpec", "ExternalCommand", "CommandInput", "CommandOutput"]

PROPERTIES = ("energy", "forces", "stress")


class CalculatorSpec(Section):
    """An ASE calculator: its name and the keyword arguments of its constructor."""

    name: Str = Field(description="ASE's short name (emt, vasp, espresso, gpaw, lj, ...) or an import path "
                      "package.module.Class (e.g. ase.calculators.emt.EMT).")
    kwargs: dict[Str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the calculator (e.g. {xc: PBE, kpts: [4, 4, 4]}).")


class CommandInput(Section):
    """The input file written for the external code."""

    file: Str = Field(description="Its name in the structure's directory (e.g. espresso.pwi).")
    format: Str = Field(description="ASE format it is written in (e.g. espresso-in, vasp, extxyz).")
    kwargs: dict[Str, Any] = Field(
        default_factory=dict, description="Keyword arguments of ASE's writer (e.g. input_data, pseudopotentials).")


class CommandOutput(Section):
    """The output file the external code writes, read with ASE."""

    file: Str = Field(description="Its name in the structure's directory (e.g. espresso.pwo).")
    format: Str | None = Field(None, description="ASE format to read it with (e.g. espresso-out); null = guess.")
    index: Str = Field("-1", description="Frame of the output taken ('-1': the last).")


class ExternalCommand(Section):
    """A code driven by files: write the input, run a shell command in the structure's directory, read the output."""

    run: Str = Field(description="Shell command, run in work_dir/calc/<key>/. Placeholders: {input}, {output} "
                     "(the file names), {python} (this Python), {key}, {index}; e.g. "
                     "'mpirun -np 4 pw.x -in {input} > {output}'.")
    input: CommandInput = Field(description="The input file: {file, format, kwargs}.")
    output: CommandOutput = Field(description="The output file: {file, format, index}.")
    timeout: Annotated[Float, Field(gt=0)] | None = Field(
        None, description="Seconds after which the command is killed and the structure counts as failed; "
        "null = no limit.")

    @field_validator("run")
    @classmethod
    def _template(cls, value: str) -> str:
        from anncli.exceptions import ConfigError
        from anncli.labelling.methods import check_template

        try:
            check_template(value, "run")
        except ConfigError as exc:
            raise SectionError(str(exc).split(": ", 1)[1]) from None
        return value


class LabelConfig(Section):
    """Input of ``anncli label``: reference calculations (energies, forces, stress) of structure files."""

    structures: Annotated[list[Str], Field(min_length=1)] = Field(
        description="Structure files to compute (e.g. sample/candidates.extxyz): files, directories, glob "
        "patterns or list files. Relative to the input file.")
    format: Str | None = Field(None, description="Their file format; null = guess from each file name.")
    frames: Str = Field(":", description="Frames of multi-frame files: ':' all, '::10' every tenth, ...")
    calculator: CalculatorSpec | None = Field(
        None, description="An ASE calculator: {name, kwargs}. Give this or 'command'.")
    command: ExternalCommand | None = Field(
        None, description="An external code driven by files: {run, input, output, timeout}. Give this or "
        "'calculator'.")
    properties: Annotated[list[Literal["energy", "forces", "stress"]], Field(min_length=1)] = Field(
        ["energy", "forces", "stress"], description="What to compute and write: energy (required), forces, "
        "stress (3-D periodic cells, where the calculator has it).")
    output: InputPath = Field(
        "labelled.extxyz", description="The labelled structures, in input order: one extxyz file (output_format "
        "extxyz) or a directory of XSF files 00000.xsf, ... (xsf). Relative to the input file.")
    output_format: Literal["extxyz", "xsf"] = Field(
        "extxyz", description="extxyz (energy, free energy, forces, stress, the input's info) | xsf (ænet XSF: "
        "energy and forces, one file per structure).")
    work_dir: InputPath = Field(
        "label_work", description="Results of finished calculations, one directory per calculation, state.json "
        "(failed attempts) and failures.csv; a rerun skips what is done here. Relative to the input file.")
    workers: Annotated[Int, Field(ge=1)] = Field(
        1, description="Calculations run at the same time, each in its own process (1: in the anncli process).")
    max_attempts: Annotated[Int, Field(ge=1)] = Field(
        2, description="A structure is tried once per run and at most this many times over all runs; then it "
        "is only listed in failures.csv (--retry-failed forgets the count).")

    @field_validator("properties")
    @classmethod
    def _energy_needed(cls, value: list[str]) -> list[str]:
        if "energy" not in value:
            raise SectionError(f"must include energy (anncli generate needs it), got [{', '.join(value)}]")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _one_method(self) -> "LabelConfig":
        if (self.calculator is None) == (self.command is None):
            which = "both" if self.calculator is not None else "neither"
            raise SectionError(f"give exactly one of 'calculator' (an ASE calculator) and 'command' (an external "
                               f"code), got {which}", *(("command",) if which == "both" else ()))
        return self
