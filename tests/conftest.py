"""Shared fixtures: the reference data in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("ANNCLI_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; tests using it are skipped when it is absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip("shared reference data (../shared/data) not available")
    return path


@pytest.fixture(scope="session")
def golden(shared_data: Path) -> Path:
    """Path of the Fortran ænet golden outputs."""
    return shared_data / "aenet-golden"
