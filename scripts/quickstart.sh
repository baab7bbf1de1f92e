#!/usr/bin/env bash
# One command: create the environment, install anncli and run the bundled example end to end.
#   bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# Numba compiles anncli's kernels on their first run (30-60 s on 2 cores) and caches them:
# pay that once here, announced, rather than inside the example's first timed stage.
echo "quickstart: compiling the Numba kernels (first set-up only; cached for later runs) ..."
# The example uses the Chebyshev descriptor only; Behler2011's kernels compile on first use.
.venv/bin/python -m anncli.compile --descriptors chebyshev
PATH="$PWD/.venv/bin:$PATH" bash example_inputs/cu-au/run.sh
echo "quickstart: done; outputs are in example_inputs/cu-au/"
