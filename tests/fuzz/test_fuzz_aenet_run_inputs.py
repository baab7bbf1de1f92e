"""Fuzz ænet's train.in and predict.in: an anncli config or a ConfigError, never a crash.

A mutated file that still parses must also validate against the stage's schema (what
``anncli train train.in`` / ``anncli predict predict.in`` do before any work), and its YAML
conversion must validate too, again with a ConfigError as the only way to fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_helpers import expect_clean, fuzz_settings, mutate_text
from anncli.exceptions import InputError
from anncli.workflows.convert_inputs import convert_aenet_input, load_aenet_config

TRAIN_IN = """! train.in
TRAININGSET refdata.train
TESTPERCENT 10
ITERATIONS  100
MAXENERGY -1.0d0
SAMPLING random
SAVE_ENERGIES
TIMING
METHOD
adam mu=0.005 b1=0.9 b2=0.999 eps=1.0d-8 samplesize=100 batchsize=10
NETWORKS
! species file  hidden  layers
  Ti  Ti.nn  2  15:tanh  15:t
  O   O.nn   2  15:tanh  15:sigmoid
"""
TRAIN_EKF = """TRAININGSET "data/set.train"
METHOD
ekf lambda=0.99 lambda0=0.98 state=10 pnoise=0 adaptive=0.6 wgroup=50
NETWORKS
Cu Cu.nn 1 5:twist
"""
PREDICT_IN = """TYPES
2
Ti
O
NETWORKS
Ti  Ti.nn
O   O.nn
FORCES
PRINT_ATOMIC_ENERGIES
RELAX
method=bfgs F_conv=0.01 E_conv=0.001 steps=99 dmax=1 1 1
FILES
2
xsf/a.xsf
xsf/b.xsf
"""
SEEDS = [("train", TRAIN_IN), ("train", TRAIN_EKF), ("predict", PREDICT_IN)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-run-inputs")


def _load_and_convert(path: Path, stage: str, out: Path) -> None:
    load_aenet_config(path, stage)
    convert_aenet_input(path, out, overwrite=True)


def test_seeds_are_valid(workdir):
    for k, (stage, text) in enumerate(SEEDS):
        path = workdir / f"{stage}{k}.in"
        path.write_text(text)
        load_aenet_config(path, stage)


@fuzz_settings(250)
@given(data=st.data())
def test_mutated_inputs(workdir, data):
    stage, text = data.draw(st.sampled_from(SEEDS), label="seed")
    path = workdir / f"{stage}.in"
    path.write_text(mutate_text(data, text, max_mutations=3))
    expect_clean(_load_and_convert, path, stage, workdir / "out.yaml", allowed=(InputError,))
