"""Edge cases of the Chebyshev and neighbour kernels: cutoff function, exact cutoff distance,
thread count independence, high angular orders, a larger cell against ASE."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.descriptors import _chebyshev_kernels as ck
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.descriptors.neighbors import build_neighbor_list

from cheb_helpers import batch_arrays, random_structure
from reference_chebyshev import PI_AENET, brute_force_pairs, chebyshev_reference, typespin


def test_polynomial_cutoff_function_equals_cosine_form():
    rc = 6.5
    d = np.concatenate([np.linspace(0.0, rc, 20001), [rc * (1 - 1e-9), rc]])
    fc = np.empty_like(d)
    dfc = np.empty_like(d)
    ck._cutoff_functions(d, len(d), rc, fc, dfc)
    np.testing.assert_allclose(fc, 0.5 * (np.cos(PI_AENET * d / rc) + 1.0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(dfc, -0.5 * PI_AENET / rc * np.sin(PI_AENET * d / rc), rtol=0, atol=1e-15)


def test_power_coefficients_reproduce_chebyshev_polynomials():
    t = ck.chebyshev_power_coefficients(9)
    x = np.linspace(-1, 1, 7)
    for n in range(10):
        np.testing.assert_allclose(np.polynomial.polynomial.polyval(x, t[n]), np.cos(n * np.arccos(x)), atol=1e-13)


def test_neighbour_exactly_at_cutoff_is_listed():
    pos = np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 0.0], [0.0, 2.5 + 1e-9, 0.0]])
    p, c, b, o = batch_arrays([(pos, None, (0, 0, 0))])
    nl = build_neighbor_list(p, c, b, o, 2.5)
    assert sorted(nl.index[nl.offsets[0]:nl.offsets[1]].tolist()) == [1]
    setup = ChebyshevSetup("X", ["X"], 2.5, 3, 2.5, 2)
    f = setup.features(nl, np.arange(3), np.zeros(3, np.int32))
    assert np.all(np.isfinite(f)) and abs(f[0, 0]) < 1e-28  # fc(Rc) ~ 0 with the truncated pi


def test_results_do_not_depend_on_thread_count():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("only 1 Numba thread available (one core): run with NUMBA_NUM_THREADS=2 to compare")
    rng = np.random.default_rng(2)
    structures = [random_structure(rng, 10, 4.0, (1, 1, 1)) for _ in range(6)]
    p, c, b, o = batch_arrays(structures)
    types = rng.integers(0, 2, size=len(p)).astype(np.int32)
    setup = ChebyshevSetup("X", ["A", "B"], 5.0, 8, 4.0, 4)
    de = rng.normal(size=(len(p), setup.n_features))
    out = []
    old = numba.get_num_threads()
    try:
        for n in (1, 2):
            numba.set_num_threads(n)
            nl = build_neighbor_list(p, c, b, o, setup.cutoff)
            out.append((nl.vectors, setup.features(nl, np.arange(len(p)), types),
                        setup.pair_gradients(nl, np.arange(len(p)), types, de)))
    finally:
        numba.set_num_threads(old)
    for a, bb in zip(out[0], out[1]):
        np.testing.assert_array_equal(a, bb)


def test_high_angular_order_precision_of_moment_expansion():
    """Order 10 (the largest in common use) on a dense environment: < 1e-11 of the feature scale."""
    rng = np.random.default_rng(9)
    pos, cell, pbc = random_structure(rng, 12, 4.2, (1, 1, 1), skew=0.1)
    types = rng.integers(0, 2, size=12).astype(np.int32)
    setup = ChebyshevSetup("X", ["A", "B"], 5.0, 2, 5.0, 10)
    p, c, b, o = batch_arrays([(pos, cell, pbc)])
    nl = build_neighbor_list(p, c, b, o, setup.cutoff)
    assert nl.counts()[0] > 60
    got = setup.features(nl, np.arange(2), types)
    pairs = brute_force_pairs(pos, cell, pbc, setup.cutoff)
    ref = np.array([chebyshev_reference(pairs[i], types, 5.0, 2, 5.0, 10, typespin(2)) for i in range(2)])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-11 * np.abs(ref).max())


def test_larger_cell_against_ase():
    ase_nl = pytest.importorskip("ase.neighborlist")
    rng = np.random.default_rng(21)
    cell = np.array([[14.0, 0.0, 0.0], [3.0, 13.0, 0.0], [-2.0, 4.0, 12.5]])
    pos = rng.uniform(0, 1, size=(600, 3)) @ cell
    pbc = np.array([True, False, True])
    i, j, dvec = ase_nl.primitive_neighbor_list("ijD", pbc, cell, pos, 3.0, self_interaction=False)
    keep = np.linalg.norm(dvec, axis=1) > 1e-12
    ref = sorted(zip(i[keep].tolist(), j[keep].tolist(), map(tuple, np.round(dvec[keep], 8).tolist())))
    nl = build_neighbor_list(pos, cell[None], pbc[None], np.array([0, 600]), 3.0)
    got = sorted(zip(np.repeat(np.arange(600), nl.counts()).tolist(), nl.index.tolist(),
                     map(tuple, np.round(nl.vectors, 8).tolist())))
    assert got == ref
