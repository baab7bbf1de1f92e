"""Compact feature derivatives for force training: exact against the dense derivatives of the
descriptors, smaller than them, and the two training kernels against plain numpy."""

from __future__ import annotations

import numpy as np
import pytest

from emt_data import emt_structures
from anncli.descriptors.batch import featurize_batch
from anncli.descriptors.behler import BehlerSetup
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.network import _force_kernels as _k
from anncli.training import pair_builder
from anncli.training.pair_builder import compute_pair_data, radial_structure

SPECIES = ["Cu", "Au"]


def _behler(central: str) -> BehlerSetup:
    funcs = []
    for t2 in SPECIES:
        funcs += [{"G": 2, "type2": t2, "eta": eta, "Rs": 0.0, "Rc": 4.5} for eta in (0.05, 0.5, 2.0)]
        funcs.append({"G": 3, "type2": t2, "kappa": 1.5, "Rc": 4.0})
        funcs.append({"G": 1, "type2": t2, "Rc": 3.8})
    for a, b in (("Cu", "Cu"), ("Cu", "Au"), ("Au", "Au")):
        funcs += [{"G": 4, "type2": a, "type3": b, "eta": 0.1, "lambda": lam, "zeta": 2.0, "Rc": 3.6}
                  for lam in (-1.0, 1.0)]
        funcs.append({"G": 5, "type2": a, "type3": b, "eta": 0.2, "lambda": 1.0, "zeta": 1.0, "Rc": 3.4})
    return BehlerSetup(central, SPECIES, funcs)


SETUPS = {
    "chebyshev-typed": lambda c: ChebyshevSetup(c, SPECIES, 4.5, 6, 3.5, 3),
    "chebyshev-weights": lambda c: ChebyshevSetup(c, SPECIES, 4.2, 4, 3.2, 2, weights=[0.7, -1.3]),
    "behler": _behler,
}


def _batch(n: int = 5):
    structures = emt_structures(n, seed=3)
    positions = np.concatenate([s.positions for s in structures])
    cells = np.stack([s.cell for s in structures])
    pbcs = np.ones((n, 3), dtype=bool)
    offsets = np.concatenate([[0], np.cumsum([s.n_atoms for s in structures])]).astype(np.int64)
    types = np.array([SPECIES.index(x) for s in structures for x in s.symbols], dtype=np.int32)
    return positions, cells, pbcs, offsets, types


@pytest.mark.parametrize("kind", sorted(SETUPS))
def test_compact_derivatives_reproduce_the_dense_ones(kind):
    setups = {c: SETUPS[kind](c) for c in SPECIES}
    arrays = _batch()
    dense = featurize_batch(*arrays, SPECIES, setups, derivatives=True)
    pairs, features = compute_pair_data(*arrays, SPECIES, setups)
    for sym in SPECIES:
        sf, pd = dense.species[sym], pairs[sym]
        np.testing.assert_array_equal(features[sym], sf.features)
        np.testing.assert_array_equal(pd.neighbor, sf.neighbors)
        np.testing.assert_array_equal(pd.pair_offset, sf.pair_offsets)
        assert (pd.structure.basis >= 0).any()  # the radial structure was kept, not the fallback
        scale = np.abs(sf.dG).max()
        np.testing.assert_allclose(pd.dense(), sf.dG, rtol=0, atol=2e-7 * scale)  # float32
        # angular entries only where an angular derivative is non-zero, and all of those
        ang = pd.structure.angular_features
        nonzero = np.flatnonzero(np.abs(sf.dG[:, ang, :]).max(axis=(1, 2)) > 0)
        np.testing.assert_array_equal(pd.ang_pair, nonzero)
        assert 0 < len(nonzero) < len(sf.neighbors)
        # at least 2 times smaller than the dense float32 derivatives, also for these small setups
        assert pd.nbytes < sf.dG.size * 4 / 2.0


def test_chebyshev_typed_copies_share_the_radial_basis():
    setup = ChebyshevSetup("Cu", SPECIES, 4.5, 6, 3.5, 3)
    st = radial_structure(setup)
    names = setup.feature_names()
    assert st.n_basis == 7
    for f, name in enumerate(names):
        if name.startswith("R"):
            assert st.basis[f] == int(name.lstrip("Rt"))
            assert st.channel[f] == (1 if name.startswith("Rt") else 0)
        else:
            assert st.basis[f] == -1
    np.testing.assert_array_equal(st.weights[:, 1], setup.species_weights)


def test_a_wrong_radial_structure_falls_back_to_full_vectors(monkeypatch):
    """If a feature declared radial is not (here: every feature), the data is stored as
    3-vectors and still exact."""
    setups = {c: ChebyshevSetup(c, SPECIES, 4.5, 4, 3.5, 2) for c in SPECIES}
    real = radial_structure

    def wrong(setup):
        st = real(setup)
        st.basis = np.where(st.basis < 0, 0, st.basis)  # angular features claimed radial
        return st

    monkeypatch.setattr(pair_builder, "radial_structure", wrong)
    arrays = _batch(3)
    dense = featurize_batch(*arrays, SPECIES, setups, derivatives=True)
    pairs, _ = compute_pair_data(*arrays, SPECIES, setups)
    for sym in SPECIES:
        pd = pairs[sym]
        assert (pd.structure.basis < 0).all()
        dG = dense.species[sym].dG
        np.testing.assert_allclose(pd.dense(), dG, rtol=0, atol=2e-7 * np.abs(dG).max())


@pytest.mark.parametrize("kind", sorted(SETUPS))
def test_training_kernels_match_plain_numpy(kind):
    """Forces sum_f h dG scattered to neighbour and centre, and the adjoint contraction, against
    einsum over the dense (float32-rounded) derivatives; batch rows in a shuffled structure order."""
    setups = {c: SETUPS[kind](c) for c in SPECIES}
    positions, cells, pbcs, offsets, types = _batch(4)
    pairs, _ = compute_pair_data(positions, cells, pbcs, offsets, types, SPECIES, setups)
    rng = np.random.default_rng(1)
    n_atoms = len(positions)
    order = np.array([2, 0, 3, 1])  # batch structures in another order than the pair data
    counts = np.diff(offsets)[order]
    batch_first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    shift = (batch_first - offsets[order]).astype(np.int64)
    adj = rng.normal(size=(n_atoms, 3))
    for sym in SPECIES:
        pd = pairs[sym]
        st = pd.structure
        center_structure = np.searchsorted(offsets, pd.center_atom, side="right") - 1
        rows = np.concatenate([np.flatnonzero(center_structure == s) for s in order]).astype(np.int64)
        row_start = np.concatenate([[0], np.cumsum([np.sum(center_structure == s) for s in order])]).astype(np.int64)
        h = rng.normal(size=(len(rows), len(st.basis)))
        active = np.array([True, False, True, True])
        arrays = (pd.center_atom, pd.pair_offset, pd.neighbor, pd.ptype, pd.unit, pd.radial,
                  st.basis, st.channel, st.weights, pd.ang_offset, pd.ang_pair, pd.ang, st.angular_features)
        forces = np.zeros((n_atoms, 3))
        _k.pair_forces_nb(h, rows, row_start, shift, active, *arrays, forces)
        contraction = np.empty_like(h)
        _k.contract_pairs_nb(adj, rows, row_start, shift, active, *arrays, contraction)
        dense = pd.dense()
        expected_f = np.zeros((n_atoms, 3))
        expected_c = np.zeros_like(h)
        batch_atom = np.empty(n_atoms, dtype=np.int64)  # pair-data atom -> batch atom
        for b, s in enumerate(order):
            batch_atom[offsets[s]:offsets[s + 1]] = np.arange(counts[b]) + batch_first[b]
        for r, g in enumerate(rows):
            s = int(np.searchsorted(row_start, r, side="right") - 1)
            if not active[s]:
                continue
            c = batch_atom[pd.center_atom[g]]
            for p in range(pd.pair_offset[g], pd.pair_offset[g + 1]):
                j = batch_atom[pd.neighbor[p]]
                term = h[r] @ dense[p]
                expected_f[j] -= term
                expected_f[c] += term
                expected_c[r] += dense[p] @ (adj[j] - adj[c])
        np.testing.assert_allclose(forces, expected_f, rtol=1e-10, atol=1e-12 * np.abs(expected_f).max())
        np.testing.assert_allclose(contraction, expected_c, rtol=1e-10, atol=1e-12 * np.abs(expected_c).max())
        assert np.abs(expected_f).max() > 0 and np.abs(expected_c).max() > 0
        inactive = row_start[1], row_start[2]
        assert not contraction[inactive[0]:inactive[1]].any()
