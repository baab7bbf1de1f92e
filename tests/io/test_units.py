"""Unit table: factors agree with ase.units, aliases, and helpful errors."""

from __future__ import annotations

import dataclasses

import pytest
from ase import units as u

from anncli.exceptions import ConfigError
from anncli.units import Units, energy_factor, length_factor


@pytest.mark.parametrize(
    "name, expected",
    [("eV", 1.0), ("Hartree", u.Hartree), ("Ha", u.Hartree), ("hartree", u.Hartree), ("Ry", u.Rydberg),
     ("kcal/mol", u.kcal / u.mol), ("kJ/mol", u.kJ / u.mol)],
)
def test_energy_factors(name, expected):
    assert energy_factor(name) == expected


@pytest.mark.parametrize(
    "name, expected",
    [("Angstrom", 1.0), ("Å", 1.0), ("A", 1.0), ("angstrom", 1.0), ("Bohr", u.Bohr), ("bohr", u.Bohr),
     ("a0", u.Bohr), ("nm", 10.0)],
)
def test_length_factors(name, expected):
    assert length_factor(name) == pytest.approx(expected, rel=1e-15)


def test_physical_values():
    # independent of ase: CODATA values to 6 digits
    assert energy_factor("Hartree") == pytest.approx(27.2114, rel=1e-5)
    assert length_factor("Bohr") == pytest.approx(0.529177, rel=1e-5)
    assert energy_factor("kcal/mol") == pytest.approx(0.0433641, rel=1e-5)


def test_units_dataclass():
    un = Units("Hartree", "Bohr")
    assert un.energy_factor == u.Hartree and un.length_factor == u.Bohr
    assert un.force_factor == pytest.approx(u.Hartree / u.Bohr, rel=1e-15)
    assert Units().is_default and not un.is_default
    with pytest.raises(dataclasses.FrozenInstanceError):
        un.energy = "eV"


def test_unknown_unit_hint():
    with pytest.raises(ConfigError, match="unknown energy unit 'hartre'.*Did you mean 'hartree'"):
        energy_factor("hartre")
    with pytest.raises(ConfigError, match="unknown length unit 'Bohrs'.*Did you mean 'Bohr'"):
        Units(length="Bohrs")
    with pytest.raises(ConfigError, match="known energy units are eV, Hartree"):
        energy_factor("furlong")
