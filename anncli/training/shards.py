"""Blocks of structures and their owners: how training is split across MPI ranks.

This module owns the *blocks*: the training and the validation split are each cut into
consecutive blocks of :func:`block_size` structures (in the order of the split's ids).  The
block size depends only on the number of structures of the split, never on the number of ranks, and every
sum over a set (loss, gradient, force statistics) is a sum of one partial per block, added in
block order (:func:`ordered_sum`).  So a run on N ranks adds the same numbers in the same
order as a serial run: the same weights, bit for bit, for any N, and ``--resume`` may change
the number of ranks.

Rank r owns the consecutive blocks ``[r*B//N, (r+1)*B//N)`` of each set (B blocks): it loads
only their features and force data and computes only their partials; the partials of all
ranks are gathered (:meth:`anncli.parallel.mpi.Comm.gather_arrays`) and added in block order
on every rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anncli.exceptions import ConfigError

#: Structures per block: at least BLOCK_MIN, at most BLOCK_MAX, about n_train / TARGET_BLOCKS.
BLOCK_MIN = 16
BLOCK_MAX = 2000
TARGET_BLOCKS = 4  # few, large blocks: each costs ~0.7 ms of kernel launches per pass (TiO2-1000 with
#                    forces: 57 blocks made an L-BFGS epoch 45 % slower, 4 blocks ~2 %)


def block_size(n_train: int) -> int:
    """Structures per block for a training split of ``n_train`` structures."""
    return int(min(BLOCK_MAX, max(BLOCK_MIN, -(-int(n_train) // TARGET_BLOCKS))))


def split_blocks(ids: np.ndarray, size: int) -> list[np.ndarray]:
    """``ids`` in consecutive blocks of ``size`` (the last one shorter)."""
    ids = np.asarray(ids, dtype=np.int64)
    return [ids[a:a + size] for a in range(0, len(ids), size)]


def _mine(n_blocks: int, rank: int, size: int) -> range:
    return range(rank * n_blocks // size, (rank + 1) * n_blocks // size)


@dataclass
class Shards:
    """The blocks of both sets and the ones this rank owns.

    Attributes
    ----------
    blocks : dict of str to list of ndarray
        ``train`` and ``validation``: every block's structure ids.
    mine : dict of str to range
        Indices of the blocks this rank computes.
    owned : ndarray of shape (n_structures,), bool
        Structures whose data this rank holds (its blocks of both sets).
    """

    blocks: dict
    mine: dict
    owned: np.ndarray

    def my_blocks(self, which: str) -> list[np.ndarray]:
        return [self.blocks[which][k] for k in self.mine[which]]


def make_shards(train_ids: np.ndarray, val_ids: np.ndarray, n_structures: int, rank: int = 0,
                size: int = 1) -> Shards:
    """The blocks of a split and this rank's share.

    Raises
    ------
    ConfigError
        More ranks than training blocks (a rank would have nothing to train on).
    """
    bs = block_size(len(train_ids))
    # the validation split in blocks of its own size: a tenth of the structures in one block of
    # the training size would leave every rank but the first idle while it is evaluated
    blocks = {"train": split_blocks(train_ids, bs), "validation": split_blocks(val_ids, block_size(len(val_ids)))}
    n_train_blocks = len(blocks["train"])
    if size > n_train_blocks:
        raise ConfigError(
            f"{size} MPI ranks, but the training split has {len(train_ids)} structures in "
            f"{n_train_blocks} block(s) of {bs}: every rank needs at least one block; "
            f"run on at most {n_train_blocks} rank(s)")
    mine = {which: _mine(len(b), rank, size) for which, b in blocks.items()}
    owned = np.zeros(n_structures, dtype=bool)
    for which in blocks:
        for k in mine[which]:
            owned[blocks[which][k]] = True
    return Shards(blocks=blocks, mine=mine, owned=owned)


def ordered_sum(rows: list[np.ndarray]) -> np.ndarray:
    """``rows[0] + rows[1] + ...`` added one after the other (a fixed order, unlike np.sum)."""
    if not rows:
        raise ValueError("nothing to add")
    total = np.array(rows[0], dtype=float, copy=True)
    for row in rows[1:]:
        total += row
    return total
