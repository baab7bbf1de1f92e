#!/usr/bin/env bash
# The whole pipeline on the bundled Cu-Au example (run from anywhere):
# data (EMT) -> generate -> train -> predict and validate on held-out structures -> a short MD run.
set -euo pipefail
cd "$(dirname "$0")"
ANNCLI=${ANNCLI:-anncli}
PYTHON=${PYTHON:-python}
$PYTHON ../make_example_data.py data --n 300 --seed 0 --ideal --md-start md_start.xsf  # training data (+ the ideal crystals), MD start cell
$PYTHON ../make_example_data.py test --n 40 --seed 1      # held-out test structures
$ANNCLI info data/
$ANNCLI generate generate.yaml
$ANNCLI info trainset.h5
$ANNCLI train train.yaml
$ANNCLI info model.h5
mkdir -p predict-output
$ANNCLI predict predict.yaml | tail -n 12
$ANNCLI validate validate.yaml      # errors, extrapolation, committee, MD stability: validation/report.html
$PYTHON ../md_langevin.py --model model.h5 --steps 100
