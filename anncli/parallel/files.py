"""Groups of consecutive input files that MPI ranks read themselves.

With many structure files (one structure per file, as in ænet's XSF sets), rank 0 reading
every file would bound the speed-up of ``generate`` and ``predict`` at a few ranks: rank 0
reads ~10,000 small files per second, a rank featurises or evaluates a few thousand
structures per second.  Instead rank 0 hands out :class:`FileGroup` items
(:func:`anncli.parallel.pipeline.ordered_map`), the rank that computes an item reads its
files, and rank 0 writes the results in input order as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["FileGroup", "file_groups", "group_files", "MIN_FILES_PER_RANK"]

MIN_FILES_PER_RANK = 4  # fewer files than this per rank: rank 0 reads and hands out batches
MIN_GROUPS_PER_RANK = 8  # for balance: a rank's last group should be a small part of its work


@dataclass
class FileGroup:
    """Consecutive input files that one rank reads and computes: ``files[start:stop]``."""

    start: int
    stop: int


def file_groups(sizes: list[int], n_ranks: int, bytes_per_group: float) -> list[FileGroup]:
    """Cut consecutive files into groups of about ``bytes_per_group`` bytes, at least
    ``MIN_GROUPS_PER_RANK`` per rank.

    Parameters
    ----------
    sizes : list of int
        The files' sizes in bytes, in input order.
    n_ranks : int
    bytes_per_group : float
        The bytes of one batch of structures.

    Returns
    -------
    list of FileGroup
        Covering every file once, in order; no empty group.
    """
    total = float(sum(sizes))
    target = min(bytes_per_group, total / (MIN_GROUPS_PER_RANK * n_ranks)) if total else 0.0
    groups, start, acc = [], 0, 0.0
    for k, size in enumerate(sizes):
        acc += size
        if acc >= target:
            groups.append(FileGroup(start, k + 1))
            start, acc = k + 1, 0.0
    if start < len(sizes):
        groups.append(FileGroup(start, len(sizes)))
    return groups


def group_files(files: list[Path], n_ranks: int, batch_atoms: int,
                count_atoms: Callable[[Path], int]) -> list[FileGroup] | None:
    """The file groups of a stage on ``n_ranks`` ranks, or None if rank 0 should read.

    Parameters
    ----------
    files : list of Path
        The input files, in order.
    n_ranks : int
    batch_atoms : int
        Atoms per batch: a group holds about this many (estimated from the bytes per atom of
        the first file, read once with ``count_atoms``).
    count_atoms : callable
        ``count_atoms(path)``: the atoms the stage reads from ``path``.

    Returns
    -------
    list of FileGroup or None
        None with fewer than ``MIN_FILES_PER_RANK`` files per rank, or when the first file
        holds more than ``batch_atoms`` atoms: large multi-frame files are read by rank 0,
        which hands out batches of structures (a group's results are held until rank 0
        writes them, so a group must not be much larger than a batch).
    """
    if n_ranks < 2 or len(files) < MIN_FILES_PER_RANK * n_ranks:
        return None
    n_atoms = count_atoms(files[0])
    if n_atoms > batch_atoms:
        return None
    bytes_per_atom = files[0].stat().st_size / max(n_atoms, 1)
    return file_groups([f.stat().st_size for f in files], n_ranks, batch_atoms * bytes_per_atom)
