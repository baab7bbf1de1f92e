"""``anncli generate`` killed with SIGKILL at random moments (a subprocess, as a user runs it):
the output name holds the previous file or a complete training set, never a truncated one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from anncli.io.trainset import content_id, open_trainset

from test_generate_workflow import _structures, _write_inputs

REPO = Path(__file__).resolve().parents[2]
OLD = b"the previous output, kept until the new one is complete\n"


def _start(config: Path) -> subprocess.Popen:
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "anncli", "-q", "generate", str(config)],
                            cwd=config.parent, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _wait_for_temporary(proc: subprocess.Popen, output: Path) -> tuple[Path, float]:
    """The writer's temporary file and the time it appeared (the writer has started)."""
    tmp = output.with_name(f"{output.name}.tmp-{proc.pid}")
    t0 = time.monotonic()
    while not tmp.exists() and proc.poll() is None:
        assert time.monotonic() - t0 < 120
        time.sleep(0.001)
    return tmp, time.monotonic()


def test_kill_9_at_random_moments_leaves_the_old_file_or_a_complete_one(tmp_path):
    config = _write_inputs(tmp_path, _structures(100), derivatives=True, overwrite=True)
    output = tmp_path / "out.h5"
    output.write_bytes(OLD)
    proc = _start(config)
    _, started = _wait_for_temporary(proc, output)
    _, err = proc.communicate(timeout=300)
    writing = time.monotonic() - started  # from the writer's start to the process's end
    assert proc.returncode == 0, err.decode()
    with open_trainset(output) as f:
        reference = f.attrs["content_id"]
        assert content_id(f) == reference
    rng = np.random.default_rng(3)
    outcomes = []
    for fraction in [0.0, *(np.array([0.4, 0.85]) + rng.uniform(-0.1, 0.1, size=2))]:
        output.write_bytes(OLD)
        proc = _start(config)
        tmp, _ = _wait_for_temporary(proc, output)
        time.sleep(fraction * writing)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if output.read_bytes()[:len(OLD)] == OLD:
            assert output.read_bytes() == OLD
            outcomes.append("old")
        else:
            with open_trainset(output) as f:  # complete, and the same data as uninterrupted
                assert f.attrs["content_id"] == reference == content_id(f)
            outcomes.append("new")
        tmp.unlink(missing_ok=True)  # what kill -9 cannot clean up
    assert outcomes[0] == "old"
