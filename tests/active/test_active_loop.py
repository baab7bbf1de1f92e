"""``anncli active`` end to end with EMT Cu-Au: selection, labels, growing training set, report, resume."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read, write

from anncli.cli import main
from anncli.config.active import ActiveConfig
from anncli.config.loader import load_config
from anncli.labelling import structure_key

CONFIG = """\
initial: [initial.extxyz]
calculator: {{name: {calculator}}}
reference_energies: {{Cu: 0.0, Au: 0.0}}
descriptors: {{default: {{type: chebyshev, radial: {{cutoff: 4.0, order: 3}}, angular: {{cutoff: 3.0, order: 2}}}}}}
train:
  networks: {{default: {{hidden: [4]}}}}
  epochs: 15
  committee: {{members: 2}}
  force_weight: 0.01
  checkpoint_every: 0
  log_every: 100
test: [test.extxyz]
explore:
  structures: [pool.extxyz]
  md: {{structures: [md_start.extxyz], temperatures: [500], steps: 20, interval: 10}}
select: {{n: 3, threshold: {threshold}, extrapolation: {extrapolation}, pool: 2}}
stop: {{max_iterations: {iterations}}}
warm_start: true
plots: {plots}
"""


def _cells(n: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 1, 1))
        a.symbols[rng.random(len(a)) < 0.4] = "Au"
        a.positions += rng.normal(scale=0.03 + 0.1 * (k % 3), size=a.positions.shape)
        out.append(a)
    return out


def _setup(tmp_path, threshold=0.0, iterations=2, plots="true", extrapolation="0.05", calculator="emt"):
    write(tmp_path / "initial.extxyz", _cells(5, 0))
    pool = _cells(12, 1)
    for a in pool[1::2]:  # the reference method fails on these (failing_calc.FailOnPoison)
        a.info["poison"] = True
    write(tmp_path / "pool.extxyz", pool)
    test = _cells(4, 2)
    for a in test:
        a.calc = EMT()
        a.get_potential_energy()
    write(tmp_path / "test.extxyz", test)
    write(tmp_path / "md_start.extxyz", bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 1, 1)))
    path = tmp_path / "active.yaml"
    path.write_text(CONFIG.format(threshold=threshold, iterations=iterations, plots=plots, extrapolation=extrapolation,
                                  calculator=calculator))
    return path


def _emt(atoms):
    a = atoms.copy()
    a.calc = EMT()
    return a.get_potential_energy()


def test_loop_selects_labels_grows_and_resumes(tmp_path, capsys):
    cfg = _setup(tmp_path, iterations=1, plots="false", calculator="failing_calc.FailOnPoison")
    assert main(["-q", "active", str(cfg)]) == 0
    out = tmp_path / "active"
    it0 = out / "iter_000"
    first_model = (it0 / "model" / "model.h5").stat().st_mtime_ns
    selected = read(it0 / "selected.extxyz", ":")
    assert len(selected) == 3
    # the selection: the highest-spread candidates of candidates.csv, all above the threshold
    import csv

    rows = list(csv.DictReader(open(it0 / "candidates.csv")))
    assert len(rows) == 12 + 3  # pool + MD frames (steps 0, 10, 20)
    chosen = [r for r in rows if r["selected_rank"]]
    assert len(chosen) == 3 and all(float(r["score"]) > 0 for r in chosen)
    top6 = sorted(rows, key=lambda r: -float(r["score"]))[:6]  # pool: 2 * n highest
    assert {r["index"] for r in chosen} <= {r["index"] for r in top6}

    # resume with a larger max_iterations: iteration 0 is not redone, iteration 1 labels the selection
    cfg.write_text(cfg.read_text().replace("max_iterations: 1", "max_iterations: 2").replace("plots: false",
                                                                                            "plots: true"))
    assert main(["-q", "active", str(cfg)]) == 0
    assert (it0 / "model" / "model.h5").stat().st_mtime_ns == first_model
    it1 = out / "iter_001"
    good = [a for a in selected if not a.info.get("poison")]
    bad = [i for i, a in enumerate(selected) if a.info.get("poison")]
    label = json.loads((it1 / "label.json").read_text())
    assert sorted(f["index"] for f in label["failures"]) == bad  # failures named, the others go on
    assert all("poisoned structure" in f["error"] for f in label["failures"])
    if not good:  # every selected structure failed: the loop says so and stops
        assert json.loads((out / "report.json").read_text())["stop"].startswith("none of the selected")
        return
    labelled = read(it1 / "labelled.extxyz", ":")
    assert [structure_key(a) for a in labelled] == [structure_key(a) for a in good]
    np.testing.assert_allclose([a.get_potential_energy() for a in labelled], [_emt(a) for a in good],
                               rtol=1e-9)
    with h5py.File(it1 / "trainset.h5") as f:
        assert f["structures/n_atoms"].shape[0] == 5 + len(good)
        np.testing.assert_allclose(f["structures/energy"][5:], [_emt(a) for a in good], rtol=1e-9)
    for i in bad:
        assert f"label failure: iter_000/selected.extxyz@{i}: RuntimeError: poisoned structure" in \
            (out / "report.md").read_text()
    # warm start: iteration 1's committee started from iteration 0's, whose validation structures stay there
    train1 = json.loads((it1 / "train.json").read_text())
    assert train1["initial_model"] == str(it0 / "model" / "model.h5")
    assert json.loads((it0 / "train.json").read_text())["initial_model"] is None

    def val(it):
        return {int(r["index"]) for r in csv.DictReader(open(it / "model" / "member_0" / "split.csv"))
                if r["set"] == "validation"}
    assert val(it0) <= val(it1)  # and one new structure joins them (two or more are new)
    added = val(it1) - val(it0)
    assert len(added) == (1 if len(good) >= 2 else 0) and all(i >= 5 for i in added)
    # a structure already labelled is never a candidate again
    keys1 = {structure_key(a) for a in read(it1 / "selected.extxyz", ":")}
    assert not keys1 & {structure_key(a) for a in read(tmp_path / "initial.extxyz", ":") + selected}
    report = json.loads((out / "report.json").read_text())
    assert [r["iteration"] for r in report["iterations"]] == [0, 1]
    assert [r["n_trainset"] for r in report["iterations"]] == [5, 5 + len(good)]
    assert report["iterations"][0]["label"]["computed"] == 5
    assert report["iterations"][0]["md"]["runs"][0]["temperature"] == 500
    assert report["stop"].startswith("max_iterations")
    assert report["iterations"][1]["test"]["n_structures"] == 4
    for name in ("report.md", "progress.png", "model.h5"):
        assert (out / name).is_file()
    assert f"| 1 | {5 + len(good)} | {len(good)} |" in (out / "report.md").read_text()
    # killed after training, before the iteration was recorded: the rerun neither labels nor trains again
    trained = (it1 / "model" / "model.h5").stat().st_mtime_ns
    labels = (it1 / "labelled.extxyz").read_bytes()
    (it1 / "state.json").unlink()
    (it1 / "selected.extxyz").unlink()
    assert main(["-q", "active", str(cfg)]) == 0
    assert (it1 / "model" / "model.h5").stat().st_mtime_ns == trained
    assert (it1 / "labelled.extxyz").read_bytes() == labels
    assert (it1 / "state.json").is_file() and (it1 / "selected.extxyz").is_file()
    assert json.loads((out / "report.json").read_text())["n_iterations"] == 2
    assert "stopped after 2 iteration(s)" in capsys.readouterr().out


def test_unreachable_threshold_stops_after_first_iteration(tmp_path):
    cfg = _setup(tmp_path, threshold=1e6, iterations=3, plots="false", extrapolation="null")
    assert main(["-q", "active", str(cfg)]) == 0
    report = json.loads((tmp_path / "active" / "report.json").read_text())
    assert report["n_iterations"] == 1
    assert report["stop"] == "no candidate above the thresholds"
    assert report["iterations"][0]["select"]["n_selectable"] == 0


@pytest.mark.parametrize("edit, message", [
    ("train:\n  trainset: x.h5\n", "train.trainset"),
    ("train:\n  epochs: 3\n", "train.committee"),
    ("calculator: {name: gpaw}\n", "gpaw"),
    ("explore: {}\n", "explore"),
])
def test_bad_input_exit_2_naming_the_key(tmp_path, capsys, edit, message):
    base = {"initial": ["i.extxyz"], "calculator": {"name": "emt"}, "reference_energies": {"Cu": 0.0},
            "descriptors": {"default": {"type": "chebyshev", "radial": {"cutoff": 4.0, "order": 3},
                                        "angular": {"cutoff": 3.0, "order": 2}}},
            "train": {"committee": {"members": 2}}, "explore": {"structures": ["p.extxyz"]}}
    import yaml

    key = edit.split(":")[0]
    base.pop(key)
    write(tmp_path / "i.extxyz", bulk("Cu", "fcc", a=3.6))
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(base) + edit)
    assert main(["-q", "active", str(tmp_path / "a.yaml")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_example_input_validates():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "example_inputs" / "active.yaml"
    config = load_config(path, ActiveConfig)
    assert config.train.committee is not None and config.explore.md is not None


def test_sampled_ideal_structures_keep_their_labels_through_extxyz(tmp_path):
    """sample's provenance info must survive extxyz: an empty 'detail' swallowed the energy."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from anncli.config.sample import SampleConfig
    from anncli.workflows.sample import sample_candidates

    cfg = SampleConfig.model_validate({"structures": ["-"], "plot": False, "rattle": {"copies": 1}})
    pool = sample_candidates([bulk("Cu", "fcc", a=3.6, cubic=True)], cfg).pool
    for k, a in enumerate(pool):
        a.calc = SinglePointCalculator(a, energy=float(k) + 0.5)
    write(tmp_path / "p.extxyz", pool)
    back = read(tmp_path / "p.extxyz", ":")
    assert [a.info["kind"] for a in back] == ["ideal", "rattle"]
    assert [a.get_potential_energy() for a in back] == [0.5, 1.5]


def test_unknown_species_in_an_md_start_structure_is_named_before_any_work(tmp_path, capsys):
    cfg = _setup(tmp_path)
    write(tmp_path / "md_start.extxyz", bulk("Ag", "fcc", a=4.1, cubic=True))
    assert main(["-q", "active", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "explore.md.structures" in err and "md_start.extxyz" in err and "Ag" in err
    assert not (tmp_path / "active" / "label_work").exists()  # nothing was computed


def test_baseline_delta_learning_loop(tmp_path):
    """baseline: EMT is subtracted from the reference (1.05 EMT); the committee learns 0.05 EMT."""
    from anncli.potential.model_file import load_model

    cfg = _setup(tmp_path, iterations=1, plots="false", calculator="failing_calc.ScaledEMT")
    cfg.write_text(cfg.read_text() + "baseline: {calculator: emt}\n")
    assert main(["-q", "active", str(cfg)]) == 0
    it0 = tmp_path / "active" / "iter_000"
    labelled = read(it0 / "labelled.extxyz", ":")
    e_emt = np.array([_emt(a) for a in labelled])
    np.testing.assert_allclose([a.get_potential_energy() for a in labelled], 1.05 * e_emt, rtol=1e-9)
    with h5py.File(it0 / "trainset.h5") as f:
        assert json.loads(f.attrs["baseline"])["calculator"] == "emt"
        np.testing.assert_allclose(f["structures/baseline_energy"][()], e_emt, rtol=1e-9)
        np.testing.assert_allclose(f["structures/cohesive_energy"][()], 0.05 * e_emt, rtol=1e-9, atol=1e-12)
    model = load_model(tmp_path / "active" / "model.h5")
    assert model.baseline["calculator"] == "emt" and model.n_members == 2
    report = json.loads((tmp_path / "active" / "report.json").read_text())
    assert report["iterations"][0]["test"]["n_structures"] == 4
