"""Atomic file output: write under a temporary name, then rename over the final name.

This module owns the one way anncli writes an output file (training set, model, checkpoint,
split, results, learning curve, predict outputs): the content goes to a temporary file in the
same directory (``<name>.tmp-<pid>``), which is flushed to disk (fsync) and renamed over
the final name (``os.replace``, atomic on POSIX) only when it is complete.  A process that
dies at any moment (an exception, SIGTERM, ``kill -9``, a full disk) therefore leaves either
the previous file or the new complete file at the final name, never a truncated one; an
exception also removes the temporary file (``kill -9`` cannot: such leftovers are named
``<name>.tmp-<pid>`` and may be deleted).

Use :func:`atomic_path` (a context manager yielding the temporary path, for writers that open
the file themselves, e.g. h5py or matplotlib), :func:`atomic_open` (yielding an open text or
binary file) or :class:`AtomicFile` (explicit :meth:`~AtomicFile.commit` /
:meth:`~AtomicFile.discard`, for writers that live longer than one ``with`` block).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

logger = logging.getLogger(__name__)

__all__ = ["AtomicFile", "atomic_path", "atomic_open", "temporary_name", "write_files_atomically"]


def temporary_name(path: str | Path) -> Path:
    """The temporary name under which ``path`` is written: ``<name>.tmp-<pid>``, same directory."""
    path = Path(path)
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # not supported (e.g. Windows): the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicFile:
    """A file written under :func:`temporary_name` and renamed to ``path`` by :meth:`commit`.

    Parameters
    ----------
    path : str or Path
        Final name.  Its directory must exist.
    fsync : bool
        Flush the file (and the directory entry) to disk before and after the rename, so that
        the new file survives a power cut too.  Default True.

    Attributes
    ----------
    path, tmp : Path
        Final and temporary names.

    Notes
    -----
    Nothing is created until the caller writes ``tmp``.  Use as a context manager: leaving the
    block without :meth:`commit` (an exception, or no commit) removes the temporary file.
    """

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.tmp = temporary_name(self.path)
        self.fsync = fsync
        self.committed = False

    def commit(self) -> Path:
        """Rename the (closed, complete) temporary file to the final name; return it."""
        if self.fsync:
            _fsync_file(self.tmp)
        os.replace(self.tmp, self.path)
        self.committed = True
        if self.fsync:
            _fsync_dir(self.path.parent)
        logger.debug("written: %s", self.path)
        return self.path

    def discard(self) -> None:
        """Remove the temporary file unless it was committed (safe to call twice)."""
        if not self.committed:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.discard()


@contextmanager
def atomic_path(path: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it to ``path``.

    The caller opens, writes and closes the yielded path inside the block (an HDF5 file, a
    figure, ...).  Leaving the block normally commits (fsync, ``os.replace``); an exception
    removes the temporary file and propagates.

    Examples
    --------
    >>> with atomic_path("model.h5") as tmp:          # doctest: +SKIP
    ...     with h5py.File(tmp, "w") as f:
    ...         f["x"] = 1
    """
    out = AtomicFile(path, fsync=fsync)
    try:
        yield out.tmp
        out.commit()
    finally:
        out.discard()


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, fsync: bool = True,
                **open_kwargs) -> Iterator[IO]:
    """Like ``open(path, mode)`` for writing, but the file appears under ``path`` only when the
    block ends without an exception (see :func:`atomic_path`).

    Parameters
    ----------
    path : str or Path
    mode : str
        ``"w"`` or ``"wb"`` (also ``"x"``-less variants with ``+``).
    fsync : bool
    **open_kwargs
        Passed to :func:`open` (``newline``, ``encoding``, ...).
    """
    if "w" not in mode:
        raise ValueError(f"atomic_open writes a new file; mode {mode!r} has no 'w'")
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, mode, **open_kwargs) as fh:
            yield fh


def write_files_atomically(out_dir: Path, files: dict[str, str | bytes]) -> list[Path]:
    """Write every file under its temporary name first, then rename them all (nothing on error).

    Parameters
    ----------
    out_dir : Path
        Created if needed.
    files : dict of str to str or bytes
        File name (inside ``out_dir``) and content; text is written as UTF-8.

    Returns
    -------
    list of Path
        The files written, in the order given.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    pending = [AtomicFile(out_dir / name) for name in files]
    try:
        for out, content in zip(pending, files.values()):
            if isinstance(content, bytes):
                out.tmp.write_bytes(content)
            else:
                with open(out.tmp, "w", newline="", encoding="utf-8") as fh:
                    fh.write(content)
        return [out.commit() for out in pending]
    finally:
        for out in pending:
            out.discard()
