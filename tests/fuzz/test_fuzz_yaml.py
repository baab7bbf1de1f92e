"""Fuzz the YAML input files of generate, train, predict and validate: a config or a ConfigError.

Seeds are the example inputs (and a generate input with an ænet .stp descriptor); mutations
are the text mutations of :mod:`fuzz_helpers` plus YAML's own syntax (anchors, aliases, tags,
flow brackets, tabs, merge keys, document markers).  A generate input that validates is also
taken through what the workflow does before reading structures: its .stp files are read and
its descriptors built.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_helpers import REPO, expect_clean, fuzz_settings, mutate_text
from anncli.config.generate import load_generate_config, read_setup_files
from anncli.config.loader import load_config
from anncli.config.predict import PredictConfig
from anncli.config.train import TrainConfig
from anncli.config.validate import ValidateConfig
from anncli.exceptions import ConfigError
from anncli.workflows.generate import build_setups

STP = """ATOM Au
ENV 2
Cu
Au
BASIS type=Chebyshev
radial_Rc = 6.0  radial_N = 8 angular_Rc = 4.0d0  angular_N = 3
"""
GENERATE_AENET = """structures: [data/*.xsf]
units: {energy: eV, length: Angstrom}
reference_energies: {Cu: -0.5, Au: -0.25}
descriptors:
  default:
    type: behler2011
    env: [Cu, Au]
    functions:
      - {G: 2, type2: Cu, eta: 0.05, Rs: 0.0, Rc: 6.0}
      - {G: 4, type2: Cu, type3: Au, eta: 0.005, lambda: 1, zeta: 2, Rc: 6.0}
  Au: {type: aenet, file: Au.stp}
"""
YAML_TOKENS = ["&a ", "*a", "&b [1, *b]", "!!python/object:os.system ", "!!binary ", "<<: *a",
               "{", "}", "[", "]", "- ", ": ", "\t", "'", '"', "%YAML 1.1\n", "---\n", "...\n",
               "? ", "|\n", ">", "!!float ", "!!int ", "!!str ", "!!map ", "!!timestamp ",
               "2001-12-14", "0o17", "0x1F", ".inf", ".nan", "-.inf", "~", "null", "yes", "No",
               "1e400", "1_000", "\ufeff", "\x00", "\u2028", "#", "@", "`", "%"]


def _seeds() -> list[tuple[str, str]]:
    """(stage, text) of the example inputs."""
    seeds = [("generate", GENERATE_AENET)]
    for folder in (REPO / "example_inputs", REPO / "example_inputs" / "cu-au"):
        for stage in ("generate", "train", "predict", "validate"):
            path = folder / f"{stage}.yaml"
            if path.is_file():
                seeds.append((stage, path.read_text()))
    return seeds


SEEDS = _seeds()
SCHEMAS = {"train": TrainConfig, "predict": PredictConfig, "validate": ValidateConfig}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fuzz-yaml")
    (d / "Au.stp").write_text(STP)
    return d


def _generate(path: Path):
    """What ``anncli generate`` does before it reads a structure."""
    config = read_setup_files(load_generate_config(path), source=path)
    build_setups(dict(config.descriptors), list(config.reference_energies))
    return config


def _load(stage: str, path: Path):
    if stage == "generate":
        return expect_clean(_generate, path, allowed=(ConfigError,))
    return expect_clean(load_config, path, SCHEMAS[stage], allowed=(ConfigError,))


def test_seeds_are_valid(workdir):
    assert len(SEEDS) >= 4
    for k, (stage, text) in enumerate(SEEDS):
        path = workdir / f"seed{k}.yaml"
        path.write_text(text)
        assert not isinstance(_load(stage, path), ConfigError), (stage, _load(stage, path))


def _mutate_yaml(data: st.DataObject, text: str) -> str:
    if data.draw(st.booleans(), label="yaml token"):
        i = data.draw(st.integers(0, len(text)), label="token at")
        text = text[:i] + data.draw(st.sampled_from(YAML_TOKENS), label="token") + text[i:]
    if data.draw(st.booleans(), label="text mutation") or text in (t for _, t in SEEDS):
        text = mutate_text(data, text, max_mutations=3)
    return text


@fuzz_settings(300)
@given(data=st.data())
def test_mutated_yaml(workdir, data):
    stage, text = data.draw(st.sampled_from(SEEDS), label="seed")
    path = workdir / f"mutated-{stage}.yaml"
    path.write_bytes(_mutate_yaml(data, text).encode("utf-8", errors="surrogatepass"))
    _load(stage, path)


@fuzz_settings(60)
@given(stage=st.sampled_from(["generate", "train", "predict", "validate"]),
       text=st.lists(st.sampled_from(list("ab:-[]{}&*!, \n\t'\"#|>?0123456789.e") + YAML_TOKENS),
                     max_size=40).map("".join))
def test_random_yaml(workdir, stage, text):
    path = workdir / f"random-{stage}.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    _load(stage, path)
