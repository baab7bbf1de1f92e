"""Blocks of the training split (anncli.training.shards): independent of the number of ranks,
every structure owned by exactly one rank, and too many ranks refused."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.exceptions import ConfigError
from anncli.training.shards import BLOCK_MAX, BLOCK_MIN, TARGET_BLOCKS, block_size, make_shards, ordered_sum


@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000, 4096, 10**6, 10**8])
def test_block_size_is_within_its_bounds_and_gives_enough_blocks(n):
    b = block_size(n)
    assert BLOCK_MIN <= b <= BLOCK_MAX
    assert b == BLOCK_MAX or -(-n // b) >= min(TARGET_BLOCKS, -(-n // BLOCK_MIN))


def test_blocks_do_not_depend_on_the_ranks_and_each_structure_has_one_owner():
    rng = np.random.default_rng(0)
    ids = rng.permutation(500)
    train, val = np.sort(ids[:400]), np.sort(ids[400:])
    serial = make_shards(train, val, 500)
    assert np.array_equal(np.concatenate(serial.blocks["train"]), train)
    for size in (2, 3, 4):  # 4 blocks of 100
        shards = [make_shards(train, val, 500, r, size) for r in range(size)]
        for s in shards:
            for which in ("train", "validation"):
                assert all(np.array_equal(a, b) for a, b in zip(s.blocks[which], serial.blocks[which]))
        owners = np.sum([s.owned for s in shards], axis=0)
        assert np.array_equal(owners, np.ones(500))  # every structure on exactly one rank
        for which in ("train", "validation"):  # consecutive blocks, rank after rank: block order
            mine = [k for s in shards for k in s.mine[which]]
            assert mine == list(range(len(serial.blocks[which])))


def test_more_ranks_than_blocks_is_a_config_error():
    train = np.arange(40)  # 3 blocks of 16
    with pytest.raises(ConfigError, match=r"4 MPI ranks, .* 40 structures in 3 block\(s\) \(one per 16 structures\).*at most 3 rank"):
        make_shards(train, np.arange(40, 50), 50, 0, 4)


def test_ordered_sum_adds_in_list_order():
    rows = [np.array([1e16]), np.array([1.0]), np.array([-1e16])]
    assert ordered_sum(rows)[0] == (1e16 + 1.0) - 1e16 != np.sum(np.concatenate(rows)[[0, 2, 1]])


def test_validation_blocks_are_sized_by_the_validation_split():
    """900 training and 100 validation structures: 4 validation blocks of 25, not one of 225
    (one block would leave every rank but one idle while the validation split is evaluated)."""
    train, val = np.arange(900), np.arange(900, 1000)
    shards = [make_shards(train, val, 1000, r, 2) for r in range(2)]
    assert [len(b) for b in shards[0].blocks["validation"]] == [25] * 4
    assert [list(s.mine["validation"]) for s in shards] == [[0, 1], [2, 3]]


def test_blocks_hold_equal_shares_of_the_atoms():
    """Sorted ids of files ordered by cell size: 450 structures of 10 atoms, then 450 of 30.
    Four blocks of 225 structures would hold 2,250 / 2,250 / 6,750 / 6,750 atoms (two ranks:
    25 % / 75 %); cut by atoms, every block holds 4,500."""
    n_atoms = np.array([10] * 450 + [30] * 450)
    shards = [make_shards(np.arange(900), np.arange(0), 900, r, 2, n_atoms=n_atoms) for r in range(2)]
    blocks = shards[0].blocks["train"]
    assert [int(n_atoms[b].sum()) for b in blocks] == [4500] * 4
    assert [len(b) for b in blocks] == [450, 150, 150, 150]
    assert np.array_equal(np.concatenate(blocks), np.arange(900))
    assert [int(n_atoms[s.owned].sum()) for s in shards] == [9000, 9000]


def test_no_block_is_empty_when_one_structure_holds_most_atoms():
    n_atoms = np.array([1000] + [1] * 20)
    blocks = make_shards(np.arange(21), np.arange(0), 21, n_atoms=n_atoms).blocks["train"]
    assert len(blocks) == 2 and all(len(b) for b in blocks)
    assert np.array_equal(np.concatenate(blocks), np.arange(21))
