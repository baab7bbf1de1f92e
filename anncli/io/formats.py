"""Reading and writing structure files of any format as :class:`Structure` lists.

This module owns the dispatch between formats: ænet XSF goes through anncli's own
reader (:mod:`anncli.io.xsf`; ASE's XSF reader drops the energy and rescales
forces), everything else through :func:`ase.io.read` / :func:`ase.io.write`
(extxyz, VASP OUTCAR / vasprun.xml, Quantum ESPRESSO output, CIF, ASE
trajectories, ... also compressed ``.gz``/``.bz2``).  Errors raised by ASE become
:class:`~anncli.exceptions.DataError` naming the file and the format tried.
ASE is imported lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError, DataError
from anncli.structure import Structure
from anncli.units import Units

logger = logging.getLogger(__name__)

__all__ = ["read_structures", "write_structures", "parse_index", "XSF_FORMATS"]

#: Format names that select anncli's ænet XSF reader/writer.
XSF_FORMATS = frozenset({"xsf", "aenet-xsf", "aenet"})

_FORMAT_HELP = (
    "give the format explicitly ('xsf' for ænet XSF, or an ASE format name such as "
    "extxyz, vasp-out, vasp-xml, espresso-out, cif, traj)"
)


def parse_index(index: str | int | slice) -> int | slice:
    """Turn ``":"``, ``"-1"``, ``"0:10:2"``, an int or a slice into an int or slice.

    Raises
    ------
    ConfigError
        If the string is not an integer or a ``start:stop[:step]`` slice.
    """
    if isinstance(index, slice):
        return index
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        return int(index)
    if not isinstance(index, str):
        raise ConfigError(f"frame index must be an int, a slice or a string like '0:10:2', got {index!r}")
    text = index.strip()
    try:
        if ":" not in text:
            return int(text)
        parts = text.split(":")
        if len(parts) > 3:
            raise ValueError
        values = [int(p) if p.strip() else None for p in parts]
        return slice(*values)
    except ValueError:
        raise ConfigError(
            f"frame index {index!r} is not an integer or a 'start:stop:step' slice "
            "(examples: ':', '-1', '0:10:2')"
        ) from None


def _is_xsf(path: Path, format: str | None) -> bool:
    if format is not None:
        return format.lower() in XSF_FORMATS
    name = path.name.lower()
    for ext in (".gz", ".bz2", ".xz"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return name.endswith(".xsf") and len(name) > 4


def _select(n: int, index: int | slice, name: str) -> list[int]:
    """Frame numbers selected by ``index`` among ``n`` frames."""
    if isinstance(index, slice):
        return list(range(n))[index]
    if not -n <= index < n:
        raise DataError(f"{name}: frame {index} requested but the file holds {n} structure(s)")
    return [index % n]


def _guess_format(path: Path) -> str:
    from ase.io.formats import filetype, ioformats

    try:
        fmt = filetype(str(path), read=True, guess=True)
    except FileNotFoundError:
        raise DataError(f"{path}: structure file not found") from None
    except Exception as exc:  # ASE raises various errors for unknown content
        raise DataError(f"{path}: cannot tell the file format ({exc}); {_FORMAT_HELP}") from None
    if fmt not in ioformats:
        raise DataError(f"{path}: cannot tell the file format from its name or content; {_FORMAT_HELP}")
    return fmt


def _check_format(format: str) -> str:
    from ase.io.formats import ioformats

    if format in ioformats:
        return format
    names = sorted(ioformats) + sorted(XSF_FORMATS)
    close = difflib.get_close_matches(format, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DataError(f"unknown structure file format {format!r}; {_FORMAT_HELP}.{hint}")


def read_structures(
    path: str | Path,
    format: str | None = None,
    index: str | int | slice = ":",
    units: Units | None = None,
) -> list[Structure]:
    """Read the structures (frames) of one file.

    Parameters
    ----------
    path : str or Path
        The structure file (compressed ``.gz``/``.bz2`` allowed for ASE formats).
    format : str, optional
        ``'xsf'`` / ``'aenet-xsf'`` for ænet XSF, or an ASE format name
        (``extxyz``, ``vasp-out``, ``vasp-xml``, ``espresso-out``, ...).  Guessed
        from the name and content when None (``.xsf`` means ænet XSF).
    index : str, int or slice
        Frames to read: ``":"`` (all, default), ``"-1"`` (last), ``"0:10:2"``, ...
    units : Units, optional
        Units of the values in the file; converted to eV, Å, eV/Å.  ASE's readers
        of DFT codes already return eV and Å: give units only for files holding
        other units (e.g. an XSF or extxyz in Hartree and Bohr).

    Returns
    -------
    list of Structure
        One per selected frame; ``source`` is ``str(path)`` and ``frame`` the
        0-based index of the frame within the file.

    Raises
    ------
    DataError
        File missing or unreadable, unknown format, invalid content (message names
        the file and the format tried), or a frame index out of range.
    ConfigError
        If ``index`` is not a valid frame index.
    """
    if not isinstance(path, Path):
        path = Path(path)
    idx = parse_index(index)
    name = str(path)
    if not _is_xsf(path, format):
        if not path.exists():
            raise DataError(f"{name}: structure file not found")
        if path.is_dir():
            raise DataError(f"{name}: is a directory, expected a structure file")
        if path.stat().st_size == 0:
            raise DataError(f"{name}: the file is empty, expected structures")
        fmt = _check_format(format) if format is not None else _guess_format(path)
    if _is_xsf(path, format) or fmt == "xsf":  # never ASE's XSF reader: it drops the energy
        from anncli.io.xsf import read_xsf

        structure = read_xsf(path, units=units)
        return [structure for _ in _select(1, idx, name)]
    frames, images = _read_ase(path, fmt, idx)

    from anncli.io.checks import check_structure

    out = []
    for frame, atoms in zip(frames, images):
        s = Structure.from_ase(atoms, source=name, frame=frame)
        if units is not None and not units.is_default:
            _convert(s, units)
        check_structure(s)
        out.append(s)
    logger.debug("read %d structure(s) from %s as %s", len(out), name, fmt)
    return out


def _read_ase(path: Path, fmt: str, idx: int | slice) -> tuple[list[int], list]:
    """Read with ASE; return (frame numbers, Atoms list)."""
    from ase.io import read

    def do_read(ase_index):
        try:
            result = read(str(path), index=ase_index, format=fmt)
        except DataError:
            raise
        except (StopIteration, IndexError) as exc:
            if isinstance(ase_index, int):
                raise DataError(f"{path}: frame {ase_index} requested but the file holds fewer structures") from None
            reason = str(exc).strip() or type(exc).__name__
            raise DataError(f"could not read {path} as {fmt}: {reason}") from None
        except Exception as exc:  # ASE readers raise anything from IndexError to XML errors
            reason = str(exc).strip() or type(exc).__name__
            raise DataError(f"could not read {path} as {fmt}: {reason}") from None
        return result if isinstance(result, list) else [result]

    known = isinstance(idx, int) and idx >= 0
    if isinstance(idx, slice):
        start, stop, step = idx.start, idx.stop, idx.step
        known = (
            (start is None or start >= 0) and (stop is not None and stop >= 0) and (step is None or step > 0)
        )
    if known:
        images = do_read(idx)
        if isinstance(idx, int):
            frames = [idx]
        else:
            frames = list(range(idx.start or 0, idx.stop, idx.step or 1))[: len(images)]
        if not images and isinstance(idx, int):
            raise DataError(f"{path}: frame {idx} requested but the file holds fewer structures")
        return frames, images
    # negative or open-ended index: read all frames to know their numbers
    images = do_read(slice(None))
    if not images:
        raise DataError(f"could not read {path} as {fmt}: the file holds no structure")
    frames = _select(len(images), idx, str(path))
    return frames, [images[k] for k in frames]


def _convert(s: Structure, units: Units) -> None:
    lf, ef = units.length_factor, units.energy_factor
    s.positions = s.positions * lf
    if s.cell is not None:
        s.cell = s.cell * lf
    if s.energy is not None:
        s.energy *= ef
    if s.forces is not None:
        s.forces = s.forces * (ef / lf)


def write_structures(
    path: str | Path, structures: Structure | Iterable[Structure], format: str | None = None
) -> None:
    """Write structures to one file.

    Parameters
    ----------
    path : str or Path
        Destination file.
    structures : Structure or iterable of Structure
        Structures in eV, Å, eV/Å.
    format : str, optional
        ``'xsf'`` (ænet XSF, exactly one structure per file) or an ASE format
        name; guessed from the extension when None (``.xyz``/``.extxyz`` are
        written as extxyz with energy and forces).

    Raises
    ------
    DataError
        Unknown format, several structures for one XSF file, or an ASE error.
    """
    path = Path(path)
    if isinstance(structures, Structure):
        structures = [structures]
    structures = list(structures)
    if _is_xsf(path, format):
        from anncli.io.xsf import write_xsf

        if len(structures) != 1:
            raise DataError(
                f"{path}: an XSF file holds exactly one structure, got {len(structures)}; "
                "write one file per structure or use extxyz"
            )
        write_xsf(path, structures[0])
        return
    from ase.io import write
    from ase.io.formats import UnknownFileTypeError

    fmt = format
    if fmt is None and path.suffix.lower() in (".xyz", ".extxyz"):
        fmt = "extxyz"
    if fmt is not None:
        fmt = _check_format(fmt)
    images = [s.to_ase() for s in structures]
    try:
        write(str(path), images if len(images) != 1 else images[0], format=fmt)
    except UnknownFileTypeError:
        raise DataError(f"{path}: cannot tell the output format from the name; {_FORMAT_HELP}") from None
    except Exception as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise DataError(f"could not write {path} as {fmt or path.suffix.lstrip('.')}: {reason}") from None


def structures_from_ase(images: Sequence, source: str = "") -> list[Structure]:
    """Convert a list of :class:`ase.Atoms` to structures (frame = list position)."""
    return [Structure.from_ase(a, source=source, frame=k) for k, a in enumerate(images)]
