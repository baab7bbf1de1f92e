"""Δ-learning baselines: the cheaper method whose energies, forces and stress the networks correct.

This module owns the baseline *specification* (a JSON-able dict, recorded in the training
set and the model file) and its evaluation:

``{"calculator": "emt", "kwargs": {...}, "class": "ase.calculators.emt.EMT"}``
    An ASE calculator, named by a short name (:data:`CALCULATORS`) or an import path
    (``package.module:Name`` or ``package.module.Name``) of a calculator class (a subclass
    of ASE's ``BaseCalculator``: nothing else is called, so a model file cannot name an
    arbitrary function), created with ``kwargs``.  ``class`` records what the name resolved
    to (provenance).
``{"energy_key": "...", "forces_key": "..."}``
    Energies (and forces) stored in the structure files under keys of their own: usable by
    ``generate`` only, since they cannot be recomputed for new structures.  Predict,
    validate and the ASE calculator refuse such a model unless a calculator is named for
    it (:func:`make_baseline`'s ``override``).

``generate`` subtracts the baseline from the reference labels (the networks learn
E_ref − E_base); :class:`BaselineCalculator.add_to` adds it back to the engine's results
(:meth:`anncli.potential.evaluate.Potential.evaluate_arrays`), so predict, validate, MD
and relaxation give E_base + E_networks, and likewise forces and stress.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
from dataclasses import dataclass

import numpy as np

from anncli.exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["CALCULATORS", "BaselineCalculator", "BaselineValues", "make_baseline", "describe",
           "resolve_calculator", "is_stored", "baseline_spec"]

#: Short names of calculators from the package index that ASE does not know by name: import
#: path and the package that provides it (pip name).  Every other short name is ASE's (emt, lj,
#: morse, dftd3, dftb, ..., as for ``anncli label``: :func:`anncli.labelling.methods.calculator_class`).
CALCULATORS: dict[str, tuple[str, str]] = {
    "tblite": ("tblite.ase:TBLite", "tblite"),
    "xtb": ("xtb.ase.calculator:XTB", "xtb"),
    "dftd4": ("dftd4.ase:DFTD4", "dftd4"),
    "simple-dftd3": ("dftd3.ase:DFTD3", "simple-dftd3"),
}


def is_stored(spec: dict | None) -> bool:
    """True for a baseline stored in the structure files (no calculator)."""
    return bool(spec) and "calculator" not in spec


def describe(spec: dict | None) -> str:
    """One line for people: ``EMT (ase.calculators.emt.EMT)``, ``stored labels 'e_xtb'/'f_xtb'``."""
    if not spec:
        return "none"
    if is_stored(spec):
        keys = f"'{spec.get('energy_key')}'" + (f", forces '{spec['forces_key']}'" if spec.get("forces_key") else "")
        return f"energies stored in the structure files under {keys}"
    kwargs = spec.get("kwargs") or {}
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    cls = spec.get("class")
    return f"{spec['calculator']}" + (f"({args})" if args else "") + (
        f" [{cls}]" if cls and cls != spec["calculator"] else "")


def _split_path(name: str) -> tuple[str, str]:
    if ":" in name:
        module, _, attr = name.partition(":")
    else:
        module, _, attr = name.rpartition(".")
    return module, attr


def resolve_calculator(name: str, *, key: str = "baseline.calculator"):
    """The ASE calculator class named by ``name``.

    Parameters
    ----------
    name : str
        A short name of :data:`CALCULATORS` or of ASE (case-insensitive), or an import path
        ``package.module:Name`` / ``package.module.Name``.
    key : str
        The input key, for messages.

    Raises
    ------
    ConfigError
        The name is unknown, its package is not installed, or it names no ASE calculator class.
    """
    short = CALCULATORS.get(name.strip().lower())
    if short is None and ":" not in name:  # ASE's short names and dotted paths, as anncli label
        from anncli.labelling.methods import calculator_class

        return _checked(calculator_class(name.strip(), where=key), name, key)
    path, package = short if short else (name.strip(), None)
    module, attr = _split_path(path)
    if not module or not attr:
        raise ConfigError(f"{key}: {name!r} is not an import path such as 'package.module:CalculatorClass'")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        pip = package or module.split(".")[0]
        raise ConfigError(
            f"{key}: the baseline calculator {name!r} needs the Python package '{pip}', which is not installed "
            f"(import of {module} failed: {exc}); install it (pip install {pip}) or name another calculator"
        ) from None
    except Exception as exc:  # a broken package: its import raises something else
        raise ConfigError(f"{key}: importing {module} for the baseline calculator {name!r} failed: "
                          f"{type(exc).__name__}: {exc}") from None
    obj = getattr(mod, attr, None)
    if obj is None:
        raise ConfigError(f"{key}: module {module} has no calculator class {attr!r} (from {name!r})")
    return _checked(obj, name, key)


def _checked(obj, name: str, key: str):
    """``obj`` if it is an ASE calculator class (nothing else is ever called)."""
    from ase.calculators.calculator import BaseCalculator

    if not (isinstance(obj, type) and issubclass(obj, BaseCalculator)):
        where = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"
        raise ConfigError(f"{key}: {where} (from {name!r}) is not an ASE calculator class "
                          "(a subclass of ase.calculators.calculator.BaseCalculator)")
    return obj


def baseline_spec(section) -> dict | None:
    """The recorded specification of a ``baseline`` input section (pydantic model or dict).

    For a calculator the import path it resolved to is added as ``class``; resolving
    also checks that the package is installed (:func:`resolve_calculator`).
    """
    if section is None:
        return None
    d = section.model_dump(exclude_none=True) if hasattr(section, "model_dump") else dict(section)
    d = {k: v for k, v in d.items() if v is not None}
    if "calculator" in d:
        obj = resolve_calculator(d["calculator"])
        d["kwargs"] = dict(d.get("kwargs") or {})
        d["class"] = f"{obj.__module__}.{getattr(obj, '__qualname__', getattr(obj, '__name__', ''))}"
        try:
            json.dumps(d["kwargs"])
        except (TypeError, ValueError):
            raise ConfigError("baseline.kwargs: the keyword arguments must be plain numbers, text, lists "
                              "and mappings (they are stored in the training set and the model)") from None
    else:
        d.pop("kwargs", None)
    return d


@dataclass
class BaselineValues:
    """The baseline of one structure: energy (eV), forces (n_atoms, 3) (eV/Å) or None, stress
    (3, 3) (eV/Å³, ASE's sign) or None, per-atom energies (n_atoms,) (eV, summing to energy)."""

    energy: float
    forces: np.ndarray | None
    stress: np.ndarray | None
    energies: np.ndarray


class BaselineCalculator:
    """An ASE calculator used as a Δ-learning baseline.

    Parameters
    ----------
    spec : dict
        ``{"calculator": name, "kwargs": {...}}`` (see the module docstring).
    calculator : ase Calculator, optional
        A ready calculator instance to use instead of building one from ``spec``.
    key : str
        What names the calculator, for messages (an input key, or "the model's baseline").

    Raises
    ------
    ConfigError
        The calculator is not installed or cannot be built with its ``kwargs``.
    """

    def __init__(self, spec: dict, calculator=None, *, key: str = "baseline.calculator") -> None:
        self.spec = dict(spec)
        self.name = str(spec.get("calculator", type(calculator).__name__))
        if calculator is None:
            factory = resolve_calculator(self.name, key=key)
            try:
                calculator = factory(**(spec.get("kwargs") or {}))
            except Exception as exc:
                raise ConfigError(f"{key.rsplit('.', 1)[0]}: the calculator {describe(spec)} cannot be created: "
                                  f"{type(exc).__name__}: {exc}") from None
        if not hasattr(calculator, "get_potential_energy") and not hasattr(calculator, "get_property"):
            raise ConfigError(f"baseline: {self.name} is not an ASE calculator (got a {type(calculator).__name__})")
        self.calc = calculator

    def describe(self) -> str:
        """The baseline for people."""
        return describe(self.spec)

    def compute(self, symbols, positions: np.ndarray, cell: np.ndarray | None, pbc, *, label: str,
                forces: bool = True, stress: bool = False) -> BaselineValues:
        """Baseline energy, forces and stress of one structure.

        Parameters
        ----------
        symbols : list of str
        positions : ndarray of shape (n_atoms, 3), Å
        cell : ndarray of shape (3, 3), Å, or None
        pbc : sequence of 3 bool
        label : str
            The structure's name, for messages.
        forces, stress : bool
            Also compute forces / stress.

        Raises
        ------
        DataError
            The calculator fails on the structure or returns non-finite numbers (naming
            ``label`` and the calculator).
        """
        from ase import Atoms

        atoms = Atoms(symbols=list(symbols), positions=positions,
                      cell=np.zeros((3, 3)) if cell is None else cell, pbc=pbc)
        atoms.calc = self.calc
        what = "energy"
        try:
            energy = float(atoms.get_potential_energy())
            f = None
            s = None
            if forces:
                what = "forces"
                f = np.array(atoms.get_forces(), dtype=float).reshape(-1, 3)
            if stress:
                what = "stress"
                s = np.array(atoms.get_stress(voigt=False), dtype=float).reshape(3, 3)
            results = getattr(self.calc, "results", {}) or {}
            per_atom = results.get("energies")
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise DataError(f"{label}: the baseline calculator {self.describe()} failed computing the {what}: "
                            f"{type(exc).__name__}: {exc}") from None
        per_atom = None if per_atom is None else np.array(per_atom, dtype=float).reshape(-1)
        if per_atom is None or per_atom.shape != (len(atoms),) or not math.isclose(
                float(per_atom.sum()), energy, rel_tol=1e-9, abs_tol=1e-9):
            per_atom = np.full(len(atoms), energy / max(len(atoms), 1))
        for name, value in (("energy", energy), ("forces", f), ("stress", s)):
            if value is not None and not np.all(np.isfinite(value)):
                raise DataError(f"{label}: the baseline calculator {self.describe()} returned a non-finite {name}")
        return BaselineValues(energy, f, s, per_atom)

    def add_to(self, res, positions: np.ndarray, cells: np.ndarray, pbcs: np.ndarray, offsets: np.ndarray,
               species_index: np.ndarray, species: list[str], *, forces: bool, stress: bool,
               labels: list[str] | None = None):
        """Add the baseline to a :class:`~anncli.potential.results.BatchPrediction` (in place).

        Energies (total, cohesive, per atom, every committee member's), forces (also every
        member's), the virial and the stress of structures periodic in all three
        directions get the baseline's.  The committee spread is unchanged.

        Returns
        -------
        BatchPrediction
            ``res``.
        """
        symbols = np.asarray(species, dtype=object)[np.asarray(species_index)] if len(species_index) else []
        for k in range(len(offsets) - 1):
            a, b = int(offsets[k]), int(offsets[k + 1])
            periodic = bool(np.all(pbcs[k]))
            want_stress = bool(forces and stress and periodic and res.stress is not None)
            label = labels[k] if labels else f"structure {k + 1} of the batch"
            v = self.compute(list(symbols[a:b]), positions[a:b], cells[k] if np.any(pbcs[k]) else None,
                             tuple(bool(p) for p in pbcs[k]), label=label, forces=forces, stress=want_stress)
            res.energy[k] += v.energy
            res.cohesive_energy[k] += v.energy
            res.atomic_energies[a:b] += v.energies
            if res.energy_members is not None:
                res.energy_members[:, k] += v.energy
            if forces and res.forces is not None:
                res.forces[a:b] += v.forces
                if res.forces_members is not None:
                    res.forces_members[:, a:b] += v.forces
            if res.virial is not None:
                if want_stress:
                    vol = abs(float(np.linalg.det(cells[k])))
                    res.virial[k] += -vol * 0.5 * (v.stress + v.stress.T)
                elif not np.any(pbcs[k]) and v.forces is not None:
                    res.virial[k] += positions[a:b].T @ v.forces
                else:
                    res.virial[k] = np.nan
            if want_stress:
                res.stress[k] += 0.5 * (v.stress + v.stress.T)
        return res


def make_baseline(spec: dict | None, override=None, *, where: str = "the model"):
    """The :class:`BaselineCalculator` a model's results need, or None.

    Parameters
    ----------
    spec : dict or None
        The model's recorded baseline (``Model.baseline``).
    override : dict, str, ase Calculator or None
        A calculator to use instead: a spec ``{"calculator": ..., "kwargs": ...}``, a
        calculator name, or a ready ASE calculator instance.  Required for a baseline stored
        in the structure files; replaces a recorded calculator otherwise (with a warning
        when it differs).
    where : str
        What the model is, for messages.

    Raises
    ------
    ConfigError
        A stored-labels baseline without ``override``; an override for a model without
        baseline; a calculator that is not installed or cannot be built.
    """
    if override is not None and not isinstance(override, (dict, str)):
        calc_spec = {"calculator": type(override).__name__, "class":
                     f"{type(override).__module__}.{type(override).__qualname__}", "kwargs": {}}
        if not spec:
            raise ConfigError(f"baseline: {where} was trained without a baseline; a baseline calculator "
                              "would add energies the networks never learned to correct")
        return BaselineCalculator(calc_spec, calculator=override)
    if isinstance(override, str):
        override = {"calculator": override}
    if override is not None and hasattr(override, "model_dump"):
        override = override.model_dump(exclude_none=True)
    if override is not None:
        if not spec:
            raise ConfigError(f"baseline: {where} was trained without a baseline; a baseline calculator "
                              "would add energies the networks never learned to correct")
        override = baseline_spec(override)
        if not is_stored(spec) and (override["calculator"], override.get("kwargs") or {}) != (
                spec["calculator"], spec.get("kwargs") or {}):
            logger.warning("baseline: using %s instead of the model's baseline %s", describe(override),
                           describe(spec))
        return BaselineCalculator(override)
    if not spec:
        return None
    if is_stored(spec):
        raise ConfigError(
            f"{where} was trained on a Δ-learning baseline of {describe(spec)}, which cannot be computed for new "
            "structures: name the calculator that produced it, 'baseline: {calculator: NAME, kwargs: {...}}' "
            "in the predict or validate input (ANNCalculator(model, baseline=...) in Python)")
    return BaselineCalculator(spec, key=f"the Δ-learning baseline of {where}")
