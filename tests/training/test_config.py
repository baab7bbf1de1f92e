"""The train schema and the commented example input."""

from __future__ import annotations

from pathlib import Path

from anncli.config.loader import load_config
from anncli.config.train import TrainConfig

REPO = Path(__file__).resolve().parents[2]


def test_example_input_is_valid():
    cfg = load_config(REPO / "example_inputs" / "train.yaml", TrainConfig)
    assert cfg.optimizer.method == "lbfgs"
    assert cfg.network_for("Ti") == ([15, 15], ["tanh", "tanh"])
    assert cfg.trainset == REPO / "example_inputs" / "trainset.h5"


def test_per_species_network_overrides_default():
    cfg = TrainConfig.model_validate({
        "trainset": "t.h5",
        "networks": {"default": {"hidden": [10, 10], "activation": "tanh"},
                     "O": {"activation": ["gelu", "twist"]}, "Ti": {"hidden": [4]}}})
    assert cfg.network_for("O") == ([10, 10], ["gelu", "twist"])
    assert cfg.network_for("Ti") == ([4], ["tanh"])
    assert cfg.network_for("X") == ([10, 10], ["tanh", "tanh"])
