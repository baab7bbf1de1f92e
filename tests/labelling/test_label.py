"""``anncli label``: EMT labels, restart, failures and their attempt limit, commands, parallel workers."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.io import read, write

from anncli.cli import main
from anncli.config.label import LabelConfig
from anncli.config.loader import load_config
from anncli.io import read_structures
from anncli.workflows import label as label_wf

FAKE_CODE = '''\
import os, sys
if len(sys.argv) > 4:
    open(sys.argv[4], "w").write(str(os.getpid()))
from ase.io import read, write
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
inp, out, log = sys.argv[1:4]
with open(log, "a") as fh:
    fh.write(inp + "\\n")
a = read(inp)
if "Ag" in a.get_chemical_symbols():
    sys.exit("fake code: silver is not supported")
if "Ni" in a.get_chemical_symbols():
    import time
    time.sleep(30)
a.calc = EMT()
b = a.copy()
b.calc = SinglePointCalculator(b, energy=a.get_potential_energy(), forces=a.get_forces(), stress=a.get_stress())
write(out, b, format="extxyz")
'''


def _structures(n=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((1 + k % 2, 1, 1))
        a.symbols[rng.random(len(a)) < 0.3] = "Au"
        a.positions += rng.normal(scale=0.05, size=a.positions.shape)
        a.info.update(kind="rattle", parent=0, copy=k)
        out.append(a)
    return out


def _write(tmp_path: Path, images, body: str, name="label.yaml") -> Path:
    write(tmp_path / "in.extxyz", images)
    cfg = tmp_path / name
    cfg.write_text("structures: [in.extxyz]\n" + textwrap.dedent(body))
    return cfg


def _run(cfg: Path, **kw):
    return label_wf.run(load_config(cfg, LabelConfig), config_path=cfg, **kw)


def test_emt_labels_equal_direct_emt_and_generate_reads_them(tmp_path):
    images = _structures(3)
    cluster = molecule("CH4")
    cluster.symbols[:] = "Cu"
    cluster.positions *= 2.2
    images.append(cluster)
    cfg = _write(tmp_path, images, "calculator: {name: emt}\n")
    res = _run(cfg)
    assert res.exit_code == 0 and res.n_labelled == 4 and res.computed == 4
    got = read_structures(tmp_path / "labelled.extxyz")
    labelled = read(tmp_path / "labelled.extxyz", ":")
    images = read(tmp_path / "in.extxyz", ":")  # positions as written (8 decimals)
    for a, s, lab in zip(images, got, labelled):
        ref = a.copy()
        ref.calc = EMT()
        assert s.energy == pytest.approx(ref.get_potential_energy(), abs=1e-10)
        assert np.allclose(s.forces, ref.get_forces(), atol=1e-10)
        if all(a.pbc):
            assert np.allclose(lab.get_stress(), ref.get_stress(), atol=1e-10)
        else:
            assert "stress" not in lab.calc.results
        assert np.allclose(s.positions, a.positions)
    assert [lab.info.get("kind") for lab in labelled[:3]] == ["rattle"] * 3  # provenance kept


def test_rerun_computes_only_what_is_missing(tmp_path):
    images = _structures(4)
    cfg = _write(tmp_path, images, "calculator: {name: emt}\n")
    first = (tmp_path / "labelled.extxyz")
    assert _run(cfg).computed == 4
    before = first.read_bytes()
    again = _run(cfg)
    assert (again.computed, again.reused) == (0, 4)
    assert first.read_bytes() == before
    write(tmp_path / "in.extxyz", images + _structures(6, seed=1)[4:])  # the loop appends structures
    more = _run(cfg)
    assert (more.computed, more.reused, more.n_labelled) == (2, 4, 6)
    assert first.read_bytes().startswith(before)  # input order kept
    write(tmp_path / "in.extxyz", images + images[:1])  # a duplicate: computed once, written twice
    dup = _run(cfg)
    assert (dup.computed, dup.n_labelled) == (0, 5)
    assert len(list((tmp_path / "label_work" / "results").glob("*.extxyz"))) == 6
    assert not (tmp_path / "label_work" / "calc").exists()  # EMT writes no files


def _command_config(tmp_path: Path, images, extra: str = "", pid: bool = False) -> Path:
    (tmp_path / "fake.py").write_text(FAKE_CODE)
    pid_arg = f" {tmp_path / 'pid'}" if pid else ""
    return _write(tmp_path, images, f"""\
        command:
          run: "{{python}} {tmp_path / 'fake.py'} {{input}} {{output}} {tmp_path / 'calls.log'}{pid_arg}"
          input: {{file: in.xyz, format: extxyz}}
          output: {{file: out.xyz, format: extxyz}}
        max_attempts: 2
        """ + extra)


def _calls(tmp_path: Path) -> int:
    log = tmp_path / "calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_command_results_equal_the_calculator_and_failures_are_limited(tmp_path, caplog):
    images = _structures(3)
    images[1].symbols[0] = "Ag"
    cfg = _command_config(tmp_path, images)
    res = _run(cfg)
    assert _calls(tmp_path) == 3 and res.exit_code == 1 and res.n_labelled == 2
    rows = list(csv.DictReader(open(tmp_path / "label_work" / "failures.csv")))
    assert len(rows) == 1 and rows[0]["index"] == "1" and rows[0]["attempts"] == "1"
    assert "silver is not supported" in rows[0]["error"] and rows[0]["structure"].endswith("in.extxyz@1")
    got = read_structures(tmp_path / "labelled.extxyz")
    images = read(tmp_path / "in.extxyz", ":")
    for a, s in zip([images[0], images[2]], got):
        ref = a.copy()
        ref.calc = EMT()
        assert s.energy == pytest.approx(ref.get_potential_energy(), abs=1e-9)
        assert np.allclose(s.forces, ref.get_forces(), atol=1e-9)
    _run(cfg)  # second attempt of the failed structure only
    assert _calls(tmp_path) == 4
    caplog.clear()
    third = _run(cfg)  # max_attempts reached: not tried, still listed
    assert _calls(tmp_path) == 4 and third.exit_code == 1 and third.failures[0]["attempts"] == 2
    assert "not tried again" in caplog.text
    _run(cfg, retry_failed=True)
    assert _calls(tmp_path) == 5
    images[1].symbols[0] = "Cu"  # the structure fixed: a new structure, computed, no failure left
    write(tmp_path / "in.extxyz", images)
    fixed = _run(cfg)
    assert fixed.exit_code == 0 and fixed.n_labelled == 3 and not (tmp_path / "label_work" / "failures.csv").exists()


def test_command_timeout_is_a_failure_and_kills_the_command(tmp_path):
    import os
    import time

    images = _structures(1)
    images[0].symbols[0] = "Ni"  # the fake code sleeps 30 s
    cfg = _command_config(tmp_path, images, pid=True)
    cfg.write_text(cfg.read_text().replace("  output:", "  timeout: 1.0\n  output:"))
    res = _run(cfg)
    assert res.n_labelled == 0 and "did not finish within 1 s" in res.failures[0]["error"]
    if (tmp_path / "pid").exists():  # the code started before the time ran out: it must be gone
        pid = int((tmp_path / "pid").read_text())
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the timed-out command is still running")


def test_parallel_workers_give_the_same_file(tmp_path):
    images = _structures(5)
    outs = []
    for workers in (1, 2):
        d = tmp_path / f"w{workers}"
        d.mkdir()
        cfg = _write(d, images, f"calculator: {{name: ase.calculators.emt.EMT}}\nworkers: {workers}\n")
        assert _run(cfg).computed == 5
        outs.append((d / "labelled.extxyz").read_bytes())
    assert outs[0] == outs[1]


def test_xsf_output_is_read_by_anncli(tmp_path):
    images = _structures(2)
    cfg = _write(tmp_path, images, "calculator: {name: emt}\noutput: xsf\noutput_format: xsf\n"
                                   "properties: [energy, forces]\n")
    assert _run(cfg).n_labelled == 2
    files = sorted((tmp_path / "xsf").glob("*.xsf"))
    assert [f.name for f in files] == ["00000.xsf", "00001.xsf"]
    s = read_structures(files[1])[0]
    ref = read(tmp_path / "in.extxyz", 1)
    ref.calc = EMT()
    assert s.energy == pytest.approx(ref.get_potential_energy(), abs=1e-8)


@pytest.mark.parametrize("body, message", [
    ("calculator: {name: gpaw}\n", "needs the package 'gpaw', which is not installed"),
    ("calculator: {name: nosuch.module.Calc}\n", "the package 'nosuch' is not installed"),
    ("calculator: {name: ase.calculators.singlepoint.SinglePointCalculator, kwargs: {bogus: 1}}\n",
     "calculator.kwargs: ase.calculators.singlepoint.SinglePointCalculator does not accept"),
    ("calculator: {name: emt}\ncommand: {run: x, input: {file: a, format: extxyz}, output: {file: b}}\n",
     "give exactly one of 'calculator'"),
    ("command: {run: 'x {inptu}', input: {file: a, format: extxyz}, output: {file: b}}\n",
     "unknown placeholder {inptu}"),
    ("calculator: {name: emt}\nproperties: [forces]\n", "must include energy"),
    ("calculator: {name: emt}\nmax_attempts: 0\n", "max_attempts"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, body, message):
    cfg = _write(tmp_path, _structures(1), body)
    assert main(["label", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_exit_1_when_structures_fail(tmp_path, capsys):
    images = _structures(2)
    images[0].symbols[0] = "Ag"
    cfg = _command_config(tmp_path, images)
    assert main(["label", str(cfg)]) == 1
    assert "failures.csv" in capsys.readouterr().err


def test_a_worker_that_dies_fails_only_its_structure(tmp_path):
    images = _structures(5)
    images[2].symbols[0] = "Ag"
    cfg = _write(tmp_path, images, "calculator: {name: crashing_calc.CrashOnSilver}\nworkers: 2\n")
    res = _run(cfg)
    assert res.n_labelled == 4 and len(res.failures) == 1
    assert res.failures[0]["index"] == 2 and "worker process died" in res.failures[0]["error"]


def test_structure_key_survives_a_file_round_trip_and_tells_structures_apart(tmp_path):
    from anncli.labelling import structure_key

    images = _structures(3)
    write(tmp_path / "x.extxyz", images)
    back = read(tmp_path / "x.extxyz", ":")
    assert [structure_key(a) for a in images] == [structure_key(b) for b in back]
    moved = images[0].copy()
    moved.positions[0, 0] += 1e-4
    swapped = images[0].copy()
    swapped.symbols[0] = "Ag"
    assert len({structure_key(images[0]), structure_key(moved), structure_key(swapped)}) == 3
