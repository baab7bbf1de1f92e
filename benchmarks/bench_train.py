"""Benchmark of ``anncli train`` on TiO2-1000 (Chebyshev 8.0/16 + 6.5/4, 2x15 tanh, 10 % val).

Usage: python benchmarks/bench_train.py [--trainset PATH] [--seconds 60] [--no-large]

Without --trainset the training set is generated first into a temporary directory with
``anncli generate`` from ../shared/data/TiO2-1000 (reference energies Ti -1604.604515075,
O -432.503149303 eV).  Measures the seconds per L-BFGS epoch and per Adam epoch (batch 32,
random sampling), then trains with L-BFGS for the given wall time and reports the best
validation RMSE.

Memory: peak RSS (child process) of ``anncli train`` with ``memory: load`` and ``stream`` on
TiO2-1000, and (unless --no-large) on a large synthetic training set (100,000 structures of
20 atoms, 40 random features, 2 species; ~800 MB) written with ``TrainsetWriter`` into a
temporary directory and deleted afterwards.  Requirement: streaming peaks below the file size.
Ends with one line:
``RESULT lbfgs_s_per_epoch=<x> adam_s_per_epoch=<x> val_rmse_mev=<x>
stream_peak_mb=<large set, stream, above the imports> trainset_file_mb=<large set file>``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
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


def _memory(workdir: Path, trainset: Path, hidden: str = "[15, 15]", epochs: int = 20,
            order: tuple[str, ...] = ("load", "stream"), extra: str = "") -> dict[str, float]:
    """Peak RSS of 'anncli train' with memory: load and stream, and of the imports alone."""
    result = {"file_mb": trainset.stat().st_size / 1e6}
    result["baseline_mb"] = _peak_rss_mb(
        [sys.executable, "-c", "import anncli.workflows.train, anncli.training.trainer, numba, h5py, scipy"],
        workdir)
    for memory in order:
        (workdir / f"mem-{memory}.yaml").write_text(
            f"trainset: {trainset}\noutput: mem-{memory}.h5\noutput_dir: mem-{memory}\noverwrite: true\n"
            f"networks: {{default: {{hidden: {hidden}}}}}\noptimizer: {{method: lbfgs}}\n"
            f"epochs: {epochs}\nmemory: {memory}\n{extra}")
        result[memory + "_mb"] = _peak_rss_mb(
            [sys.executable, "-m", "anncli", "-q", "train", f"mem-{memory}.yaml"], workdir)
    return result


class _RandomDescriptor:
    """Descriptor stand-in for the synthetic large set (only ``n_features`` and ``to_dict``)."""

    def __init__(self, sym: str, n_features: int) -> None:
        self.sym, self.n_features = sym, n_features

    def to_dict(self) -> dict:
        return {"type": "synthetic", "species": self.sym, "n_features": self.n_features}


def write_large_trainset(path: Path, n_structures: int = 100_000, n_atoms: int = 20,
                         n_features: int = 40, batch: int = 10_000, seed: int = 0) -> Path:
    """A training set of random features and energies (2 species), written in big batches."""
    import numpy as np

    from anncli.io.trainset import TrainsetWriter

    rng = np.random.default_rng(seed)
    species = ["A", "B"]
    ref = np.array([-10.0, -20.0])
    setups = {s: _RandomDescriptor(s, n_features) for s in species}
    with TrainsetWriter(path, species, ref, setups, overwrite=True) as w:
        for start in range(0, n_structures, batch):
            n_s = min(batch, n_structures - start)
            n_a = n_s * n_atoms
            sp = rng.integers(0, 2, size=n_a).astype(np.int32)
            coh = rng.normal(-3.0, 0.2, size=n_s) * n_atoms
            total = coh + np.add.reduceat(ref[sp], np.arange(0, n_a, n_atoms))
            w.append(
                structures={
                    "energy": total, "cohesive_energy": coh,
                    "n_atoms": np.full(n_s, n_atoms, dtype=np.int64),
                    "cell": np.zeros((n_s, 3, 3)), "pbc": np.zeros((n_s, 3), bool),
                    "source": np.array([f"s{k:06d}.xsf" for k in range(start, start + n_s)],
                                       dtype=object),
                    "frame": np.zeros(n_s, dtype=np.int64), "has_forces": np.zeros(n_s, bool),
                },
                atoms={"species": sp, "positions": np.zeros((n_a, 3)),
                       "forces": np.full((n_a, 3), np.nan)},
                features={s: (np.flatnonzero(sp == i),
                              rng.normal(size=(int(np.sum(sp == i)), n_features)))
                          for i, s in enumerate(species)},
            )
        w.close()
    return path


def _large_memory() -> dict[str, float]:
    """Peak RSS of 2 L-BFGS epochs (2x10 tanh) on the large synthetic set, load and stream."""
    free_gb = shutil.disk_usage(tempfile.gettempdir()).free / 1e9
    if free_gb < 3.0:
        raise SystemExit(f"only {free_gb:.1f} GB free in {tempfile.gettempdir()}; "
                         "the large set needs ~0.8 GB (use --no-large)")
    workdir = Path(tempfile.mkdtemp(prefix="bench_train_large_"))
    try:
        start = time.perf_counter()
        trainset = write_large_trainset(workdir / "large.h5")
        logging.info("large training set written in %.0f s: %.0f MB", time.perf_counter() - start,
                     trainset.stat().st_size / 1e6)
        return _memory(workdir, trainset, hidden="[10, 10]", epochs=2, order=("stream", "load"),
                       extra="checkpoint_every: 0\n")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainset", type=Path)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--timing-epochs", type=int, default=50)
    ap.add_argument("--no-large", action="store_true",
                    help="skip the memory measurement on the large (~800 MB) synthetic set")
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
    large = None if args.no_large else _large_memory()
    if large is not None:
        stream_above = large["stream_mb"] - large["baseline_mb"]
        print(f"large set ({large['file_mb']:.0f} MB file, 100,000 structures, 2 L-BFGS epochs): "
              f"peak RSS imports alone {large['baseline_mb']:.0f} MB; memory: stream "
              f"{large['stream_mb']:.0f} MB, load {large['load_mb']:.0f} MB (above the imports: "
              f"{stream_above:.0f} / {large['load_mb'] - large['baseline_mb']:.0f} MB); stream "
              f"{'below' if stream_above < large['file_mb'] else 'NOT below'} the file size")

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
    line = (f"RESULT lbfgs_s_per_epoch={lbfgs:.4f} adam_s_per_epoch={adam:.4f} "
            f"val_rmse_mev={result.best_val_rmse:.3f}")
    if large is not None:
        line += (f" stream_peak_mb={large['stream_mb'] - large['baseline_mb']:.0f}"
                 f" trainset_file_mb={large['file_mb']:.0f}")
    print(line)


if __name__ == "__main__":
    main()
