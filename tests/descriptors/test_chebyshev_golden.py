"""Chebyshev features against Fortran ænet 2.0.4 (aenet-golden/chebyshev)."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.descriptors.batch import featurize_batch
from anncli.descriptors.chebyshev import ChebyshevSetup

from anncli.io import read_xsf

PARAMS = dict(radial_cutoff=4.0, radial_order=10, angular_cutoff=1.5, angular_order=3)


def _features(symbols, positions, cell, species):
    setups = {s: ChebyshevSetup(s, species, **PARAMS).validate() for s in species}
    sym = np.array([species.index(s) for s in symbols], dtype=np.int32)
    pbc = np.ones((1, 3), bool) if cell is not None else np.zeros((1, 3), bool)
    cells = cell[None] if cell is not None else np.zeros((1, 3, 3))
    res = featurize_batch(positions, cells, pbc, np.array([0, len(symbols)]), sym, species, setups)
    out = np.empty((len(symbols), setups[species[0]].n_features))
    for s in species:
        out[res.species[s].centers] = res.species[s].features
    return out


def _compare(got, ref):
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


def test_water_isolated(golden):
    from ase.io import read

    atoms = read(golden / "chebyshev" / "water.xyz")
    ref = np.loadtxt(golden / "chebyshev" / "water_ref.csv", delimiter=",")
    got = _features(atoms.get_chemical_symbols(), atoms.positions, None, ["O", "H"])
    _compare(got, ref)


def test_lmnto_periodic_five_species(golden):
    s = read_xsf(golden / "chebyshev" / "lmnto_structure001.xsf")
    symbols, positions, cell = s.symbols, s.positions, s.cell
    ref = np.loadtxt(golden / "chebyshev" / "lmnto_ref.csv", delimiter=",")
    got = _features(symbols, positions, cell, ["Li", "Mo", "Ni", "Ti", "O"])
    _compare(got, ref)


def test_lmnto_typed_copy_is_sensitive_to_weights(golden):
    """Guard: a wrong species weight order would not reproduce the reference."""
    s = read_xsf(golden / "chebyshev" / "lmnto_structure001.xsf")
    symbols, positions, cell = s.symbols, s.positions, s.cell
    ref = np.loadtxt(golden / "chebyshev" / "lmnto_ref.csv", delimiter=",")
    got = _features(symbols, positions, cell, ["O", "Ti", "Ni", "Mo", "Li"])
    assert not np.allclose(got, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[:, :15], ref[:, :15], rtol=1e-10, atol=1e-10)


def test_weights_typespin():
    from anncli.descriptors.chebyshev import typespin_weights

    assert typespin_weights(2).tolist() == [-1, 1]
    assert typespin_weights(3).tolist() == [-1, 0, 1]
    assert typespin_weights(4).tolist() == [-2, -1, 1, 2]
    assert typespin_weights(5).tolist() == [-2, -1, 0, 1, 2]


@pytest.mark.parametrize("n", [2, 5])
def test_weights_match_reference_helper(n):
    from anncli.descriptors.chebyshev import typespin_weights

    from reference_chebyshev import typespin

    np.testing.assert_array_equal(typespin_weights(n), typespin(n))
