"""A first run's Numba compilation is announced and kept out of the rates; ``python -m anncli.compile``.

* :func:`anncli.log.watch_compilation` logs one message when Numba starts compiling and
  counts the time; loading a cached kernel is not compiling;
* :class:`anncli.log.Progress` leaves that time out of its rate and ETA and names it;
* ``python -m anncli.compile`` leaves every kernel that real runs call compiled.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from anncli import log
from anncli.log import COMPILING_MESSAGE, Progress, compile_seconds, setup_logging, watch_compilation

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_progress_rate_leaves_out_compile_time(capsys):
    setup_logging(0)
    clock, compiling = FakeClock(), FakeClock()
    compiling.t = 5.0  # compiled before the loop started: not this loop's business
    with Progress(4, "predict", "files", rate_unit="atoms", interval=0, tty=False, clock=clock,
                  excluded=compiling) as p:
        clock.t += 30.0
        compiling.t += 28.0  # the first batch: 28 s compiling, 2 s of work
        p.update(1, work=200)
        clock.t += 2.0
        p.update(1, work=200)
    lines = capsys.readouterr().err.strip().splitlines()
    # 400 atoms in 4 s of work: 100 atoms/s (not 400 / 32 s = 12.5); ETA from the work rate
    assert lines[0].endswith("predict: 1/4 files (25 %), 100 atoms/s, ETA 6 s")
    assert lines[1].endswith("predict: 2/4 files (50 %), 100 atoms/s, ETA 4 s")
    assert lines[2].endswith("predict: 2/4 files (50 %), 100 atoms/s, 32 s (28 s of it compiling kernels, not in the rate)")


def test_progress_without_compilation_names_none(capsys):
    setup_logging(0)
    clock = FakeClock()
    with Progress(2, "generate", "files", rate_unit="atoms", interval=0, tty=False, clock=clock,
                  excluded=lambda: 3.0) as p:
        clock.t += 2.0
        p.update(2, work=500)
    final = capsys.readouterr().err.strip().splitlines()[-1]
    assert final.endswith("generate: 2/2 files (100 %), 250 atoms/s, 2 s")


def test_watch_compilation_announces_once_and_counts_compile_time(caplog):
    import numba

    watch_compilation()
    watch_compilation()  # a second call installs no second listener

    @numba.njit(cache=False)
    def square(x):  # compiled at the first call, never cached
        return x * x

    log._COMPILE["announced"] = False  # as in a fresh process
    before = compile_seconds()
    with caplog.at_level(logging.INFO, logger="anncli"):
        assert square(3.0) == 9.0
        first = compile_seconds()
        assert square(4.0) == 16.0  # same signature: no compilation
        assert compile_seconds() == first
        assert square(5) == 25  # new signature: compiled, but announced only once
    assert first > before
    assert compile_seconds() > first
    assert [r.getMessage() for r in caplog.records].count(COMPILING_MESSAGE) == 1


def test_compile_module_compiles_every_kernel_real_runs_call(tmp_path):
    """In a fresh interpreter, after both halves of ``python -m anncli.compile`` (run in one
    process here, so that their dispatchers can be inspected), every kernel has machine code."""
    code = textwrap.dedent("""
        import importlib, numba.core.registry as registry
        from anncli.compile import PARTS, compile_kernels
        compile_kernels(parts=PARTS)
        modules = ["anncli.descriptors._behler_kernels", "anncli.descriptors._chebyshev_kernels",
                   "anncli.descriptors._chebyshev_forces", "anncli.descriptors.verlet",
                   "anncli.descriptors._neighbor_kernels", "anncli.io._xsf_kernels",
                   "anncli.network._force_kernels", "anncli.potential._kernels", "anncli.workflows.summaries"]
        for name in modules:
            for attr, f in vars(importlib.import_module(name)).items():
                # kernels called from Python: the public ones of the kernel modules and the
                # summaries' one (private helpers are compiled into, and cached with, them)
                if (isinstance(f, registry.CPUDispatcher) and f.__module__ == name
                        and (not attr.startswith("_") or name.endswith("summaries"))):
                    print(name, attr, len(f.signatures))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert len(rows) >= 15  # the kernel modules were inspected
    # the kernels not run: the error path of a neighbour species missing from an env list, and the
    # Chebyshev pair gradients of dE/dG given from outside (the engine's forces take the fused pass)
    missing = sorted(f"{m}.{a}" for m, a, n in rows if int(n) == 0)
    assert missing == ["anncli.descriptors._chebyshev_forces.pair_gradients_nb",
                       "anncli.descriptors._neighbor_kernels.first_missing_neighbor_nb"]


def test_compile_refuses_an_unknown_descriptor_family(capsys):
    from anncli.compile import DESCRIPTORS, main

    with pytest.raises(SystemExit) as exc:
        main(["--descriptors", "chebyshev,soap"])
    assert exc.value.code == 2
    assert "unknown soap; choose from chebyshev, behler2011" in capsys.readouterr().err
    assert set(DESCRIPTORS) == {"chebyshev", "behler2011"}


def test_compile_command_runs_both_halves_in_parallel(tmp_path):
    """``python -m anncli.compile`` starts the prediction half in a second process and reports
    the result of both (exit 0, one summary line); a failing half makes it exit 1."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "anncli.compile", "--descriptors", "chebyshev"], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Numba kernels" in proc.stderr + proc.stdout
    broken = dict(env, ANNCLI_SHARED_DATA="", PYTHONPATH=str(tmp_path) + os.pathsep + env["PYTHONPATH"])
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nif '--part' in sys.argv: raise SystemExit(3)\n")
    proc = subprocess.run([sys.executable, "-m", "anncli.compile", "--descriptors", "chebyshev"], env=broken,
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 1
    assert "compiling the prediction kernels failed (exit status" in proc.stderr + proc.stdout
