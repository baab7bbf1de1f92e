"""Benchmark of ``anncli train`` on TiO2-1000 (Chebyshev 8.0/16 + 6.5/4, 2x15 tanh, 10 % val).

Usage: python benchmarks/bench_train.py [--trainset PATH] [--seconds 60]

Without --trainset the training set is generated first into a temporary directory with
``anncli generate`` from ../shared/data/TiO2-1000 (reference energies Ti -1604.604515075,
O -432.503149303 eV).  Measures the seconds per L-BFGS epoch and per Adam epoch (batch 32,
random sampling), then trains with L-BFGS for the given wall time and reports the best
validation RMSE.  Ends with one line:
``RESULT lbfgs_s_per_epoch=<x> adam_s_per_epoch=<x> val_rmse_mev=<x>``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "TiO2-1000"

GENERATE = """structures:
  - {xsf}/*.xsf
output: trainset.h5
overwrite: true
reference_energies:
  Ti: -1604.604515075
  O: -432.503149303
descriptors:
  default:
    type: chebyshev
    radial: {{cutoff: 8.0, order: 16}}
    angular: {{cutoff: 6.5, order: 4}}
"""


def _config(workdir: Path, trainset: Path, optimizer: dict, epochs: int, name: str, **extra):
    from anncli.config.train import TrainConfig

    out = workdir / name
    out.mkdir(exist_ok=True)
    return TrainConfig.model_validate({
        "trainset": str(trainset), "output": str(out / "model.h5"), "overwrite": True,
        "seed": 1, "validation_fraction": 0.1,
        "networks": {"default": {"hidden": [15, 15], "activation": "tanh"}},
        "optimizer": optimizer, "epochs": epochs, "checkpoint_every": 0, "log_every": 100,
        **extra})


def _seconds_per_epoch(out_dir: Path, skip: int = 1) -> float:
    with (out_dir / "learning_curve.csv").open() as fh:
        rows = list(csv.DictReader(fh))[1 + skip:]
    times = sorted(float(r["seconds"]) for r in rows)
    return times[len(times) // 2]  # median: robust against other processes on the machine


def _peak_rss_mb(args: list[str], cwd: Path) -> float:
    """Peak resident memory (MB) of a child process."""
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.returncode)")
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                         text=True, check=True).stdout.split()
    if out[1] != "0":
        raise SystemExit(f"{' '.join(args)} failed")
    return float(out[0])


def _memory(workdir: Path, trainset: Path) -> dict[str, float]:
    """Peak RSS of 'anncli train' with memory: load and stream, and of the imports alone."""
    result = {"file_mb": trainset.stat().st_size / 1e6}
    result["baseline_mb"] = _peak_rss_mb(
        [sys.executable, "-c", "import anncli.workflows.train, anncli.training.trainer, numba, h5py, scipy"],
        workdir)
    for memory in ("load", "stream"):
        (workdir / f"mem-{memory}.yaml").write_text(
            f"trainset: {trainset}\noutput: mem-{memory}.h5\noutput_dir: mem-{memory}\noverwrite: true\n"
            f"networks: {{default: {{hidden: [15, 15]}}}}\noptimizer: {{method: lbfgs}}\nepochs: 20\n"
            f"memory: {memory}\n")
        result[memory + "_mb"] = _peak_rss_mb(
            [sys.executable, "-m", "anncli", "-q", "train", f"mem-{memory}.yaml"], workdir)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainset", type=Path)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--timing-epochs", type=int, default=50)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from anncli.workflows.train import run

    workdir = Path(tempfile.mkdtemp(prefix="bench_train_"))
    trainset = args.trainset
    if trainset is None:
        (workdir / "generate.yaml").write_text(GENERATE.format(xsf=DATA / "xsf"))
        subprocess.run([sys.executable, "-m", "anncli", "generate", "generate.yaml"],
                       cwd=workdir, check=True)
        trainset = workdir / "trainset.h5"

    run(_config(workdir, trainset, {"method": "lbfgs"}, args.timing_epochs, "lbfgs_timing"))
    lbfgs = _seconds_per_epoch(workdir / "lbfgs_timing")
    run(_config(workdir, trainset, {"method": "adam", "learning_rate": 0.005},
                max(5, args.timing_epochs // 5), "adam_timing", batch_size=32))
    adam = _seconds_per_epoch(workdir / "adam_timing")

    mem = _memory(workdir, trainset)
    print(f"peak RSS: imports alone {mem['baseline_mb']:.0f} MB; memory: load {mem['load_mb']:.0f} MB, "
          f"stream {mem['stream_mb']:.0f} MB (above the imports: {mem['load_mb'] - mem['baseline_mb']:.0f} / "
          f"{mem['stream_mb'] - mem['baseline_mb']:.0f} MB); training-set file {mem['file_mb']:.1f} MB")

    # accuracy: L-BFGS for a fixed wall time (epochs estimated from the measured speed)
    cfg = _config(workdir, trainset, {"method": "lbfgs"}, 100000, "accuracy")
    start = time.perf_counter()
    # the STOP file mechanism ends training cleanly after the deadline
    stop_file = workdir / "accuracy" / "STOP"

    timer = threading.Timer(args.seconds, stop_file.write_text, ("",))
    timer.start()
    cwd = os.getcwd()
    os.chdir(workdir / "accuracy")
    try:
        result = run(cfg)
    finally:
        os.chdir(cwd)
        timer.cancel()
    elapsed = time.perf_counter() - start
    print(f"accuracy run: {result.epochs} epochs in {elapsed:.1f} s, best validation RMSE "
          f"{result.best_val_rmse:.3f} meV/atom at epoch {result.best_epoch}")
    print(f"RESULT lbfgs_s_per_epoch={lbfgs:.4f} adam_s_per_epoch={adam:.4f} "
          f"val_rmse_mev={result.best_val_rmse:.3f}")


if __name__ == "__main__":
    main()
