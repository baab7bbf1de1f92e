"""Helpers of the LAMMPS tests (imported as ``lammps_helpers``): setups, data files, dumps,
a small input script."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPECIES = ["Cu", "Au"]
MASSES = {"Cu": 63.546, "Au": 196.96657}


def cuau_setups() -> dict:
    from anncli.descriptors.chebyshev import ChebyshevSetup

    return {s: ChebyshevSetup(s, SPECIES, 4.5, 6, 4.0, 3) for s in SPECIES}


def write_lammps_data(path: Path, atoms, types: list[str]) -> None:
    """``atoms`` as a LAMMPS data file (atom_style atomic), type k = ``types[k-1]``.

    ASE rotates a general cell into LAMMPS's restricted triclinic form; LAMMPS then holds
    the same structure rotated (energies equal, forces rotated).
    """
    from ase.io import write

    write(path, atoms, format="lammps-data", specorder=types, masses=True, units="metal")


def read_dump(path: Path) -> dict[str, np.ndarray]:
    """The last frame of a ``dump custom`` file as columns by name (sorted by atom id)."""
    lines = path.read_text().splitlines()
    start = max(k for k, ln in enumerate(lines) if ln.startswith("ITEM: ATOMS"))
    names = lines[start].split()[2:]
    data = np.array([[float(v) for v in ln.split()] for ln in lines[start + 1:]])
    data = data[np.argsort(data[:, names.index("id")])]
    return {n: data[:, k] for k, n in enumerate(names)}


CUAU_SCRIPT = """units metal
atom_style atomic
boundary p p p
lattice fcc 3.8
region box block 0 2 0 2 0 2
create_box {ntypes} box
create_atoms 1 box
set type 1 type/ratio 2 0.5 12345
mass * 100.0
fix ann all external pf/callback 1 1
{extra}
thermo_style custom step pe etotal press
run {steps}
{after}
"""


def cuau_script(path: Path, *, ntypes: int = 2, steps: int = 0, extra: str = "", after: str = "",
                units: str = "metal") -> Path:
    """A small Cu-Au fcc input script (32 atoms) written to ``path``: ``extra`` before the run,
    ``after`` after it."""
    text = CUAU_SCRIPT.format(ntypes=ntypes, steps=steps, extra=extra, after=after)
    path.write_text(text.replace("units metal", f"units {units}"))
    return path
