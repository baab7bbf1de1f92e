#!/usr/bin/env bash
# Δ-learning on a difference known exactly: reference = EMT + Lennard-Jones, baseline = EMT.
# data -> generate (subtracts EMT) -> train (learns Lennard-Jones) -> predict and validate (add EMT back).
set -euo pipefail
cd "$(dirname "$0")"
ANNCLI=${ANNCLI:-anncli}
PYTHON=${PYTHON:-python}
$PYTHON make_delta_data.py data.extxyz --n 100 --seed 0     # training structures
$PYTHON make_delta_data.py test.extxyz --n 30 --seed 1      # held-out structures
$ANNCLI generate generate.yaml      # prints how much of the reference EMT explains
$ANNCLI train train.yaml
$ANNCLI info model.h5
$ANNCLI predict predict.yaml
$ANNCLI validate validate.yaml      # test-set errors of EMT + networks: validation/report.html
