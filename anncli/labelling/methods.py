"""How one structure gets its reference energy, forces and stress.

Two methods, both small picklable dataclasses so that worker processes can rebuild them:

* :class:`CalculatorMethod` — any ASE calculator, named by ASE's short name (``emt``,
  ``vasp``, ``espresso``, ``gpaw``, ...) or by an import path (``ase.calculators.emt.EMT``,
  ``mypackage.calc.MyCalc``), with its keyword arguments;
* :class:`CommandMethod` — a code driven by files: the structure is written with an ASE
  writer, a shell command is run in the structure's own directory, and the output is read back
  with an ASE reader.

``compute(atoms, directory)`` returns a copy of the atoms with a
:class:`~ase.calculators.singlepoint.SinglePointCalculator` holding the results (eV, eV/Å,
eV/Å³) and raises :class:`LabelFailure` (or any exception) when the calculation fails; the
runner (:mod:`anncli.labelling.runner`) records the failure and goes on.
"""

from __future__ import annotations

import importlib
import logging
import shlex
import string
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anncli.exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["LabelFailure", "CalculatorMethod", "CommandMethod", "calculator_class", "method_from_config",
           "single_point", "TEMPLATE_FIELDS"]

#: Placeholders of a command template (``{input}`` etc.), see :class:`CommandMethod`.
TEMPLATE_FIELDS = ("input", "output", "python", "key", "index")


class LabelFailure(RuntimeError):
    """A reference calculation failed (the message says how); the structure is listed as failed."""


def calculator_class(name: str, where: str = "calculator.name") -> type:
    """The ASE calculator class named ``name``.

    Parameters
    ----------
    name : str
        ASE's short name (``emt``, ``vasp``, ``espresso``, ``gpaw``; case-insensitive) or a
        dotted import path ``package.module.Class``.
    where : str
        Key named in error messages.

    Raises
    ------
    ConfigError
        Unknown name, a package that is not installed (named), or an import path whose
        module lacks the class.
    """
    if "." in name:
        module_name, _, attr = name.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or module_name
            raise ConfigError(f"{where}: cannot import {module_name} for calculator {name!r}: the package "
                              f"{missing.split('.')[0]!r} is not installed (pip install it, or load its module)") from None
        except Exception as exc:  # noqa: BLE001 - a broken third-party import
            raise ConfigError(f"{where}: importing {module_name} failed: {type(exc).__name__}: {exc}") from None
        cls = getattr(module, attr, None)
        if not isinstance(cls, type):
            raise ConfigError(f"{where}: module {module_name} has no calculator class {attr!r}")
        return cls
    from ase.calculators.calculator import get_calculator_class

    try:
        return get_calculator_class(name.lower())
    except ModuleNotFoundError as exc:
        missing = exc.name or name
        if missing.startswith("ase.calculators."):
            raise ConfigError(f"{where}: ASE has no calculator named {name!r}; give ASE's short name (emt, vasp, "
                              "espresso, gpaw, ...) or an import path such as ase.calculators.emt.EMT") from None
        raise ConfigError(f"{where}: the calculator {name!r} needs the package {missing.split('.')[0]!r}, "
                          "which is not installed (pip install it, or load its module)") from None
    except Exception as exc:  # noqa: BLE001 - ASE raises various errors for names it does not know
        raise ConfigError(f"{where}: ASE has no calculator named {name!r} ({exc})") from None


def single_point(atoms, results: dict[str, Any]):
    """A copy of ``atoms`` (with its ``info``) carrying ``results`` in a SinglePointCalculator."""
    from ase.calculators.singlepoint import SinglePointCalculator

    out = atoms.copy()
    out.calc = SinglePointCalculator(out, **results)
    return out


def _collect(atoms, properties: tuple[str, ...]) -> dict[str, Any]:
    """energy (+ free_energy), forces, stress of ``atoms`` through its calculator."""
    from ase.calculators.calculator import PropertyNotImplementedError

    results: dict[str, Any] = {"energy": float(atoms.get_potential_energy())}
    free = atoms.calc.results.get("free_energy") if atoms.calc is not None else None
    if free is not None:
        results["free_energy"] = float(free)
    if "forces" in properties:
        results["forces"] = np.array(atoms.get_forces(), dtype=float)
    if "stress" in properties and all(atoms.pbc):
        try:
            results["stress"] = np.array(atoms.get_stress(voigt=True), dtype=float)
        except PropertyNotImplementedError:
            logger.debug("the calculator has no stress")
    _check_finite(results)
    return results


def _check_finite(results: dict[str, Any]) -> None:
    for key, value in results.items():
        if not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise LabelFailure(f"the calculation returned a non-finite {key}")


@dataclass(frozen=True)
class CalculatorMethod:
    """An ASE calculator class built fresh for every structure.

    Attributes
    ----------
    name : str
        See :func:`calculator_class`.
    kwargs : dict
        Keyword arguments of the calculator's constructor.
    properties : tuple of str
        Of ``energy`` (always computed), ``forces``, ``stress`` (3-D periodic cells only, and
        only if the calculator implements it).
    """

    name: str
    kwargs: dict = field(default_factory=dict)
    properties: tuple[str, ...] = ("energy", "forces", "stress")

    def check(self) -> None:
        """Import the class and build one calculator: bad names and keyword arguments are
        :class:`ConfigError` before any structure is computed."""
        cls = calculator_class(self.name)
        try:
            cls(**self.kwargs)
        except TypeError as exc:
            raise ConfigError(f"calculator.kwargs: {self.name} does not accept these arguments: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the calculator's own validation
            raise ConfigError(f"calculator: building {self.name} with the given kwargs failed: "
                              f"{type(exc).__name__}: {exc}") from None

    def compute(self, atoms, directory: Path, *, key: str = "", index: int = 0):
        """Label one structure; files the calculator writes go to ``directory``."""
        calc = calculator_class(self.name)(**self.kwargs)
        if hasattr(calc, "directory"):
            calc.directory = str(directory)
        work = atoms.copy()
        work.calc = calc
        return single_point(atoms, _collect(work, self.properties))


@dataclass(frozen=True)
class CommandMethod:
    """A code driven by files: write the input, run a shell command, read the output.

    Attributes
    ----------
    run : str
        Shell command run in the structure's directory. Placeholders: ``{input}`` and
        ``{output}`` (the file names), ``{python}`` (this Python interpreter), ``{key}`` (the
        structure's content key), ``{index}`` (its position in the input, from 0).
    input_file, input_format : str
        Name of the input file and the ASE format it is written in (``espresso-in``,
        ``vasp``, ``extxyz``, ...).
    input_kwargs : dict
        Keyword arguments of ASE's writer (e.g. ``input_data``, ``pseudopotentials``).
    output_file : str
        Name of the file the command writes.
    output_format : str or None
        ASE format to read it with; None = guess.
    output_index : str
        Frame of the output to take (``-1``: the last, e.g. after an ionic loop).
    timeout : float or None
        Seconds after which the command is killed and the structure counts as failed.
    properties : tuple of str
        As for :class:`CalculatorMethod`; a property the output lacks is left out.
    """

    run: str
    input_file: str
    input_format: str
    output_file: str
    output_format: str | None = None
    input_kwargs: dict = field(default_factory=dict)
    output_index: str = "-1"
    timeout: float | None = None
    properties: tuple[str, ...] = ("energy", "forces", "stress")

    def check(self) -> None:
        """Placeholders of ``run`` and the formats (ConfigError)."""
        check_template(self.run, "command.run")
        from ase.io.formats import ioformats

        fmt = ioformats.get(self.input_format)
        if fmt is None or not fmt.can_write:
            raise ConfigError(f"command.input.format: ASE cannot write the format {self.input_format!r}")
        if self.output_format is not None:
            fmt = ioformats.get(self.output_format)
            if fmt is None or not fmt.can_read:
                raise ConfigError(f"command.output.format: ASE cannot read the format {self.output_format!r}")

    def command_line(self, key: str, index: int) -> str:
        """The shell command for one structure."""
        return self.run.format(input=shlex.quote(self.input_file), output=shlex.quote(self.output_file),
                               python=shlex.quote(sys.executable), key=key, index=index)

    def compute(self, atoms, directory: Path, *, key: str = "", index: int = 0):
        """Write the input into ``directory``, run the command there, read the output."""
        from ase.io import read, write

        directory.mkdir(parents=True, exist_ok=True)
        out_path = directory / self.output_file
        if out_path.exists():
            out_path.unlink()  # a stale output of an earlier attempt must not count
        plain = atoms.copy()
        plain.calc = None
        write(str(directory / self.input_file), plain, format=self.input_format, **self.input_kwargs)
        cmd = self.command_line(key, index)
        with open(directory / "stdout.txt", "wb") as out, open(directory / "stderr.txt", "wb") as err:
            # own process group: a timeout or Ctrl-C ends the whole command (mpirun and its ranks), not
            # only the shell
            proc = subprocess.Popen(cmd, shell=True, cwd=directory, stdout=out, stderr=err, start_new_session=True)
            try:
                returncode = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise LabelFailure(f"the command did not finish within {self.timeout:g} s: {cmd}") from None
            except BaseException:
                _kill_group(proc)
                raise
        if returncode != 0:
            raise LabelFailure(f"the command exited with status {returncode}: {cmd}{_last_line(directory / 'stderr.txt')}")
        if not out_path.is_file():
            raise LabelFailure(f"the command did not write {self.output_file}: {cmd}")
        try:
            result = read(str(out_path), index=self.output_index, format=self.output_format)
        except Exception as exc:  # noqa: BLE001 - any reader error: the output is unusable
            raise LabelFailure(f"cannot read {self.output_file}: {type(exc).__name__}: {exc}") from None
        if sorted(result.get_chemical_symbols()) != sorted(atoms.get_chemical_symbols()):
            raise LabelFailure(f"{self.output_file} holds {result.get_chemical_formula()}, the input was "
                               f"{atoms.get_chemical_formula()}")
        if result.calc is None or "energy" not in result.calc.results:
            raise LabelFailure(f"{self.output_file} has no energy")
        res = result.calc.results
        results: dict[str, Any] = {"energy": float(res["energy"])}
        if res.get("free_energy") is not None:
            results["free_energy"] = float(res["free_energy"])
        if "forces" in self.properties and res.get("forces") is not None:
            results["forces"] = np.array(res["forces"], dtype=float)
        if "stress" in self.properties and res.get("stress") is not None and all(result.pbc):
            stress = np.asarray(res["stress"], dtype=float)
            if stress.shape == (3, 3):
                stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            results["stress"] = stress
        _check_finite(results)
        out_atoms = result.copy()
        out_atoms.info = dict(atoms.info)
        return single_point(out_atoms, results)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 5 s, to the command's process group; reap the shell."""
    import os
    import signal

    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return f" ({lines[-1].strip()[:200]})" if lines else ""


def check_template(template: str, where: str) -> None:
    """ConfigError if ``template`` has a placeholder other than :data:`TEMPLATE_FIELDS` or bad braces."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"{where}: bad braces in the command template ({exc}); write {{{{ and }}}} for "
                          "literal braces") from None
    for name in names:
        if name not in TEMPLATE_FIELDS:
            raise ConfigError(f"{where}: unknown placeholder {{{name}}}; known: "
                              + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS))


def method_from_config(config) -> CalculatorMethod | CommandMethod:
    """The labelling method of a :class:`~anncli.config.label.LabelConfig` (checked)."""
    props = tuple(config.properties)
    if config.calculator is not None:
        method: CalculatorMethod | CommandMethod = CalculatorMethod(
            config.calculator.name, dict(config.calculator.kwargs), props)
    else:
        c = config.command
        method = CommandMethod(run=c.run, input_file=c.input.file, input_format=c.input.format,
                               input_kwargs=dict(c.input.kwargs), output_file=c.output.file,
                               output_format=c.output.format, output_index=c.output.index,
                               timeout=c.timeout, properties=props)
    method.check()
    return method
