#!/bin/bash
# A SLURM job for anncli: generate, train and predict on MPI ranks.
# Submit with `sbatch slurm_job.sh`; submit it again after a wall-time kill: finished steps
# are skipped (an interrupted generate or predict leaves no complete-looking file: it runs
# again), train continues from its checkpoint with --resume.
#
# Ranks x threads = cores: 2 nodes x 4 ranks x (cores/4) threads each. anncli gives each rank
# as many Numba threads as the cores srun bound it to (--cpus-per-task), or else
# cores-on-the-node / ranks-on-the-node, unless NUMBA_NUM_THREADS is set; the log's first
# line says what it chose.
#SBATCH --job-name=anncli
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --time=04:00:00
#SBATCH --signal=B:TERM@300          # SIGTERM to this script 5 min before the limit (see train)
#SBATCH --output=anncli-%j.log

set -euo pipefail
# module load openmpi                # a cluster's MPI: build mpi4py against it
#                                    # (pip install --no-binary mpi4py mpi4py); or, without a
#                                    # system MPI, pip install "anncli[mpi]" brings MPICH
source .venv/bin/activate            # an environment with anncli and mpi4py, on a shared file system

# Every rank reads the input files, the descriptor setups and the model: keep them on a file
# system that all nodes see (not node-local /tmp). generate's and predict's ranks read their
# own structure files (given many files); rank 0 alone writes the outputs.

# 1. fingerprints: features computed on all 8 ranks, one training set written by rank 0
if [ ! -f trainset.h5 ]; then
    srun anncli generate generate.yaml   # (mpiexec -n "$SLURM_NTASKS" works too)
fi

# 2. training, data-parallel on all 8 ranks: each rank holds 1/8 of the training set; the
#    weights are the same as on one process. Rank 0 writes checkpoint.h5 (in its output_dir:
#    here the current directory) every `checkpoint_every` epochs and when the ranks receive
#    SIGTERM (then every rank exits with status 143); the trap passes SLURM's early SIGTERM
#    to srun, which signals every rank, and the next job continues with --resume, on any
#    number of ranks (the checkpoint does not depend on it).
if [ ! -f train.done ]; then
    resume=""
    if [ -f checkpoint.h5 ]; then resume="--resume"; fi
    srun anncli train train.yaml $resume &
    pid=$!
    trap 'kill -TERM "$pid" 2>/dev/null || true' TERM
    while true; do
        status=0
        wait "$pid" || status=$?
        kill -0 "$pid" 2>/dev/null || break   # ended (a trap only interrupts the wait)
    done
    if [ "$status" -ne 0 ]; then
        echo "train stopped with status $status; sbatch this script again to resume" >&2
        exit "$status"
    fi
    touch train.done
fi

# 3. predictions for new structures on all ranks; the table goes to predictions.txt
srun anncli predict predict.yaml > predictions.txt
