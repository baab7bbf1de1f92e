"""Accuracy on TiO2-1000 over several splits: the recipe, ænet-PyTorch's 2x5 network, Taylor copies.

Issue 11's accuracy table for ../shared/data/TiO2-1000 (1000 bulk TiO2 cells, PBE, forces on
every atom), with 10 % of the structures held out for validation, every seed drawing another
split and other initial weights:

* ``recipe``: the TiO2 recipe of README "Force training: recipe and accuracy" (Chebyshev
  6.5/20 + 5.0/6, 56 features; 2x15 tanh; ``force_weight`` 0.01 Å²; ``l2`` 1e-5; L-BFGS,
  1,500 epochs; the first recipe, ``force_weight`` 0.03 without ``l2``, 1,000 epochs, is
  ``--recipe-force-weight 0.03 --recipe-l2 0 --recipe-epochs 1000``);
* ``small``: ænet-PyTorch's own network (2x5 tanh, same 56 features), trained with forces
  (``--small-force-weight``), against ænet-PyTorch's 7.8 meV/atom and 0.388 eV/Å;
* ``taylor``: the 2x5 network trained on energies only, without and with Taylor-expansion
  copies (generate's ``taylor``, ``--taylor COPIES DISPLACEMENT MODE``, repeatable), on the
  ``--taylor-seeds`` splits; the force-trained 2x5 runs of the same seeds are the comparison
  (run if ``small`` did not run them).

Every model is evaluated the same way: the saved (best) model predicts energies and forces of
the validation structures through the Potential API; with Taylor copies only the validation
*parents* count (the split is made on parents, so a seed holds out the same structures with
and without copies; the script checks it).  Printed per run: energy RMSE (meV/atom), force-
component RMSE (eV/Å), wall time of ``train`` (s); then mean ± standard deviation and min–max
per setting, and Markdown rows.

Ends with ``RESULT recipe_energy_mev=<mean> recipe_force_ev_a=<mean> small_energy_mev=<mean>
small_force_ev_a=<mean> splits=<n>`` (with ``taylor``: also ``eonly_energy_mev=...``,
``eonly_force_ev_a=...`` and ``taylor<copies>x<Å><mode>_energy_mev=...`` and ``..._force_ev_a``).

``--keep DIR`` keeps the runs; a later call with the same DIR evaluates the finished runs of
the same input again instead of training them (more seeds, an interrupted benchmark).

``--quick``: a smoke test on the first 60 structures, 3 epochs, one seed, one Taylor setting
(seconds, meaningless numbers).

Usage: python benchmarks/bench_tio2.py [--seeds 1 2 3 4 5] [--recipe-epochs 1500]
       [--recipe-force-weight 0.01] [--recipe-l2 1e-5] [--small-epochs 800]
       [--small-force-weight 0.005] [--taylor-seeds 1 2]
       [--taylor 4 0.01 single] [--taylor-epochs 1000] [--only recipe small taylor]
       [--keep DIR] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
DATA = next((p / "shared" / "data" / "TiO2-1000" for p in REPO.parents  # also from a git worktree
             if (p / "shared" / "data" / "TiO2-1000").is_dir()), REPO.parent / "shared" / "data" / "TiO2-1000")

#: The recipe's L2 regularisation (train's ``l2``) and force weight (Å²).
RECIPE_L2 = 1e-5
RECIPE_FORCE_WEIGHT = 0.01

#: ænet-PyTorch, 2x5 tanh, forces on 25 % of the structures, its own split (README of the data).
AENET_PYTORCH = (7.8, 0.388)

GENERATE = """structures: [{structures}]
output: {name}.h5
overwrite: true
reference_energies: {{Ti: -1604.604515075, O: -432.503149303}}
descriptors:
  default:
    type: chebyshev
    radial: {{cutoff: 6.5, order: 20}}
    angular: {{cutoff: 5.0, order: 6}}
{taylor}"""

TRAIN = """trainset: {trainset}.h5
output: {name}.h5
output_dir: {name}
overwrite: true
seed: {seed}
validation_fraction: 0.1
networks:
  default: {{hidden: {hidden}, activation: tanh}}
optimizer: {{method: lbfgs}}
epochs: {epochs}
log_every: {log_every}
checkpoint_every: 0
force_weight: {force_weight}
"""


def validation_errors(output_dir: Path, model: Path) -> tuple[float, float, list[str]]:
    """Energy RMSE (meV/atom) and force-component RMSE (eV/Å) of ``model`` on the validation parents.

    The validation rows of ``output_dir/results.csv`` name their source files; a Taylor copy
    has its parent's source, so every source counts once, read from its XSF file (reference
    energy and forces).  Returns the two RMSEs and the sorted sources (to compare splits).
    """
    from anncli.io.xsf import read_xsf
    from anncli.potential import load_potential

    with (output_dir / "results.csv").open() as fh:
        sources = sorted({r["source"] for r in csv.DictReader(fh) if r["set"] == "validation"})
    structures = [read_xsf(s) for s in sources]
    preds, _ = load_potential(model).evaluate(structures, forces=True, stress=False, extrapolation=False)
    de = [(p.energy - s.energy) / s.n_atoms for p, s in zip(preds, structures)]
    df = np.concatenate([(p.forces - s.forces).ravel() for p, s in zip(preds, structures)])
    return 1000.0 * float(np.sqrt(np.mean(np.square(de)))), float(np.sqrt(np.mean(df**2))), sources


def _stats(values: list[float], fmt: str) -> str:
    mean = statistics.fmean(values)
    if len(values) == 1:
        return format(mean, fmt)
    return (f"{format(mean, fmt)} ± {format(statistics.stdev(values), fmt)} "
            f"({format(min(values), fmt)}–{format(max(values), fmt)})")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--recipe-epochs", type=int, default=1500)
    ap.add_argument("--recipe-force-weight", type=float, default=RECIPE_FORCE_WEIGHT)
    ap.add_argument("--recipe-hidden", type=int, nargs="+", default=[15, 15])
    ap.add_argument("--recipe-l2", type=float, default=RECIPE_L2,
                    help="L2 regularisation of the recipe's weights (train's l2)")
    ap.add_argument("--small-epochs", type=int, default=800)
    ap.add_argument("--small-force-weight", type=float, default=0.005)
    ap.add_argument("--taylor-seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--taylor", nargs=3, action="append", metavar=("COPIES", "DISPLACEMENT", "MODE"),
                    help="a Taylor setting (repeatable; default: 4 0.01 single and 4 0.02 all)")
    ap.add_argument("--taylor-epochs", type=int, default=1000, help="energy-only L-BFGS epochs")
    ap.add_argument("--only", nargs="+", choices=["recipe", "small", "taylor"],
                    default=["recipe", "small", "taylor"])
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it; finished runs "
                    "of the same input found there are evaluated, not trained again")
    ap.add_argument("--quick", action="store_true", help="smoke test: 60 structures, 3 epochs, one seed")
    args = ap.parse_args(argv)
    if args.taylor is None:
        args.taylor = [["4", "0.01", "single"], ["4", "0.02", "all"]]
    if args.quick:
        args.seeds, args.taylor_seeds, args.taylor = [1], [1], [["1", "0.01", "single"]]
        args.recipe_epochs = args.small_epochs = args.taylor_epochs = 3
    logging.basicConfig(level=logging.WARNING)
    from anncli.config.generate import load_generate_config
    from anncli.config.loader import load_config
    from anncli.config.train import TrainConfig
    from anncli.potential.model_file import load_model
    from anncli.workflows import generate, train

    xsf = sorted((args.data / "xsf").glob("*.xsf"))
    if not xsf:
        raise SystemExit(f"{args.data}/xsf: no TiO2-1000 structures (give --data)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_tio2_"))
    work.mkdir(parents=True, exist_ok=True)
    structures = ", ".join(str(p) for p in xsf[:60]) if args.quick else f"{args.data / 'xsf'}/*.xsf"

    def make_set(name: str, taylor: str = "") -> None:
        path = work / f"generate-{name}.yaml"
        path.write_text(GENERATE.format(structures=structures, name=name, taylor=taylor))
        t0 = time.perf_counter()
        generate.run(load_generate_config(path), config_path=path)
        print(f"generate {name}: {time.perf_counter() - t0:.0f} s", flush=True)

    def run(label: str, trainset: str, seed: int, hidden: list[int], epochs: int,
            force_weight: float, l2: float = 0.0) -> tuple[float, float, float, list[str]]:
        name = f"{label}-{seed}"
        path = work / f"train-{name}.yaml"
        text = TRAIN.format(trainset=work / trainset, name=work / name, seed=seed, hidden=hidden,
                            epochs=epochs, log_every=max(epochs, 1), force_weight=force_weight)
        if l2:
            text += f"l2: {l2:g}\n"
        model = work / f"{name}.h5"
        if (args.keep and path.is_file() and path.read_text() == text and model.is_file()
                and (work / name / "results.csv").is_file()):
            # A finished run of the same input in --keep DIR (an interrupted benchmark, or
            # more seeds later): evaluated again, not trained again; its wall time is the time
            # between writing the input and writing the model.
            seconds = model.stat().st_mtime - path.stat().st_mtime
            note = "reused"
        else:
            path.write_text(text)
            t0 = time.perf_counter()
            model = train.run(load_config(path, TrainConfig), config_path=path).model_path
            seconds = time.perf_counter() - t0
            note = "trained"
        e, f, sources = validation_errors(work / name, model)
        best = load_model(model).metadata["best_epoch"]
        print(f"{label} seed {seed}: validation {e:.2f} meV/atom, {f:.3f} eV/Å (best epoch "
              f"{best} of {epochs}; {seconds:.0f} s, {note})", flush=True)
        return e, f, seconds, sources

    rows: dict[str, list[tuple[float, float, float]]] = {}
    splits: dict[tuple[str, int], list[str]] = {}
    make_set("base")
    small_seeds = list(args.seeds) if "small" in args.only else []
    if "taylor" in args.only:  # the force-trained comparison: the small runs of the same splits
        small_seeds += [s for s in args.taylor_seeds if s not in small_seeds]
    try:
        for label, hidden, epochs, fw, seeds in (
                ("recipe", args.recipe_hidden, args.recipe_epochs, args.recipe_force_weight,
                 args.seeds if "recipe" in args.only else []),
                ("small", [5, 5], args.small_epochs, args.small_force_weight, small_seeds),
                ("eonly", [5, 5], args.taylor_epochs, 0.0,
                 args.taylor_seeds if "taylor" in args.only else [])):
            for seed in seeds:
                e, f, s, splits[label, seed] = run(label, "base", seed, hidden, epochs, fw,
                                                   args.recipe_l2 if label == "recipe" else 0.0)
                rows.setdefault(label, {})[seed] = (e, f, s)
        if "taylor" in args.only:
            for copies, disp, mode in args.taylor:
                label = f"taylor{copies}x{disp}{mode}"
                make_set(label, f"taylor: {{copies: {int(copies)}, displacement: {float(disp)}, "
                                f"mode: {mode}}}\n")
                for seed in args.taylor_seeds:
                    e, f, s, splits[label, seed] = run(label, label, seed, [5, 5], args.taylor_epochs, 0.0)
                    if splits[label, seed] != splits["eonly", seed]:
                        raise SystemExit(f"{label} seed {seed}: another validation split than "
                                         "without copies")
                    rows.setdefault(label, {})[seed] = (e, f, s)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    _report(args, rows)


def _report(args: argparse.Namespace, rows: dict[str, dict[int, tuple[float, float, float]]]) -> None:
    """Print the Markdown rows and the RESULT line (``rows``: label -> seed -> (E, F, s))."""
    names = {"recipe": f"recipe 2×15, forces (`force_weight` {args.recipe_force_weight:g}, "
                       f"`l2` {args.recipe_l2:g}), {args.recipe_epochs} epochs",
             "small": f"2×5 (ænet-PyTorch's), forces (`force_weight` {args.small_force_weight:g}), "
                      f"{args.small_epochs} epochs",
             "eonly": f"2×5, energies only, {args.taylor_epochs} epochs"}
    print(f"\nænet-PyTorch 2×5: {AENET_PYTORCH[0]} meV/atom, {AENET_PYTORCH[1]} eV/Å (its own split)")
    print("| setting | seeds | energy RMSE (meV/atom) | force RMSE (eV/Å) | s per run |\n|---|---|---|---|---|")
    keys = []
    table = [(label, by_seed) for label, by_seed in rows.items()]
    if "eonly" in rows and set(rows["small"]) != set(args.taylor_seeds):  # Taylor: the force-
        # trained runs of its splits
        table.append(("small-taylor-seeds", {s: rows["small"][s] for s in args.taylor_seeds}))
    for label, by_seed in table:
        name = names.get(label, f"2×5, energies only + Taylor copies {label[6:]}, "
                                f"{args.taylor_epochs} epochs")
        if label == "small-taylor-seeds":
            name = names["small"]
        e, f, s = ([v[i] for v in by_seed.values()] for i in range(3))
        print(f"| {name} | {' '.join(map(str, by_seed))} | {_stats(e, '.2f')} | {_stats(f, '.3f')} | "
              f"{min(s):.0f}–{max(s):.0f} |")
        if label != "small-taylor-seeds":
            keys.append(f"{label}_energy_mev={statistics.fmean(e):.2f} "
                        f"{label}_force_ev_a={statistics.fmean(f):.3f}")
    print("RESULT " + " ".join(keys) + f" splits={len(args.seeds)}")


if __name__ == "__main__":
    main()
