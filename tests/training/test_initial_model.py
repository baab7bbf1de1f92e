"""``initial_model``: a run starts from a trained model's networks (fine-tuning, active's warm start)."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.exceptions import ConfigError, DataError
from anncli.potential.model_file import load_model
from anncli.training.data import load_training_data
from anncli.workflows.train import run

from conftest import train_config, write_synthetic_trainset


def _energies(model, data, member: int = 0):
    view = load_model(model) if not hasattr(model, "networks") else model
    view.networks = view.member_networks()[member]
    return view.energies(data.features, data.structure_index, data.n_structures)


@pytest.fixture
def first(tmp_path):
    """A committee of 2 trained on one set, and a second set with other feature statistics,
    energies and free-atom energies (so every part of the normalisation changes)."""
    a = write_synthetic_trainset(tmp_path / "a.h5", n_structures=50, seed=0)
    b = write_synthetic_trainset(tmp_path / "b.h5", n_structures=70, seed=1, ref_shift=0.7, feature_scale=1.6)
    (tmp_path / "m").mkdir()
    res = run(train_config(tmp_path, a["path"], epochs=8, output=str(tmp_path / "m" / "a.h5"),
                           committee={"members": 2}))
    return {"model": res.model_path, "b": b["path"]}


def test_warm_start_predicts_exactly_what_the_initial_model_predicts(tmp_path, first):
    old = load_model(first["model"])
    (tmp_path / "w").mkdir()
    cfg = train_config(tmp_path, first["b"], epochs=0, output=str(tmp_path / "w" / "b.h5"),
                       committee={"members": 2}, initial_model=str(first["model"]))
    cfg = cfg.model_validate(cfg.model_dump(exclude={"networks"}, by_alias=True))  # the model's architecture
    res = run(cfg)
    new = load_model(res.model_path)
    sym = new.species[0]
    # the normalisation really changed: features, energy shift and scale, free-atom energies
    assert not np.allclose(new.feature_std[sym], old.feature_std[sym], rtol=0.05)
    assert new.energy_scale != pytest.approx(old.energy_scale)
    assert not np.allclose(new.reference_energies, old.reference_energies)
    data = load_training_data(first["b"])
    for k in range(2):
        e_old, e_new = _energies(first["model"], data, k), _energies(res.model_path, data, k)
        np.testing.assert_allclose(e_new, e_old, rtol=1e-10, atol=1e-9)
    assert new.metadata["initial_model"] == str(first["model"])
    # and training goes on from there: after a few epochs the error is below the start's
    (tmp_path / "w2").mkdir()
    cfg2 = cfg.model_copy(update={"epochs": 8, "output": tmp_path / "w2" / "b.h5", "output_dir": None})
    res2 = run(cfg2)
    assert res2.val_rmse < res.val_rmse


def test_initial_model_errors_name_the_file(tmp_path, first):
    other = write_synthetic_trainset(tmp_path / "c.h5", n_structures=30, species=("A", "C"))
    (tmp_path / "x").mkdir()
    out = str(tmp_path / "x" / "m.h5")
    with pytest.raises(DataError, match=r"initial_model: .*a\.h5 has species A, B.*c\.h5 has A, C"):
        run(train_config(tmp_path, other["path"], epochs=1, output=out, initial_model=str(first["model"])))
    with pytest.raises(ConfigError, match=r"a\.h5 has 2 network set\(s\), the run trains 3"):
        run(train_config(tmp_path, first["b"], epochs=1, output=out, committee={"members": 3},
                         initial_model=str(first["model"])))
    with pytest.raises(ConfigError, match=r"the A network of .*a\.h5 has layers \[5, 8, 1\].*\[5, 4, 1\]"):
        run(train_config(tmp_path, first["b"], epochs=1, output=out, initial_model=str(first["model"]),
                         networks={"default": {"hidden": [4]}}))
    with pytest.raises(DataError, match=r"initial_model: no such model file .*nothere\.h5"):
        run(train_config(tmp_path, first["b"], epochs=1, output=out, initial_model=str(tmp_path / "nothere.h5")))
