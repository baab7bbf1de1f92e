"""anncli train end to end on synthetic training sets (tests/training/conftest.py)."""

from __future__ import annotations

import csv
import os
import signal
import threading

import h5py
import numpy as np
import pytest

from anncli.config.loader import validate_config
from anncli.config.train import TrainConfig
from anncli.exceptions import ConfigError, DataError, FileFormatError, TrainingError
from anncli.potential.model_file import load_model, save_model
from anncli.training.checkpoint import load_checkpoint
from anncli.training.data import load_training_data
from anncli.training.normalization import compute_normalization
from anncli.training.split import random_split
from anncli.training.trainer import TrainingInterrupted
from anncli.workflows.train import run

from conftest import train_config, write_synthetic_trainset


def _params(out_dir):
    return load_checkpoint(out_dir / "checkpoint.h5")["params"]


def test_fit_recovers_small_error(tmp_path):
    synthetic = write_synthetic_trainset(tmp_path / "big.h5", n_structures=400)
    cfg = train_config(tmp_path, synthetic["path"], epochs=400,
                       networks={"default": {"hidden": [6], "activation": "tanh"}})
    result = run(cfg)
    e = synthetic["cohesive"] / synthetic["n_atoms"]
    spread = float(np.std(e)) * 1000.0  # meV/atom
    with (tmp_path / "out" / "learning_curve.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert int(rows[0]["epoch"]) == 0 and int(rows[-1]["epoch"]) == 400
    # the output-layer initialisation matches the target spread: epoch 0 is of that order
    assert float(rows[0]["train_rmse"]) < 3.0 * spread
    assert result.val_rmse < 0.03 * spread
    assert result.train_rmse < 0.03 * spread
    for name in ("model.h5", "split.csv", "results.csv", "learning_curve.png", "checkpoint.h5"):
        assert (tmp_path / "out" / name).is_file(), name


def test_model_file_round_trip_and_results(tmp_path, synthetic):
    cfg = train_config(tmp_path, synthetic["path"], epochs=20)
    run(cfg)
    model = load_model(tmp_path / "out" / "model.h5")
    data = load_training_data(synthetic["path"])
    e1 = model.energies(data.features, data.structure_index, data.n_structures, cohesive=True)
    save_model(tmp_path / "copy.h5", model)
    again = load_model(tmp_path / "copy.h5")
    e2 = again.energies(data.features, data.structure_index, data.n_structures, cohesive=True)
    assert np.array_equal(e1, e2)
    total = model.energies(data.features, data.structure_index, data.n_structures)
    count = np.zeros(data.n_structures)
    for i, sym in enumerate(data.species):
        count += np.bincount(data.structure_index[sym], minlength=data.n_structures) * \
            model.reference_energies[i]
    np.testing.assert_allclose(total - e1, count, rtol=1e-12)
    with (tmp_path / "out" / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == data.n_structures
    for row in rows:
        k = int(row["index"])
        assert float(row["E_ref"]) == pytest.approx(data.energies[k], abs=1e-7)
        assert float(row["E_pred"]) == pytest.approx(e1[k], abs=1e-7)
    assert model.descriptors["A"] and model.metadata["seed"] == 7
    with h5py.File(tmp_path / "out" / "model.h5") as f:
        assert f.attrs["format"] == "anncli-model" and f.attrs["format_version"] == 1


def test_model_energy_gradient_vs_finite_differences(tmp_path, synthetic):
    run(train_config(tmp_path, synthetic["path"], epochs=5))
    model = load_model(tmp_path / "out" / "model.h5")
    data = load_training_data(synthetic["path"])
    x = data.features["B"][:4].copy()
    e, g = model.atomic_energies_and_gradients({"B": x})["B"]
    h = 1e-5
    for f in range(x.shape[1]):
        xp, xm = x.copy(), x.copy()
        xp[:, f] += h
        xm[:, f] -= h
        fd = (model.atomic_energies({"B": xp})["B"] - model.atomic_energies({"B": xm})["B"]) / (2 * h)
        np.testing.assert_allclose(g[:, f], fd, rtol=1e-6, atol=1e-9)


def test_load_model_rejects_foreign_files(tmp_path, synthetic):
    with pytest.raises(FileFormatError, match="not an anncli model"):
        load_model(synthetic["path"])
    run(train_config(tmp_path, synthetic["path"], epochs=1))
    with h5py.File(tmp_path / "out" / "model.h5", "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(FileFormatError, match="version 99"):
        load_model(tmp_path / "out" / "model.h5")


def test_split_reproducible_and_disjoint():
    ids = np.arange(3, 103)
    a = random_split(ids, 0.25, np.random.default_rng(5))
    b = random_split(ids, 0.25, np.random.default_rng(5))
    c = random_split(ids, 0.25, np.random.default_rng(6))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])
    train, val = a
    assert len(val) == 25 and len(np.intersect1d(train, val)) == 0
    assert np.array_equal(np.union1d(train, val), ids)


def test_split_file_reused(tmp_path, synthetic):
    run(train_config(tmp_path, synthetic["path"], epochs=1))
    split = tmp_path / "out" / "split.csv"
    val_before = load_checkpoint(tmp_path / "out" / "checkpoint.h5")["val_ids"]
    cfg = train_config(tmp_path, synthetic["path"], epochs=1, seed=99, validation_set=str(split),
                       output_dir=str(tmp_path / "out2"))
    cfg = cfg.model_copy(update={"output": tmp_path / "out2" / "m.h5"})
    (tmp_path / "out2").mkdir()
    run(cfg)
    assert np.array_equal(load_checkpoint(tmp_path / "out2" / "checkpoint.h5")["val_ids"],
                          val_before)


def test_normalization_uses_training_split_only(synthetic):
    data = load_training_data(synthetic["path"])
    train = np.arange(0, data.n_structures, 3)
    norm = compute_normalization(data, train)
    sp, st, feats = synthetic["species_of_atom"], synthetic["structure_of_atom"], synthetic["features"]
    mask = (sp == 0) & np.isin(st, train)
    np.testing.assert_allclose(norm.feature_mean["A"], feats[mask].mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(norm.feature_std["A"], feats[mask].std(axis=0), rtol=1e-12)
    assert not np.allclose(norm.feature_mean["A"], feats[sp == 0].mean(axis=0), rtol=1e-6)
    e = data.energies[train] / data.n_atoms[train]
    assert norm.energy_scale == pytest.approx(2.0 / (e.max() - e.min()))
    t = norm.targets(data.energies[train], data.n_atoms[train])
    assert t.min() == pytest.approx(-1.0) and t.max() == pytest.approx(1.0)


def test_constant_feature_set_to_zero(tmp_path):
    s = write_synthetic_trainset(tmp_path / "c.h5", constant_feature=True)
    data = load_training_data(s["path"])
    norm = compute_normalization(data, np.arange(data.n_structures))
    x = norm.apply("A", data.features["A"])
    assert np.all(x[:, -1] == 0.0) and np.all(np.isfinite(x))


def test_same_seed_same_weights(tmp_path, synthetic):
    opts = {"method": "adam", "learning_rate": 0.01}
    run(train_config(tmp_path, synthetic["path"], epochs=4, optimizer=opts,
                     output_dir=str(tmp_path / "a")))
    run(train_config(tmp_path, synthetic["path"], epochs=4, optimizer=opts,
                     output_dir=str(tmp_path / "b"), overwrite=True))
    assert np.array_equal(_params(tmp_path / "a"), _params(tmp_path / "b"))


RESUME_CASES = [
    ({"method": "lbfgs"}, "sequential"),
    ({"method": "adam", "learning_rate": 0.02,
      "schedule": {"kind": "plateau", "patience": 1}}, "random"),
    ({"method": "sgd", "learning_rate": 0.02, "schedule": {"kind": "exponential"}}, "error"),
    ({"method": "ekf", "block_size": 20}, "energy"),
]


@pytest.mark.parametrize("opt,sampling", RESUME_CASES, ids=[c[0]["method"] for c in RESUME_CASES])
def test_resume_equals_uninterrupted(tmp_path, synthetic, opt, sampling):
    n = 4
    common = dict(optimizer=opt, sampling=sampling, batch_size=8)
    run(train_config(tmp_path, synthetic["path"], epochs=2 * n, output_dir=str(tmp_path / "a"),
                     **common))
    cfg = train_config(tmp_path, synthetic["path"], epochs=n, output_dir=str(tmp_path / "b"),
                       overwrite=True, **common)
    run(cfg)
    cfg2 = train_config(tmp_path, synthetic["path"], epochs=2 * n,
                        output_dir=str(tmp_path / "b"), overwrite=True, **common)
    run(cfg2, resume=True)
    a, b = _params(tmp_path / "a"), _params(tmp_path / "b")
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
    with (tmp_path / "b" / "learning_curve.csv").open() as fh:
        epochs = [int(r["epoch"]) for r in csv.DictReader(fh)]
    assert epochs == list(range(2 * n + 1))


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_stream_equals_load(tmp_path, synthetic, method):
    opt = {"method": method} if method == "lbfgs" else {"method": "adam", "learning_rate": 0.01}
    run(train_config(tmp_path, synthetic["path"], epochs=5, optimizer=opt,
                     output_dir=str(tmp_path / "a")))
    run(train_config(tmp_path, synthetic["path"], epochs=5, optimizer=opt, memory="stream",
                     output_dir=str(tmp_path / "b"), overwrite=True))
    np.testing.assert_allclose(_params(tmp_path / "b"), _params(tmp_path / "a"), rtol=0,
                               atol=1e-12)


def test_stop_file(tmp_path, synthetic, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "STOP").write_text("")
    result = run(train_config(tmp_path, synthetic["path"], epochs=50))
    assert result.epochs == 1 and "STOP" in result.stop_reason
    assert not (tmp_path / "STOP").exists()  # a later run does not stop at once


def test_sigterm_writes_checkpoint_and_resumes(tmp_path, synthetic):
    cfg = train_config(tmp_path, synthetic["path"], epochs=100000,
                       optimizer={"method": "adam"}, batch_size=4)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(TrainingInterrupted) as info:
            run(cfg)
    finally:
        timer.cancel()
    assert info.value.exit_code == 143
    stopped = load_checkpoint(tmp_path / "out" / "checkpoint.h5")["epoch"]
    assert stopped >= 1
    cfg2 = train_config(tmp_path, synthetic["path"], epochs=stopped + 2,
                        optimizer={"method": "adam"}, batch_size=4)
    assert run(cfg2, resume=True).epochs == stopped + 2


def test_early_stopping(tmp_path, synthetic):
    cfg = train_config(tmp_path, synthetic["path"], epochs=500,
                       optimizer={"method": "sgd", "learning_rate": 1e-7, "momentum": 0.0},
                       early_stopping={"patience": 3, "min_delta": 1.0})
    result = run(cfg)
    assert result.epochs == 3 and "early stopping" in result.stop_reason


def test_nan_loss_raises_training_error(tmp_path, synthetic):
    cfg = train_config(tmp_path, synthetic["path"], epochs=50,
                       optimizer={"method": "sgd", "learning_rate": 1e12, "momentum": 0.9},
                       checkpoint_every=1)
    with np.errstate(all="ignore"), pytest.raises(TrainingError, match="epoch"):
        run(cfg)
    ck = load_checkpoint(tmp_path / "out" / "checkpoint.h5")
    assert np.all(np.isfinite(ck["params"]))


def test_truncated_or_foreign_trainset(tmp_path, synthetic):
    with h5py.File(synthetic["path"], "a") as f:
        f.attrs["complete"] = False
    with pytest.raises(FileFormatError, match="incomplete"):
        run(train_config(tmp_path, synthetic["path"]))
    with h5py.File(synthetic["path"], "a") as f:
        f.attrs["complete"] = True
        f.attrs["format_version"] = 7
    with pytest.raises(FileFormatError, match="version 7"):
        run(train_config(tmp_path, synthetic["path"]))


def test_species_without_training_atoms(tmp_path):
    s = write_synthetic_trainset(tmp_path / "x.h5", absent_species="B")
    with pytest.raises(DataError, match="species B has no atom"):
        run(train_config(tmp_path, s["path"]))


@pytest.mark.parametrize("data,match", [
    ({"validation_fraction": 1.5}, "validation_fraction: expected a number between 0 and 1"),
    ({"validation_fraction": 0}, "validation_fraction"),
    ({"networks": {"default": {"hidden": [10], "activation": "tanhh"}}}, "unknown activation"),
    ({"networks": {"default": {"hidden": "ten"}}}, "networks.default.hidden"),
    ({"optimizer": {"method": "bfgs"}}, "optimizer.method"),
    ({"networks": {"A": {"hidden": [5, 5], "activation": ["tanh"]}}}, "2 hidden layer"),
])
def test_bad_config(tmp_path, data, match):
    base = {"trainset": "t.h5"}
    base.update(data)
    with pytest.raises(ConfigError, match=match):
        validate_config(base, TrainConfig, source="train.yaml", base_dir=tmp_path)


def test_existing_output_needs_overwrite(tmp_path, synthetic):
    run(train_config(tmp_path, synthetic["path"], epochs=1))
    with pytest.raises(ConfigError, match="exists"):
        run(train_config(tmp_path, synthetic["path"], epochs=1))
