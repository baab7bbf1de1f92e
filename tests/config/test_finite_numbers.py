"""Every stage's numbers must be finite: YAML's .nan and .inf are input errors naming the key."""

from __future__ import annotations

import pytest

from anncli.config.loader import load_config
from anncli.config.predict import PredictConfig
from anncli.config.train import TrainConfig
from anncli.config.validate import ValidateConfig
from anncli.exceptions import ConfigError


@pytest.mark.parametrize("schema, text, key", [
    (TrainConfig, "trainset: x.h5\nl2: .nan\n", "l2"),
    (TrainConfig, "trainset: x.h5\nforce_weight: .inf\n", "force_weight"),
    (PredictConfig, "model: m.h5\nstructures: [a.xsf]\nmin_distance: .nan\n", "min_distance"),
    (ValidateConfig, "model: m.h5\nstructures: [a.xsf]\nextrapolation: {tolerance: -.inf}\n", "tolerance"),
])
def test_nan_and_inf_are_refused(tmp_path, schema, text, key):
    path = tmp_path / "in.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"line \d+: .*{key}: expected a finite number"):
        load_config(path, schema)
