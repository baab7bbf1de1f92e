"""Neighbour list against brute force over all periodic images."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.descriptors.neighbors import build_neighbor_list, min_distance_per_structure
from anncli.exceptions import DataError

from cheb_helpers import batch_arrays, random_structure
from reference_chebyshev import brute_force_pairs


def _as_sets(nl, offsets, s, n):
    out = []
    for i in range(n):
        a = offsets[s] + i
        out.append(
            sorted(
                (int(nl.index[p] - offsets[s]), *np.round(nl.vectors[p], 7).tolist())
                for p in range(nl.offsets[a], nl.offsets[a + 1])
            )
        )
    return out


def _check_batch(structures, cutoff):
    positions, cells, pbcs, offsets = batch_arrays(structures)
    nl = build_neighbor_list(positions, cells, pbcs, offsets, cutoff)
    assert nl.offsets[0] == 0 and nl.offsets[-1] == nl.n_pairs
    np.testing.assert_allclose(np.linalg.norm(nl.vectors, axis=1), nl.distances, rtol=1e-14)
    assert np.all((nl.distances > 1e-12) & (nl.distances <= cutoff))
    for s, (pos, cell, pbc) in enumerate(structures):
        ref_cell = np.eye(3) if cell is None else np.array(cell, dtype=float)
        for k in range(3):  # the reference needs an invertible cell; open directions do not matter
            if not pbc[k] and np.linalg.norm(ref_cell[k]) == 0:
                ref_cell[k] = np.cross(ref_cell[(k + 1) % 3], ref_cell[(k + 2) % 3])
        ref = brute_force_pairs(pos, ref_cell, pbc, cutoff)
        expected = [sorted((j, *np.round(v, 7).tolist()) for j, v in r) for r in ref]
        assert _as_sets(nl, offsets, s, len(pos)) == expected, f"structure {s} pbc {pbc}"
    return nl, offsets


PBCS = [(1, 1, 1), (1, 0, 1), (0, 1, 0), (0, 0, 0), (1, 1, 0)]


@pytest.mark.parametrize("pbc", PBCS)
def test_small_triclinic_cells_many_images(pbc):
    rng = np.random.default_rng(sum(pbc) + 7 * pbc[0])
    structures = [random_structure(rng, n, 2.2, pbc, skew=0.45, spread=(-0.2, 1.2)) for n in (1, 2, 4)]
    nl, _ = _check_batch(structures, 4.1)
    if all(pbc):  # a single atom in a periodic cell smaller than the cutoff sees its own images
        assert nl.counts()[0] > 0


@pytest.mark.parametrize("pbc", PBCS)
def test_larger_cells_with_bins(pbc):
    rng = np.random.default_rng(11 + sum(pbc))
    structures = [random_structure(rng, 40, 7.5, pbc, skew=0.3) for _ in range(2)]
    _check_batch(structures, 3.1)


def test_isolated_spread_out_and_empty_structures():
    rng = np.random.default_rng(5)
    far = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [500.0, 0.0, 0.0], [500.0, 1.5, 0.0]])
    structures = [
        (far, None, (0, 0, 0)),
        (np.zeros((0, 3)), np.eye(3) * 4, (1, 1, 1)),
        random_structure(rng, 6, 3.0, (0, 0, 0)),
    ]
    nl, offsets = _check_batch(structures, 2.0)
    md = min_distance_per_structure(nl, offsets)
    assert md[0] == pytest.approx(1.0) and np.isinf(md[1])


def test_degenerate_periodic_cell_is_a_data_error():
    with pytest.raises(DataError, match="linearly dependent"):
        build_neighbor_list(
            np.zeros((1, 3)), np.array([[[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]]]), np.ones((1, 3), bool),
            np.array([0, 1]), 2.0,
        )


def test_mixed_pbc_with_zero_vector_along_open_direction():
    rng = np.random.default_rng(3)
    pos = rng.uniform(0, 3, size=(5, 3))
    cell = np.array([[3.0, 0.0, 0.0], [0.5, 2.8, 0.0], [0.0, 0.0, 0.0]])  # slab, no c vector
    _check_batch([(pos, cell, (1, 1, 0))], 3.5)


def test_non_finite_input_and_absurd_cells_are_data_errors():
    cell = np.eye(3)[None] * 3.0
    with pytest.raises(DataError, match="non-finite position"):
        build_neighbor_list(np.array([[0.0, np.nan, 0.0]]), cell, np.ones((1, 3), bool), np.array([0, 1]), 2.0)
    with pytest.raises(DataError, match="far smaller than the cutoff"):
        build_neighbor_list(np.zeros((1, 3)), np.eye(3)[None] * 0.01, np.ones((1, 3), bool), np.array([0, 1]), 8.0)


def test_fill_without_bit_stream_gives_the_same_list(monkeypatch):
    """Atoms whose candidate bit stream overflows are tested again in the fill pass: same pairs, same order."""
    import anncli.descriptors.neighbors as nbr

    rng = np.random.default_rng(21)
    structures = [random_structure(rng, n, 2.6 + 0.1 * n, (1, 1, 1), skew=0.3) for n in (1, 3, 8, 30)]
    structures += [random_structure(rng, 60, 7.0, (1, 0, 1), skew=0.2)]
    positions, cells, pbcs, offsets = batch_arrays(structures)
    ref = build_neighbor_list(positions, cells, pbcs, offsets, 5.0)
    for words in (1, 3):  # all atoms overflow / some do
        monkeypatch.setattr(nbr, "BIT_WORDS", words)
        nl = build_neighbor_list(positions, cells, pbcs, offsets, 5.0)
        np.testing.assert_array_equal(nl.offsets, ref.offsets)
        np.testing.assert_array_equal(nl.index, ref.index)
        np.testing.assert_array_equal(nl.vectors, ref.vectors)
        np.testing.assert_array_equal(nl.distances, ref.distances)
    _check_batch(structures, 5.0)


@pytest.mark.parametrize("r", [1e-12, 0.5, 2.0, 6.5, 8.0, 1 / 3, 7.123456789])
def test_squared_bound_is_the_exact_threshold(r):
    from anncli.descriptors.neighbors import _squared_bound

    x = _squared_bound(r)
    assert np.sqrt(x) <= r < np.sqrt(np.nextafter(x, np.inf))


def test_pairs_exactly_at_the_cutoff_are_listed():
    # two atoms exactly 3.0 Å apart along x (exact in binary), cutoff 3.0: listed, cutoff just below: not
    pos = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    args = (pos, np.zeros((1, 3, 3)), np.zeros((1, 3), bool), np.array([0, 2]))
    assert build_neighbor_list(*args, 3.0).n_pairs == 2
    assert build_neighbor_list(*args, np.nextafter(3.0, 0.0)).n_pairs == 0
