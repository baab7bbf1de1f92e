"""tests/conftest.py: missing reference data is a skip with its reason, and a failure in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
USES_SHARED = "tests/io/test_xsf.py::test_water_clusters_hartree_bohr"
USES_GOLDEN = "tests/predict/test_predict_workflow.py::test_aenet_file_given_as_model_gets_a_hint"


def _pytest(test_id: str, data: Path, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["ANNCLI_SHARED_DATA"] = str(data)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test_id],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("test_id, data, what", [
    (USES_SHARED, "nowhere", "shared reference data"),
    (USES_GOLDEN, "nowhere", "shared reference data"),
    (USES_GOLDEN, ".", "ænet golden outputs"),  # the folder exists, aenet-golden/ does not
])
def test_missing_reference_data_skips_with_reason_outside_ci(tmp_path, test_id, data, what):
    proc = _pytest(test_id, tmp_path / data, ci=None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped" in proc.stdout
    assert f"SKIPPED [1] " in proc.stdout and f"{what} not found at {tmp_path}" in proc.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
@pytest.mark.parametrize("test_id, data, what", [
    (USES_SHARED, "nowhere", "shared reference data"),
    (USES_GOLDEN, ".", "ænet golden outputs"),
])
def test_missing_reference_data_fails_in_ci(tmp_path, ci, test_id, data, what):
    proc = _pytest(test_id, tmp_path / data, ci=ci)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "skipped" not in proc.stdout and "1 error" in proc.stdout
    assert f"CI=true: {what} not found at {tmp_path}" in proc.stdout
    assert "reference-data tests must run in CI" in proc.stdout


def test_ci_false_still_skips(tmp_path):
    proc = _pytest(USES_SHARED, tmp_path / "nowhere", ci="false")
    assert proc.returncode == 0 and "1 skipped" in proc.stdout, proc.stdout


@pytest.mark.parametrize("ci", [None, "true"])
def test_missing_file_under_shared_data_skips_or_fails_in_ci(tmp_path, ci):
    """``shared_path``: the folder exists but the file a test needs does not."""
    proc = _pytest("tests/io/test_bench_mlearn_reader.py::test_mlearn_files", tmp_path, ci=ci)
    message = f"reference data mlearn/Mo_test.json not found at {tmp_path / 'mlearn' / 'Mo_test.json'}"
    if ci is None:
        assert proc.returncode == 0 and "1 skipped" in proc.stdout and message in proc.stdout, proc.stdout
    else:
        assert proc.returncode == 1 and "skipped" not in proc.stdout, proc.stdout
        assert f"CI=true: {message}" in proc.stdout
