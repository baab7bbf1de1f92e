"""Chebyshev kernels against the slow plain-numpy reference (brute-force images, j<k loop)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.descriptors.neighbors import build_neighbor_list

from cheb_helpers import batch_arrays, random_structure
from reference_chebyshev import brute_force_pairs, chebyshev_reference, typespin

CASES = {
    # name: (pbc, n_atoms, cell scale, n_species, radial (Rc, N), angular (Rc, N))
    "small-triclinic": ((1, 1, 1), 3, 2.6, 2, (4.0, 7), (3.2, 4)),
    "periodic-3species": ((1, 1, 1), 9, 5.0, 3, (4.5, 10), (4.5, 5)),
    "isolated-4species": ((0, 0, 0), 12, 4.0, 4, (5.0, 6), (3.0, 6)),
    "slab-1species": ((1, 0, 1), 7, 3.5, 1, (3.0, 4), (3.8, 3)),
    "angular-gt-radial": ((1, 1, 1), 5, 3.0, 2, (2.5, 3), (3.5, 8)),
}


def _setup(case):
    pbc, n, scale, n_sp, (rr, nr), (ra, na) = CASES[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    struct = random_structure(rng, n, scale, pbc, skew=0.35)
    types = rng.integers(0, n_sp, size=n).astype(np.int32)
    env = ["H", "C", "O", "N"][:n_sp]
    return struct, types, ChebyshevSetup("X", env, rr, nr, ra, na).validate()


def _reference(struct, types, setup):
    pos, cell, pbc = struct
    pairs = brute_force_pairs(pos, cell, pbc, setup.cutoff)
    weights = typespin(len(setup.env)) if setup.typed else None
    return np.array(
        [
            chebyshev_reference(
                pairs[i], types, setup.radial_cutoff, setup.radial_order, setup.angular_cutoff,
                setup.angular_order, weights,
            )
            for i in range(len(pos))
        ]
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_features_match_reference(case):
    struct, types, setup = _setup(case)
    positions, cells, pbcs, offsets = batch_arrays([struct])
    nl = build_neighbor_list(positions, cells, pbcs, offsets, setup.cutoff)
    got = setup.features(nl, np.arange(len(positions)), types)
    ref = _reference(struct, types, setup)
    assert got.shape == (len(positions), setup.n_features)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(ref).max()))
    feats, _ = setup.features_and_derivatives(nl, np.arange(len(positions)), types)
    np.testing.assert_array_equal(feats, got)


def test_batch_equals_single_and_center_subset():
    items = [_setup(c) for c in ("small-triclinic", "periodic-3species", "angular-gt-radial")]
    setup = ChebyshevSetup("X", ["H", "C", "O"], 4.0, 6, 3.5, 4)
    singles = []
    for struct, types, _ in items:
        p, c, b, o = batch_arrays([struct])
        nl = build_neighbor_list(p, c, b, o, setup.cutoff)
        singles.append(setup.features(nl, np.arange(len(p)), types % 3))
    p, c, b, o = batch_arrays([it[0] for it in items])
    types = np.concatenate([it[1] % 3 for it in items]).astype(np.int32)
    nl = build_neighbor_list(p, c, b, o, setup.cutoff)
    allf = setup.features(nl, np.arange(len(p)), types)
    np.testing.assert_allclose(allf, np.concatenate(singles), rtol=1e-13, atol=1e-13)
    subset = np.array([len(p) - 1, 0, 3])
    np.testing.assert_array_equal(setup.features(nl, subset, types), allf[subset])


def test_atom_without_neighbours_has_zero_features():
    setup = ChebyshevSetup("X", ["H", "C"], 3.0, 4, 2.0, 3)
    p, c, b, o = batch_arrays([(np.array([[0.0, 0, 0], [10.0, 0, 0]]), None, (0, 0, 0))])
    nl = build_neighbor_list(p, c, b, o, setup.cutoff)
    np.testing.assert_array_equal(setup.features(nl, np.arange(2), np.zeros(2, np.int32)), 0.0)
