"""VerletList: along a trajectory, the same pairs and vectors as a fresh neighbour list."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.descriptors.neighbors import build_neighbor_list
from anncli.descriptors.verlet import VerletList

from cheb_helpers import random_structure


def _pairs(nl, i):
    """Sorted (neighbour, vector) rows of atom i."""
    sl = slice(nl.offsets[i], nl.offsets[i + 1])
    rows = np.column_stack([nl.index[sl], nl.vectors[sl]])
    return rows[np.lexsort(rows.T[::-1])]


def _assert_same(a, b):
    np.testing.assert_array_equal(a.offsets, b.offsets)
    for i in range(len(a.offsets) - 1):
        ra, rb = _pairs(a, i), _pairs(b, i)
        np.testing.assert_array_equal(ra[:, 0], rb[:, 0])
        np.testing.assert_allclose(ra[:, 1:], rb[:, 1:], rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.sort(a.distances), np.sort(b.distances), rtol=0, atol=1e-12)


@pytest.mark.parametrize("pbc", [(1, 1, 1), (1, 1, 0), (0, 0, 0)])
def test_verlet_list_equals_fresh_list_along_a_random_walk(pbc):
    rng = np.random.default_rng(sum(pbc))
    # cell smaller than the cutoff: atoms see several images of themselves and of each other
    pos, cell, pbc = random_structure(rng, 9, 3.3, pbc)
    cutoff = 4.5
    vl = VerletList(cutoff, skin=0.6)
    for step in range(25):
        pos = pos + rng.normal(scale=0.06, size=pos.shape)
        got = vl.get(pos, cell, pbc)
        fresh = build_neighbor_list(pos, cell[None], pbc[None], np.array([0, len(pos)]), cutoff)
        assert got.cutoff == cutoff and len(got.coincident) == 0
        _assert_same(got, fresh)
    assert 1 < vl.n_builds < 25  # reused between builds, rebuilt after atoms moved 0.3 Å


def test_verlet_list_rebuilds_on_new_cell_and_flags_coincident_atoms():
    rng = np.random.default_rng(7)
    pos, cell, pbc = random_structure(rng, 6, 3.5, (1, 1, 1))
    vl = VerletList(4.0, skin=1.0)
    vl.get(pos, cell, pbc)
    vl.get(pos + 0.01, cell, pbc)
    assert vl.n_builds == 1
    strained = cell * 1.02
    _assert_same(vl.get(pos, strained, pbc),
                 build_neighbor_list(pos, strained[None], pbc[None], np.array([0, 6]), 4.0))
    assert vl.n_builds == 2
    moved = pos.copy()
    moved[3] = moved[1] + 1e-14  # within the skin of the stored list, on top of atom 1
    nl = vl.get(moved, strained, pbc)
    assert set(nl.coincident.tolist()) >= {1, 3}


def test_verlet_list_refuses_bad_arguments():
    with pytest.raises(ValueError):
        VerletList(4.0, skin=0.0)
