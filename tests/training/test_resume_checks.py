"""``--resume`` refuses a checkpoint made with another training set (same structure count) or
with other settings that change the optimisation, naming what changed; other settings may
change."""

from __future__ import annotations

import json
import logging

import h5py
import pytest

from anncli.exceptions import ConfigError
from anncli.io.trainset import open_trainset
from anncli.potential.model_file import load_model
from anncli.training.checkpoint import load_checkpoint
from anncli.workflows.train import run

from conftest import train_config, write_synthetic_trainset

BASE = dict(optimizer={"method": "adam", "learning_rate": 0.01}, batch_size=8, epochs=2,
            sampling="random")


def _cfg(tmp_path, trainset, **changes):
    return train_config(tmp_path, trainset, **{**BASE, **changes})


@pytest.fixture
def started(tmp_path, synthetic):
    """A run of 2 epochs with its checkpoint."""
    run(_cfg(tmp_path, synthetic["path"]))
    return synthetic["path"]


def test_checkpoint_and_model_record_the_training_set_and_settings(tmp_path, started):
    with open_trainset(started) as f:
        cid = f.attrs["content_id"]
    ck = load_checkpoint(tmp_path / "out" / "checkpoint.h5")
    assert ck["trainset_content_id"] == cid
    settings = json.loads(ck["settings"])
    assert settings["l2"] == 0.0 and settings["optimizer.learning_rate"] == 0.01
    assert load_model(tmp_path / "out" / "model.h5").metadata["trainset_content_id"] == cid


def test_another_training_set_with_the_same_structure_count_is_refused(tmp_path, started):
    other = write_synthetic_trainset(tmp_path / "other.h5", seed=5)["path"]  # also 120 structures
    with open_trainset(started) as f, open_trainset(other) as g:
        old, new = f.attrs["content_id"], g.attrs["content_id"]
    with pytest.raises(ConfigError) as info:
        run(_cfg(tmp_path, other, epochs=4), resume=True)
    msg = str(info.value)
    assert f"the training set changed (content id {new[:16]}, checkpoint has {old[:16]})" in msg
    assert "checkpoint.h5" in msg


def _weights_file(tmp_path):
    path = tmp_path / "weights.csv"
    path.write_text("index,weight\n3,2.5\n")
    return str(path)


CHANGES = [
    ("force_weight", 0.01, "force_weight: 0.0 → 0.01"),
    ("l2", 1e-4, "l2: 0.0 → 0.0001"),
    ("sampling", "sequential", 'sampling: "random" → "sequential"'),
    ("batch_size", 16, "batch_size: 8 → 16"),
    ("energy_scaling", "std", 'energy_scaling: "minmax" → "std"'),
    ("optimizer", {"method": "adam", "learning_rate": 0.002},
     "optimizer.learning_rate: 0.01 → 0.002"),
    ("structure_weights", _weights_file, "the per-structure weights (structure_weights) changed"),
]


@pytest.mark.parametrize("key,value,expected", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_changed_optimisation_setting_is_refused_and_named(tmp_path, started, key, value,
                                                             expected):
    value = value(tmp_path) if callable(value) else value
    with pytest.raises(ConfigError) as info:
        run(_cfg(tmp_path, started, epochs=4, **{key: value}), resume=True)
    assert expected in str(info.value)
    assert "the training set changed" not in str(info.value)


def test_every_change_is_named_at_once(tmp_path, started):
    with pytest.raises(ConfigError) as info:
        run(_cfg(tmp_path, started, l2=0.5, batch_size=4), resume=True)
    assert "l2: 0.0 → 0.5" in str(info.value) and "batch_size: 8 → 4" in str(info.value)


def test_settings_that_do_not_change_the_optimisation_may_change(tmp_path, started):
    """Such a run resumes from the checkpoint: its weights equal those of a resume with the
    settings unchanged.  The checkpoint's weights are moved first: a run that started afresh
    instead would give the uninterrupted run's weights, not these."""
    import shutil

    import numpy as np

    with h5py.File(tmp_path / "out" / "checkpoint.h5", "a") as f:
        f["params"][...] = f["params"][()] + 0.05
    shutil.copytree(tmp_path / "out", tmp_path / "same" / "out")
    same = run(_cfg(tmp_path / "same", started, epochs=5), resume=True)
    (tmp_path / "fresh").mkdir()
    run(_cfg(tmp_path / "fresh", started, epochs=5))
    result = run(_cfg(tmp_path, started, epochs=5, log_every=2, checkpoint_every=1,
                      memory="stream", early_stopping={"patience": 50}), resume=True)
    assert result.epochs == same.epochs == 5
    params = {d: load_checkpoint(tmp_path / d / "out" / "checkpoint.h5")["params"] for d in (".", "same", "fresh")}
    np.testing.assert_allclose(params["."], params["same"], rtol=0, atol=1e-12)
    assert np.abs(params["."] - params["fresh"]).max() > 1e-3


def test_an_older_checkpoint_without_fingerprint_resumes_with_a_warning(tmp_path, started,
                                                                        caplog):
    with h5py.File(tmp_path / "out" / "checkpoint.h5", "a") as f:
        del f.attrs["trainset_content_id"], f.attrs["settings"]
    with caplog.at_level(logging.WARNING, logger="anncli"):
        assert run(_cfg(tmp_path, started, epochs=3), resume=True).epochs == 3
    assert "cannot check" in caplog.text
