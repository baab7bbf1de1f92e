"""example_inputs/predict.yaml is valid and documents every key of the schema."""

from __future__ import annotations

import re
from pathlib import Path

from anncli.config.loader import load_config
from anncli.config.predict import PredictConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "example_inputs"


def _keys(cls, prefix=""):
    from pydantic import BaseModel

    out = []
    for name, info in cls.model_fields.items():
        key = info.alias or name
        out.append(prefix + key)
        ann = info.annotation
        for sub in getattr(ann, "__args__", (ann,)):
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                out += _keys(sub, prefix + key + ".")
    return out


def test_example_is_valid_and_complete():
    path = EXAMPLES / "predict.yaml"
    cfg = load_config(path, PredictConfig)
    assert cfg.model == (EXAMPLES / "cu-au" / "model.h5")
    text = path.read_text()
    written = set(re.findall(r"^#?\s*([A-Za-z_]+):", text, flags=re.MULTILINE))
    missing = [k for k in _keys(PredictConfig) if k.split(".")[-1] not in written]
    assert missing == []


def test_cli_schema_and_workflow_are_found():
    from anncli.cli._stage import schema_of, workflow_of

    assert schema_of("predict") is PredictConfig
    from anncli.workflows.predict import run

    assert workflow_of("predict") is run
