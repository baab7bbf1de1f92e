"""ChebyshevSetup parameters (validation, serialisation, registry) and featurize_batch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anncli.descriptors import DESCRIPTORS, descriptor_from_dict
from anncli.descriptors.batch import featurize_batch
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.descriptors.neighbors import build_neighbor_list
from anncli.exceptions import ConfigError, DataError

from cheb_helpers import batch_arrays, random_structure


def test_n_features_and_cutoff():
    assert ChebyshevSetup("Ti", ["Ti", "O"], 8.0, 16, 6.5, 4).n_features == 44
    assert ChebyshevSetup("Si", ["Si"], 6.0, 10, 6.5, 10).n_features == 22
    assert ChebyshevSetup("Si", ["Si"], 6.0, 10, 6.5, 10).cutoff == 6.5


def test_round_trip_through_json_and_registry():
    s = ChebyshevSetup("Ti", ["Ti", "O"], 8.0, 16, 6.5, 4, weights=[1.0, -2.5])
    d = json.loads(json.dumps(s.to_dict()))
    assert DESCRIPTORS["chebyshev"] is ChebyshevSetup
    back = descriptor_from_dict(d)
    assert back == s and back.to_dict() == s.to_dict()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(radial_cutoff=-1.0), "radial_cutoff"),
        (dict(angular_cutoff=0.0), "angular_cutoff"),
        (dict(radial_order=-2), "radial_order"),
        (dict(angular_order=2.5), "angular_order"),
        (dict(env=[]), "env"),
        (dict(env=["O", "O"]), "more than once"),
        (dict(weights=[1.0]), "weights"),
    ],
)
def test_validation_errors(kwargs, match):
    params = dict(central="O", env=["O", "H"], radial_cutoff=4.0, radial_order=5, angular_cutoff=3.0, angular_order=3)
    params.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        ChebyshevSetup(**params).validate()
    with pytest.raises(ConfigError):
        descriptor_from_dict({"kind": "chebyshev", **params})


def test_from_dict_rejects_unknown_kind_and_keys():
    with pytest.raises(ConfigError, match="kind"):
        descriptor_from_dict({"kind": "soap"})
    good = ChebyshevSetup("O", ["O"], 4.0, 5, 3.0, 3).to_dict()
    with pytest.raises(ConfigError, match="unknown"):
        descriptor_from_dict({**good, "rcut": 3})
    with pytest.raises(ConfigError, match="lacks"):
        descriptor_from_dict({"kind": "chebyshev", "central": "O"})


def _two_structures():
    rng = np.random.default_rng(12)
    a = random_structure(rng, 6, 3.0, (1, 1, 1))
    b = random_structure(rng, 5, 4.0, (0, 0, 0))
    return [a, b], np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1], dtype=np.int32)


def test_featurize_batch_matches_direct_calls():
    structures, sym = _two_structures()
    species = ["Ti", "O"]
    setups = {
        "Ti": ChebyshevSetup("Ti", ["Ti", "O"], 4.0, 6, 3.0, 3),
        "O": ChebyshevSetup("O", ["O", "Ti"], 3.5, 4, 3.5, 2),
    }
    p, c, b, o = batch_arrays(structures)
    res = featurize_batch(p, c, b, o, sym, species, setups, derivatives=True)
    assert res.nl.cutoff == 4.0
    nl = build_neighbor_list(p, c, b, o, 4.0)
    np.testing.assert_array_equal(res.neighbor_counts, nl.counts())
    for s, mins in enumerate(res.min_distance):
        a0, a1 = o[s], o[s + 1]
        d = nl.distances[nl.offsets[a0]:nl.offsets[a1]]
        assert mins == d.min()
    for t, name in enumerate(species):
        sf = res.species[name]
        np.testing.assert_array_equal(sf.centers, np.flatnonzero(sym == t))
        env_types = np.array([setups[name].env.index(species[k]) for k in sym], dtype=np.int32)
        f, dG = setups[name].features_and_derivatives(nl, sf.centers, env_types)
        np.testing.assert_array_equal(sf.features, f)
        np.testing.assert_array_equal(sf.dG, dG)
        for ci, i in enumerate(sf.centers):
            pairs = np.arange(nl.offsets[i], nl.offsets[i + 1])
            np.testing.assert_array_equal(sf.pair_index[sf.pair_offsets[ci]:sf.pair_offsets[ci + 1]], pairs)
            np.testing.assert_array_equal(sf.neighbors[sf.pair_offsets[ci]:sf.pair_offsets[ci + 1]], nl.index[pairs])
    res2 = featurize_batch(p, c, b, o, sym, species, setups)
    assert res2.species["O"].dG is None
    np.testing.assert_array_equal(res2.species["O"].features, res.species["O"].features)


def test_missing_env_species_is_a_data_error_naming_both():
    structures, sym = _two_structures()
    setups = {"Ti": ChebyshevSetup("Ti", ["Ti"], 4.0, 6, 3.0, 3), "O": ChebyshevSetup("O", ["O", "Ti"], 4.0, 4, 3.5, 2)}
    p, c, b, o = batch_arrays(structures)
    with pytest.raises(DataError, match=r"O atom is a neighbour of Ti atom.*O is not in the env list of the Ti"):
        featurize_batch(p, c, b, o, sym, ["Ti", "O"], setups)


def test_species_without_setup_or_atoms():
    structures, sym = _two_structures()
    p, c, b, o = batch_arrays(structures)
    setups = {"Ti": ChebyshevSetup("Ti", ["Ti", "O"], 4.0, 6, 3.0, 3)}
    with pytest.raises(DataError, match="no descriptor setup"):
        featurize_batch(p, c, b, o, sym, ["Ti", "O"], setups)
    setups["O"] = ChebyshevSetup("O", ["O", "Ti", "Li"], 4.0, 6, 3.0, 3)
    setups["Li"] = ChebyshevSetup("Li", ["O", "Ti", "Li"], 4.0, 6, 3.0, 3)
    res = featurize_batch(p, c, b, o, sym, ["Ti", "O", "Li"], setups, derivatives=True)
    assert res.species["Li"].features.shape == (0, 22) and res.species["Li"].dG.shape == (0, 22, 3)
