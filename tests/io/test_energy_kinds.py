"""Which of a file's energies a structure holds: free (force-consistent), zero_kelvin, total."""

from __future__ import annotations

from pathlib import Path

import ase
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator, SinglePointDFTCalculator
from ase.io import write

from anncli.cli.info import format_summary, structure_summary
from anncli.exceptions import DataError
from anncli.io import read_structures, write_structures
from anncli.structure import Structure, select_energy

ASE_OUTCAR = Path(ase.__file__).parent / "test" / "testdata" / "vasp" / "OUTCAR_example_1"


def _atoms(energy=None, free_energy=None, shift=0.0):
    a = Atoms("CuAu", positions=[[0, 0, 0], [0, 0, 2.5 + shift]], cell=[6, 6, 6], pbc=True)
    results = {"forces": np.arange(6.0).reshape(2, 3)}
    if energy is not None:
        results["energy"] = energy
    if free_energy is not None:
        results["free_energy"] = free_energy
    a.calc = SinglePointCalculator(a, **results)
    return a


@pytest.fixture
def two_energies(tmp_path):
    """An extxyz written by ASE: frames 0 and 1 with energy and free_energy, frame 2 with energy only."""
    path = tmp_path / "both.extxyz"
    write(path, [_atoms(-10.0, -10.25), _atoms(-11.0, -11.5, 0.1), _atoms(-12.0, None, 0.2)])
    assert "free_energy=-10.25" in path.read_text()  # both really are in the file
    return path


def test_default_takes_the_free_energy_where_the_file_has_it(two_energies):
    frames = read_structures(two_energies)
    assert [s.energy for s in frames] == [-10.25, -11.5, -12.0]
    assert [s.energy_kind for s in frames] == ["free", "free", "total"]
    assert frames[0].energy_kinds == ("free", "zero_kelvin", "total")
    assert frames[2].energy_kinds == ("total",)


def test_explicit_choices(two_energies):
    zk = read_structures(two_energies, index="0:2", energy="zero_kelvin")
    assert [s.energy for s in zk] == [-10.0, -11.0]
    assert [s.energy_kind for s in zk] == ["zero_kelvin"] * 2
    total = read_structures(two_energies, energy="total")
    assert [s.energy for s in total] == [-10.0, -11.0, -12.0]
    free = read_structures(two_energies, index=":2", energy="free")
    assert [s.energy for s in free] == [-10.25, -11.5]


@pytest.mark.parametrize("choice", ["free", "zero_kelvin"])
def test_a_missing_kind_is_an_error_naming_file_and_frame(two_energies, choice):
    with pytest.raises(DataError) as info:
        read_structures(two_energies, energy=choice)
    msg = str(info.value)
    assert msg.startswith(f"{two_energies}@2: 'energy: {choice}'")
    assert "only the total energy" in msg and "set 'energy' to total" in msg


def test_single_point_calculator_with_both_energies():
    atoms = _atoms(-3.0, -3.125)
    assert Structure.from_ase(atoms).energy == -3.125
    assert Structure.from_ase(atoms, energy="free").energy == -3.125
    assert Structure.from_ase(atoms, energy="zero_kelvin").energy == -3.0
    assert Structure.from_ase(atoms, energy="total").energy == -3.0
    only_free = _atoms(None, -4.0)
    assert Structure.from_ase(only_free).energy == -4.0
    with pytest.raises(DataError, match=r"^x\.xyz@3: 'energy: total' asks for the total energy"):
        Structure.from_ase(only_free, source="x.xyz", frame=3, energy="total")
    no_energy = Structure.from_ase(_atoms(None, None), energy="free")  # nothing to choose from: no energy
    assert no_energy.energy is None and no_energy.energy_kind is None


def test_quantum_espresso_has_no_zero_kelvin_energy():
    # ASE's espresso-out reader stores the '!' total energy (the free energy) under both names
    atoms = Atoms("Cu", cell=[3, 3, 3], pbc=True)
    atoms.calc = SinglePointDFTCalculator(atoms, energy=-7.5, free_energy=-7.5)
    s = Structure.from_ase(atoms, format="espresso-out")
    assert (s.energy, s.energy_kind, s.energy_kinds) == (-7.5, "free", ("free", "total"))
    with pytest.raises(DataError, match="Quantum ESPRESSO output gives no energy extrapolated"):
        Structure.from_ase(atoms, source="pw.out", format="espresso-out", energy="zero_kelvin")


@pytest.mark.skipif(not ASE_OUTCAR.is_file(), reason="ASE's test data (OUTCAR_example_1) is not installed")
def test_vasp_outcar_free_energy_is_toten():
    text = ASE_OUTCAR.read_text()
    lines = text.splitlines()
    # the last electronic step's summary: 'free energy TOTEN = F eV', two lines later 'energy(sigma->0) = E0'
    k = max(i for i, line in enumerate(lines) if "free  energy   TOTEN" in line)
    toten = float(lines[k].split()[-2])
    sigma0 = float(lines[k + 2].split()[-1])
    assert toten != sigma0
    (s,) = read_structures(ASE_OUTCAR, format="vasp-out")
    assert (s.energy, s.energy_kind) == (toten, "free")
    (z,) = read_structures(ASE_OUTCAR, format="vasp-out", energy="zero_kelvin")
    assert z.energy == sigma0


def test_xsf_gives_the_total_energy(tmp_path):
    path = tmp_path / "a.xsf"
    write_structures(path, Structure(["Cu"], [[0, 0, 0]], energy=-1.5))
    (s,) = read_structures(path)
    assert (s.energy, s.energy_kind, s.energy_kinds) == (-1.5, "total", ("total",))
    with pytest.raises(DataError, match=rf"^{path}: 'energy: free' asks for the free"):
        read_structures(path, energy="free")


def test_a_free_energy_written_and_read_back_stays_free(tmp_path):
    s = Structure.from_ase(_atoms(-3.0, -3.125))
    write_structures(tmp_path / "out.extxyz", [s])
    (back,) = read_structures(tmp_path / "out.extxyz")
    assert (back.energy, back.energy_kind) == (-3.125, "free")


def test_unknown_choice_is_a_programming_error():
    with pytest.raises(ValueError, match="energy kind"):
        select_energy({"energy": 1.0}, "Free", "x")


def test_info_says_which_energies_a_file_gives(two_energies):
    summary = structure_summary(read_structures(two_energies))
    assert summary["energy_kinds"] == {"free": 2, "zero_kelvin": 2, "total": 3}
    assert summary["energy_used"] == {"free": 2, "total": 1}
    text = format_summary("both.extxyz", summary)
    assert "energies: free in 2, zero_kelvin in 2, total in 3 of 3 frames; " \
           "shown and used by default: free in 2, total in 1" in text
