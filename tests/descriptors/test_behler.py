"""Behler2011 symmetry functions: values vs a plain-numpy reference, order, invariances,
finite-difference derivatives, pair gradients, validation and serialisation."""

from __future__ import annotations

import numpy as np
import pytest
from reference_behler import (
    brute_force_neighbor_list,
    expected_order,
    reference_features,
)

from anncli.descriptors.behler import BehlerSetup
from anncli.descriptors.neighbors import build_neighbor_list
from anncli.exceptions import ConfigError

ENV2 = ["Ti", "O"]
FUNCS2 = [
    {"G": 1, "type2": "O", "Rc": 3.5},
    {"G": 2, "type2": "Ti", "eta": 0.3, "Rs": 1.2, "Rc": 4.0},
    {"G": 3, "type2": "O", "kappa": 1.7, "Rc": 3.9},
    {"G": 4, "type2": "O", "type3": "Ti", "eta": 0.05, "lambda": -1, "zeta": 2, "Rc": 4.0},
    {"G": 5, "type2": "O", "type3": "O", "eta": 0.02, "lambda": 1, "zeta": 1.5, "Rc": 3.7},
    {"G": 4, "type2": "Ti", "type3": "Ti", "eta": 0.01, "lambda": 1, "zeta": 4, "Rc": 3.8},
    {"G": 2, "type2": "O", "eta": 0.1, "Rc": 4.0},
    {"G": 5, "type2": "Ti", "type3": "O", "eta": 0.0, "lambda": -1, "zeta": 3, "Rc": 4.0},
    {"G": 4, "type2": "O", "type3": "O", "eta": 0.2, "lambda": 1, "zeta": 1, "Rc": 3.6},
    {"G": 1, "type2": "Ti", "Rc": 2.9},
    {"G": 4, "type2": "Ti", "type3": "O", "eta": 0.05, "lambda": 1, "zeta": 2.5, "Rc": 3.9},
]
ENV3 = ["H", "C", "O"]
FUNCS3 = [
    {"G": 4, "type2": "O", "type3": "H", "eta": 0.1, "lambda": 1, "zeta": 2, "Rc": 4.5},
    {"G": 2, "type2": "C", "eta": 0.5, "Rs": 1.0, "Rc": 4.5},
    {"G": 5, "type2": "C", "type3": "H", "eta": 0.05, "lambda": -1, "zeta": 1, "Rc": 4.0},
    {"G": 4, "type2": "C", "type3": "O", "eta": 0.02, "lambda": -1, "zeta": 3, "Rc": 4.2},
    {"G": 2, "type2": "H", "eta": 1.0, "Rs": 0.0, "Rc": 3.0},
    {"G": 3, "type2": "O", "kappa": 0.8, "Rc": 4.5},
    {"G": 4, "type2": "H", "type3": "H", "eta": 0.0, "lambda": 1, "zeta": 8, "Rc": 4.5},
    {"G": 5, "type2": "O", "type3": "O", "eta": 0.3, "lambda": 1, "zeta": 2, "Rc": 4.5},
    {"G": 1, "type2": "H", "Rc": 4.5},
]


def _periodic(seed=0, n=5):
    rng = np.random.default_rng(seed)
    cell = np.array([[3.1, 0.2, 0.1], [0.4, 2.9, 0.0], [0.3, 0.5, 3.3]])  # smaller than Rc
    pos = rng.random((n, 3)) @ cell
    sym = [ENV2[k] for k in rng.integers(0, 2, n)]
    sym[0], sym[1] = "Ti", "O"
    return pos, cell, sym


def _isolated(seed=1, n=7, env=ENV2):
    rng = np.random.default_rng(seed)
    pos = rng.normal(scale=1.2, size=(n, 3))
    sym = [env[k % len(env)] for k in range(n)]
    return pos, None, sym


def _neighbor_list(structures, cutoff):
    """anncli's neighbour list of a batch of (positions, cell or None) structures."""
    pos = np.vstack([p for p, _ in structures])
    cells = np.array([np.zeros((3, 3)) if c is None else c for _, c in structures])
    pbcs = np.array([[c is not None] * 3 for _, c in structures])
    offsets = np.cumsum([0] + [len(p) for p, _ in structures])
    return build_neighbor_list(pos, cells, pbcs, offsets, cutoff)


def _evaluate(setup, structures, method="features"):
    nl = _neighbor_list([(p, c) for p, c, _ in structures], setup.cutoff)
    sym = [s for _, _, syms in structures for s in syms]
    env_types = np.array([setup.env.index(s) if s in setup.env else -1 for s in sym])
    centers = np.arange(len(sym))
    return nl, sym, env_types, centers, getattr(setup, method)(nl, centers, env_types)


CASES = [
    ("periodic-triclinic", ENV2, FUNCS2, lambda: _periodic()),
    ("isolated-2", ENV2, FUNCS2, lambda: _isolated()),
    ("isolated-3", ENV3, FUNCS3, lambda: _isolated(2, 8, ENV3)),
    ("periodic-3", ENV3, FUNCS3,
     lambda: (np.random.default_rng(3).random((6, 3)) * 3.2, np.diag([3.2, 3.4, 3.0]),
              ["H", "C", "O", "H", "O", "H"])),
]


@pytest.mark.parametrize("name,env,funcs,make", CASES, ids=[c[0] for c in CASES])
def test_features_match_numpy_reference(name, env, funcs, make):
    setup = BehlerSetup(env[0], env, funcs)
    struct = make()
    nl, sym, env_types, centers, G = _evaluate(setup, [struct])
    # the reference uses its own brute-force neighbour list (same atom order)
    brute, _ = brute_force_neighbor_list([struct[:2]], setup.cutoff)
    assert brute.n_pairs == nl.n_pairs
    ref = reference_features(brute, centers, sym, funcs)
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(G, ref[:, setup.order], rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    G2, _ = setup.features_and_derivatives(nl, centers, env_types)
    np.testing.assert_allclose(G2, G, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("env,funcs", [(ENV2, FUNCS2), (ENV3, FUNCS3)])
def test_output_order_is_sf_build_index(env, funcs):
    setup = BehlerSetup(env[0], env, funcs)
    assert list(setup.order) == expected_order(funcs, env)
    # swapping type2/type3 of an angular function does not change its group
    swapped = [dict(f, type2=f["type3"], type3=f["type2"]) if f["G"] >= 4 else f for f in funcs]
    assert list(BehlerSetup(env[0], env, swapped).order) == list(setup.order)


def test_order_spot_check():
    funcs = [
        {"G": 4, "type2": "O", "type3": "O", "eta": 0.1, "lambda": 1, "zeta": 1, "Rc": 4.0},  # 0
        {"G": 2, "type2": "O", "eta": 0.1, "Rc": 4.0},  # 1
        {"G": 5, "type2": "Ti", "type3": "O", "eta": 0.1, "lambda": 1, "zeta": 1, "Rc": 4.0},  # 2
        {"G": 1, "type2": "Ti", "Rc": 4.0},  # 3
        {"G": 4, "type2": "O", "type3": "Ti", "eta": 0.1, "lambda": 1, "zeta": 1, "Rc": 4.0},  # 4
        {"G": 2, "type2": "Ti", "eta": 0.1, "Rc": 4.0},  # 5
    ]
    setup = BehlerSetup("Ti", ["Ti", "O"], funcs)
    # Ti: G1, G2 | (Ti,O): G4, G5 | O: G2 | (O,O): G4
    assert list(setup.order) == [3, 5, 4, 2, 1, 0]


def _rotation(seed):
    q = np.random.default_rng(seed).normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
    ])


def test_invariances():
    setup = BehlerSetup("Ti", ENV2, FUNCS2)
    pos, cell, sym = _periodic(5, 6)
    *_, G = _evaluate(setup, [(pos, cell, sym)])
    scale = np.abs(G).max()
    rot = _rotation(7)
    *_, Gr = _evaluate(setup, [(pos @ rot.T, cell @ rot.T, sym)])
    np.testing.assert_allclose(Gr, G, atol=1e-11 * scale)
    *_, Gt = _evaluate(setup, [(pos + [0.7, -1.3, 2.2], cell, sym)])
    np.testing.assert_allclose(Gt, G, atol=1e-11 * scale)
    perm = np.random.default_rng(3).permutation(len(sym))
    *_, Gp = _evaluate(setup, [(pos[perm], cell, [sym[k] for k in perm])])
    np.testing.assert_allclose(Gp, G[perm], atol=1e-11 * scale)
    shifts = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)]) @ cell
    big = (pos[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    *_, Gs = _evaluate(setup, [(big, 2 * cell, sym * 8)])
    np.testing.assert_allclose(Gs, np.tile(G, (8, 1)), atol=1e-11 * scale)


def _atom_derivatives(nl, centers, dG, n_atoms):
    """dG_c/dR_a from per-pair derivatives, shape (n_centers, n_features, n_atoms, 3)."""
    out = np.zeros((len(centers), dG.shape[1], n_atoms, 3))
    q = 0
    for c, i in enumerate(centers):
        for p in range(nl.offsets[i], nl.offsets[i + 1]):
            out[c, :, nl.index[p]] += dG[q]
            out[c, :, i] -= dG[q]
            q += 1
    return out


@pytest.mark.parametrize(
    "env,funcs,make",
    [(ENV2, FUNCS2, lambda: _periodic(11, 4)), (ENV3, FUNCS3, lambda: _isolated(4, 6, ENV3))],
    ids=["periodic", "isolated"],
)
def test_derivatives_match_finite_differences(env, funcs, make):
    setup = BehlerSetup(env[0], env, funcs)
    pos, cell, sym = make()
    nl, _, env_types, centers, (G, dG) = _evaluate(
        setup, [(pos, cell, sym)], "features_and_derivatives"
    )
    assert dG.shape == (nl.n_pairs, setup.n_features, 3)
    analytic = _atom_derivatives(nl, centers, dG, len(sym))
    h = 1e-5
    numeric = np.zeros_like(analytic)
    for a in range(len(sym)):
        for x in range(3):
            vals = []
            for s in (1, -1):
                p = pos.copy()
                p[a, x] += s * h
                vals.append(_evaluate(setup, [(p, cell, sym)])[-1])
            numeric[:, :, a, x] = (vals[0] - vals[1]) / (2 * h)
    assert np.abs(analytic).max() > 0.1
    np.testing.assert_allclose(analytic, numeric, atol=2e-7 * np.abs(analytic).max(), rtol=1e-6)


@pytest.mark.parametrize("env,funcs,make", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pair_gradients_equal_contracted_derivatives(env, funcs, make):
    setup = BehlerSetup(env[0], env, funcs)
    struct = make()
    nl, _, env_types, centers, (G, dG) = _evaluate(setup, [struct], "features_and_derivatives")
    centers = centers[::-1].copy()  # any order and subset of centres works
    _, dG = setup.features_and_derivatives(nl, centers, env_types)
    w = np.random.default_rng(0).normal(size=(len(centers), setup.n_features))
    gp = setup.pair_gradients(nl, centers, env_types, w)
    rows = np.repeat(np.arange(len(centers)), nl.offsets[centers + 1] - nl.offsets[centers])
    ref = np.einsum("qfx,qf->qx", dG, w[rows])
    np.testing.assert_allclose(gp, ref, atol=1e-12 * np.abs(ref).max())


def test_batch_equals_single_and_foreign_species_ignored():
    setup = BehlerSetup("Ti", ENV2, FUNCS2)
    s1, s2 = _periodic(1, 5), _isolated(2, 6)
    *_, G1 = _evaluate(setup, [s1])
    *_, G2 = _evaluate(setup, [s2])
    *_, G12 = _evaluate(setup, [s1, s2])
    np.testing.assert_array_equal(G12, np.vstack([G1, G2]))
    # an atom of a species outside env contributes nothing
    pos, cell, sym = s2
    far = np.vstack([pos, [[0.3, 0.2, 0.1]]])
    *_, Gx = _evaluate(setup, [(far, cell, sym + ["Zn"])])
    np.testing.assert_allclose(Gx[:-1], G2, atol=1e-14)


def test_neighbor_list_cutoff_too_small_is_rejected():
    setup = BehlerSetup("Ti", ENV2, FUNCS2)
    pos, cell, sym = _isolated()
    nl = _neighbor_list([(pos, cell)], 3.0)
    with pytest.raises(ValueError, match="cutoff"):
        setup.features(nl, np.arange(len(sym)), np.zeros(len(sym), int))


def test_round_trip_to_dict():
    setup = BehlerSetup("C", ENV3, FUNCS3)
    d = setup.to_dict()
    assert d["kind"] == "behler2011" and d["env"] == ENV3
    again = BehlerSetup.from_dict(d)
    assert again.to_dict() == d
    assert list(again.order) == list(setup.order)
    assert d["functions"][0] == {**FUNCS3[0], "lambda": 1.0}
    assert d["functions"][1]["Rs"] == 1.0 and "lambda" not in d["functions"][1]
    assert BehlerSetup.from_dict({k: v for k, v in d.items() if k != "central"}, central="C").central == "C"
    from anncli.descriptors import descriptor_from_dict

    assert descriptor_from_dict(d).to_dict() == d


def test_scaled_setup_gives_same_features_in_scaled_units():
    setup = BehlerSetup("Ti", ENV2, FUNCS2)
    pos, cell, sym = _periodic(2, 4)
    *_, G = _evaluate(setup, [(pos, cell, sym)])
    *_, Gs = _evaluate(setup.scaled(1.7), [(pos * 1.7, cell * 1.7, sym)])
    np.testing.assert_allclose(Gs, G, atol=1e-12 * np.abs(G).max())


BAD = [
    ({"G": 6, "type2": "O", "Rc": 4.0}, "'G' must be one of"),
    ({"G": 1, "type2": "O", "Rc": 0.0}, "'Rc' must be > 0"),
    ({"G": 1, "type2": "O", "Rc": -2.0}, "'Rc' must be > 0"),
    ({"G": 2, "type2": "O", "eta": -0.1, "Rc": 4.0}, "'eta' must be >= 0"),
    ({"G": 4, "type2": "O", "type3": "O", "eta": 0.1, "lambda": 0.5, "zeta": 1, "Rc": 4.0},
     "'lambda' must be \\+1 or -1"),
    ({"G": 4, "type2": "O", "type3": "O", "eta": 0.1, "lambda": 1, "zeta": 0.5, "Rc": 4.0},
     "'zeta' must be >= 1"),
    ({"G": 4, "type2": "O", "type3": "Zr", "eta": 0.1, "lambda": 1, "zeta": 1, "Rc": 4.0},
     "'type3' must be one of the environment species"),
    ({"G": 2, "type2": "Xx", "eta": 0.1, "Rc": 4.0}, "'type2' must be one of"),
    ({"G": 4, "type2": "O", "type3": "O", "lambda": 1, "zeta": 1, "Rc": 4.0},
     "needs the parameter 'eta'"),
    ({"G": 2, "type2": "O", "eta": 0.1, "zeta": 2, "Rc": 4.0}, "'zeta' does not apply to G=2"),
    ({"G": 2, "type2": "O", "eta": 0.1, "Rcut": 4, "Rc": 4.0}, "unknown parameter 'Rcut'"),
    ({"G": 2, "type2": "O", "eta": "x", "Rc": 4.0}, "'eta' must be a number"),
]


@pytest.mark.parametrize("func,match", BAD)
def test_invalid_function_is_a_config_error_naming_number_and_key(func, match):
    funcs = [{"G": 1, "type2": "Ti", "Rc": 4.0}, func]
    with pytest.raises(ConfigError, match=match) as err:
        BehlerSetup("Ti", ENV2, funcs)
    assert "function 2" in str(err.value)


def test_invalid_setup_level_errors():
    with pytest.raises(ConfigError, match="'env' must list at least one"):
        BehlerSetup("Ti", [], [{"G": 1, "type2": "Ti", "Rc": 4.0}])
    with pytest.raises(ConfigError, match="'functions' is empty"):
        BehlerSetup("Ti", ENV2, [])
    with pytest.raises(ConfigError, match="twice"):
        BehlerSetup("Ti", ["Ti", "Ti"], [{"G": 1, "type2": "Ti", "Rc": 4.0}])


def test_lonely_atom_and_neighbour_at_the_cutoff_give_zero():
    setup = BehlerSetup("Ti", ENV2, FUNCS2)
    rc = setup.cutoff  # 4.0: all functions with Rc = 4.0 see nothing at exactly 4.0
    pos = np.array([[0.0, 0.0, 0.0], [rc, 0.0, 0.0], [20.0, 0.0, 0.0]])
    nl, _, env_types, centers, (G, dG) = _evaluate(
        setup, [(pos, None, ["Ti", "O", "O"])], "features_and_derivatives"
    )
    assert nl.n_pairs == 2  # the pair at exactly Rc is listed (d <= cutoff) ...
    np.testing.assert_array_equal(G, 0.0)  # ... but fc(Rc) = 0
    np.testing.assert_array_equal(dG, 0.0)
    gp = setup.pair_gradients(nl, centers, env_types, np.ones_like(G))
    assert gp.shape == (2, 3) and np.all(gp == 0.0)


def test_featurize_batch_accepts_behler_setups():
    from anncli.descriptors.batch import featurize_batch

    setups = {"Ti": BehlerSetup("Ti", ENV2, FUNCS2), "O": BehlerSetup("O", ENV2, FUNCS2[:4])}
    pos, cell, sym = _periodic(8, 6)
    idx = np.array([ENV2.index(s) for s in sym], dtype=np.int32)
    out = featurize_batch(pos, cell[None], np.ones((1, 3), bool), np.array([0, len(sym)]), idx,
                          ENV2, setups, derivatives=True)
    nl = _neighbor_list([(pos, cell)], 4.0)
    for name, setup in setups.items():
        centers = np.flatnonzero(np.array(sym) == name)
        G, dG = setup.features_and_derivatives(nl, centers, idx)
        np.testing.assert_allclose(out.species[name].features, G, atol=1e-14)
        np.testing.assert_allclose(out.species[name].dG, dG, atol=1e-14)
