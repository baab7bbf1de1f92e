"""Invariances of the Chebyshev features: rotation, translation, permutation, supercell."""

from __future__ import annotations

import numpy as np

from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.descriptors.neighbors import build_neighbor_list

from cheb_helpers import batch_arrays, random_structure

SETUP = ChebyshevSetup("X", ["A", "B", "C"], 5.0, 10, 4.0, 5)


def _features(pos, cell, pbc, types):
    p, c, b, o = batch_arrays([(pos, cell, pbc)])
    nl = build_neighbor_list(p, c, b, o, SETUP.cutoff)
    return SETUP.features(nl, np.arange(len(p)), types)


def _structure(seed=1, pbc=(1, 1, 1)):
    rng = np.random.default_rng(seed)
    pos, cell, pbc = random_structure(rng, 8, 4.0, pbc)
    return pos, cell, pbc, rng.integers(0, 3, size=8).astype(np.int32)


def _rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def test_rotation_and_translation_periodic_and_isolated():
    rng = np.random.default_rng(0)
    for pbc in [(1, 1, 1), (0, 0, 0), (0, 1, 1)]:
        pos, cell, pbc, types = _structure(2, pbc)
        ref = _features(pos, cell, pbc, types)
        rot = _rotation(rng)
        shift = rng.normal(size=3) * 3
        got = _features(pos @ rot.T + shift, cell @ rot.T, pbc, types)
        np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())
        assert np.abs(ref).max() > 1.0


def test_wrapping_atoms_by_lattice_vectors_changes_nothing():
    pos, cell, pbc, types = _structure(3)
    ref = _features(pos, cell, pbc, types)
    shifted = pos + np.array([[2, -1, 0], [0, 3, -2], [1, 1, 1], [0, 0, 0], [-4, 0, 1], [0, 0, 5], [1, 0, 0], [0, 2, 0]]) @ cell
    np.testing.assert_allclose(_features(shifted, cell, pbc, types), ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())


def test_permutation_of_atoms():
    pos, cell, pbc, types = _structure(4)
    ref = _features(pos, cell, pbc, types)
    perm = np.random.default_rng(5).permutation(len(pos))
    got = _features(pos[perm], cell, pbc, types[perm])
    np.testing.assert_allclose(got, ref[perm], rtol=1e-11, atol=1e-11 * np.abs(ref).max())


def test_supercell_gives_cell_features():
    pos, cell, pbc, types = _structure(6)
    ref = _features(pos, cell, pbc, types)
    shifts = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)]) @ cell
    super_pos = np.concatenate([pos + s for s in shifts])
    super_types = np.tile(types, 8)
    got = _features(super_pos, 2 * cell, pbc, super_types)
    np.testing.assert_allclose(got, np.tile(ref, (8, 1)), rtol=1e-10, atol=1e-10 * np.abs(ref).max())


def test_species_weights_change_only_the_typed_copy():
    pos, cell, pbc, types = _structure(7)
    p, c, b, o = batch_arrays([(pos, cell, pbc)])
    nl = build_neighbor_list(p, c, b, o, SETUP.cutoff)
    a = SETUP.features(nl, np.arange(8), types)
    other = ChebyshevSetup("X", ["A", "B", "C"], 5.0, 10, 4.0, 5, weights=[0.5, 2.0, -3.0])
    bb = other.features(nl, np.arange(8), types)
    half = SETUP.n_features // 2
    np.testing.assert_array_equal(a[:, :half], bb[:, :half])
    assert not np.allclose(a[:, half:], bb[:, half:])
