"""The engine and the calculator refuse bad input clearly; extrapolation ignores rounding noise."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from anncli.calculator import ANNCalculator
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.exceptions import DataError
from anncli.potential.evaluate import EXTRAPOLATION_TOLERANCE, Potential, pack_structures
from anncli.potential.results import Extrapolation
from anncli.structure import Structure

from pot_helpers import SPECIES, cluster_structure, triclinic_structure


def test_model_whose_env_lacks_a_present_species_is_refused_on_predict(small_model):
    model = copy.deepcopy(small_model)
    import json

    d = json.loads(model.descriptors["Cu"])
    d["env"] = ["Cu"]  # an ænet .nn or model file whose Cu setup does not know Au
    model.descriptors["Cu"] = json.dumps(ChebyshevSetup.from_dict(d).to_dict())
    # adjust the Cu network's input size: the setup now has fewer features
    n_f = ChebyshevSetup.from_dict(d).n_features
    from anncli.network.mlp import Network, init_network_params

    net = Network([n_f, 4, 1], ["tanh", "linear"])
    init_network_params(net, np.random.default_rng(0))
    model.networks["Cu"] = net
    for name in ("feature_mean", "feature_std", "feature_min", "feature_max"):
        getattr(model, name)["Cu"] = np.zeros(n_f) if name != "feature_std" else np.ones(n_f)
    pot = Potential(model)
    s = triclinic_structure()  # alternating Cu, Au: the last atom is Au
    with pytest.raises(DataError, match=r"a Au atom is a neighbour of Cu atom .* not in the env list of the Cu"):
        pot.evaluate([s])
    atoms = s.to_ase()
    atoms.calc = ANNCalculator(pot)
    with pytest.raises(DataError, match="not in the env list"):
        atoms.get_potential_energy()


def test_evaluate_arrays_validates_its_arrays(small_potential):
    arrays = list(pack_structures([triclinic_structure()], small_potential))
    n = len(arrays[0])
    with pytest.raises(ValueError, match=f"species_index must have {n} entries"):
        small_potential.evaluate_arrays(*arrays[:4], arrays[4][:-1])
    with pytest.raises(ValueError, match=r"species_index\[0\] = 2"):
        small_potential.evaluate_arrays(*arrays[:4], np.full(n, 2, np.int32))
    with pytest.raises(ValueError, match="positions must have shape"):
        small_potential.evaluate_arrays(arrays[0][:, :2], *arrays[1:])


def test_evaluate_accepts_ase_atoms_and_refuses_other_objects(small_potential):
    s = cluster_structure()
    (ref,), _ = small_potential.evaluate([s])
    (got,), _ = small_potential.evaluate([s.to_ase()])
    assert got.energy == ref.energy
    np.testing.assert_array_equal(got.forces, ref.forces)
    with pytest.raises(TypeError, match=r"structures\[1\] is a str"):
        small_potential.evaluate([s, "POSCAR"])
    with pytest.raises(ValueError, match="batch_atoms"):
        small_potential.evaluate([s], batch_atoms=0)


def test_duplicated_atom_is_an_error_in_the_engine_and_the_calculator(small_potential):
    s = triclinic_structure(n=6)
    dup = Structure(s.symbols + [s.symbols[3]], np.vstack([s.positions, s.positions[3]]), s.cell, s.pbc,
                    source="dup.xsf")
    with pytest.raises(DataError, match=r"dup\.xsf: atoms 4 \(Au\) and 7 \(Au\) are at the same position"):
        small_potential.evaluate([dup])
    atoms = dup.to_ase()
    atoms.calc = ANNCalculator(small_potential)
    with pytest.raises(DataError, match=r"atoms 4 \(Au\) and 7 \(Au\) are at the same position"):
        atoms.get_forces()


def _tight_model(small_model, structure, shrink):
    """The model with the feature range of ``structure`` itself, shrunk by ``shrink`` of the range."""
    model = copy.deepcopy(small_model)
    pot = Potential(model)
    from anncli.descriptors.batch import featurize_batch

    bf = featurize_batch(*pack_structures([structure], pot), pot.species, pot.setups)
    for sym in SPECIES:
        x = bf.species[sym].features
        lo, hi = x.min(axis=0), x.max(axis=0)
        span = hi - lo
        model.feature_min[sym] = lo + shrink * span
        model.feature_max[sym] = hi - shrink * span
    return model


def test_rounding_noise_on_the_range_boundary_is_not_extrapolation(small_model):
    s = triclinic_structure()
    # the range as ænet's Fortran or another batch order computes it: 1e-10 of the range inside
    model = _tight_model(small_model, s, 1e-10)
    (p,), ex = Potential(model).evaluate([s])
    assert p.n_extrapolating == 0 and len(ex) == 0
    (p,), ex = Potential(model, extrapolation_tolerance=0.0).evaluate([s])
    assert p.n_extrapolating == s.n_atoms  # every atom holds some feature's extreme value
    # a real excess (1 % of the range) is still flagged with the default tolerance
    model = _tight_model(small_model, s, 0.01)
    (p,), ex = Potential(model).evaluate([s])
    assert p.n_extrapolating > 0
    assert 0.01 > EXTRAPOLATION_TOLERANCE
    # every extreme value now lies 1 % of the old range (1/98 of the new one) outside
    assert p.extrapolation_grade == pytest.approx(0.01 / 0.98, rel=1e-9)
    assert np.all(ex.grade <= 0.01 / 0.98 * (1 + 1e-9))


def test_extrapolation_reports_the_worst_feature_of_each_atom(small_model):
    s = triclinic_structure()
    model = copy.deepcopy(small_model)
    pot = Potential(model)
    from anncli.descriptors.batch import featurize_batch

    bf = featurize_batch(*pack_structures([s], pot), pot.species, pot.setups)
    rng = np.random.default_rng(0)
    for sym in SPECIES:  # a random range that cuts through the features
        x = bf.species[sym].features
        lo, hi = x.min(axis=0), x.max(axis=0)
        model.feature_min[sym] = lo + rng.uniform(0, 0.3, lo.shape) * (hi - lo)
        model.feature_max[sym] = hi - rng.uniform(0, 0.3, hi.shape) * (hi - lo)
    (p,), ex = Potential(model, extrapolation_tolerance=0.0).evaluate([s])
    for k in range(len(ex)):
        sym, a = ex.species[k], int(ex.atom[k])
        row = int(np.flatnonzero(bf.species[sym].centers == a)[0])
        x, lo, hi = bf.species[sym].features[row], model.feature_min[sym], model.feature_max[sym]
        excess = np.maximum(lo - x, 0) + np.maximum(x - hi, 0)
        rel = excess / (hi - lo)
        assert ex.feature[k] == int(np.argmax(rel))
        assert ex.grade[k] == pytest.approx(rel.max(), rel=1e-12)
        assert ex.n_features[k] == int(np.count_nonzero(excess > 0))
    assert p.extrapolation_grade == pytest.approx(ex.grade.max(), rel=1e-12)


def test_excess_text_shows_the_digits_that_differ():
    z = np.zeros(1, np.int64)
    ex = Extrapolation(z, z, ["O"], z, np.array([-9.278891234]), np.array([-9.27889]), np.array([-3.89049]), z + 1)
    text = ex.excess_text(0)
    assert text.startswith("-9.278891")
    assert "below the training minimum -9.27889" in text
    value, bound = text.split(" is ")[0], text.split("minimum ")[1].split(" ")[0]
    assert float(value) != float(bound)  # enough digits to see the excess
    assert "1.2e-06" in text
    ex = Extrapolation(z, z, ["O"], z, np.array([5.5]), np.array([1.0]), np.array([5.0]), z + 1)
    assert ex.excess_text(0) == "5.5 is 0.5 above the training maximum 5 (12 % of the range)"
