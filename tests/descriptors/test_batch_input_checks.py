"""featurize_batch and the descriptor entry points refuse what the kernels cannot handle.

Missing env species wherever the atom sits, coincident (duplicated) atoms, and arrays that do
not fit together: each is a clear exception, never a silent out-of-bounds read.
"""

from __future__ import annotations

import numpy as np
import pytest

from anncli.descriptors.batch import featurize_batch
from anncli.descriptors.behler import BehlerSetup
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.descriptors.neighbors import build_neighbor_list, min_distance_per_structure
from anncli.exceptions import DataError

SPECIES = ["Cu", "Au", "Ag"]


def _cluster(symbols, seed=0):
    """Isolated cluster of atoms 2.0-2.6 Å apart along a zig-zag (every atom sees its neighbours)."""
    rng = np.random.default_rng(seed)
    pos = np.cumsum(rng.uniform(1.3, 1.5, size=(len(symbols), 3)) * [1, (-1) ** np.arange(len(symbols))[0], 1], axis=0)
    pos[:, 1] = 0.7 * (-1) ** np.arange(len(symbols))
    sym = np.array([SPECIES.index(s) for s in symbols], dtype=np.int32)
    return pos, np.zeros((1, 3, 3)), np.zeros((1, 3), bool), np.array([0, len(symbols)]), sym


def _setups(env_of_cu):
    return {
        "Cu": ChebyshevSetup("Cu", env_of_cu, 4.0, 4, 3.5, 2),
        "Au": ChebyshevSetup("Au", SPECIES, 4.0, 4, 3.5, 2),
        "Ag": ChebyshevSetup("Ag", SPECIES, 4.0, 4, 3.5, 2),
    }


@pytest.mark.parametrize(
    "symbols",
    [
        ["Ag", "Cu", "Cu", "Au"],  # the species missing from Cu's env is the first atom
        ["Cu", "Cu", "Au", "Ag"],  # ... the last atom (the old check looked at atoms 0..k only)
        ["Cu", "Au", "Cu", "Ag", "Cu"],
    ],
)
def test_env_list_missing_a_present_species_is_refused(symbols):
    arrays = _cluster(symbols)
    with pytest.raises(DataError, match=r"a Ag atom is a neighbour of Cu atom \d.*Ag is not in the env list of the Cu"):
        featurize_batch(*arrays, SPECIES, _setups(["Cu", "Au"]), labels=["c.xsf"])
    # with Ag in the env list the same batch is fine
    featurize_batch(*arrays, SPECIES, _setups(SPECIES))


def test_env_list_missing_a_species_out_of_reach_is_fine():
    pos, cells, pbcs, offsets, sym = _cluster(["Cu", "Cu", "Au"])
    pos = np.vstack([pos, pos[-1] + [20.0, 0, 0]])  # an Ag atom far from every Cu
    sym = np.append(sym, SPECIES.index("Ag")).astype(np.int32)
    res = featurize_batch(pos, cells, pbcs, np.array([0, 4]), sym, SPECIES, _setups(["Cu", "Au"]))
    assert res.species["Cu"].features.shape == (2, 2 * (4 + 1 + 2 + 1))


def test_descriptor_features_refuse_a_neighbour_outside_env():
    pos, cells, pbcs, offsets, sym = _cluster(["Cu", "Cu", "Ag"])
    nl = build_neighbor_list(pos, cells, pbcs, offsets, 4.0)
    setup = ChebyshevSetup("Cu", ["Cu", "Au"], 4.0, 4, 3.5, 2)
    env_types = np.array([0, 0, -1], dtype=np.int32)  # Ag: not in env
    with pytest.raises(ValueError, match="not in env|absent from env"):
        setup.features(nl, np.array([0, 1]), env_types)


@pytest.mark.parametrize(
    "centers, env_types, match",
    [
        (np.array([0, 3]), np.zeros(3, np.int32), r"centers\[1\] = 3"),
        (np.array([-1]), np.zeros(3, np.int32), r"centers\[0\] = -1"),
        (np.array([0]), np.zeros(2, np.int32), "one entry per atom"),
        (np.array([0]), np.array([0, 2, 0], np.int32), r"env_types\[1\] = 2"),
        (np.array([0.5]), np.zeros(3, np.int32), "integers"),
    ],
)
@pytest.mark.parametrize("kind", ["chebyshev", "behler"])
def test_descriptor_entry_points_validate_arrays(centers, env_types, match, kind):
    pos, cells, pbcs, offsets, _ = _cluster(["Cu", "Cu", "Au"])
    nl = build_neighbor_list(pos, cells, pbcs, offsets, 4.0)
    if kind == "chebyshev":
        setup = ChebyshevSetup("Cu", ["Cu", "Au"], 4.0, 4, 3.5, 2)
    else:
        setup = BehlerSetup("Cu", ["Cu", "Au"], [{"G": 2, "type2": "Cu", "eta": 0.5, "Rs": 0.0, "Rc": 4.0}])
    with pytest.raises((ValueError, TypeError), match=match):
        setup.features(nl, centers, env_types)
    with pytest.raises((ValueError, TypeError), match=match):
        setup.features_and_derivatives(nl, centers, env_types)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: (a[0][:-1],) + a[1:], r"positions must have shape \(3, 3\)"),
        (lambda a: a[:1] + (np.zeros((2, 3, 3)),) + a[2:], r"cells must have shape \(1, 3, 3\)"),
        (lambda a: a[:2] + (np.zeros((1, 2), bool),) + a[3:], r"pbcs must have shape \(1, 3\)"),
        (lambda a: a[:3] + (np.array([0, 4]),) + a[4:], r"positions must have shape \(4, 3\)"),
        (lambda a: a[:3] + (np.array([1, 3]),) + a[4:], "must start at 0"),
        (lambda a: a[:4] + (np.array([0, 1], np.int32),), "3 entries"),
        (lambda a: a[:4] + (np.array([0, 1, 3], np.int32),), r"species_index\[2\] = 3"),
    ],
)
def test_featurize_batch_validates_arrays(change, match):
    arrays = _cluster(["Cu", "Cu", "Au"])
    with pytest.raises(ValueError, match=match):
        featurize_batch(*change(arrays), SPECIES, _setups(SPECIES))


def _periodic_pair_on_an_image():
    """Atom 1 at the origin, atom 3 exactly one lattice vector away: the same site."""
    cell = np.array([[3.0, 0.0, 0.0], [0.4, 3.1, 0.0], [0.2, 0.3, 2.9]])
    pos = np.array([[0.0, 0.0, 0.0], [1.2, 1.4, 1.5], cell[1].copy()])
    return pos, cell[None], np.ones((1, 3), bool), np.array([0, 3]), np.array([0, 1, 1], np.int32)


def test_duplicated_atom_is_a_data_error_naming_the_pair():
    pos, cells, pbcs, offsets, sym = _cluster(["Cu", "Au", "Cu", "Au"])
    pos = np.vstack([pos, pos[1]])  # a duplicated line: atom 5 repeats atom 2
    sym = np.append(sym, 1).astype(np.int32)
    with pytest.raises(DataError, match=r"dup\.xsf: atoms 2 \(Au\) and 5 \(Au\) are at the same position"):
        featurize_batch(pos, cells, pbcs, np.array([0, 5]), sym, SPECIES, _setups(SPECIES), labels=["dup.xsf"])


def test_atom_on_a_periodic_image_of_another_is_a_data_error():
    pos, cells, pbcs, offsets, sym = _periodic_pair_on_an_image()
    with pytest.raises(DataError, match=r"atoms 1 \(Cu\) and 3 \(Au\) are at the same position"):
        featurize_batch(pos, cells, pbcs, offsets, sym, SPECIES, _setups(SPECIES))


def test_neighbor_list_records_coincident_atoms_and_zero_min_distance():
    pos, cells, pbcs, offsets, _ = _periodic_pair_on_an_image()
    # a second, clean structure in the same batch keeps its own minimum distance
    clean = np.array([[0.0, 0, 0], [1.1, 0.2, 0.3]])
    nl = build_neighbor_list(
        np.vstack([pos, clean]), np.concatenate([cells, np.zeros((1, 3, 3))]),
        np.vstack([pbcs, np.zeros((1, 3), bool)]), np.array([0, 3, 5]), 3.0)
    assert nl.coincident.tolist() == [0, 2]
    dmin = min_distance_per_structure(nl, np.array([0, 3, 5]))
    assert dmin[0] == 0.0
    assert dmin[1] == pytest.approx(np.linalg.norm(clean[1]))


def test_no_coincident_atoms_in_an_ordinary_crystal():
    cell = 3.6 * np.eye(3)
    frac = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    nl = build_neighbor_list(frac @ cell, cell[None], np.ones((1, 3), bool), np.array([0, 4]), 6.0)
    assert nl.coincident.tolist() == []
    assert min_distance_per_structure(nl, np.array([0, 4]))[0] == pytest.approx(3.6 / np.sqrt(2))
