#!/usr/bin/env bash
# The whole pipeline on the bundled Cu-Au example (run from anywhere).
set -euo pipefail
cd "$(dirname "$0")"
ANNCLI=${ANNCLI:-anncli}
python ../make_example_data.py data --n 200 --seed 0
$ANNCLI info data/
$ANNCLI generate generate.yaml
$ANNCLI info trainset.h5
if [ -f train.yaml ]; then
    $ANNCLI train train.yaml
fi
if [ -f predict.yaml ]; then
    $ANNCLI predict predict.yaml
fi
