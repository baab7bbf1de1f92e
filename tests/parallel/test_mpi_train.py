"""``anncli train`` under ``mpiexec -n 2`` against one process: the same weights.

The training split is summed in blocks of structures that do not depend on the number of
ranks (anncli.training.shards), so L-BFGS runs (energies and forces, ``memory: load`` and
``stream``) give the serial weights bit for bit, also when ``--resume`` changes the number of
ranks; Adam's mini-batches are split by owner and agree to rounding (1e-10 relative).  Bad
input (more ranks than blocks, an incompatible checkpoint, a rank that cannot read the
training set): one error from rank 0, exit status 2 on every rank, no hang.  ``info`` and
``export`` run on rank 0 alone: one output, as one process.

Skipped as tests/parallel/test_mpi_stages.py is (a failure in CI) without mpi4py and mpiexec.
"""

from __future__ import annotations

import csv
import re
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

sys.path.insert(0, str(Path(__file__).parent))
from test_mpi_stages import TIMEOUT_S, MPIRunner, model, mpirun  # noqa: E402,F401 - the fixtures

N_STRUCTURES = 70  # 56 training structures: 4 blocks of 16 (anncli.training.shards)


@pytest.fixture(autouse=True)
def _reset_logging(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # in-process runs look for a STOP file in the working directory
    yield
    reset_logging()


@pytest.fixture(scope="module")
def trainset(tmp_path_factory) -> Path:
    """EMT-labelled Cu-Au cells with forces, through the real generate stage."""
    d = tmp_path_factory.mktemp("mpi_train_set")
    write_structures(d / "data.extxyz", emt_structures(N_STRUCTURES, seed=11))
    (d / "gen.yaml").write_text(textwrap.dedent(f"""\
        structures: [{d}/data.extxyz]
        output: {d}/set.h5
        reference_energies: {{Cu: 0.0, Au: 0.0}}
        descriptors:
          default:
            type: chebyshev
            radial: {{cutoff: 4.5, order: 5}}
            angular: {{cutoff: 3.5, order: 2}}
        """))
    assert main(["-q", "generate", str(d / "gen.yaml")]) == 0
    return d / "set.h5"


def _yaml(trainset: Path, epochs: int, *, optimizer: str = "{method: lbfgs}", force_weight: float = 0.2,
          memory: str = "load", extra: str = "") -> str:
    return textwrap.dedent(f"""\
        trainset: {trainset}
        output: model.h5
        overwrite: true
        seed: 3
        validation_fraction: 0.2
        networks: {{default: {{hidden: [6], activation: tanh}}}}
        optimizer: {optimizer}
        batch_size: 8
        epochs: {epochs}
        force_weight: {force_weight}
        memory: {memory}
        checkpoint_every: 1
        """) + extra


def _train(mpirun: MPIRunner, d: Path, n: int, text: str, *args: str) -> subprocess.CompletedProcess:
    """``anncli train train.yaml`` in ``d`` on ``n`` ranks (n = 1: in this process, no launcher)."""
    d.mkdir(exist_ok=True)
    (d / "train.yaml").write_text(text)
    if n == 1:
        code = main(["-q", "train", str(d / "train.yaml"), *args])
        reset_logging()
        return subprocess.CompletedProcess([], code, "", "")
    return mpirun.anncli(n, "train", "train.yaml", *args, cwd=d)


def _params(d: Path) -> tuple[np.ndarray, np.ndarray]:
    """Last and best parameters of the run in ``d`` (its checkpoint)."""
    with h5py.File(d / "checkpoint.h5") as f:
        return f["params"][()], f["best_params"][()]


def _curve(d: Path) -> list[list[str]]:
    with (d / "learning_curve.csv").open() as fh:
        rows = list(csv.reader(fh))
    seconds = rows[0].index("seconds")
    return [r[:seconds] + r[seconds + 1:] for r in rows]


def _ok(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr


def test_lbfgs_with_forces_gives_the_serial_weights_also_when_resumed_on_other_ranks(trainset, mpirun, tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "mpi"
    _ok(_train(mpirun, serial, 1, _yaml(trainset, 6)))
    run = _train(mpirun, parallel, 2, _yaml(trainset, 6))
    _ok(run)
    assert "MPI: 2 ranks" in run.stderr and re.search(r"4 training blocks of about \d+ atoms", run.stderr)
    assert run.stderr.count("training stopped") == 1  # rank 0 alone logs
    reference = _params(serial)
    for a, b in zip(reference, _params(parallel)):
        np.testing.assert_array_equal(a, b)  # the same sums in the same order: bit for bit
    assert _curve(serial) == _curve(parallel)
    assert (serial / "results.csv").read_bytes() == (parallel / "results.csv").read_bytes()
    assert (serial / "split.csv").read_bytes() == (parallel / "split.csv").read_bytes()
    assert not (parallel / "rank1").exists() and sorted(p.name for p in parallel.iterdir()) == sorted(
        p.name for p in serial.iterdir())

    # 1 -> 2 ranks and 2 -> 1 rank: stop after 3 epochs, resume to 6 with the other count
    for first, second, name in ((1, 2, "up"), (2, 1, "down")):
        d = tmp_path / name
        _ok(_train(mpirun, d, first, _yaml(trainset, 3)))
        _ok(_train(mpirun, d, second, _yaml(trainset, 6), "--resume"))
        for a, b in zip(reference, _params(d)):
            np.testing.assert_array_equal(a, b)
        assert _curve(d) == _curve(serial)


def test_adam_with_forces_on_two_ranks_agrees_with_serial(trainset, mpirun, tmp_path):
    text = _yaml(trainset, 4, optimizer="{method: adam, learning_rate: 0.01}")
    _ok(_train(mpirun, tmp_path / "serial", 1, text))
    _ok(_train(mpirun, tmp_path / "mpi", 2, text))
    for a, b in zip(_params(tmp_path / "serial"), _params(tmp_path / "mpi")):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_energy_only_streamed_on_two_ranks_gives_the_serial_weights(trainset, mpirun, tmp_path):
    text = _yaml(trainset, 4, force_weight=0.0, memory="stream")
    _ok(_train(mpirun, tmp_path / "serial", 1, text))
    _ok(_train(mpirun, tmp_path / "mpi", 2, text))
    for a, b in zip(_params(tmp_path / "serial"), _params(tmp_path / "mpi")):
        np.testing.assert_array_equal(a, b)


def test_committee_with_bootstrap_on_two_ranks_gives_the_serial_members(trainset, mpirun, tmp_path):
    text = _yaml(trainset, 3, force_weight=0.1, extra="committee: {members: 2, bootstrap: true}\n")
    _ok(_train(mpirun, tmp_path / "serial", 1, text))
    run = _train(mpirun, tmp_path / "mpi", 2, text)
    _ok(run)
    assert run.stderr.count("committee of 2 written") == 1  # rank 0 alone writes the file
    members = []
    for k in range(2):
        a, b = _params(tmp_path / "serial" / f"member_{k}"), _params(tmp_path / "mpi" / f"member_{k}")
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
        members.append(a[0])
    assert not np.array_equal(*members)  # the members differ (initial weights, resample)
    with h5py.File(tmp_path / "serial" / "model.h5") as fs, h5py.File(tmp_path / "mpi" / "model.h5") as fp:
        names: list[str] = []
        fs.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        assert any("committee" in n for n in names), names
        for name in names:
            a, b = fs[name][()], fp[name][()]
            assert (a.tolist() == b.tolist()) if a.dtype == object else (a.tobytes() == b.tobytes()), name


def _one_error(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, run.stderr
    return errors[0]


def test_more_ranks_than_training_blocks_is_refused(trainset, mpirun, tmp_path):
    text = _yaml(trainset, 2, extra="")
    text = text.replace("validation_fraction: 0.2", "validation_fraction: 0.8")  # 14 training structures
    error = _one_error(_train(mpirun, tmp_path / "few", 2, text))
    assert "2 MPI ranks" in error and "1 block(s)" in error and "at most 1 rank" in error


def test_resume_from_an_incompatible_checkpoint_is_refused_on_every_rank(trainset, mpirun, tmp_path):
    d = tmp_path / "run"
    _ok(_train(mpirun, d, 1, _yaml(trainset, 1)))
    error = _one_error(_train(mpirun, d, 2, _yaml(trainset, 2, extra="l2: 0.001\n"), "--resume"))
    assert "checkpoint.h5: cannot resume" in error and "l2: 0.0 → 0.001" in error


def test_a_rank_that_cannot_read_the_training_set_is_named(trainset, mpirun, tmp_path):
    """Rank 1 runs in a directory where the (relative) training-set path does not exist."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    for d in (good, bad):
        d.mkdir()
        (d / "train.yaml").write_text(_yaml(Path("set.h5"), 2))
    (good / "set.h5").symlink_to(trainset)
    cmd = [mpirun.mpiexec, "-n", "1", "-wdir", str(good), sys.executable, "-m", "anncli", "train", "train.yaml",
           ":", "-n", "1", "-wdir", str(bad), sys.executable, "-m", "anncli", "train", "train.yaml"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=MPIRunner.env(),
                         stdin=subprocess.DEVNULL)
    error = _one_error(run)
    assert "rank 1:" in error and str(bad / "set.h5") in error
    assert not (good / "model.h5").exists()


def test_info_and_export_run_on_rank_0_only(trainset, model, mpirun, tmp_path):
    serial = subprocess.run([sys.executable, "-m", "anncli", "info", str(trainset)], capture_output=True, text=True,
                            timeout=TIMEOUT_S, env=MPIRunner.env(), stdin=subprocess.DEVNULL)
    run = mpirun.anncli(2, "info", str(trainset))
    _ok(run)
    assert serial.returncode == 0 and run.stdout == serial.stdout  # printed once
    run = mpirun.anncli(2, "export", str(model), "--format", "aenet", "--output", str(tmp_path / "nn"))
    _ok(run)
    assert run.stdout.count("wrote ") == 2 and sorted(p.name for p in (tmp_path / "nn").iterdir()) == ["Au.nn", "Cu.nn"]
    error = _one_error(mpirun.anncli(2, "info", str(tmp_path / "missing.h5")))
    assert "missing.h5: no such file" in error
