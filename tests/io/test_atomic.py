"""anncli.io.atomic: a file appears under its name complete or not at all, also after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from anncli.io.atomic import AtomicFile, atomic_open, atomic_path, temporary_name

REPO = Path(__file__).resolve().parents[2]


def test_success_renames_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_open(target, "w") as fh:
        fh.write("hello\n")
        assert not target.exists()  # not visible before the block ends
        assert temporary_name(target).exists()
    assert target.read_text() == "hello\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_exception_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("new but incomplete")
            raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_file_without_commit_is_discarded(tmp_path):
    target = tmp_path / "out.bin"
    with AtomicFile(target) as out:
        out.tmp.write_bytes(b"x")
    assert not target.exists() and not out.tmp.exists()
    with AtomicFile(target) as out:
        out.tmp.write_bytes(b"y")
        out.commit()
    assert target.read_bytes() == b"y" and not out.tmp.exists()


def test_atomic_open_refuses_non_write_modes(tmp_path):
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / "x", "a"):
            pass


# A writer that takes long enough to be killed while writing: N blocks of a known pattern,
# then a trailer; a complete file is exactly N blocks + trailer.
WRITER = textwrap.dedent("""
    import sys, time
    from anncli.io.atomic import atomic_open
    target, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with atomic_open(target, "wb") as fh:
        print("open", flush=True)
        for k in range(n):
            fh.write(bytes([k % 251]) * 65536)
            fh.flush()
            time.sleep(0.002)
        fh.write(tag.encode())
""")
N_BLOCKS = 60


def _expected(tag: str) -> bytes:
    return b"".join(bytes([k % 251]) * 65536 for k in range(N_BLOCKS)) + tag.encode()


def test_kill_9_at_random_moments_leaves_old_or_new_file(tmp_path):
    """SIGKILL while writing (several moments, also after the rename): the final name holds
    the previous complete content or the new complete content, never a mixture or a prefix."""
    target = tmp_path / "data.bin"
    target.write_bytes(_expected("old"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    rng = np.random.default_rng(0)
    outcomes = set()
    for delay in [0.0, *rng.uniform(0.0, 0.2, size=6), 10.0]:  # 10 s: never killed
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(N_BLOCKS), "new"],
                                stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline() == b"open\n"  # the temporary exists now
        if delay < 10.0:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        content = target.read_bytes()
        assert content in (_expected("old"), _expected("new")), f"delay {delay:.3f} s: torn file"
        outcomes.add((proc.returncode, content == _expected("new")))
        target.write_bytes(_expected("old"))
        for leftover in tmp_path.glob("data.bin.tmp-*"):  # what kill -9 cannot clean up
            leftover.unlink()
    assert (-signal.SIGKILL, False) in outcomes  # some kills hit the writing
    assert (0, True) in outcomes  # the run that was not killed wrote the new file
