"""The anncli group: help, version, stage dispatch, exit codes, info."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import anncli
from anncli.cli import main
from anncli.exceptions import DataError, TrainingError

REPO = Path(__file__).resolve().parents[2]
GOOD = (REPO / "example_inputs" / "generate.yaml").read_text()


def test_help_lists_the_stages(invoke):
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("generate", "train", "predict", "validate", "info"):
        assert f"\n  {name} " in result.stdout


def test_version(invoke):
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"anncli {anncli.__version__}"


def test_main_returns_the_exit_code(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--version"]) == 0
    assert main(["generate", "missing.yaml"]) == 2
    assert "anncli: error: missing.yaml: no such file" in capsys.readouterr().err


@pytest.fixture
def fake_workflow(monkeypatch):
    """Install a fake anncli.workflows.generate whose run() records its arguments or raises."""
    calls = []
    module = types.ModuleType("anncli.workflows.generate")

    def run(config, *, config_path, **kwargs):
        calls.append((config, config_path, kwargs))
        if module.raise_ is not None:
            raise module.raise_
        return None

    module.raise_ = None
    module.run = run
    module.calls = calls
    monkeypatch.setitem(sys.modules, "anncli.workflows.generate", module)
    return module


def test_generate_runs_the_workflow_with_paths_relative_to_the_config(invoke, tmp_path, fake_workflow):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "gen.yaml").write_text(GOOD.replace("output: trainset.h5", "output: out/set.h5"))
    result = invoke("generate", "runs/gen.yaml")
    assert result.exit_code == 0, result.output
    (config, config_path, kwargs), = fake_workflow.calls
    assert config_path == (tmp_path / "runs" / "gen.yaml").resolve()
    assert config.output.resolve() == (tmp_path / "runs" / "out" / "set.h5").resolve()
    assert config.structures == ["data/*.xsf"]  # resolved by the workflow against config_path
    assert kwargs == {}


def test_stage_without_workflow_is_not_available(invoke, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "anncli.workflows.generate", types.ModuleType("anncli.workflows.generate"))
    (tmp_path / "gen.yaml").write_text(GOOD)
    result = invoke("generate", "gen.yaml")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"anncli generate: this stage is not available yet in anncli {anncli.__version__}"


def _fake_schema_module(stage: str) -> types.ModuleType:
    """A module ``anncli.config.<stage>`` whose schema requires one key, ``model``."""
    from anncli.config.base import Section, Str

    module = types.ModuleType(f"anncli.config.{stage}")
    module.__dict__[f"{stage.capitalize()}Config"] = type(
        f"{stage.capitalize()}Config", (Section,), {"__annotations__": {"model": Str}})
    return module


def test_stage_without_schema_is_not_available(invoke, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "anncli.config.validate", None)  # import fails: not written yet
    (tmp_path / "x.yaml").write_text("a: 1\n")
    result = invoke("validate", "x.yaml")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"anncli validate: this stage is not available yet in anncli {anncli.__version__}"


def test_stage_with_schema_but_without_workflow(invoke, tmp_path, monkeypatch):
    """The schema is applied first (a bad file is exit 2), then the missing workflow is exit 1."""
    monkeypatch.setitem(sys.modules, "anncli.config.validate", _fake_schema_module("validate"))
    monkeypatch.setitem(sys.modules, "anncli.workflows.validate", None)
    (tmp_path / "x.yaml").write_text("a: 1\n")
    result = invoke("validate", "x.yaml")
    assert result.exit_code == 2
    assert "anncli: error: x.yaml, line 1: top level: missing required key 'model'" in result.stderr
    assert "anncli: error: x.yaml, line 1: a: unknown key 'a'" in result.stderr
    assert "Traceback" not in result.output
    (tmp_path / "y.yaml").write_text("model: m.h5\n")
    result = invoke("validate", "y.yaml")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"anncli validate: this stage is not available yet in anncli {anncli.__version__}"


@pytest.mark.parametrize(
    "exc, code, text",
    [
        (DataError("a.xsf, line 3: bad number"), 2, "anncli: error: a.xsf, line 3: bad number"),
        (TrainingError("loss became NaN at epoch 3"), 1, "anncli: error: loss became NaN at epoch 3"),
        (RuntimeError("boom"), 1, "anncli: error: internal error: RuntimeError: boom (run with --debug for the traceback)"),
        (KeyboardInterrupt(), 130, "anncli: interrupted"),
    ],
)
def test_exit_codes_of_workflow_errors(invoke, tmp_path, fake_workflow, exc, code, text):
    (tmp_path / "gen.yaml").write_text(GOOD)
    fake_workflow.raise_ = exc
    result = invoke("generate", "gen.yaml")
    assert result.exit_code == code
    assert text in result.stderr
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(invoke, tmp_path, fake_workflow):
    (tmp_path / "gen.yaml").write_text(GOOD)
    fake_workflow.raise_ = RuntimeError("boom")
    for args in (("--debug", "generate", "gen.yaml"), ("generate", "gen.yaml", "--debug")):
        result = invoke(*args)
        assert result.exit_code == 1
        assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr


def test_info_on_a_structure_file(invoke, tmp_path):
    import ase.io as ase_io
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for n, e in ((2, -3.0), (3, -7.5)):
        atoms = Atoms(["Cu"] * (n - 1) + ["Au"], positions=np.arange(3 * n).reshape(n, 3) * 1.3, cell=np.eye(3) * 10, pbc=True)
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=np.zeros((n, 3)))
        frames.append(atoms)
    ase_io.write(tmp_path / "two.extxyz", frames, format="extxyz")
    result = invoke("info", "two.extxyz")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "frames:   2" in out
    assert "5 in total, 2 .. 3 per frame" in out
    assert "Cu 3, Au 2" in out
    assert "-7.5 .. -3 eV; -2.5 .. -1.5 eV/atom" in out
    assert "forces:   yes (2 of 2 frames)" in out
    result = invoke("info", "two.extxyz", "--index", "-1", "--dump", "json")
    import json

    data = json.loads(result.stdout)
    assert data["frames"] == 1 and data["atoms"]["total"] == 3 and data["energy_eV"] == [-7.5, -7.5]


def test_info_on_an_anncli_hdf5_file_uses_h5info(invoke, tmp_path, monkeypatch):
    import h5py

    with h5py.File(tmp_path / "set.h5", "w") as f:
        f.attrs["format"] = "anncli-trainset"
    fake = types.ModuleType("anncli.io.h5info")
    fake.describe = lambda path: f"DESCRIBED {Path(path).name}"
    fake.dump_json = lambda path, stream: stream.write('{"dumped": true}\n')
    monkeypatch.setitem(sys.modules, "anncli.io.h5info", fake)
    assert invoke("info", "set.h5").stdout.strip() == "DESCRIBED set.h5"
    assert invoke("info", "set.h5", "--dump", "json").stdout.strip() == '{"dumped": true}'


def test_info_missing_file(invoke):
    result = invoke("info", "nothing.xyz")
    assert result.exit_code == 2 and result.stderr.strip() == "anncli: error: nothing.xyz: no such file"


def test_console_script_smoke(tmp_path):
    """One real process: `python -m anncli --help` (exit status through sys.exit)."""
    proc = subprocess.run(
        [sys.executable, "-m", "anncli", "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "generate" in proc.stdout and "info" in proc.stdout


def test_info_warns_about_close_atoms(invoke, tmp_path):
    (tmp_path / "close.xsf").write_text("ATOMS\nCu 0 0 0\nCu 0 0 2.5\nAu 0 0.04 2.5\n")
    result = invoke("info", "close.xsf")
    assert result.exit_code == 0
    assert "atoms 2 and 3 are 0.0400 Å apart" in result.stdout
