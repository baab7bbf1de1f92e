"""The library leaves process-wide state alone; the ``anncli`` command sets what it needs.

* importing anncli (and the modules a Python user imports) changes no environment variable,
  so nothing leaks into child processes such as a DFT code started by an ASE calculator;
* the command line sets ``OMP_WAIT_POLICY=PASSIVE`` for itself, unless the user chose one;
* training through the Python API leaves matplotlib's backend as the user set it.

Each check runs in a fresh interpreter: the pytest process has long imported everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _python(code: str, *args: str, env: dict | None = None) -> str:
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_importing_anncli_changes_no_environment_variable():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = _python("""
        import os
        before = dict(os.environ)
        import anncli, anncli.cli, anncli.calculator, anncli.potential.evaluate
        import anncli.workflows.generate, anncli.workflows.predict, anncli.workflows.train
        changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
        print(changed)
    """, env=env)
    assert out.strip() == "[]"


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_command_line_sets_passive_openmp_waiting_unless_the_user_chose(preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    out = _python("""
        import os
        from anncli.cli import main
        try:
            main()  # the console script: arguments from sys.argv
        except SystemExit:
            pass
        print(os.environ.get("OMP_WAIT_POLICY"))
    """, "--version", env=env)
    assert out.split() == ["anncli", "0.1.0", expected]


def test_training_through_the_python_api_keeps_matplotlib_backend(tmp_path):
    out = _python(f"""
        import sys
        import matplotlib
        matplotlib.use("svg")  # the user's choice (a notebook's would be inline or a GUI)
        sys.path.insert(0, {str(REPO / "tests" / "training")!r})
        from pathlib import Path
        from conftest import train_config, write_synthetic_trainset
        from anncli.workflows.train import run

        tmp = Path({str(tmp_path)!r})
        data = write_synthetic_trainset(tmp / "train.h5", n_structures=30)
        run(train_config(tmp, data["path"], epochs=3))
        assert (tmp / "out" / "learning_curve.png").stat().st_size > 0
        print(matplotlib.get_backend())
    """)
    assert out.split()[-1] == "svg"
