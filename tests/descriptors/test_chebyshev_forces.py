"""The pair-gradient and fused force kernels (_chebyshev_forces) against independent references.

References: the per-pair derivative kernel contracted with dE/dG (itself checked against finite
differences), central differences of the plain-numpy reference features, and a plain-numpy
network pass (anncli.network.activations).
"""

from __future__ import annotations

import numpy as np
import pytest

from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.descriptors.neighbors import build_neighbor_list
from anncli.network._atomic_nb import ACTIVATION_CODES, pack_networks
from anncli.network.activations import activate

from cheb_helpers import batch_arrays, random_structure
from reference_chebyshev import chebyshev_reference, typespin

# (n_env, radial cutoff, radial order, angular cutoff, angular order): orders whose column
# loops end on partial blocks of four (radial orders, monomials below and of the top degree)
ORDERS = [
    (3, 4.5, 9, 3.5, 5),
    (2, 4.0, 16, 4.5, 4),
    (2, 4.0, 4, 3.0, 3),
    (1, 3.5, 0, 3.5, 0),
    (1, 4.0, 1, 3.0, 1),
    (3, 3.0, 2, 4.0, 2),
    (2, 4.0, 6, 3.5, 6),
]


def _system(seed, n_env, cutoff, extra=0.7):
    rng = np.random.default_rng(seed)
    pos, cell, pbc = random_structure(rng, 7, 3.2, (1, 1, 1))
    types = rng.integers(0, n_env, size=len(pos)).astype(np.int32)
    p, c, b, o = batch_arrays([(pos, cell, pbc)])
    nl = build_neighbor_list(p, c, b, o, cutoff + extra)  # longer list: pairs beyond the cutoffs
    return rng, nl, types


@pytest.mark.parametrize("orders", ORDERS, ids=[f"env{o[0]}-nr{o[2]}-na{o[4]}" for o in ORDERS])
def test_pair_gradients_equal_contracted_derivatives(orders):
    n_env, rr, nr, ra, na = orders
    setup = ChebyshevSetup("X", ["A", "B", "C"][:n_env], rr, nr, ra, na)
    rng, nl, types = _system(nr * 7 + na, n_env, setup.cutoff)
    centers = np.array([5, 0, 3, 6])
    _, dG = setup.features_and_derivatives(nl, centers, types)
    de = rng.normal(size=(len(centers), 3, setup.n_features))
    counts = nl.counts()[centers]
    got = setup.pair_gradients(nl, centers, types, de)
    assert got.shape == (3, len(dG), 3)
    for col in range(3):
        expected = np.einsum("qf,qfk->qk", np.repeat(de[:, col], counts, axis=0), dG)
        np.testing.assert_allclose(got[col], expected, rtol=1e-11, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(setup.pair_gradients(nl, centers, types, de[:, 1]), got[1], rtol=0, atol=0)


def test_pair_gradients_equal_finite_differences_of_numpy_reference():
    setup = ChebyshevSetup("X", ["A", "B", "C"], 4.0, 7, 3.5, 3)
    rng, nl, types = _system(11, 3, setup.cutoff, extra=0.0)
    i = 2
    pairs = [(int(nl.index[p]), nl.vectors[p].copy()) for p in range(nl.offsets[i], nl.offsets[i + 1])]
    w = typespin(3)
    e = rng.normal(size=setup.n_features)
    got = setup.pair_gradients(nl, np.array([i]), types, e[None])
    h = 1e-6
    for q in range(0, len(pairs), 3):
        for k in range(3):
            plus = [(j, v.copy()) for j, v in pairs]
            minus = [(j, v.copy()) for j, v in pairs]
            plus[q][1][k] += h
            minus[q][1][k] -= h
            num = e @ (chebyshev_reference(plus, types, 4.0, 7, 3.5, 3, w)
                       - chebyshev_reference(minus, types, 4.0, 7, 3.5, 3, w)) / (2 * h)
            assert got[q, k] == pytest.approx(num, rel=1e-6, abs=1e-7)


class _Net:
    """A FoldedNetwork stand-in: weights (n_out, n_in), biases, hidden activations."""

    def __init__(self, rng, sizes, act):
        self.w = [rng.normal(scale=0.5 / np.sqrt(a), size=(b, a)) for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [rng.normal(scale=0.3, size=b) for b in sizes[1:]]
        self.acts = [act] * (len(sizes) - 2) + ["linear"]

    def energy_and_gradient(self, x):
        """Plain-numpy forward and backward pass of one row of features."""
        h, ds = x, []
        for l, (w, b) in enumerate(zip(self.w, self.b)):
            z = w @ h + b
            if l == len(self.w) - 1:
                h = z
            else:
                h, d = activate(self.acts[l], z)
                ds.append(d)
        delta = self.w[-1][0]
        for l in range(len(self.w) - 2, -1, -1):
            delta = (delta * ds[l]) @ self.w[l]
        return h[0], delta


def _scattered(nl, centers, g, atom_structure, n_s, virial=True):
    """Forces (n_columns, n_atoms, 3) and virials (n_columns, n_s, 3, 3) of pair gradients ``g``, with numpy."""
    pairs = np.concatenate([np.arange(nl.offsets[i], nl.offsets[i + 1]) for i in centers])
    owner = np.repeat(centers, nl.offsets[centers + 1] - nl.offsets[centers])
    f = np.zeros((len(g), nl.n_atoms, 3))
    v = np.zeros((len(g), n_s, 3, 3))
    for col in range(len(g)):
        np.add.at(f[col], nl.index[pairs], -g[col])
        np.add.at(f[col], owner, g[col])
        if virial:
            np.add.at(v[col], atom_structure[owner], -np.einsum("qa,qb->qab", nl.vectors[pairs], g[col]))
    return f, v


def _fused(setup, nl, centers, types, packed, mean_column=False, virial=True, atom_structure=None, n_s=1,
           atom_chunks=None):
    """fused_forces_into with fresh accumulators (three chunks unless given), summed."""
    n_cols = 1 if mean_column else packed.n_members
    if atom_chunks is None:
        atom_chunks = [0, nl.n_atoms // 3, nl.n_atoms // 3 + 2, nl.n_atoms]
    f = np.zeros((len(atom_chunks) - 1, n_cols, nl.n_atoms, 3))
    v = np.zeros((len(atom_chunks) - 1, n_cols, n_s, 3, 3))
    if atom_structure is None:
        atom_structure = np.zeros(nl.n_atoms, dtype=np.int64)
    feats, e = setup.fused_forces_into(nl, centers, types, packed, atom_structure, np.array(atom_chunks), f, v,
                                       mean_column=mean_column, virial=virial)
    return feats, e, f.sum(axis=0), v.sum(axis=0)


@pytest.mark.parametrize("act", sorted(ACTIVATION_CODES))
@pytest.mark.parametrize("mean_column", [False, True])
def test_fused_forces_equal_separate_passes(act, mean_column):
    """Features, a plain-numpy network pass per member, pair_gradients and a numpy scatter."""
    setup = ChebyshevSetup("X", ["A", "B", "C"], 4.0, 6, 3.5, 3)
    rng, nl, types = _system(3, 3, setup.cutoff)
    nets = [_Net(rng, [setup.n_features, 7, 5, 1], act), _Net(rng, [setup.n_features, 6, 1], act),
            _Net(rng, [setup.n_features, 1], act)]
    packed = pack_networks(nets)
    centers = np.array([1, 2, 6])
    feats, energies, f, v = _fused(setup, nl, centers, types, packed, mean_column=mean_column)
    ref_feats = setup.features(nl, centers, types)
    np.testing.assert_allclose(feats, ref_feats, rtol=1e-13, atol=1e-13)
    ref = [[net.energy_and_gradient(x) for x in ref_feats] for net in nets]
    ref_e = np.array([[e for e, _ in r] for r in ref])
    ref_g = np.array([[d for _, d in r] for r in ref])  # (members, centres, features)
    np.testing.assert_allclose(energies, ref_e, rtol=1e-12, atol=1e-12)
    de = ref_g.mean(axis=0)[:, None] if mean_column else ref_g.transpose(1, 0, 2)
    ref_f, ref_v = _scattered(nl, centers, setup.pair_gradients(nl, centers, types, de), np.zeros(nl.n_atoms, int), 1)
    assert f.shape == ref_f.shape
    np.testing.assert_allclose(f, ref_f, rtol=0, atol=1e-12 * np.abs(ref_f).max())
    np.testing.assert_allclose(v, ref_v, rtol=0, atol=1e-12 * np.abs(ref_v).max())


def test_fused_forces_refuse_wrong_networks_and_accumulators():
    setup = ChebyshevSetup("X", ["A", "B"], 4.0, 5, 3.5, 2)
    rng, nl, types = _system(5, 2, setup.cutoff)
    packed = pack_networks([_Net(rng, [setup.n_features, 4, 1], "tanh")])
    centers = np.arange(7)
    chunks = np.array([0, 3, nl.n_atoms])
    f = np.zeros((2, 1, nl.n_atoms, 3))
    v = np.zeros((2, 1, 1, 3, 3))
    s = np.zeros(nl.n_atoms, dtype=np.int64)
    with pytest.raises(ValueError, match="inputs"):
        setup.fused_forces_into(nl, centers, types, pack_networks([_Net(rng, [3, 4, 1], "tanh")]), s, chunks, f, v)
    with pytest.raises(ValueError, match="forces must be"):
        setup.fused_forces_into(nl, centers, types, packed, s, chunks, f[:, :, :-1], v)
    with pytest.raises(ValueError, match="virials must be"):
        setup.fused_forces_into(nl, centers, types, packed, s, chunks, f, v[:, :, :, :2])
    with pytest.raises(ValueError, match="atom_structure"):
        setup.fused_forces_into(nl, centers, types, packed, s + 1, chunks, f, v)
    with pytest.raises(ValueError, match="atom_chunks"):
        setup.fused_forces_into(nl, centers, types, packed, s, np.array([0, 3, nl.n_atoms - 1]), f, v)
    with pytest.raises(ValueError, match="increasing order"):
        setup.fused_forces_into(nl, centers[::-1], types, packed, s, chunks, f, v)


@pytest.mark.parametrize("mean_column", [False, True])
@pytest.mark.parametrize("virial", [True, False])
def test_fused_forces_of_a_batch_equal_gradients_scattered_with_numpy(mean_column, virial):
    """A periodic and an isolated structure in one batch: forces and per-structure virials added
    to what the accumulators held."""
    setup = ChebyshevSetup("X", ["A", "B"], 4.0, 6, 3.5, 3)
    rng = np.random.default_rng(8)
    periodic = random_structure(rng, 7, 3.2, (1, 1, 1))
    cluster = random_structure(rng, 6, 3.0, (0, 0, 0))
    p, c, b, o = batch_arrays([periodic, (cluster[0], None, (False, False, False))])
    nl = build_neighbor_list(p, c, b, o, setup.cutoff + 0.5)
    types = rng.integers(0, 2, size=len(p)).astype(np.int32)
    atom_structure = np.repeat(np.arange(2), np.diff(o)).astype(np.int64)
    nets = [_Net(rng, [setup.n_features, 6, 1], "tanh"), _Net(rng, [setup.n_features, 5, 1], "tanh")]
    packed = pack_networks(nets)
    centers = np.array([0, 3, 4, 6, 7, 9, 12])
    feats, e, f, v = _fused(setup, nl, centers, types, packed, mean_column=mean_column, virial=virial,
                            atom_structure=atom_structure, n_s=2, atom_chunks=[0, 0, 7, 10, 13])
    ref_feats = setup.features(nl, centers, types)
    np.testing.assert_allclose(feats, ref_feats, rtol=1e-13, atol=1e-13)
    ref_g = np.array([[net.energy_and_gradient(x)[1] for x in ref_feats] for net in nets])
    de = ref_g.mean(axis=0)[:, None] if mean_column else ref_g.transpose(1, 0, 2)
    ref_f, ref_v = _scattered(nl, centers, setup.pair_gradients(nl, centers, types, de), atom_structure, 2, virial)
    np.testing.assert_allclose(f, ref_f, rtol=0, atol=1e-12 * np.abs(ref_f).max())
    np.testing.assert_allclose(v, ref_v, rtol=0, atol=1e-12 * max(1.0, np.abs(ref_v).max()))
    assert not virial or np.abs(ref_v[:, 1]).max() > 0  # the cluster's virial is its own
