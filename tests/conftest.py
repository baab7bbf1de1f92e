"""Shared fixtures: the reference data in ../shared/data.

Outside CI the tests that use it are skipped when it is absent (with the reason printed by
``pytest -rs``).  In CI (environment variable ``CI`` set to true, as GitHub Actions, GitLab CI
and most others do) a missing folder is a test failure: the golden ænet comparisons are the
strongest tests we have and must not turn into quiet skips.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("ANNCLI_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def in_ci() -> bool:
    """Whether the tests run in continuous integration (``CI=true``, ``CI=1`` or ``CI=yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_reference_data(what: str, path: Path) -> None:
    """Fail (in CI) or skip (elsewhere) a test whose reference data ``path`` is absent."""
    message = (f"{what} not found at {path} (set ANNCLI_SHARED_DATA to the folder that holds "
               "aenet-golden/, water-clusters/, ...)")
    if in_ci():
        pytest.fail(f"CI=true: {message}; reference-data tests must run in CI", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skipped when absent, a failure when absent in CI."""
    path = _shared_data_dir()
    if not path.is_dir():
        missing_reference_data("shared reference data", path)
    return path


@pytest.fixture(scope="session")
def golden(shared_data: Path) -> Path:
    """Path of the Fortran ænet golden outputs (same rule as ``shared_data``)."""
    path = shared_data / "aenet-golden"
    if not path.is_dir():
        missing_reference_data("ænet golden outputs", path)
    return path


@pytest.fixture(scope="session")
def shared_path(shared_data: Path):
    """``shared_path("TiO2-1000/xsf")``: a path under ../shared/data, with the same rule when absent
    (a skip outside CI, a failure in CI) instead of a quiet ``pytest.skip`` in the test."""
    def get(relative: str) -> Path:
        path = shared_data / relative
        if not path.exists():
            missing_reference_data(f"reference data {relative}", path)
        return path
    return get
