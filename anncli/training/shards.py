"""Blocks of structures and their owners: how training is split across MPI ranks.

This module owns the *blocks*: the training and the validation split are each cut into
consecutive runs of structures (in the order of the split's ids), as many as blocks of
:func:`block_size` structures would make, each holding about the same number of atoms (a
block's cost is its atoms': split ids are sorted, and files are often ordered by cell size,
so equal numbers of structures left one rank of two with 57 % of TiO2-1000's atoms).  The
blocks depend only on the split and the structures' sizes, never on the number of ranks, and every
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


def split_blocks(ids: np.ndarray, size: int, n_atoms: np.ndarray | None = None) -> list[np.ndarray]:
    """``ids`` in as many consecutive blocks as blocks of ``size`` structures would make, cut
    at equal shares of the atoms (``n_atoms[ids]``; None: of the structures); none empty."""
    ids = np.asarray(ids, dtype=np.int64)
    n_blocks = -(-len(ids) // size)
    if n_blocks <= 1:
        return [ids] if len(ids) else []
    weight = np.ones(len(ids)) if n_atoms is None else np.asarray(n_atoms, dtype=float)[ids]
    before = np.concatenate([[0.0], np.cumsum(weight)[:-1]])  # atoms ahead of each structure
    # block k starts at the first structure with k/n of all atoms ahead of it
    starts = np.searchsorted(before, weight.sum() * np.arange(n_blocks) / n_blocks, side="left")
    for k in range(1, n_blocks):  # none empty (a few huge structures could leave one so)
        starts[k] = min(max(starts[k], starts[k - 1] + 1), len(ids) - (n_blocks - k))
    return [ids[a:b] for a, b in zip(starts, list(starts[1:]) + [len(ids)])]


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
                size: int = 1, n_atoms: np.ndarray | None = None) -> Shards:
    """The blocks of a split and this rank's share.

    ``n_atoms`` (atoms of every structure) balances the blocks by atoms (None: by structures).

    Raises
    ------
    ConfigError
        More ranks than training blocks (a rank would have nothing to train on).
    """
    bs = block_size(len(train_ids))
    # the validation split in blocks of its own size: a tenth of the structures in one block of
    # the training size would leave every rank but the first idle while it is evaluated
    blocks = {"train": split_blocks(train_ids, bs, n_atoms),
              "validation": split_blocks(val_ids, block_size(len(val_ids)), n_atoms)}
    n_train_blocks = len(blocks["train"])
    if size > n_train_blocks:
        raise ConfigError(
            f"{size} MPI ranks, but the training split has {len(train_ids)} structures in "
            f"{n_train_blocks} block(s) (one per {bs} structures): every rank needs at least one block; "
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
