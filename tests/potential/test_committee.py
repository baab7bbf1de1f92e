"""Committee models: the mean and spread of members equal those of the members evaluated alone."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from synthetic_model import random_model

from anncli.calculator import ANNCalculator
from anncli.potential.evaluate import Potential
from anncli.potential.model_file import load_model, save_model

from pot_helpers import cluster_structure, small_setups, triclinic_structure


@pytest.fixture(scope="module")
def members():
    structures = [triclinic_structure(), cluster_structure()]
    return [random_model(small_setups(), (8, 8), structures=structures, seed=seed,
                         reference_energies={"Cu": -1.5, "Au": -2.5}, energy_scale=0.7, energy_shift=-0.2)
            for seed in (3, 4, 5)]


@pytest.fixture(scope="module")
def committee(members):
    model = copy.deepcopy(members[0])
    model.committee = [m.networks for m in members[1:]]
    return model


def test_committee_mean_and_spread_equal_the_members(members, committee):
    structures = [triclinic_structure(seed=7, n=8), cluster_structure(seed=5)]
    alone = [Potential(m).evaluate(structures)[0] for m in members]
    preds, _ = Potential(committee).evaluate(structures, committee_forces=True)
    for k, p in enumerate(preds):
        e = np.array([a[k].energy for a in alone])
        f = np.array([a[k].forces for a in alone])
        assert p.energy == pytest.approx(e.mean(), abs=1e-10)
        np.testing.assert_allclose(p.energy_members, e, atol=1e-10)
        assert p.energy_std == pytest.approx(e.std(), abs=1e-10)
        np.testing.assert_allclose(p.forces, f.mean(axis=0), atol=1e-10)
        dev = f - f.mean(axis=0)
        np.testing.assert_allclose(p.forces_std, np.sqrt((dev**2).sum(axis=2).mean(axis=0)), atol=1e-10)
        np.testing.assert_allclose(p.atomic_energies, np.mean([a[k].atomic_energies for a in alone], axis=0),
                                   atol=1e-10)
    s = alone[0][0].stress
    assert s is not None
    np.testing.assert_allclose(preds[0].stress, np.mean([a[0].stress for a in alone], axis=0), atol=1e-12)


def test_mean_forces_without_member_forces_are_the_same(committee):
    s = triclinic_structure(seed=9, n=8)
    (with_members,), _ = Potential(committee).evaluate([s], committee_forces=True)
    (mean_only,), _ = Potential(committee).evaluate([s])
    np.testing.assert_allclose(mean_only.forces, with_members.forces, atol=1e-12)
    np.testing.assert_allclose(mean_only.stress, with_members.stress, atol=1e-12)
    assert mean_only.energy_std == pytest.approx(with_members.energy_std, abs=1e-12)
    assert mean_only.forces_std is None


def test_single_model_has_no_spread(members):
    (p,), _ = Potential(members[0]).evaluate([triclinic_structure()], committee_forces=True)
    assert p.energy_std is None and p.forces_std is None and p.energy_members is None


def test_committee_file_round_trip(committee, tmp_path):
    path = save_model(tmp_path / "committee.h5", committee)
    back = load_model(path)
    assert back.n_members == 3
    s = cluster_structure(seed=11)
    (a,), _ = Potential(committee).evaluate([s], committee_forces=True)
    (b,), _ = Potential(back).evaluate([s], committee_forces=True)
    np.testing.assert_array_equal(a.energy_members, b.energy_members)
    np.testing.assert_array_equal(a.forces_std, b.forces_std)
    bad = copy.deepcopy(committee)
    from anncli.network.mlp import Network

    bad.committee[0]["Cu"] = Network([bad.networks["Cu"].sizes[0], 4, 1], ["tanh", "linear"])
    with pytest.raises(ValueError, match="committee member 1: the Cu network"):
        save_model(tmp_path / "bad.h5", bad)
    assert not (tmp_path / "bad.h5").exists()


def test_calculator_exposes_the_spread(committee, members):
    s = triclinic_structure(seed=7, n=8)
    (p,), _ = Potential(committee).evaluate([s], committee_forces=True)
    atoms = s.to_ase()
    atoms.calc = ANNCalculator(committee)
    assert atoms.get_potential_energy() == pytest.approx(p.energy, abs=1e-10)
    assert atoms.calc.results["energy_std"] == pytest.approx(p.energy_std, abs=1e-10)
    np.testing.assert_allclose(atoms.calc.results["forces_std"], p.forces_std, atol=1e-10)
    atoms.calc = ANNCalculator(committee, committee_forces=False)
    atoms.get_forces()
    assert "forces_std" not in atoms.calc.results and atoms.calc.results["energy_std"] > 0


def test_predict_writes_the_committee_spread(committee, tmp_path, capsys):
    import csv
    import json

    from ase.io import read

    from anncli.cli import main
    from anncli.io import write_xsf
    from anncli.log import reset_logging

    path = save_model(tmp_path / "committee.h5", committee)
    structures = [triclinic_structure(seed=7, n=8), cluster_structure(seed=5)]
    for k, s in enumerate(structures):
        write_xsf(tmp_path / f"s{k}.xsf", s)
    (tmp_path / "p.yaml").write_text(f"model: {path}\nstructures: ['s*.xsf']\noutput: {{json: p.json}}\n")
    try:
        assert main(["predict", str(tmp_path / "p.yaml")]) == 0
    finally:
        reset_logging()
    preds, _ = Potential(committee).evaluate(structures, committee_forces=True)
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    for row, p in zip(rows, preds):
        assert float(row["energy_std"]) == pytest.approx(p.energy_std, rel=1e-8)
        assert float(row["max_forces_std"]) == pytest.approx(p.forces_std.max(), rel=1e-7)
    frames = read(tmp_path / "predictions.extxyz", index=":")
    for atoms, p in zip(frames, preds):
        assert atoms.info["energy_std"] == pytest.approx(p.energy_std, rel=1e-12)
        np.testing.assert_allclose(atoms.arrays["forces_std"], p.forces_std, atol=1e-8)
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["structures"][0]["energy_std"] == pytest.approx(preds[0].energy_std, rel=1e-12)
    assert "Committee energy spread" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["chebyshev", "behler"])
def test_pair_gradients_with_columns_equal_one_call_per_column(kind):
    from anncli.descriptors.batch import env_types_for
    from anncli.descriptors.behler import BehlerSetup
    from anncli.descriptors.chebyshev import ChebyshevSetup
    from anncli.descriptors.neighbors import build_neighbor_list

    s = triclinic_structure(seed=3, n=8)
    species = ["Cu", "Au"]
    if kind == "chebyshev":
        setup = ChebyshevSetup("Cu", species, 4.0, 6, 3.5, 3)
    else:
        setup = BehlerSetup("Cu", species, [
            {"G": 2, "type2": "Cu", "eta": 0.5, "Rs": 0.0, "Rc": 4.0},
            {"G": 4, "type2": "Cu", "type3": "Au", "eta": 0.1, "lambda": -1, "zeta": 2.0, "Rc": 4.0}])
    nl = build_neighbor_list(s.positions, s.cell[None], np.ones((1, 3), bool), np.array([0, s.n_atoms]), 4.0)
    sym = np.array([species.index(x) for x in s.symbols], np.int32)
    centers = np.flatnonzero(sym == 0)
    env = env_types_for(setup, species, sym)
    rng = np.random.default_rng(0)
    de = rng.normal(size=(len(centers), 3, setup.n_features))
    g = setup.pair_gradients(nl, centers, env, de)
    assert g.shape[0] == 3 and g.shape[2] == 3
    for k in range(3):
        np.testing.assert_allclose(g[k], setup.pair_gradients(nl, centers, env, de[:, k]), rtol=0, atol=1e-13)


def test_committee_from_separate_model_files(members, tmp_path, capsys):
    from anncli.exceptions import DataError
    from anncli.potential.evaluate import load_potential

    # members trained separately: another normalisation is fine
    other = copy.deepcopy(members[2])
    other.feature_mean = {k: v + 0.1 for k, v in other.feature_mean.items()}
    other.energy_shift += 0.05
    paths = [save_model(tmp_path / f"m{k}.h5", m) for k, m in enumerate([members[0], members[1], other])]
    pot = load_potential([str(p) for p in paths])
    assert pot.n_members == 3
    s = cluster_structure(seed=13)
    alone = [Potential(m).evaluate([s])[0][0] for m in (members[0], members[1], other)]
    (p,), _ = pot.evaluate([s], committee_forces=True)
    e = np.array([a.energy for a in alone])
    assert p.energy == pytest.approx(e.mean(), abs=1e-10) and p.energy_std == pytest.approx(e.std(), abs=1e-10)
    np.testing.assert_allclose(p.forces, np.mean([a.forces for a in alone], axis=0), atol=1e-10)

    bad = copy.deepcopy(members[1])
    bad.descriptors = {k: v.replace('"radial_order": 6', '"radial_order": 5') for k, v in bad.descriptors.items()}
    bad_path = save_model(tmp_path / "bad.h5", bad)
    assert '"radial_order": 5' in bad.descriptors["Cu"]
    with pytest.raises(DataError, match=r"bad\.h5: the Cu descriptor differs from .*m0\.h5"):
        load_potential([str(paths[0]), str(bad_path)])
    swapped = copy.deepcopy(members[1])
    swapped.species = swapped.species[::-1]
    with pytest.raises(DataError, match="species Au Cu differ"):
        Potential([members[0], swapped])

    from anncli.cli import main
    from anncli.io import write_xsf
    from anncli.log import reset_logging

    write_xsf(tmp_path / "s.xsf", s)
    (tmp_path / "p.yaml").write_text(f"model: [{paths[0]}, {paths[1]}]\nstructures: [s.xsf]\n")
    (tmp_path / "bad.yaml").write_text(f"model: [{paths[0]}, {bad_path}]\nstructures: [s.xsf]\n")
    try:
        assert main(["predict", str(tmp_path / "p.yaml")]) == 0
        assert "Committee energy spread" in capsys.readouterr().out
        assert main(["predict", str(tmp_path / "bad.yaml")]) == 2
        assert "descriptor differs" in capsys.readouterr().err
    finally:
        reset_logging()


@pytest.mark.parametrize("committee_forces", [True, False])
def test_fused_committee_pass_equals_batched_path(committee, committee_forces):
    """The committee's fused pass (every member's network per centre, one force column per member
    or the mean's) against the batched path (features, BLAS networks, pair-gradient kernel, scatter);
    a periodic and an isolated structure of two species in one batch."""
    fused = Potential(committee)
    assert fused.n_members == 3 and set(fused._packed) == {"Cu", "Au"}
    assert all(p.n_members == 3 for p in fused._packed.values())
    separate = Potential(committee)
    separate._packed = {}
    structures = [triclinic_structure(seed=7, n=8), cluster_structure(seed=5), triclinic_structure(seed=2, n=9)]
    got, _ = fused.evaluate(structures, committee_forces=committee_forces)
    ref, _ = separate.evaluate(structures, committee_forces=committee_forces)
    for a, b in zip(got, ref):
        scale = max(1.0, np.abs(b.forces).max())
        assert a.energy == pytest.approx(b.energy, rel=1e-13, abs=1e-12)
        np.testing.assert_allclose(a.energy_members, b.energy_members, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(a.atomic_energies, b.atomic_energies, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(a.forces, b.forces, rtol=0, atol=1e-12 * scale)
        if committee_forces:
            np.testing.assert_allclose(a.forces_std, b.forces_std, rtol=0, atol=1e-12 * scale)
        else:
            assert a.forces_std is None and b.forces_std is None
        if b.stress is not None:
            np.testing.assert_allclose(a.stress, b.stress, rtol=0, atol=1e-12)


@pytest.mark.parametrize("structure", [triclinic_structure(seed=4, n=7), cluster_structure(seed=8)],
                         ids=["periodic", "cluster"])
def test_committee_member_forces_equal_finite_differences(committee, structure):
    """Every member's forces (fused pass) are minus the gradient of that member's energy."""
    from anncli.potential.evaluate import pack_structures

    pot = Potential(committee)
    arrays = list(pack_structures([structure], pot))
    res = pot.evaluate_arrays(*arrays, committee_forces=True, extrapolation=False)
    assert res.forces_members.shape == (3, structure.n_atoms, 3)
    np.testing.assert_allclose(res.forces, res.forces_members.mean(axis=0), rtol=0, atol=1e-13)
    h = 1e-5
    for i in range(structure.n_atoms):
        for a in range(3):
            e = []
            for sign in (1, -1):
                moved = arrays[0].copy()
                moved[i, a] += sign * h
                e.append(pot.evaluate_arrays(moved, *arrays[1:], forces=False, extrapolation=False).energy_members[:, 0])
            fd = -(e[0] - e[1]) / (2 * h)
            np.testing.assert_allclose(res.forces_members[:, i, a], fd, rtol=0,
                                       atol=2e-6 * max(1.0, np.abs(fd).max()))
