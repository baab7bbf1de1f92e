"""The command line on damaged inputs: exit status 0 or 2, never a traceback, crash or hang.

A few cases only (each is a new Python process): the fuzz tests beside this file cover the
parsers in depth through the Python API; these check that what they guarantee reaches the
user as a one-line message and exit status 2 (``anncli info`` on an XSF file, ``generate``
on a YAML input, a generate.in and an .stp file, ``predict`` with an ænet .nn potential).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_helpers import REPO, fuzz_settings, mutate_bytes, mutate_text
from test_fuzz_aenet_inputs import CHEB, GENERATE_IN
from test_fuzz_nn import W
from test_fuzz_xsf import HAND_WRITTEN
from test_fuzz_yaml import GENERATE_AENET, STP

PREDICT = "aenet_networks: {Ti: Ti.nn}\nstructures: [s.xsf]\nprint: none\n"
STRUCTURE = "ATOMS\nTi 0.0 0.0 0.0\nTi 2.5 0.0 0.0\nTi 0.0 2.5 0.0\n"
TIMEOUT_S = 120


def _anncli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "anncli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fuzz-cli")
    (d / "Au.stp").write_text(STP)
    (d / "Ti.stp").write_text(CHEB)
    (d / "O.stp").write_text(CHEB.replace("atom Ti", "ATOM O"))
    (d / "s.xsf").write_text(STRUCTURE)
    return d


def _case(data: st.DataObject, d: Path) -> list[str]:
    """Write one damaged input into ``d``; return the anncli arguments that read it."""
    kind = data.draw(st.sampled_from(["info-xsf", "generate-yaml", "generate-in", "generate-stp",
                                      "predict-nn"]), label="case")
    if kind == "info-xsf":
        (d / "m.xsf").write_text(mutate_text(data, data.draw(st.sampled_from(HAND_WRITTEN))), errors="surrogatepass")
        return ["info", "m.xsf"]
    if kind == "generate-yaml":
        (d / "gen.yaml").write_text(mutate_text(data, GENERATE_AENET), errors="surrogatepass")
        return ["generate", "gen.yaml", "--overwrite"]
    if kind == "generate-in":
        (d / "generate.in").write_text(mutate_text(data, GENERATE_IN), errors="surrogatepass")
        return ["generate", "generate.in"]
    if kind == "generate-stp":
        (d / "Au.stp").write_text(mutate_text(data, STP), errors="surrogatepass")
        (d / "gen.yaml").write_text(GENERATE_AENET.replace("data/*.xsf", "s.xsf"))
        return ["generate", "gen.yaml", "--overwrite"]
    (d / "Ti.nn").write_bytes(mutate_bytes(data, W.join_records(W.nn_records("Ti"))))
    (d / "predict.yaml").write_text(PREDICT)
    return ["predict", "predict.yaml"]


@fuzz_settings(8)
@given(data=st.data())
def test_damaged_inputs_on_the_command_line(workdir, data):
    args = _case(data, workdir)
    result = _anncli(args, workdir)
    assert result.returncode in (0, 2), (args, result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, (args, result.stderr[-3000:])
    if result.returncode == 2:
        assert result.stderr.strip(), args  # a message, not silence


def test_damaged_potential_exits_2_naming_the_file(workdir):
    """A damaged .nn (an emptied record) gives exit 2 and one message naming the file and the record."""
    records = W.nn_records("Ti")
    records[W.RECORD["sfenv"]] = b""  # the sfenv record emptied
    (workdir / "Ti.nn").write_bytes(W.join_records(records))
    (workdir / "predict.yaml").write_text(PREDICT)
    result = _anncli(["predict", "predict.yaml"], workdir)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Ti.nn" in result.stderr and "sfenv" in result.stderr
