"""Δ-learning baselines in the engine: the results of a model with a baseline are exactly the
networks' plus the baseline calculator's (energies, forces, stress, per-atom energies,
committee members), in Potential, ANNCalculator and the model file; export and stored-label
baselines are refused with clear messages."""

from __future__ import annotations

import copy

import h5py
import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.calculators.morse import MorsePotential
from synthetic_model import random_model

from anncli.calculator import ANNCalculator
from anncli.exceptions import ConfigError, DataError, FileFormatError
from anncli.potential.evaluate import Potential
from anncli.potential.model_file import load_model, save_model

from pot_helpers import cluster_structure, small_setups, triclinic_structure

EMT_SPEC = {"calculator": "emt", "kwargs": {}}
MORSE_KW = {"epsilon": 0.07, "r0": 2.6, "rho0": 5.0, "rcut1": 3.0, "rcut2": 4.0}


@pytest.fixture(scope="module")
def bare():
    return random_model(small_setups(), (8, 8), structures=[triclinic_structure(), cluster_structure()], seed=3,
                        reference_energies={"Cu": -1.5, "Au": -2.5}, energy_scale=0.7, energy_shift=-0.2)


def _with(model, baseline):
    m = copy.deepcopy(model)
    m.baseline = baseline
    return m


def _direct(structure, calc):
    """Energy, forces, stress (3x3 or None) and per-atom energies of ``calc`` on ``structure``."""
    atoms = structure.to_ase()
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False) if all(structure.pbc) else None
    return atoms.get_potential_energy(), atoms.get_forces(), stress, atoms.get_potential_energies()


@pytest.mark.parametrize("spec, calc", [(EMT_SPEC, EMT), ({"calculator": "morse", "kwargs": MORSE_KW},
                                                          lambda: MorsePotential(**MORSE_KW))])
def test_results_are_networks_plus_baseline(bare, spec, calc):
    structures = [triclinic_structure(seed=7, n=8), cluster_structure(seed=5), triclinic_structure(seed=9, n=5)]
    plain, _ = Potential(bare).evaluate(structures)
    delta, _ = Potential(_with(bare, spec)).evaluate(structures)
    for s, p, d in zip(structures, plain, delta):
        e, f, st, e_i = _direct(s, calc())
        assert abs(e) > 1e-3 and np.abs(f).max() > 1e-3  # the baseline is not a no-op here
        assert d.energy == pytest.approx(p.energy + e, rel=1e-13, abs=1e-12)
        assert d.cohesive_energy == pytest.approx(p.cohesive_energy + e, rel=1e-13, abs=1e-12)
        np.testing.assert_allclose(d.forces, p.forces + f, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(d.atomic_energies, p.atomic_energies + e_i, rtol=1e-12, atol=1e-12)
        assert d.atomic_energies.sum() == pytest.approx(d.energy, rel=1e-12)
        if st is None:
            assert d.stress is None and p.stress is None
        else:
            np.testing.assert_allclose(d.stress, p.stress + st, rtol=1e-12, atol=1e-14)


def test_energy_only_evaluation_adds_the_baseline_energy(bare):
    s = triclinic_structure(seed=7, n=8)
    plain, _ = Potential(bare).evaluate([s], forces=False)
    delta, _ = Potential(_with(bare, EMT_SPEC)).evaluate([s], forces=False)
    assert delta[0].forces is None
    assert delta[0].energy == pytest.approx(plain[0].energy + _direct(s, EMT())[0], rel=1e-13)


def test_committee_members_and_spread(bare):
    other = random_model(small_setups(), (8, 8), structures=[triclinic_structure()], seed=4,
                         reference_energies={"Cu": -1.5, "Au": -2.5})
    committee = copy.deepcopy(bare)
    committee.committee = [other.networks]
    s = triclinic_structure(seed=7, n=8)
    plain = Potential(committee).evaluate([s], committee_forces=True)[0][0]
    delta = Potential(_with(committee, EMT_SPEC)).evaluate([s], committee_forces=True)[0][0]
    e = _direct(s, EMT())[0]
    np.testing.assert_allclose(delta.energy_members, plain.energy_members + e, rtol=1e-13)
    assert delta.energy_std == pytest.approx(plain.energy_std, rel=1e-9, abs=1e-13)
    np.testing.assert_allclose(delta.forces_std, plain.forces_std, rtol=1e-9, atol=1e-12)


def test_ase_calculator_adds_the_baseline(bare):
    s = triclinic_structure(seed=7, n=8)
    atoms = s.to_ase()
    atoms.calc = ANNCalculator(bare)
    e0, f0, s0 = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    atoms.calc = ANNCalculator(_with(bare, EMT_SPEC))
    e1, f1, s1 = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    ref = s.to_ase()
    ref.calc = EMT()
    assert e1 == pytest.approx(e0 + ref.get_potential_energy(), rel=1e-13)
    np.testing.assert_allclose(f1, f0 + ref.get_forces(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s1, s0 + ref.get_stress(), rtol=1e-12, atol=1e-14)


def test_stress_matches_finite_differences_of_the_energy(bare):
    """The summed stress is the strain derivative of the summed energy (ASE's numerical stress)."""
    atoms = triclinic_structure(seed=7, n=8).to_ase()
    atoms.calc = ANNCalculator(_with(bare, {"calculator": "morse", "kwargs": MORSE_KW}))
    analytic = atoms.get_stress()
    from ase.calculators.fd import calculate_numerical_stress

    numeric = calculate_numerical_stress(atoms, eps=1e-5, force_consistent=False)
    np.testing.assert_allclose(analytic, numeric, atol=2e-6)


def test_model_file_records_the_baseline(tmp_path, bare):
    spec = {"calculator": "morse", "kwargs": MORSE_KW, "class": "ase.calculators.morse.MorsePotential"}
    save_model(tmp_path / "delta.h5", _with(bare, spec))
    save_model(tmp_path / "plain.h5", bare)
    assert load_model(tmp_path / "delta.h5").baseline == spec
    assert load_model(tmp_path / "plain.h5").baseline is None
    with h5py.File(tmp_path / "delta.h5") as f:  # readers that do not know baselines refuse it
        assert int(f.attrs["format_version"]) == 2
    with h5py.File(tmp_path / "plain.h5") as f:  # models without one stay readable everywhere
        assert int(f.attrs["format_version"]) == 1
    from anncli.io.h5files import open_checked

    with pytest.raises(FileFormatError, match="format version 2, this anncli reads version 1"):
        open_checked(tmp_path / "delta.h5", "anncli-model", 1, "model file")


def test_stored_label_baseline_needs_a_calculator_at_predict_time(bare):
    stored = _with(bare, {"energy_key": "emt_energy", "forces_key": "emt_forces"})
    with pytest.raises(ConfigError, match=r"cannot be computed for new structures.*baseline: \{calculator"):
        Potential(stored)
    s = triclinic_structure(seed=7, n=8)
    with_emt = Potential(stored, baseline={"calculator": "emt"}).evaluate([s])[0][0]
    plain = Potential(bare).evaluate([s])[0][0]
    assert with_emt.energy == pytest.approx(plain.energy + _direct(s, EMT())[0], rel=1e-13)
    # an ASE calculator instance works too (Python API)
    atoms = s.to_ase()
    atoms.calc = ANNCalculator(stored, baseline=EMT())
    assert atoms.get_potential_energy() == pytest.approx(with_emt.energy, rel=1e-13)


def test_baseline_override_for_a_model_without_baseline_is_refused(bare):
    with pytest.raises(ConfigError, match="trained without a baseline"):
        Potential(bare, baseline={"calculator": "emt"})


def test_committee_of_models_with_other_baselines_is_refused(bare):
    from anncli.potential.evaluate import load_potential

    with pytest.raises(DataError, match="baseline differs"):
        load_potential([_with(bare, EMT_SPEC), bare])


def test_calculator_failing_on_a_structure_is_named(bare):
    s = triclinic_structure(seed=7, n=8)
    s.source = "cells/odd.xsf"
    pot = Potential(_with(bare, {"calculator": "morse", "kwargs": {"epsilon": "oops"}}))
    with pytest.raises(DataError, match=r"cells/odd\.xsf: the baseline calculator morse.*failed"):
        pot.evaluate([s])


def test_export_refuses_a_model_with_a_baseline(tmp_path, bare, capsys):
    from anncli.cli import main

    save_model(tmp_path / "delta.h5", _with(bare, EMT_SPEC))
    assert main(["export", str(tmp_path / "delta.h5"), "--format", "aenet", "--output", str(tmp_path / "nn")]) == 2
    err = capsys.readouterr().err
    assert "Δ-learning" in err and "ænet cannot represent" in err and "emt" in err and "Traceback" not in err
    assert not list((tmp_path / "nn").glob("*.nn")) if (tmp_path / "nn").exists() else True


def test_model_baseline_calculator_not_installed_where_the_model_is_used(bare):
    model = _with(bare, {"calculator": "no_such_package.calc:Calculator", "kwargs": {}})
    with pytest.raises(ConfigError, match=r"Δ-learning baseline of the model: .*'no_such_package'.*not installed"):
        Potential(model)
