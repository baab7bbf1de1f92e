"""Trained potentials: the model file, the evaluation engine and ænet potential files.

Public names are loaded lazily (PEP 562) so that ``import anncli.potential`` stays cheap.

* :class:`Potential`, :func:`load_potential` — the engine (``anncli.potential.evaluate``)
* :class:`Model`, :func:`load_model`, :func:`save_model` — the model file (``anncli.potential.model_file``)
* :func:`read_aenet_nn` — ænet ``.nn`` files as a Model (``anncli.potential.aenet_nn``)
* :func:`relax_structure` — geometry optimisation (``anncli.potential.relax``)

The ASE calculator is :class:`anncli.calculator.ANNCalculator`.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "Potential": "anncli.potential.evaluate",
    "load_potential": "anncli.potential.evaluate",
    "Model": "anncli.potential.model_file",
    "load_model": "anncli.potential.model_file",
    "save_model": "anncli.potential.model_file",
    "read_aenet_nn": "anncli.potential.aenet_nn",
    "relax_structure": "anncli.potential.relax",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'anncli.potential' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
