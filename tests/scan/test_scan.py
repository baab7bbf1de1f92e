"""``anncli scan``: grid expansion, features reused, one split for all, resume, k-fold, the
recommendation rule and bad input (small EMT Cu-Au sets)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from anncli.cli import main
from anncli.config.loader import load_config, validate_config
from anncli.config.scan import ScanConfig
from anncli.exceptions import ConfigError
from anncli.io import write_structures
from anncli.log import reset_logging
from emt_data import emt_structures

CONFIG = """\
generate:
  structures: [data.extxyz]
  reference_energies: {{Cu: 0.0, Au: 0.0}}
  descriptors: {{default: {{type: chebyshev, radial: {{cutoff: 4.0, order: 3}}, angular: {{cutoff: 3.0, order: 2}}}}}}
train:
  epochs: 4
  checkpoint_every: 0
  log_every: 100
  validation_fraction: 0.25
  seed: 3
{extra}grid:
  descriptors:
    radial.order: [2, 4]
  networks:
    hidden: [[3], [5, 5]]
"""


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


def _setup(tmp_path, extra: str = "", n: int = 10):
    write_structures(tmp_path / "data.extxyz", emt_structures(n, seed=1))
    path = tmp_path / "scan.yaml"
    path.write_text(CONFIG.format(extra=extra))
    return path


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _count_calls(monkeypatch):
    from anncli.workflows import generate, train

    calls = {"generate": [], "train": []}
    real_gen, real_train = generate.run, train.run

    def gen(cfg, **kw):
        calls["generate"].append(cfg)
        return real_gen(cfg, **kw)

    def tr(cfg, **kw):
        calls["train"].append(cfg)
        return real_train(cfg, **kw)

    monkeypatch.setattr(generate, "run", gen)
    monkeypatch.setattr(train, "run", tr)
    return calls


# ----------------------------------------------------------------------------- grid expansion
def test_grid_expansion_applies_every_value(tmp_path):
    from anncli.workflows.scan_grid import expand_grid

    data = {
        "generate": {"structures": ["x.extxyz"], "reference_energies": {"Cu": 0.0, "Au": 0.0},
                     "descriptors": {"default": {"type": "chebyshev", "radial": {"cutoff": 5.0, "order": 3},
                                                 "angular": {"cutoff": 3.0, "order": 2}}}},
        "train": {"networks": {"Au": {"hidden": [7]}}},
        "grid": {"descriptors": {"radial.cutoff": [4.0, 6.0], "Cu.angular.order": [1, 3, 5]},
                 "networks": {"hidden": [[2], [4, 4]], "activation": ["tanh", "gelu"]}},
    }
    cfg = validate_config(data, ScanConfig, base_dir=tmp_path)
    dpoints, npoints = expand_grid(cfg)
    assert len(dpoints) == 6 and len(npoints) == 4
    for p in dpoints:
        desc = p.generate["descriptors"]
        # radial.cutoff (no species prefix) applies to every entry, Cu's own entry is made from the default
        assert desc["default"]["radial"]["cutoff"] == desc["Cu"]["radial"]["cutoff"] == p.settings["radial.cutoff"]
        assert desc["Cu"]["angular"]["order"] == p.settings["Cu.angular.order"]
        assert desc["default"]["angular"]["order"] == 2
        # Chebyshev: 2 (typed and untyped) x (radial N+1 + angular N+1) features
        assert p.n_features == {"Cu": 2 * (4 + p.settings["Cu.angular.order"] + 1), "Au": 2 * (4 + 3)}
    assert [(p.settings["radial.cutoff"], p.settings["Cu.angular.order"]) for p in dpoints] == \
        [(4.0, 1), (4.0, 3), (4.0, 5), (6.0, 1), (6.0, 3), (6.0, 5)]
    for p in npoints:
        nets = p.train["networks"]
        assert nets["default"] == {"hidden": p.settings["hidden"], "activation": p.settings["activation"]}
        assert nets["Au"]["hidden"] == [7]  # a species' own entry stays


# ----------------------------------------------------------------------------- end to end
def test_scan_reuses_features_one_split_and_resumes(tmp_path, monkeypatch, capsys):
    cfg = _setup(tmp_path)
    calls = _count_calls(monkeypatch)
    assert main(["-q", "scan", str(cfg)]) == 0
    out = tmp_path / "scan"
    # generate once per descriptor point, train once per (descriptor point, architecture)
    assert len(calls["generate"]) == 2 and len(calls["train"]) == 4
    assert sorted(c.descriptors["default"].radial.order for c in calls["generate"]) == [2, 4]
    by_trainset = {}
    for c in calls["train"]:
        by_trainset.setdefault(str(c.trainset), []).append(c.network_for("Cu")[0])
    assert by_trainset == {str(out / "d0" / "trainset.h5"): [[3], [5, 5]],
                           str(out / "d1" / "trainset.h5"): [[3], [5, 5]]}
    # one split for every point: the split anncli train draws with the seed
    splits = {tuple(c.validation_set) for c in calls["train"]}
    assert len(splits) == 1
    from anncli.io.trainset import open_trainset, read_parents
    from anncli.training.split import random_split

    with open_trainset(out / "d0" / "trainset.h5") as f:
        parents = read_parents(f)
    _, val = random_split(np.arange(10), 0.25, np.random.default_rng(3), parents)
    assert list(splits.pop()) == list(val)

    rows = _rows(out / "scan.csv")
    assert [r["point"] for r in rows] == ["d0n0", "d0n1", "d1n0", "d1n1"]
    for r in rows:
        res = json.loads((out / r["descriptor"] / r["network"] / "fold0" / "result.json").read_text())
        assert float(r["val_energy_rmse"]) == pytest.approx(res["val_energy_rmse"], rel=1e-5)
        order = 2 if r["descriptor"] == "d0" else 4
        n_feat = 2 * (order + 1 + 3)
        assert int(r["n_features"]) == n_feat
        hidden = [3] if r["network"] == "n0" else [5, 5]
        sizes = [n_feat, *hidden, 1]
        assert int(r["n_parameters"]) == 2 * sum(b * (a + 1) for a, b in zip(sizes[:-1], sizes[1:]))
        assert float(r["predict_us_per_atom"]) > 0 and float(r["train_seconds"]) > 0
    assert sum(r["recommended"] == "yes" for r in rows) == 1
    assert (out / "scan.png").stat().st_size > 0
    text = (out / "recommendation.txt").read_text()
    rec = next(r for r in rows if r["recommended"] == "yes")
    assert text.startswith(f"Recommended: {rec['point']}") and text.strip() in capsys.readouterr().out

    # a killed scan: one training and one timing missing -> only they are redone
    (out / "d1" / "n1" / "fold0" / "result.json").unlink()
    (out / "d1" / "n1" / "timing.json").unlink()
    calls["generate"].clear(), calls["train"].clear()
    assert main(["-q", "scan", str(cfg)]) == 0
    assert calls["generate"] == [] and len(calls["train"]) == 1
    assert str(calls["train"][0].trainset) == str(out / "d1" / "trainset.h5")
    assert calls["train"][0].network_for("Cu")[0] == [5, 5]
    rows2 = _rows(out / "scan.csv")
    assert [r["val_energy_rmse"] for r in rows2[:3]] == [r["val_energy_rmse"] for r in rows[:3]]
    # a key that does not change the numbers (the rule) reuses everything
    cfg.write_text(cfg.read_text() + "recommend: {cost: features}\n")
    calls["train"].clear()
    assert main(["-q", "scan", str(cfg)]) == 0
    assert calls["generate"] == [] and calls["train"] == []

    # a changed input is refused ...
    cfg.write_text(cfg.read_text().replace("epochs: 4", "epochs: 3"))
    assert main(["-q", "scan", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "holds a scan of a different input" in err and "overwrite: true" in err
    assert calls["train"] == []
    # ... or, with overwrite: true, started again
    cfg.write_text(cfg.read_text() + "overwrite: true\n")
    assert main(["-q", "scan", str(cfg)]) == 0
    assert len(calls["generate"]) == 2 and len(calls["train"]) == 4
    assert all(c.epochs == 3 for c in calls["train"])


def test_kfold_in_worker_processes(tmp_path):
    cfg = _setup(tmp_path, extra="folds: 3\nn_workers: 2\n", n=9)
    cfg.write_text(cfg.read_text().replace("radial.order: [2, 4]", "radial.order: [3]")
                   .replace("hidden: [[3], [5, 5]]", "hidden: [[3]]"))
    assert main(["-q", "scan", str(cfg)]) == 0
    out = tmp_path / "scan"
    vals, errs = [], []
    for f in range(3):
        with open(out / "d0" / "n0" / f"fold{f}" / "split.csv", newline="") as fh:
            vals.append({int(r["index"]) for r in csv.DictReader(fh) if r["set"] == "validation"})
        errs.append(json.loads((out / "d0" / "n0" / f"fold{f}" / "result.json").read_text())["val_energy_rmse"])
    assert all(len(v) == 3 for v in vals)  # 9 structures, 3 folds
    assert set().union(*vals) == set(range(9)) and sum(map(len, vals)) == 9  # a partition
    (row,) = _rows(out / "scan.csv")
    assert float(row["val_energy_rmse"]) == pytest.approx(np.mean(errs), rel=1e-5)
    assert float(row["val_energy_rmse_std"]) == pytest.approx(np.std(errs, ddof=1), rel=1e-4)
    assert "one standard error" in (out / "recommendation.txt").read_text()  # rule auto with folds


# ----------------------------------------------------------------------------- the rule
def _table(errors, costs, stds=None):
    return [{"point": f"p{i}", "settings": "", "val_energy_rmse": e, "n_parameters": c,
             "val_energy_rmse_std": (stds[i] if stds else float("nan"))} for i, (e, c) in enumerate(zip(errors, costs))]


def test_recommendation_rule_on_a_constructed_table():
    from anncli.workflows.scan_report import pareto_front, recommend

    errors = [10.0, 10.8, 11.5, 30.0, float("nan")]
    costs = [1000, 400, 100, 50, 10]
    # tolerance 10 %: bound 11.0 -> p0 and p1 qualify, p1 is cheaper
    r = recommend(_table(errors, costs), rule="tolerance", tolerance=10.0)
    assert (r.index, r.best) == (1, 0) and r.bound == pytest.approx(11.0)
    assert "p1" in r.reason and "within 10 % of the best point (p0" in r.reason and "400" in r.reason
    # 20 %: bound 12.0 -> p2 (cost 100)
    assert recommend(_table(errors, costs), rule="tolerance", tolerance=20.0).index == 2
    # 0 %: only the best
    assert recommend(_table(errors, costs), rule="tolerance", tolerance=0.0).index == 0
    # one standard error: spread 2.4 over 4 folds -> SE 1.2, bound 11.2 -> p1; spread 4 -> SE 2 -> p2
    stds = [2.4, 1.0, 1.0, 1.0, 1.0]
    r = recommend(_table(errors, costs, stds), rule="one_se", folds=4)
    assert r.index == 1 and r.bound == pytest.approx(11.2) and "one standard error" in r.reason
    stds[0] = 4.0
    assert recommend(_table(errors, costs, stds), rule="one_se", folds=4).index == 2
    # equal costs: the lower error wins
    assert recommend(_table([10.0, 10.5, 10.2], [5, 5, 5]), rule="tolerance", tolerance=10.0).index == 0
    assert recommend(_table([float("nan")], [5])) is None
    # Pareto: nothing both cheaper and better; the NaN point is never on the front
    assert list(pareto_front(costs, errors)) == [True, True, True, True, False]
    assert list(pareto_front([1, 2, 3], [5.0, 6.0, 4.0])) == [True, False, True]


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("edit, expected", [
    (("  descriptors:\n    radial.order: [2, 4]\n  networks:\n    hidden: [[3], [5, 5]]\n", "  descriptors: {}\n"),
     "the grid is empty"),
    (("radial.order: [2, 4]", "radial.order: []"), "grid.descriptors.radial.order: expected at least 1 item"),
    (("radial.order: [2, 4]", "radial.cutof: [4.0]"), "grid point d0 (radial.cutof=4): descriptors.default.radial.cutof: "
                                                      "unknown key 'cutof'; did you mean 'cutoff'?"),
    (("radial.order: [2, 4]", "radial.cutoff: [4.0, 2.5]"),
     "grid point d1 (radial.cutoff=2.5): descriptors.default.angular.cutoff: the angular cutoff"),
    (("hidden: [[3], [5, 5]]", "activation: [tanh, tanhh]"), "grid point n1 (activation=tanhh): networks.default."
                                                             "activation"),
    (("  epochs: 4\n", "  epochs: 4\n  output: model.h5\n"), "train.output: is set by the scan"),
    (("  seed: 3\n", "  seed: 3\n  validation_set: [1]\n"), "train.validation_set: is set by the scan"),
    (("  seed: 3\n", "  seed: 3\n  initial_model: old.h5\n"), "train.initial_model: cannot be used in a scan"),
])
def test_bad_input_exits_2_naming_the_point(tmp_path, capsys, edit, expected):
    cfg = _setup(tmp_path)
    text = cfg.read_text()
    assert edit[0] in text
    cfg.write_text(text.replace(*edit))
    assert main(["scan", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "scan" / "d0" / "trainset.h5").exists()  # nothing ran


def test_too_many_folds_and_one_se_without_folds(tmp_path, capsys):
    cfg = _setup(tmp_path, extra="folds: 11\n")
    assert main(["-q", "scan", str(cfg)]) == 2
    assert "folds: 11 folds need at least 11 structures" in capsys.readouterr().err
    cfg = _setup(tmp_path, extra="recommend: {rule: one_se}\n")
    with pytest.raises(ConfigError, match="rule one_se needs the spread over folds"):
        load_config(cfg, ScanConfig)


def test_rmse_combination_of_results_csv(tmp_path):
    from anncli.workflows.scan_tasks import _force_rmse

    p = tmp_path / "results.csv"
    p.write_text("index,source,set,n_atoms,E_ref,E_pred,error_per_atom,force_rmse\n"
                 "0,a,validation,2,0,0,0,0.1\n1,b,validation,4,0,0,0,0.2\n2,c,train,4,0,0,0,9.0\n")
    assert _force_rmse(p) == pytest.approx(1000 * math.sqrt((6 * 0.01 + 12 * 0.04) / 18))
