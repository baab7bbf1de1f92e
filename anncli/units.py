"""Units of energy and length that anncli reads and converts to eV and Å.

This module owns the table of known units and their factors.  Every factor is
taken from :mod:`ase.units` so that all parts of anncli (and ASE itself) agree on
the conversion constants.  Inside anncli, energies are in eV, lengths in Å and
forces in eV/Å; readers multiply values given in other units by the factors here.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from functools import lru_cache

from anncli.exceptions import ConfigError

logger = logging.getLogger(__name__)

# canonical name -> aliases (the canonical name itself is always accepted)
_ENERGY_ALIASES: dict[str, tuple[str, ...]] = {
    "eV": ("ev",),
    "Hartree": ("Ha", "hartree", "Eh", "au"),
    "Ry": ("Rydberg", "rydberg", "ry"),
    "kcal/mol": ("kcal_mol",),
    "kJ/mol": ("kj/mol", "kJ_mol"),
}
_LENGTH_ALIASES: dict[str, tuple[str, ...]] = {
    "Angstrom": ("Å", "A", "angstrom", "Ang", "ang"),
    "Bohr": ("bohr", "a0"),
    "nm": ("nanometer",),
}


@lru_cache(maxsize=1)
def _energy_table() -> dict[str, float]:
    from ase import units as u

    factors = {
        "eV": 1.0,
        "Hartree": u.Hartree,
        "Ry": u.Rydberg,
        "kcal/mol": u.kcal / u.mol,
        "kJ/mol": u.kJ / u.mol,
    }
    return _expand(factors, _ENERGY_ALIASES)


@lru_cache(maxsize=1)
def _length_table() -> dict[str, float]:
    from ase import units as u

    factors = {"Angstrom": 1.0, "Bohr": u.Bohr, "nm": u.nm}
    return _expand(factors, _LENGTH_ALIASES)


def _expand(factors: dict[str, float], aliases: dict[str, tuple[str, ...]]) -> dict[str, float]:
    table = dict(factors)
    for name, alts in aliases.items():
        for alt in alts:
            table[alt] = factors[name]
    return table


def _lookup(name: str, table: dict[str, float], kind: str, canonical: list[str]) -> float:
    if not isinstance(name, str):
        raise ConfigError(f"{kind} unit must be a string such as {canonical[0]!r}, got {name!r}.")
    key = name.strip()
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"unknown {kind} unit {name!r}; known {kind} units are {', '.join(canonical)}.{hint}"
    )


def energy_factor(name: str) -> float:
    """Return the factor that converts an energy in unit ``name`` to eV.

    Parameters
    ----------
    name : str
        One of ``eV``, ``Hartree`` (``Ha``, ``hartree``), ``Ry``, ``kcal/mol``, ``kJ/mol``.

    Returns
    -------
    float
        eV per unit.

    Raises
    ------
    ConfigError
        If the unit is unknown (with a "did you mean" hint).
    """
    return _lookup(name, _energy_table(), "energy", list(_ENERGY_ALIASES))


def length_factor(name: str) -> float:
    """Return the factor that converts a length in unit ``name`` to Å.

    Parameters
    ----------
    name : str
        One of ``Angstrom`` (``Å``, ``A``, ``angstrom``), ``Bohr`` (``bohr``, ``a0``), ``nm``.

    Returns
    -------
    float
        Å per unit.

    Raises
    ------
    ConfigError
        If the unit is unknown (with a "did you mean" hint).
    """
    return _lookup(name, _length_table(), "length", list(_LENGTH_ALIASES))


@dataclass(frozen=True)
class Units:
    """Units of the values in an input file.

    Parameters
    ----------
    energy : str
        Energy unit of the file (default eV).
    length : str
        Length unit of the file (default Å); forces are taken to be in energy/length.

    The names are validated on construction (``ConfigError`` if unknown).
    """

    energy: str = "eV"
    length: str = "Angstrom"

    def __post_init__(self) -> None:
        energy_factor(self.energy)
        length_factor(self.length)

    @property
    def energy_factor(self) -> float:
        """eV per energy unit of the file."""
        return energy_factor(self.energy)

    @property
    def length_factor(self) -> float:
        """Å per length unit of the file."""
        return length_factor(self.length)

    @property
    def force_factor(self) -> float:
        """(eV/Å) per (energy unit / length unit) of the file."""
        return self.energy_factor / self.length_factor

    @property
    def is_default(self) -> bool:
        """True if no conversion is needed (eV and Å)."""
        return self.energy_factor == 1.0 and self.length_factor == 1.0
