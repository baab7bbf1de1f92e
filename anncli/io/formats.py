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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError, DataError
from anncli.structure import Structure, select_energy
from anncli.units import Units

logger = logging.getLogger(__name__)

__all__ = ["read_structures", "iter_structures", "write_structures", "parse_index", "XSF_FORMATS"]

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
    energy: str | None = None,
    **label_keys,
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
    energy : {"free", "zero_kelvin", "total"} or None
        Which of the file's energies a structure holds (see :mod:`anncli.structure`);
        None: the force-consistent free energy where the file has it, else its energy.
    **label_keys
        ``energy_key``, ``forces_key``: see :func:`iter_structures`.

    Returns
    -------
    list of Structure
        One per selected frame; ``source`` is ``str(path)`` and ``frame`` the
        0-based index of the frame within the file.

    Raises
    ------
    DataError
        File missing or unreadable, unknown format, invalid content (message names
        the file, the frame where known, and the format tried), a frame index out of
        range, or a frame without the energy kind asked for.
    ConfigError
        If ``index`` is not a valid frame index.
    """
    return list(iter_structures(path, format=format, index=index, units=units, energy=energy, **label_keys))


def iter_structures(
    path: str | Path,
    format: str | None = None,
    index: str | int | slice = ":",
    units: Units | None = None,
    energy: str | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    baseline_energy_key: str | None = None,
    baseline_forces_key: str | None = None,
) -> Iterator[Structure]:
    """Yield the structures (frames) of one file one at a time.

    ``energy_key`` and ``forces_key`` name the reference labels of files that store them
    under keys of their own (extxyz ``REF_energy=`` / ``REF_forces`` columns, as in MACE's
    data sets): the energy is taken from the frame's info (or calculator results), the forces
    from its per-atom arrays; a frame without them is a DataError naming the key.
    ``baseline_energy_key`` and ``baseline_forces_key`` name a Δ-learning baseline stored the
    same way: its values go to ``info["baseline_energy"]`` (eV) and ``info["baseline_forces"]``
    ((n_atoms, 3), eV/Å), converted with ``units`` like the labels.

    Same parameters, results and errors as :func:`read_structures`, but frames are
    parsed as they are consumed, so memory does not grow with the number of frames for
    the formats whose ASE readers stream: extxyz (ASE first scans the file for frame
    offsets, a few bytes per frame), VASP OUTCAR, ASE trajectories.  ASE parses
    vasprun.xml into one growing XML tree and keeps a Quantum ESPRESSO output's lines in
    memory: their memory grows with the file, not with the frames converted.  Negative
    frame indices (``"-1"``, ``"-5:"``) need the frame count first: the file is then
    read whole, as by :func:`read_structures`.  The file's existence and format are
    checked when the iteration starts.
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

        if baseline_energy_key is not None:
            raise DataError(f"{name}: an ænet XSF file cannot store a baseline energy "
                            f"('{baseline_energy_key}', baseline.energy_key); use extxyz files or a baseline calculator")

        structure = read_xsf(path, units=units)
        if structure.energy is not None:  # an ænet XSF file holds one 'total energy'
            _, structure.energy_kind, structure.energy_kinds = select_energy(
                {"energy": structure.energy}, energy, structure.label)
        for _ in _select(1, idx, name):
            yield structure
        return

    from anncli.io.checks import check_structure

    n = 0
    for frame, atoms in _iter_ase(path, fmt, idx):
        s = Structure.from_ase(atoms, source=name, frame=frame, energy=energy, format=fmt)
        if energy_key is not None or forces_key is not None:
            _custom_labels(s, atoms, energy_key, forces_key)
        if baseline_energy_key is not None:
            _stored_baseline(s, atoms, baseline_energy_key, baseline_forces_key)
        if units is not None and not units.is_default:
            _convert(s, units)
        check_structure(s)
        n += 1
        yield s
    logger.debug("read %d structure(s) from %s as %s", n, name, fmt)


def _stored_energy(s: Structure, atoms, key: str, what: str) -> float:
    results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
    value = atoms.info.get(key, results.get(key))
    if value is None:
        keys = sorted(set(atoms.info) | set(results))
        raise DataError(f"{s.label}: no energy under '{key}' ({what}); this frame has "
                        f"{', '.join(keys) or 'no info keys'}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{s.label}: '{key}' ({what}) is {value!r}, not a number") from None
    return value


def _stored_forces(s: Structure, atoms, key: str, what: str) -> np.ndarray:
    results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
    value = atoms.arrays.get(key)
    if value is None:
        value = results.get(key)
    if value is None:
        keys = sorted(k for k in atoms.arrays if k not in ("numbers", "positions"))
        raise DataError(f"{s.label}: no per-atom forces under '{key}' ({what}); this frame has "
                        f"{', '.join(keys) or 'no per-atom arrays'}")
    value = np.asarray(value, dtype=float)
    if value.shape != (s.n_atoms, 3):
        raise DataError(f"{s.label}: '{key}' ({what}) has shape {value.shape}, expected ({s.n_atoms}, 3)")
    return np.ascontiguousarray(value)


def _custom_labels(s: Structure, atoms, energy_key: str | None, forces_key: str | None) -> None:
    """Replace the labels of ``s`` by those stored under ``energy_key`` / ``forces_key``."""
    if energy_key is not None:
        s.energy = _stored_energy(s, atoms, energy_key, "energy_key")
        s.energy_kind, s.energy_kinds = None, ()
    if forces_key is not None:
        s.forces = _stored_forces(s, atoms, forces_key, "forces_key")


def _stored_baseline(s: Structure, atoms, energy_key: str, forces_key: str | None) -> None:
    """Put the baseline values stored under the given keys into ``s.info``."""
    energy = _stored_energy(s, atoms, energy_key, "baseline.energy_key")
    if not np.isfinite(energy):
        raise DataError(f"{s.label}: '{energy_key}' (baseline.energy_key) is {energy}; it must be a finite number")
    s.info["baseline_energy"] = energy
    if forces_key is not None:
        f = _stored_forces(s, atoms, forces_key, "baseline.forces_key")
        if not np.isfinite(f).all():
            raise DataError(f"{s.label}: '{forces_key}' (baseline.forces_key) holds non-finite numbers")
        s.info["baseline_forces"] = f


def _streamable(idx: int | slice) -> bool:
    """True if the frames of ``idx`` are known without counting the frames of the file."""
    if isinstance(idx, int):
        return idx >= 0
    return (idx.start is None or idx.start >= 0) and (idx.stop is None or idx.stop >= 0) and (
        idx.step is None or idx.step > 0)


def _ase_frames(path: Path, fmt: str, idx: int | slice) -> Iterator:
    """ASE's frame iterator for ``idx`` (a non-negative int or slice, or ``slice(None)``).

    ``ase.io.iread`` of the VASP OUTCAR format builds the whole list first; its chunk
    iterator is used directly instead.
    """
    if fmt == "vasp-out":
        from ase.io.formats import open_with_compression
        from ase.io.vasp import iread_vasp_out

        sl = idx if isinstance(idx, slice) else slice(idx, idx + 1)
        with open_with_compression(str(path), "r") as fd:
            yield from iread_vasp_out(fd, index=sl)
        return
    from ase.io import iread

    yield from iread(str(path), index=idx, format=fmt, do_not_split_by_at_sign=True)


def _iter_ase(path: Path, fmt: str, idx: int | slice) -> Iterator[tuple[int, object]]:
    """Read with ASE frame by frame; yield (frame number, Atoms).

    Reader errors become :class:`DataError` naming the file, the frame being read (once
    at least one frame has been read: before that, ASE's extxyz reader may still be
    scanning the whole file) and the format.
    """
    if not _streamable(idx):  # negative index: read all frames to know their numbers
        images = list(_checked(path, fmt, slice(None), _ase_frames(path, fmt, slice(None)), 0, 1))
        if not images:
            raise DataError(f"could not read {path} as {fmt}: the file holds no structure")
        for k in _select(len(images), idx, str(path)):
            yield k, images[k][1]
        return
    if isinstance(idx, int):
        start, step = idx, 1
    else:
        start, step = idx.start or 0, idx.step or 1
    n = 0
    for item in _checked(path, fmt, idx, _ase_frames(path, fmt, idx), start, step):
        n += 1
        yield item
    if n == 0 and isinstance(idx, int):
        raise DataError(f"{path}: frame {idx} requested but the file holds fewer structures")
    if n == 0 and idx == slice(None):
        raise DataError(f"could not read {path} as {fmt}: the file holds no structure")


def _checked(path: Path, fmt: str, idx, frames: Iterator, start: int, step: int) -> Iterator[tuple[int, object]]:
    """Number the frames of an ASE iterator and turn its errors into DataError."""
    n = 0
    while True:
        frame = start + n * step
        try:
            atoms = next(frames)
        except StopIteration:
            return
        except DataError:
            raise
        except IndexError as exc:
            if isinstance(idx, int):
                raise DataError(f"{path}: frame {idx} requested but the file holds fewer structures") from None
            raise DataError(f"could not read {_where(path, frame, n)} as {fmt}: {_reason(exc)}") from None
        except Exception as exc:  # ASE readers raise anything from IndexError to XML errors
            raise DataError(f"could not read {_where(path, frame, n)} as {fmt}: {_reason(exc)}") from None
        n += 1
        yield frame, atoms


def _where(path: Path, frame: int, n_read: int) -> str:
    return f"{path}@{frame}" if n_read else str(path)


def _reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _convert(s: Structure, units: Units) -> None:
    lf, ef = units.length_factor, units.energy_factor
    s.positions = s.positions * lf
    if s.cell is not None:
        s.cell = s.cell * lf
    if s.energy is not None:
        s.energy *= ef
    if s.forces is not None:
        s.forces = s.forces * (ef / lf)
    if s.stress is not None:
        s.stress = s.stress * (ef / lf**3)
    if "baseline_energy" in s.info:
        s.info["baseline_energy"] *= ef
    if "baseline_forces" in s.info:
        s.info["baseline_forces"] = s.info["baseline_forces"] * (ef / lf)


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
