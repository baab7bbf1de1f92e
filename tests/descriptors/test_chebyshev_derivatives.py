"""Analytic Chebyshev derivatives against central finite differences; pair_gradients contraction."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.descriptors.neighbors import build_neighbor_list

from cheb_helpers import batch_arrays, random_structure


def _features(setup, pos, cell, pbc, types):
    p, c, b, o = batch_arrays([(pos, cell, pbc)])
    nl = build_neighbor_list(p, c, b, o, setup.cutoff)
    return setup.features(nl, np.arange(len(p)), types)


def _atom_derivatives(setup, pos, cell, pbc, types):
    """dG_i/dR_a of shape (n, n_features, n, 3) assembled from the per-pair derivatives."""
    p, c, b, o = batch_arrays([(pos, cell, pbc)])
    nl = build_neighbor_list(p, c, b, o, setup.cutoff)
    n = len(p)
    feats, dG = setup.features_and_derivatives(nl, np.arange(n), types)
    assert dG.shape == (nl.n_pairs, setup.n_features, 3)
    out = np.zeros((n, setup.n_features, n, 3))
    for i in range(n):
        for q in range(nl.offsets[i], nl.offsets[i + 1]):
            out[i, :, nl.index[q]] += dG[q]
            out[i, :, i] -= dG[q]
    return feats, out, nl, dG


CASES = {
    "periodic-small": ((1, 1, 1), 4, 2.8, 3, (4.0, 6), (3.5, 4)),
    "isolated": ((0, 0, 0), 7, 3.0, 2, (4.0, 8), (3.0, 5)),
    "single-species-slab": ((1, 1, 0), 5, 3.2, 1, (3.5, 5), (3.5, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_finite_differences(case):
    pbc, n, scale, n_sp, (rr, nr), (ra, na) = CASES[case]
    rng = np.random.default_rng(len(case) * 17 + n)
    pos, cell, pbc = random_structure(rng, n, scale, pbc)
    types = rng.integers(0, n_sp, size=n).astype(np.int32)
    setup = ChebyshevSetup("X", ["A", "B", "C"][:n_sp], rr, nr, ra, na)
    _, analytic, _, _ = _atom_derivatives(setup, pos, cell, pbc, types)
    h = 1e-5
    numeric = np.zeros_like(analytic)
    for a in range(n):
        for k in range(3):
            pp = pos.copy()
            pp[a, k] += h
            pm = pos.copy()
            pm[a, k] -= h
            numeric[:, :, a, k] = (_features(setup, pp, cell, pbc, types) - _features(setup, pm, cell, pbc, types)) / (2 * h)
    scale_ = np.abs(numeric).max()
    assert scale_ > 0.1
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7 * scale_)


def test_pair_gradients_equal_contraction():
    rng = np.random.default_rng(4)
    pos, cell, pbc = random_structure(rng, 6, 3.0, (1, 1, 1))
    types = rng.integers(0, 3, size=6).astype(np.int32)
    setup = ChebyshevSetup("X", ["A", "B", "C"], 4.5, 9, 3.5, 5)
    p, c, b, o = batch_arrays([(pos, cell, pbc)])
    nl = build_neighbor_list(p, c, b, o, setup.cutoff + 0.7)  # longer list: pairs beyond the cutoffs
    centers = np.array([4, 1, 5])
    _, dG = setup.features_and_derivatives(nl, centers, types)
    de = rng.normal(size=(len(centers), setup.n_features))
    counts = nl.counts()[centers]
    expected = np.einsum("qf,qfk->qk", np.repeat(de, counts, axis=0), dG)
    got = setup.pair_gradients(nl, centers, types, de)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12 * np.abs(expected).max())
    # pairs beyond both cutoffs have zero derivatives
    far = nl.distances[np.concatenate([np.arange(nl.offsets[i], nl.offsets[i + 1]) for i in centers])] > setup.cutoff
    assert far.any() and np.all(dG[far] == 0.0)


def test_forces_from_pair_gradients_match_energy_finite_difference():
    """E = sum_i w . G_i: forces assembled from pair gradients as base.py prescribes."""
    rng = np.random.default_rng(8)
    pos, cell, pbc = random_structure(rng, 5, 3.0, (1, 0, 1))
    types = rng.integers(0, 2, size=5).astype(np.int32)
    setup = ChebyshevSetup("X", ["A", "B"], 4.0, 6, 3.0, 4)
    w = rng.normal(size=setup.n_features)
    p, c, b, o = batch_arrays([(pos, cell, pbc)])
    nl = build_neighbor_list(p, c, b, o, setup.cutoff)
    centers = np.arange(5)
    g = setup.pair_gradients(nl, centers, types, np.tile(w, (5, 1)))
    forces = np.zeros((5, 3))
    i_of_pair = np.repeat(centers, nl.counts())
    np.add.at(forces, nl.index, -g)
    np.add.at(forces, i_of_pair, g)
    h = 1e-5
    for a in range(5):
        for k in range(3):
            pp, pm = pos.copy(), pos.copy()
            pp[a, k] += h
            pm[a, k] -= h
            de = (_features(setup, pp, cell, pbc, types).sum(0) - _features(setup, pm, cell, pbc, types).sum(0)) @ w
            assert forces[a, k] == pytest.approx(-de / (2 * h), rel=1e-6, abs=1e-7)


def test_virial_from_pair_gradients_matches_strain_derivative():
    """dE/d(strain) = sum_p outer(v_p, g_p) in a cell smaller than the cutoff (self-images)."""
    rng = np.random.default_rng(15)
    pos, cell, pbc = random_structure(rng, 3, 2.6, (1, 1, 1))
    types = np.array([0, 1, 1], dtype=np.int32)
    setup = ChebyshevSetup("X", ["A", "B"], 4.0, 6, 3.5, 4)
    w = rng.normal(size=setup.n_features)

    def energy(eps):
        f = np.eye(3) + eps
        return _features(setup, pos @ f.T, cell @ f.T, pbc, types).sum(0) @ w

    p, c, b, o = batch_arrays([(pos, cell, pbc)])
    nl = build_neighbor_list(p, c, b, o, setup.cutoff)
    g = setup.pair_gradients(nl, np.arange(3), types, np.tile(w, (3, 1)))
    analytic = np.einsum("pa,pb->ab", nl.vectors, g)
    h = 1e-6
    numeric = np.zeros((3, 3))
    for a in range(3):
        for bb in range(3):
            e = np.zeros((3, 3))
            e[a, bb] = h
            numeric[a, bb] = (energy(e) - energy(-e)) / (2 * h)
    np.testing.assert_allclose(analytic.T, numeric, rtol=1e-6, atol=1e-7 * np.abs(numeric).max())
