"""Committees in train: member 0 is the single model, all members share split and normalisation."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from anncli.potential.model_file import load_model
from anncli.training.data import load_training_data
from anncli.workflows.train import bootstrap_weights, run

from conftest import train_config


def _energies(model, data):
    return model.energies(data.features, data.structure_index, data.n_structures, cohesive=True)


def test_committee_member_zero_is_the_single_model_and_members_share_the_split(tmp_path, synthetic):
    single = run(train_config(tmp_path, synthetic["path"], epochs=15))
    cdir = tmp_path / "c"
    cdir.mkdir()
    cfg = train_config(tmp_path, synthetic["path"], epochs=15, output=str(cdir / "committee.h5"),
                       committee={"members": 3})
    result = run(cfg)
    a = load_model(single.model_path)
    m = [load_model(cdir / f"member_{k}" / "model.h5") for k in range(3)]
    for sym in a.species:
        for wa, w0 in zip(a.networks[sym].weights, m[0].networks[sym].weights):
            np.testing.assert_array_equal(wa, w0)
        assert not np.array_equal(m[0].networks[sym].weights[0], m[1].networks[sym].weights[0])
        np.testing.assert_array_equal(m[1].feature_mean[sym], m[0].feature_mean[sym])
    split = (tmp_path / "out" / "split.csv").read_text()
    assert all((cdir / f"member_{k}" / "split.csv").read_text() == split for k in range(3))

    committee = load_model(result.model_path)
    assert committee.n_members == 3
    data = load_training_data(synthetic["path"])
    members = np.array([_energies(x, data) for x in m])
    # the committee's member k predicts exactly what member k's own file predicts
    for k, nets in enumerate(committee.member_networks()):
        view = load_model(result.model_path)
        view.networks = nets
        np.testing.assert_allclose(_energies(view, data), members[k], rtol=0, atol=1e-12)
    meta = committee.metadata["committee"]
    assert meta["members"] == 3 and len(meta["member_val_rmse_meV"]) == 3
    assert result.val_rmse == pytest.approx(np.mean(meta["member_val_rmse_meV"]))
    from anncli.io.h5info import describe

    text = describe(result.model_path)
    v = meta["member_val_rmse_meV"]
    assert f"committee of 3 networks per species; member validation RMSE {min(v):.3f}-{max(v):.3f}" in text


def test_committee_resume_retrains_only_what_is_missing(tmp_path, synthetic):
    cdir = tmp_path / "c"
    cdir.mkdir()
    cfg = train_config(tmp_path, synthetic["path"], epochs=10, output=str(cdir / "committee.h5"),
                       committee={"members": 2, "bootstrap": True})
    run(cfg)
    before = load_model(cdir / "committee.h5")
    shutil.rmtree(cdir / "member_1")  # as if killed before member 1 started
    run(cfg, resume=True)
    after = load_model(cdir / "committee.h5")
    for b, a in zip(before.member_networks(), after.member_networks()):
        for sym in b:
            for wb, wa in zip(b[sym].weights, a[sym].weights):
                np.testing.assert_array_equal(wb, wa)


def test_bootstrap_weights_resample_the_training_split():
    weights = np.ones(50)
    weights[3] = 2.0
    train = np.arange(10, 50)
    w = bootstrap_weights(weights, train, seed=1, member=2)
    np.testing.assert_array_equal(w[:10], weights[:10])  # validation structures untouched
    assert w[train].sum() == len(train)  # 40 draws with replacement
    assert np.all(w[train] == np.round(w[train])) and (w[train] == 0).sum() > 5
    np.testing.assert_array_equal(w, bootstrap_weights(weights, train, seed=1, member=2))
    assert not np.array_equal(w, bootstrap_weights(weights, train, seed=1, member=3))
