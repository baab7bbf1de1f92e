"""Reference stress from structure files: Voigt or 3x3, converted with the file's units."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from anncli.io import read_structures
from anncli.structure import Structure
from anncli.units import Units


def test_stress_is_read_and_converted(tmp_path):
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1.2, 1.3, 1.1]], cell=np.eye(3) * 3.0, pbc=True)
    voigt = np.array([1.0, 2.0, 3.0, 0.4, 0.5, 0.6])
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.zeros((2, 3)), stress=voigt)
    write(tmp_path / "a.extxyz", atoms, format="extxyz")
    (s,) = read_structures(tmp_path / "a.extxyz")
    full = np.array([[1.0, 0.6, 0.5], [0.6, 2.0, 0.4], [0.5, 0.4, 3.0]])
    np.testing.assert_allclose(s.stress, full)
    (h,) = read_structures(tmp_path / "a.extxyz", units=Units(energy="Hartree", length="Bohr"))
    u = Units(energy="Hartree", length="Bohr")
    np.testing.assert_allclose(h.stress, full * u.energy_factor / u.length_factor**3, rtol=1e-12)
    back = Structure.from_ase(s.to_ase())
    np.testing.assert_allclose(back.stress, full)


def test_isolated_structures_have_no_stress():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1.2, 1.3, 1.1]])
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, stress=np.ones(6))
    assert Structure.from_ase(atoms).stress is None
    with pytest.raises(ValueError):
        Structure(["Cu"], [[0, 0, 0]], stress=np.ones(5))
