"""ANNCalculator: same numbers as the engine, ASE conventions, usable in MD."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import PropertyNotImplementedError

from anncli.calculator import ANNCalculator

from pot_helpers import cluster_structure, triclinic_structure


def test_calculator_equals_engine(small_potential, small_model):
    s = triclinic_structure()
    (p,), _ = small_potential.evaluate([s])
    atoms = s.to_ase()
    atoms.calc = ANNCalculator(small_model)
    assert atoms.get_potential_energy() == pytest.approx(p.energy, abs=1e-10)
    assert atoms.get_potential_energy(force_consistent=True) == pytest.approx(p.energy, abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), p.forces, atol=1e-12)
    np.testing.assert_allclose(atoms.get_potential_energies(), p.atomic_energies, atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(voigt=False), p.stress, atol=1e-12)
    # ASE's own finite-difference stress agrees with the analytic one
    from ase.calculators.fd import calculate_numerical_stress

    np.testing.assert_allclose(calculate_numerical_stress(atoms, eps=1e-5), atoms.get_stress(), atol=1e-6)


def test_calculator_isolated_and_species(small_potential, small_model):
    s = cluster_structure()
    atoms = s.to_ase()
    atoms.calc = ANNCalculator(small_potential)
    (p,), _ = small_potential.evaluate([s])
    assert atoms.get_potential_energy() == pytest.approx(p.energy, abs=1e-10)
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()
    atoms[0].symbol = "Ni"
    from anncli.exceptions import DataError

    with pytest.raises(DataError, match="Ni"):
        atoms.get_potential_energy()


def test_md_step_conserves_energy(small_model):
    from ase import units
    from ase.md.verlet import VelocityVerlet

    s = triclinic_structure()
    shifts = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)]) @ s.cell
    from anncli.structure import Structure

    atoms = Structure(s.symbols * 8, np.concatenate([s.positions + t for t in shifts]), 2 * s.cell, s.pbc).to_ase()
    atoms.calc = ANNCalculator(small_model, extrapolation=False)
    rng = np.random.default_rng(0)
    atoms.set_momenta(rng.normal(0, 0.2, (len(atoms), 3)))
    e0 = atoms.get_potential_energy() + atoms.get_kinetic_energy()
    dyn = VelocityVerlet(atoms, 0.2 * units.fs)
    dyn.run(20)
    e1 = atoms.get_potential_energy() + atoms.get_kinetic_energy()
    assert abs(e1 - e0) < 1e-3 * len(atoms)
    assert not np.allclose(atoms.positions, Structure(s.symbols * 8, np.concatenate([s.positions + t for t in shifts])).positions)
