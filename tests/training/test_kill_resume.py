"""``anncli train`` as a user runs it, killed: kill -9 at random moments leaves no output file
that looks complete but is not, and ``--resume`` after SIGTERM (or kill -9) gives the numbers
of the uninterrupted run.  Subprocesses on a small synthetic training set."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from anncli.potential.model_file import load_model
from anncli.training.checkpoint import load_checkpoint

from conftest import write_synthetic_trainset

REPO = Path(__file__).resolve().parents[2]
N_STRUCTURES = 120
OUTPUTS = ["model.h5", "checkpoint.h5", "learning_curve.csv", "learning_curve.png", "split.csv",
           "results.csv"]
OPTIMIZERS = {
    "lbfgs": "{method: lbfgs}",
    "adam": "{method: adam, learning_rate: 0.01, schedule: {kind: plateau, patience: 2}}",
}


def _env() -> dict:
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _config(tmp_path: Path, name: str, epochs: int, method: str = "adam",
            checkpoint_every: int = 1) -> Path:
    (tmp_path / name).mkdir(exist_ok=True)
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""\
trainset: train.h5
output: {name}/model.h5
overwrite: true
seed: 7
validation_fraction: 0.2
networks: {{default: {{hidden: [8], activation: tanh}}}}
optimizer: {OPTIMIZERS[method]}
sampling: random
batch_size: 8
epochs: {epochs}
checkpoint_every: {checkpoint_every}
""")
    return path


@pytest.fixture
def trainset(tmp_path):
    return write_synthetic_trainset(tmp_path / "train.h5", n_structures=N_STRUCTURES)["path"]


def _start(config: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "anncli", "-q", "train", str(config), *extra],
                            cwd=config.parent, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _run(config: Path, *extra: str) -> None:
    proc = _start(config, *extra)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()


def _curve_rows(path: Path) -> int:
    try:
        return max(0, path.read_text().count("\n") - 1)
    except FileNotFoundError:
        return 0


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not condition():
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() - t0 < timeout
        time.sleep(0.001)


def _check_outputs(out: Path) -> dict:
    """Every output at its final name is complete; returns what was found."""
    found = {}
    if (out / "model.h5").exists():
        found["model"] = load_model(out / "model.h5")
    if (out / "checkpoint.h5").exists():
        found["checkpoint"] = load_checkpoint(out / "checkpoint.h5")
    for name, n_rows in (("split.csv", N_STRUCTURES), ("results.csv", N_STRUCTURES)):
        if (out / name).exists():
            with (out / name).open(newline="") as fh:
                rows = list(csv.reader(fh))
            assert len(rows) == n_rows + 1 and all(len(r) == len(rows[0]) for r in rows), name
            found[name] = rows
    if (out / "learning_curve.csv").exists():
        with (out / "learning_curve.csv").open(newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows and rows[0][0] == "epoch"
        assert all(len(r) == len(rows[0]) for r in rows[1:]), "a torn learning-curve row"
        assert [int(r[0]) for r in rows[1:]] == list(range(len(rows) - 1))
        [float(x) for r in rows[1:] for x in r]
        found["curve"] = rows
    if (out / "learning_curve.png").exists():
        png = (out / "learning_curve.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and png.endswith(b"IEND\xaeB`\x82")
    if "checkpoint" in found:
        assert "curve" in found and int(found["checkpoint"]["epoch"]) <= len(found["curve"]) - 1
    return found


def _curve_values(out: Path) -> list[list[str]]:
    """The learning curve without its wall-clock column."""
    with (out / "learning_curve.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    k = rows[0].index("seconds")
    return [r[:k] + r[k + 1:] for r in rows]


def _assert_same_run(a: Path, b: Path) -> None:
    ck_a, ck_b = load_checkpoint(a / "checkpoint.h5"), load_checkpoint(b / "checkpoint.h5")
    assert int(ck_b["epoch"]) == int(ck_a["epoch"])
    np.testing.assert_allclose(ck_b["params"], ck_a["params"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ck_b["best_params"], ck_a["best_params"], rtol=0, atol=1e-12)
    ma, mb = load_model(a / "model.h5"), load_model(b / "model.h5")
    for sym in ma.species:
        for wa, wb in zip(ma.networks[sym].weights + ma.networks[sym].biases,
                          mb.networks[sym].weights + mb.networks[sym].biases):
            np.testing.assert_allclose(wb, wa, rtol=0, atol=1e-12)
    assert _curve_values(b) == _curve_values(a)
    assert (b / "results.csv").read_text() == (a / "results.csv").read_text()


@pytest.mark.parametrize("method", list(OPTIMIZERS))
def test_resume_after_sigterm_reproduces_the_uninterrupted_run(tmp_path, trainset, method):
    epochs = 40
    _run(_config(tmp_path, "a", epochs, method, checkpoint_every=0))
    config_b = _config(tmp_path, "b", epochs, method, checkpoint_every=0)
    proc = _start(config_b)
    _wait_for(lambda: _curve_rows(tmp_path / "b" / "learning_curve.csv") >= 4, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err.decode()
    stopped = int(load_checkpoint(tmp_path / "b" / "checkpoint.h5")["epoch"])
    assert 3 <= stopped < epochs
    _run(config_b, "--resume")
    _assert_same_run(tmp_path / "a", tmp_path / "b")


def test_kill_9_at_random_moments_leaves_only_complete_outputs(tmp_path, trainset):
    """SIGKILL at random moments of ``anncli train`` (checkpoint and model written every
    epoch, so most moments fall into or between file writes); then a resume from whatever
    checkpoint survived finishes with the uninterrupted run's numbers."""
    epochs = 40
    _run(_config(tmp_path, "a", epochs))
    reference = _check_outputs(tmp_path / "a")
    assert set(reference) == {"model", "checkpoint", "split.csv", "results.csv", "curve"}
    rng = np.random.default_rng(1)
    config_b = _config(tmp_path, "b", epochs)
    out = tmp_path / "b"
    seen = set()
    for delay in rng.uniform(0.0, 0.5, size=3):
        for name in OUTPUTS:
            (out / name).unlink(missing_ok=True)
        proc = _start(config_b)
        _wait_for(lambda: (out / "split.csv").exists(), proc)  # training starts
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        found = _check_outputs(out)
        seen.add(frozenset(found))
        if "split.csv" in found:
            assert found["split.csv"] == reference["split.csv"]
    assert any("checkpoint" in s for s in seen)
    proc = _start(config_b)  # once more, killed in the middle of the epochs, and resumed
    _wait_for(lambda: _curve_rows(out / "learning_curve.csv") >= 15, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert "checkpoint" in _check_outputs(out)
    _run(config_b, "--resume")
    _assert_same_run(tmp_path / "a", out)
