"""Structure input and output: ænet XSF, every ASE format, source lists and checks.

Public names are loaded lazily (PEP 562) so that ``import anncli.io`` costs nothing
until a reader is used; ASE itself is imported only inside the functions that need it.

* :func:`read_structures`, :func:`iter_structures` (frame by frame), :func:`write_structures` — any format (``anncli.io.formats``)
* :func:`read_xsf`, :func:`write_xsf` — ænet XSF (``anncli.io.xsf``)
* :func:`expand_sources` — files, directories, globs, list files (``anncli.io.sources``)
* :func:`check_structure`, :func:`close_pairs`, :func:`check_min_distance` (``anncli.io.checks``)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_EXPORTS = {
    "read_structures": "anncli.io.formats",
    "iter_structures": "anncli.io.formats",
    "write_structures": "anncli.io.formats",
    "read_xsf": "anncli.io.xsf",
    "write_xsf": "anncli.io.xsf",
    "expand_sources": "anncli.io.sources",
    "check_structure": "anncli.io.checks",
    "close_pairs": "anncli.io.checks",
    "check_min_distance": "anncli.io.checks",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from anncli.io.checks import check_min_distance, check_structure, close_pairs
    from anncli.io.formats import iter_structures, read_structures, write_structures
    from anncli.io.sources import expand_sources
    from anncli.io.xsf import read_xsf, write_xsf


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'anncli.io' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
