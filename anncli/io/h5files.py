"""Opening the HDF5 files anncli writes, with one set of checks for all of them.

Training sets, models and checkpoints carry root attributes ``format`` and
``format_version``; a reader refuses a missing, unreadable, foreign or other-version file
with one clear :class:`~anncli.exceptions.FileFormatError`.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from anncli.exceptions import FileFormatError


def open_checked(path: str | Path, fmt: str, version: int | tuple[int, ...], what: str) -> h5py.File:
    """Open ``path`` for reading if it is a ``fmt`` file of format ``version``.

    Parameters
    ----------
    path : path
    fmt : str
        Expected ``format`` attribute, e.g. ``"anncli-model"``.
    version : int or tuple of int
        The format version(s) this anncli reads.
    what : str
        What the file is, for messages ("training-set file", "model file", "checkpoint").

    Returns
    -------
    h5py.File
        Open for reading; the caller closes it.

    Raises
    ------
    FileFormatError
        Missing or unreadable file, another format, or another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such {what}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not a readable HDF5 file ({exc})") from None
    found = f.attrs.get("format")
    if isinstance(found, bytes):
        found = found.decode()
    if found != fmt:
        f.close()
        raise FileFormatError(f"{path}: not an anncli {what} (format attribute {found!r})")
    found_version = f.attrs.get("format_version")
    versions = version if isinstance(version, tuple) else (version,)
    if found_version not in versions:
        f.close()
        raise FileFormatError(f"{path}: {what} format version {found_version}, this anncli reads version "
                              f"{' or '.join(map(str, versions))}")
    return f
