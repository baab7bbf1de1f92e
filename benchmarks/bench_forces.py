"""Benchmark of force training on TiO2-1000 (Chebyshev 6.5/20 + 5.0/6, 56 features, 2x5 tanh).

Usage: python benchmarks/bench_forces.py [--trainset PATH] [--timing-epochs 30] [--epochs 400]
       [--force-weight 0.1] [--accuracy-only --seeds 1 2 3 --hidden 5 5 --radial 6.5 20
       --angular 5.0 6]

Without --trainset the training set is generated first (no stored derivatives: train recomputes
them) into a temporary directory from ../shared/data/TiO2-1000.  Measures, with 10 % of the
structures held out for validation:

* seconds per epoch (median) with the forces of 25 % of the training structures per epoch
  (``force_fraction: 0.25``) and of all of them, for L-BFGS and for Adam (batch 32);
* the training-set file size and the peak resident memory of ``anncli train`` with forces on
  every structure (child process);
* the validation errors of the model that L-BFGS with all forces selects after ``--epochs``
  epochs (energy RMSE in meV/atom, force-component RMSE in eV/Å);
* with ``--stream-copies K``: the peak memory of 2 epochs with ``memory: stream`` and ``load``
  on the training set and on K copies of it, to show that streaming stays bounded by the
  chunk size while loading grows with the set.

``--accuracy-only`` skips the timings and trains the accuracy model once per ``--seeds`` (each
seed draws another 10 % validation split), with ``--hidden`` and the descriptor of
``--radial``/``--angular``; it ends with ``RESULT val_energy_rmse_mev=<mean> ...``.

Ends with one line:
``RESULT s_per_epoch_25=<x> s_per_epoch_100=<x> disk_mb=<x> peak_rss_mb=<x>
val_energy_rmse_mev=<x> val_force_rmse_ev_a=<x>`` (the s_per_epoch keys are L-BFGS; Adam's
figures are printed above it).
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
DATA = next((p / "shared" / "data" / "TiO2-1000" for p in REPO.parents  # also from a git worktree
             if (p / "shared" / "data" / "TiO2-1000").is_dir()), REPO.parent / "shared" / "data" / "TiO2-1000")

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
    radial: {{cutoff: {rc_r}, order: {n_r}}}
    angular: {{cutoff: {rc_a}, order: {n_a}}}
"""


def _train_yaml(workdir: Path, trainset: Path, name: str, *, optimizer: str, epochs: int,
                fraction: float, force_weight: float, extra: str = "", seed: int = 1,
                hidden: tuple[int, ...] = (5, 5)) -> Path:
    path = workdir / f"{name}.yaml"
    path.write_text(
        f"trainset: {trainset}\noutput: {name}.h5\noutput_dir: {name}\noverwrite: true\nseed: {seed}\n"
        f"validation_fraction: 0.1\nnetworks: {{default: {{hidden: {list(hidden)}, activation: tanh}}}}\n"
        f"optimizer: {optimizer}\nepochs: {epochs}\ncheckpoint_every: 0\nlog_every: 50\n"
        f"force_weight: {force_weight}\nforce_fraction: {fraction}\n{extra}")
    return path


def _curve(out_dir: Path) -> list[dict]:
    with (out_dir / "learning_curve.csv").open() as fh:
        return list(csv.DictReader(fh))


def _seconds_per_epoch(out_dir: Path) -> float:
    times = sorted(float(r["seconds"]) for r in _curve(out_dir)[2:])  # skip epoch 0 and 1
    return times[len(times) // 2]  # median: robust against other processes on the machine


def _run_train(workdir: Path, yaml: Path, measure_rss: bool = False) -> float:
    """Run ``anncli train`` in a child process; return its peak RSS (MB)."""
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.returncode)")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "anncli", "-q", "train",
                          str(yaml)], cwd=workdir, capture_output=True, text=True, check=True).stdout.split()
    if out[-1] != "0":
        raise SystemExit(f"anncli train {yaml} failed")
    return float(out[-2])


def _stream_demo(workdir: Path, copies: int, force_weight: float) -> None:
    """Peak RSS of 2 L-BFGS epochs with forces, memory: stream vs load, on 1 and ``copies`` copies."""
    xsf = sorted((DATA / "xsf").glob("*.xsf"))
    for k in (1, copies):
        data = workdir / f"copies-{k}"
        data.mkdir(exist_ok=True)
        for c in range(k):
            for f in xsf:
                target = data / f"{c}-{f.name}"
                if not target.exists():
                    target.symlink_to(f)
        (workdir / f"generate-{k}.yaml").write_text(
            GENERATE.format(xsf=data, rc_r=6.5, n_r=20, rc_a=5.0, n_a=6).replace(
                "trainset.h5", f"trainset-{k}.h5"))
        subprocess.run([sys.executable, "-m", "anncli", "-q", "generate", f"generate-{k}.yaml"],
                       cwd=workdir, check=True)
        for memory in ("stream", "load"):
            name = f"mem-{memory}-{k}"
            yaml = _train_yaml(workdir, workdir / f"trainset-{k}.h5", name, optimizer="{method: lbfgs}",
                               epochs=2, fraction=1.0, force_weight=force_weight, extra=f"memory: {memory}\n")
            rss = _run_train(workdir, yaml)
            print(f"{k:3d} x TiO2-1000 ({(workdir / f'trainset-{k}.h5').stat().st_size / 1e6:.0f} MB file), "
                  f"forces, memory: {memory}: peak RSS {rss:.0f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainset", type=Path)
    ap.add_argument("--timing-epochs", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=400, help="L-BFGS epochs of the accuracy run")
    ap.add_argument("--force-weight", type=float, default=0.1)
    ap.add_argument("--stream-copies", type=int, default=0,
                    help="also compare memory: stream and load on K copies of the set (0: skip)")
    ap.add_argument("--accuracy-only", action="store_true", help="skip the timings")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1], help="accuracy runs (--accuracy-only)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[5, 5])
    ap.add_argument("--radial", type=float, nargs=2, default=(6.5, 20), metavar=("RC", "ORDER"))
    ap.add_argument("--angular", type=float, nargs=2, default=(5.0, 6), metavar=("RC", "ORDER"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    workdir = Path(tempfile.mkdtemp(prefix="bench_forces_"))
    trainset = args.trainset
    if trainset is None:
        (workdir / "generate.yaml").write_text(GENERATE.format(
            xsf=DATA / "xsf", rc_r=args.radial[0], n_r=int(args.radial[1]), rc_a=args.angular[0],
            n_a=int(args.angular[1])))
        subprocess.run([sys.executable, "-m", "anncli", "-q", "generate", "generate.yaml"],
                       cwd=workdir, check=True)
        trainset = workdir / "trainset.h5"
    disk_mb = trainset.stat().st_size / 1e6
    if args.accuracy_only:
        _accuracy_only(args, workdir, trainset)
        return

    timing = {}
    for opt_name, optimizer in (("lbfgs", "{method: lbfgs}"),
                                ("adam", "{method: adam, learning_rate: 0.005}")):
        for fraction in (0.25, 1.0):
            name = f"{opt_name}_{int(fraction * 100)}"
            yaml = _train_yaml(workdir, trainset, name, optimizer=optimizer, epochs=args.timing_epochs,
                               fraction=fraction, force_weight=args.force_weight,
                               extra="batch_size: 32\n" if opt_name == "adam" else "")
            rss = _run_train(workdir, yaml)
            timing[name] = _seconds_per_epoch(workdir / name)
            if name == "lbfgs_100":
                peak_rss = rss
            print(f"{opt_name:5s} forces on {fraction:4.0%} of the structures per epoch: "
                  f"{timing[name]:.3f} s/epoch (median of {args.timing_epochs}), peak RSS {rss:.0f} MB",
                  flush=True)

    if args.stream_copies:
        _stream_demo(workdir, args.stream_copies, args.force_weight)

    yaml = _train_yaml(workdir, trainset, "accuracy", optimizer="{method: lbfgs}", epochs=args.epochs,
                       fraction=1.0, force_weight=args.force_weight)
    _run_train(workdir, yaml)
    from anncli.potential.model_file import load_model

    meta = load_model(workdir / "accuracy.h5").metadata
    rows = {int(r["epoch"]): r for r in _curve(workdir / "accuracy")}
    best = rows[int(meta["best_epoch"])]
    e_rmse = float(best["val_rmse"])
    f_rmse = float(best["val_force_rmse"]) / 1000.0
    print(f"accuracy run: {args.epochs} L-BFGS epochs, force_weight {args.force_weight} Å², best epoch "
          f"{meta['best_epoch']}: validation {e_rmse:.2f} meV/atom, {f_rmse:.3f} eV/Å "
          f"(ænet-PyTorch, forces on 25 %: 7.8 meV/atom, 0.388 eV/Å)")
    print(f"training-set file {disk_mb:.1f} MB (no stored derivatives); workdir {workdir}")
    print(f"RESULT s_per_epoch_25={timing['lbfgs_25']:.3f} s_per_epoch_100={timing['lbfgs_100']:.3f} "
          f"disk_mb={disk_mb:.1f} peak_rss_mb={peak_rss:.0f} val_energy_rmse_mev={e_rmse:.2f} "
          f"val_force_rmse_ev_a={f_rmse:.3f}")


def _accuracy_only(args: argparse.Namespace, workdir: Path, trainset: Path) -> None:
    """Train the accuracy model once per seed; print the best-epoch validation RMSE of each."""
    from anncli.potential.model_file import load_model

    e_all, f_all = [], []
    for seed in args.seeds:
        name = f"accuracy_{seed}"
        yaml = _train_yaml(workdir, trainset, name, optimizer="{method: lbfgs}", epochs=args.epochs,
                           fraction=1.0, force_weight=args.force_weight, seed=seed, hidden=args.hidden)
        _run_train(workdir, yaml)
        meta = load_model(workdir / f"{name}.h5").metadata
        best = {int(r["epoch"]): r for r in _curve(workdir / name)}[int(meta["best_epoch"])]
        e_all.append(float(best["val_rmse"]))
        f_all.append(float(best["val_force_rmse"]) / 1000.0)
        print(f"seed {seed}: best epoch {meta['best_epoch']} of {args.epochs}: validation "
              f"{e_all[-1]:.2f} meV/atom, {f_all[-1]:.3f} eV/Å", flush=True)
    n = len(e_all)
    print(f"{'x'.join(map(str, args.hidden))} tanh, Chebyshev {args.radial[0]:g}/{int(args.radial[1])} + "
          f"{args.angular[0]:g}/{int(args.angular[1])}, force_weight {args.force_weight:g}, {args.epochs} "
          f"L-BFGS epochs, {n} split(s): {sum(e_all) / n:.2f} meV/atom ({min(e_all):.2f}-{max(e_all):.2f}), "
          f"{sum(f_all) / n:.3f} eV/Å ({min(f_all):.3f}-{max(f_all):.3f}) "
          f"(ænet-PyTorch 2x5: 7.8 meV/atom, 0.388 eV/Å); workdir {workdir}")
    print(f"RESULT val_energy_rmse_mev={sum(e_all) / n:.2f} val_force_rmse_ev_a={sum(f_all) / n:.3f} "
          f"val_energy_rmse_max_mev={max(e_all):.2f} val_force_rmse_max_ev_a={max(f_all):.3f}")


if __name__ == "__main__":
    main()
