#!/usr/bin/env bash
# One command: create the environment, install anncli and run the bundled example end to end.
#   bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PATH="$PWD/.venv/bin:$PATH" bash example_inputs/cu-au/run.sh
echo "quickstart: done; outputs are in example_inputs/cu-au/"
