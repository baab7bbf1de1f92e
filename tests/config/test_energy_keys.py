"""The ``energy`` key (generate, predict) and ``reference_energies: fit`` in the input schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from anncli.config.generate import GenerateConfig
from anncli.config.loader import load_config
from anncli.config.predict import PredictConfig
from anncli.exceptions import ConfigError

DESCRIPTORS = """\
descriptors:
  default:
    type: chebyshev
    radial: {cutoff: 6.0, order: 10}
    angular: {cutoff: 4.0, order: 4}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def load(text: str, schema=GenerateConfig):
    Path("in.yaml").write_text(text)
    return load_config("in.yaml", schema)


def test_energy_key_values_and_default():
    base = "structures: [a.xyz]\nreference_energies: {Cu: -1.0}\n" + DESCRIPTORS
    assert load(base).energy is None
    for kind in ("free", "zero_kelvin", "total"):
        assert load(base + f"energy: {kind}\n").energy == kind
    with pytest.raises(ConfigError) as info:
        load(base + "energy: sigma0\n")
    assert "in.yaml, line" in str(info.value) and "energy" in str(info.value) and "zero_kelvin" in str(info.value)


def test_predict_takes_the_energy_key():
    text = "model: m.h5\nstructures: [a.xyz]\nenergy: zero_kelvin\n"
    assert load(text, PredictConfig).energy == "zero_kelvin"
    assert load("model: m.h5\nstructures: [a.xyz]\n", PredictConfig).energy is None


def test_reference_energies_fit_per_species_mixed_with_numbers():
    cfg = load("structures: [a.xyz]\nreference_energies: {Ti: fit, O: -4.5}\n" + DESCRIPTORS)
    assert cfg.reference_energies == {"Ti": "fit", "O": -4.5}
    assert list(cfg.reference_energies) == ["Ti", "O"]


def test_bare_fit_says_how_to_write_it():
    with pytest.raises(ConfigError) as info:
        load("structures: [a.xyz]\nreference_energies: fit\n" + DESCRIPTORS)
    msg = str(info.value)
    assert "reference_energies" in msg and "{Ti: fit, O: fit}" in msg


def test_other_words_than_fit_are_rejected():
    with pytest.raises(ConfigError, match="reference_energies"):
        load("structures: [a.xyz]\nreference_energies: {Ti: fitted}\n" + DESCRIPTORS)


def test_fit_and_max_energy_per_atom_exclude_each_other():
    with pytest.raises(ConfigError) as info:
        load("structures: [a.xyz]\nreference_energies: {Ti: fit, O: -4.5}\nmax_energy_per_atom: 0.5\n"
             + DESCRIPTORS)
    msg = str(info.value)
    assert "max_energy_per_atom" in msg and "fits Ti" in msg
