"""``anncli scan`` under ``mpiexec -n 2``: the points spread over both ranks, the same table as
one process, and an input error on a worker rank reported once (skipped without MPI, as
test_mpi_stages.py)."""

from __future__ import annotations

import csv
import json

import pytest

from anncli.cli import main
from anncli.io import write_structures
from anncli.log import reset_logging
from emt_data import emt_structures
from test_mpi_stages import mpirun  # noqa: F401 - the fixture

SCAN_YAML = """\
generate:
  structures: [data.extxyz]
  reference_energies: {Cu: 0.0, Au: 0.0}
  descriptors: {default: {type: chebyshev, radial: {cutoff: 4.0, order: 3}, angular: {cutoff: 3.0, order: 2}}}
train: {epochs: 3, checkpoint_every: 0, log_every: 100, validation_fraction: 0.25, networks: {default: {hidden: [3]}}}
grid:
  descriptors: {radial.order: [2, 3]}
  networks: {hidden: [[3], [4]]}
output_dir: OUT
timing_repeats: 1
plots: false
"""


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_scan_on_two_ranks_spreads_the_points_and_matches_one_process(mpirun, tmp_path):  # noqa: F811
    write_structures(tmp_path / "data.extxyz", emt_structures(8, seed=2))
    (tmp_path / "serial.yaml").write_text(SCAN_YAML.replace("OUT", "serial"))
    (tmp_path / "mpi.yaml").write_text(SCAN_YAML.replace("OUT", "mpi"))
    assert main(["-q", "scan", str(tmp_path / "serial.yaml")]) == 0
    run = mpirun.anncli(2, "scan", str(tmp_path / "mpi.yaml"))
    assert run.returncode == 0, run.stderr
    assert "2 MPI ranks" in run.stderr and run.stdout.count("Recommended:") == 1  # rank 0 alone reports
    out = tmp_path / "mpi"
    ranks = {json.loads(p.read_text())["rank"] for p in out.glob("d*/n*/fold0/result.json")}
    ranks |= {json.loads(p.read_text())["rank"] for p in out.glob("d*/generate.json")}
    assert ranks == {0, 1}
    a, b = _rows(tmp_path / "serial" / "scan.csv"), _rows(out / "scan.csv")
    assert [r["point"] for r in a] == [r["point"] for r in b] == ["d0n0", "d0n1", "d1n0", "d1n1"]
    for ra, rb in zip(a, b):  # the same features and split; thread counts may differ in the last bits
        assert ra["n_parameters"] == rb["n_parameters"] and ra["n_features"] == rb["n_features"]
        assert float(rb["val_energy_rmse"]) == pytest.approx(float(ra["val_energy_rmse"]), rel=1e-6)


def test_scan_input_error_on_a_worker_rank_stops_every_rank(mpirun, tmp_path):  # noqa: F811
    bad = emt_structures(4, seed=2)
    bad[3].positions[1] = bad[3].positions[0] + [0.05, 0.0, 0.0]  # found by generate, on whichever rank
    write_structures(tmp_path / "data.extxyz", bad)
    (tmp_path / "scan.yaml").write_text(SCAN_YAML.replace("OUT", "out"))
    run = mpirun.anncli(2, "scan", str(tmp_path / "scan.yaml"))
    assert run.returncode == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "grid point d" in errors[0], run.stderr
    assert "Traceback" not in run.stderr
