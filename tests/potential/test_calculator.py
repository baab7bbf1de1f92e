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


def test_md_conserves_energy_to_second_order_in_the_timestep(small_model):
    """NVE velocity Verlet: the total-energy error must shrink as dt² (x 1/4 when dt halves).

    Forces that are not exactly -dE/dR add an energy drift that does not depend on dt (the
    work of the force error along the same trajectory), so the ratio also catches force errors
    far below the size of the energy fluctuations (a force scaled by 1.0001 gives a ratio ~0.8).
    """
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from anncli.structure import Structure

    s = triclinic_structure()
    shifts = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)]) @ s.cell
    start = Structure(s.symbols * 8, np.concatenate([s.positions + t for t in shifts]), 2 * s.cell, s.pbc)

    def run(dt_fs: float, total_fs: float = 8.0):
        atoms = start.to_ase()
        atoms.calc = ANNCalculator(small_model, extrapolation=False)
        atoms.set_momenta(np.random.default_rng(0).normal(0, 0.2, (len(atoms), 3)))
        e0 = atoms.get_potential_energy() + atoms.get_kinetic_energy()
        total, potential = [], []

        def record():
            potential.append(atoms.get_potential_energy())
            total.append(potential[-1] + atoms.get_kinetic_energy())

        dyn = VelocityVerlet(atoms, dt_fs * units.fs)
        dyn.attach(record)
        dyn.run(int(round(total_fs / dt_fs)))
        return np.abs(np.array(total) - e0).max(), np.ptp(potential)

    err, swing = run(0.4)
    err_half, swing_half = run(0.2)
    assert err_half / err == pytest.approx(0.25, abs=0.05)  # second order in dt
    # the energy is conserved through potential-energy changes a thousand times larger
    assert err < 1e-3 * swing and swing_half == pytest.approx(swing, rel=1e-3)


@pytest.mark.parametrize("committee", [False, True])
def test_calculator_with_verlet_skin_equals_fresh_lists(small_model, committee):
    """Along an MD trajectory, the Verlet list (skin) gives the numbers of a list built every step."""
    import copy

    from ase import units
    from ase.md.verlet import VelocityVerlet

    model = small_model
    if committee:
        model = copy.deepcopy(small_model)
        model.committee = [copy.deepcopy(small_model.networks)]
        for net in model.committee[0].values():
            net.params[:] = net.params * 1.1
    s = triclinic_structure(n=8)
    a = s.to_ase()
    b = s.to_ase()
    a.calc = ANNCalculator(model, skin=0.3, extrapolation=False)
    b.calc = ANNCalculator(model, skin=0, extrapolation=False)
    rng = np.random.default_rng(0)
    p = rng.normal(scale=0.5, size=(len(a), 3))
    a.set_momenta(p)
    b.set_momenta(p)
    da, db = VelocityVerlet(a, 2 * units.fs), VelocityVerlet(b, 2 * units.fs)
    for _ in range(12):
        da.run(1)
        db.run(1)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), rtol=0, atol=1e-11)
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(a.get_stress(), b.get_stress(), rtol=0, atol=1e-12)
        if committee:
            np.testing.assert_allclose(a.calc.results["forces_std"], b.calc.results["forces_std"], atol=1e-11)
    assert 1 < a.calc._verlet.n_builds < 12
    np.testing.assert_allclose(a.positions, b.positions, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="skin"):
        ANNCalculator(model, skin=-1.0)
