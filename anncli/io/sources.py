"""Expansion of the structure sources a user lists into a list of files.

This module owns how entries of a ``structures:`` list (or command-line
arguments) name files: a file, a directory (its structure files), a glob pattern,
or a list file (``@name`` or ``*.list``: one path per line).  Results are in
natural order (``structure2`` before ``structure10``) without duplicates.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from pathlib import Path

from anncli.exceptions import DataError

logger = logging.getLogger(__name__)

__all__ = ["expand_sources", "is_structure_file", "natural_key"]

_EXTENSIONS = frozenset({".xsf", ".xyz", ".extxyz", ".cif", ".traj", ".json", ".xml", ".out", ".pwo"})
_COMPRESSED = frozenset({".gz", ".bz2", ".xz"})
_NAME_PREFIXES = ("OUTCAR", "vasprun", "POSCAR", "CONTCAR")
_GLOB_CHARS = frozenset("*?[")
_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str | Path) -> tuple:
    """Sort key that orders embedded numbers numerically (``s2`` < ``s10``)."""
    parts = _DIGITS.split(str(path))
    return tuple((0, int(p), p) if k % 2 else (1, p, "") for k, p in enumerate(parts))


def is_structure_file(path: Path) -> bool:
    """True if the file name looks like a structure file anncli can read.

    Recognised: ``.xsf .xyz .extxyz .cif .traj .json .xml .out .pwo`` (also
    compressed ``.gz``/``.bz2``/``.xz``) and names starting with ``OUTCAR``,
    ``vasprun``, ``POSCAR`` or ``CONTCAR``.
    """
    name = path.name
    if name.startswith(_NAME_PREFIXES):
        return True
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in _EXTENSIONS


def _dir_files(directory: Path) -> list[Path]:
    files = [p for p in directory.iterdir() if p.is_file() and is_structure_file(p)]
    return sorted(files, key=natural_key)


def _read_list_file(list_file: Path, entry: str) -> list[str]:
    try:
        text = list_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"list file {entry!r} not found (looked for {list_file})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"list file {list_file}: cannot read it ({exc})") from None
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            entries.append(line)
    return entries


def _expand_one(entry: str, base_dir: Path, seen_lists: tuple[Path, ...]) -> list[Path]:
    entry = entry.strip()
    if not entry:
        return []
    is_list = entry.startswith("@")
    raw = entry[1:] if is_list else entry
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():
        path = base_dir / path
    if is_list or (path.suffix == ".list" and path.is_file()):
        list_file = path.resolve()
        if list_file in seen_lists:
            raise DataError(f"list file {path} includes itself (through {seen_lists[-1]})")
        out = []
        for item in _read_list_file(path, entry):
            files = _expand_one(item, path.parent, seen_lists + (list_file,))
            if not files:
                raise DataError(f"list file {path}: entry {item!r} matches no file")
            out.extend(files)
        return out
    if path.is_file():
        return [path]
    if path.is_dir():
        files = _dir_files(path)
        if not files:
            raise DataError(f"structure source {entry!r}: directory {path} holds no structure files")
        return files
    if _GLOB_CHARS & set(raw):
        # strings until the end: a Path costs ~10 µs to build, globs match thousands of files
        matches = [p for p in glob.glob(str(path), recursive=True) if os.path.isfile(p)]
        return [Path(p) for p in sorted(matches, key=natural_key)]
    return []


def expand_sources(entries: list[str] | str, base_dir: Path | str = ".") -> list[Path]:
    """Expand structure source entries into a list of files.

    Parameters
    ----------
    entries : list of str
        Each entry is a file, a directory (its files with a structure extension:
        ``.xsf .xyz .extxyz .cif .traj .json .xml .out .pwo``, optionally
        ``.gz``/``.bz2``, or names starting with OUTCAR, vasprun, POSCAR,
        CONTCAR), a glob pattern (``**`` recursive), or a list file (``@file``
        or ``*.list``: one entry per line relative to the list file, ``#``
        comments and blank lines ignored).
    base_dir : Path
        Directory that relative entries are relative to.

    Returns
    -------
    list of Path
        Files (normalised paths, absolute if ``base_dir`` is) in natural order
        within each entry, entries in the given order, duplicates removed (first
        occurrence kept).

    Raises
    ------
    DataError
        If an entry matches no file (the message names the entry).
    """
    if isinstance(entries, (str, Path)):
        entries = [str(entries)]
    base = Path(base_dir)
    result: list[Path] = []
    seen: set[str] = set()
    for entry in entries:
        files = _expand_one(str(entry), base, ())
        if not files:
            raise DataError(
                f"structure source {str(entry)!r} matches no file "
                f"(relative paths are relative to {base})"
            )
        for f in files:
            key = os.path.abspath(f)  # abspath also normalises '..' and '.'
            if key not in seen:
                seen.add(key)
                norm = os.path.normpath(f)
                result.append(f if str(f) == norm else Path(norm))
    return result
