"""Test-set accuracy on the mlearn Si and Mo benchmark (Zuo et al., J. Phys. Chem. A 124, 731 (2020)).

The published training/test split of ../shared/data/mlearn (pymatgen Structure dicts in JSON:
total energies in eV, forces in eV/Å) is converted to extxyz with ASE in a temporary directory
(the dicts are parsed here: lattice matrix, sites with species and Cartesian ``xyz``; no
pymatgen needed).  For each element the training file is featurised (``anncli generate``,
free-atom energy ``fit``), networks are trained on energies and forces with the validation
split taken from the training file (``validation_fraction``), and the test file is evaluated
with the saved (best) model through the Potential API.  Printed per element: test MAE of the
energy (meV/atom) and of the force components (eV/Å) for every seed, their mean and spread,
next to the published numbers (best of the paper's MTP/GAP/SNAP/qSNAP/NNP; the paper's n2p2
NNP).

The defaults are the recipe of README "Force training: recipe and accuracy"
(``example_inputs/recipe-forces/``), one seed: ~10 min per element on a busy 2-core machine;
``--seeds 1 2 3`` gives the spread, ``--epochs 1000`` a little more accuracy;
``--radial/--angular/--hidden/--force-weight/--l2/--epochs/--optimizer`` change it, e.g. the
new-user baseline of issue 11 is
``--radial 5.5 16 --angular 4.5 8 --hidden 20 20 --force-weight 0.01``.

Ends with ``RESULT si_energy_mae_mev=<x> si_force_mae_ev_a=<x> mo_energy_mae_mev=<x>
mo_force_mae_ev_a=<x>`` (means over the seeds; elements not run are left out).
Usage: python benchmarks/bench_mlearn.py [--elements Si Mo] [--seeds 1 2 3] [--epochs N]
       [--radial RC ORDER] [--angular RC ORDER] [--hidden N N] [--force-weight W]
       [--optimizer lbfgs|adam] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
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
# ../shared/data of the checkout (or of a parent directory, for a git worktree)
DATA = next((p / "shared" / "data" / "mlearn" for p in REPO.parents
             if (p / "shared" / "data" / "mlearn").is_dir()), REPO.parent / "shared" / "data" / "mlearn")

#: Test-set MAE (meV/atom, eV/Å) of Zuo et al. 2020, Table 2 / Fig. 3: the best model per
#: element (its name) and the paper's n2p2 NNP.
PUBLISHED = {
    "Si": {"best": ("MTP", 2.21, 0.06), "nnp": (5.63, 0.109)},
    "Mo": {"best": ("GAP", 2.24, 0.09), "nnp": (3.65, 0.125)},
}
#: Issue 11's new-user baseline (Chebyshev 5.5/16 + 4.5/8, 2x20 tanh, L-BFGS, force_weight 0.01).
BASELINE = {"Si": (4.5, 0.085), "Mo": (3.25, 0.132)}

# The recipe (README "Force training: recipe and accuracy"); the command-line options override it.
RADIAL = (6.0, 20)
ANGULAR = (4.5, 12)
HIDDEN = [30, 30]
FORCE_WEIGHT = 0.1
EPOCHS = 600

GENERATE = """structures: [{xyz}]
output: {name}.h5
overwrite: true
reference_energies: {{{el}: fit}}
descriptors:
  default:
{descriptor}"""
CHEBYSHEV = """    type: chebyshev
    radial: {{cutoff: {rc_r}, order: {n_r}}}
    angular: {{cutoff: {rc_a}, order: {n_a}}}
"""
#: Behler2011 defaults (``--descriptor behler``): radial cutoff / number of G2 functions, angular
#: cutoff / number of eta values of the angular functions; ZETAS x (lambda = -1, 1) at each eta.
BEHLER_RADIAL = (6.0, 16)
BEHLER_ANGULAR = (4.5, 4)
ZETAS = (1, 2, 4, 16)

TRAIN = """trainset: {name}.h5
output: {name}-{seed}.h5
output_dir: {name}-{seed}
overwrite: true
seed: {seed}
validation_fraction: 0.1
networks:
  default: {{hidden: {hidden}, activation: {activation}}}
optimizer: {optimizer}
epochs: {epochs}
log_every: {log_every}
checkpoint_every: 0
force_weight: {force_weight}
selection: {selection}
{extra}"""


def atoms_from_mlearn(entry: dict):
    """One mlearn record as an ``ase.Atoms`` with energy (eV) and forces (eV/Å) attached.

    Parameters
    ----------
    entry : dict
        ``{"structure": pymatgen Structure dict, "outputs": {"energy", "forces", ...}, ...}``;
        the lattice ``matrix`` rows are the cell vectors (Å), every site has ``species``
        (one element, occupancy 1) and ``xyz`` (Cartesian, Å) or ``abc`` (fractional).
    """
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    st = entry["structure"]
    cell = np.array(st["lattice"]["matrix"], dtype=float)
    symbols, xyz = [], []
    for site in st["sites"]:
        species = site["species"]
        if len(species) != 1 or abs(float(species[0].get("occu", 1)) - 1.0) > 1e-9:
            raise ValueError(f"partial occupancy in {entry.get('description', '?')}")
        symbols.append(species[0]["element"])
        xyz.append(site["xyz"] if "xyz" in site else np.asarray(site["abc"], float) @ cell)
    atoms = Atoms(symbols, positions=np.array(xyz, dtype=float), cell=cell, pbc=True)
    out = entry["outputs"]
    forces = np.array(out["forces"], dtype=float).reshape(len(atoms), 3)
    atoms.calc = SinglePointCalculator(atoms, energy=float(out["energy"]), forces=forces)
    atoms.info["group"] = str(entry.get("group", ""))
    return atoms


def read_mlearn(path: Path) -> list:
    """All records of one mlearn JSON file as ``ase.Atoms`` (see :func:`atoms_from_mlearn`)."""
    with path.open() as fh:
        return [atoms_from_mlearn(e) for e in json.load(fh)]


def test_errors(model: Path, test: list) -> tuple[float, float]:
    """Energy MAE (meV/atom) and force-component MAE (eV/Å) of ``model`` on ``test``."""
    from anncli.potential import load_potential

    pot = load_potential(model)
    preds, _ = pot.evaluate(test, forces=True, stress=False, extrapolation=False)
    de = [abs(p.energy - a.get_potential_energy()) / len(a) for p, a in zip(preds, test)]
    df = np.concatenate([np.abs(p.forces - a.get_forces()).ravel() for p, a in zip(preds, test)])
    return 1000.0 * float(np.mean(de)), float(np.mean(df))


def shortest_distance(atoms_list: list, rc: float = 4.0) -> float:
    """Shortest interatomic distance (Å) in ``atoms_list`` (periodic images included)."""
    from ase.neighborlist import neighbor_list

    return min(float(neighbor_list("d", a, rc).min()) for a in atoms_list)


def behler_functions(el: str, radial: tuple[float, int], angular: tuple[float, int],
                     r_min: float, kind: int = 4) -> list[dict]:
    """A Behler2011 set derived from the cutoffs and the data only (no hand tuning).

    Radial: ``n`` shifted G2 Gaussians (Imbalzano et al., J. Chem. Phys. 148, 241730 (2018),
    "shifted" grid): centres ``Rs = r_min + i d`` for i = 0..n-1, ``d = (Rc - r_min) / n``, and
    ``eta = 1 / (2 d^2)`` (each Gaussian's width is the spacing), where ``r_min`` is the shortest
    interatomic distance of the training data.  Angular: at ``m`` widths (``r_k`` evenly from
    ``r_min`` to the angular cutoff, ``eta_k = 1 / (2 r_k^2)``, the "centred" grid, so the
    angular terms are weighted towards triplets of different sizes), G4 (``kind`` 4, with the
    r_jk term and cutoff) or G5 (``kind`` 5, without) for every zeta in :data:`ZETAS` and
    lambda = -1 and 1: ``n + 8 m`` features.
    """
    (rc_r, n_r), (rc_a, n_a) = radial, angular
    n_r, n_a = int(n_r), int(n_a)
    d = (rc_r - r_min) / n_r
    funcs = [{"G": 2, "type2": el, "eta": round(1.0 / (2.0 * d * d), 6), "Rs": round(r_min + i * d, 6),
              "Rc": rc_r} for i in range(n_r)]
    widths = np.linspace(r_min, rc_a, n_a) if n_a > 1 else np.array([rc_a])
    for r in widths:
        for zeta in ZETAS:
            for lam in (-1, 1):
                funcs.append({"G": kind, "type2": el, "type3": el, "eta": round(1.0 / (2.0 * r * r), 6),
                              "lambda": lam, "zeta": zeta, "Rc": rc_a})
    return funcs


def descriptor_yaml(args, el: str, train_atoms: list) -> tuple[str, str]:
    """The descriptor block of generate's YAML (indented under ``default:``) and a summary."""
    if args.descriptor == "chebyshev":
        radial, angular = args.radial or RADIAL, args.angular or ANGULAR
        text = CHEBYSHEV.format(rc_r=radial[0], n_r=int(radial[1]), rc_a=angular[0], n_a=int(angular[1]))
        return text, (f"Chebyshev radial {radial[0]:g}/{int(radial[1])} + angular "
                      f"{angular[0]:g}/{int(angular[1])}")
    radial, angular = args.radial or BEHLER_RADIAL, args.angular or BEHLER_ANGULAR
    r_min = shortest_distance(train_atoms)
    kind = 4 if args.descriptor == "behler" else 5
    funcs = behler_functions(el, radial, angular, r_min, kind)
    lines = ["    type: behler2011", "    functions:"]
    lines += ["      - {" + ", ".join(f"{k}: {v}" for k, v in f.items()) + "}" for f in funcs]
    return "\n".join(lines) + "\n", (
        f"Behler2011 {int(radial[1])} G2 to {radial[0]:g} + G{kind} at {int(angular[1])} widths x "
        f"zeta {'/'.join(map(str, ZETAS))} x lambda ±1 to {angular[0]:g} Å (r_min {r_min:.2f} Å): "
        f"{len(funcs)} features")


def validation_structures(out_dir: Path, train_atoms: list) -> list:
    """The structures of the training file that the run held out (its ``split.csv``).

    The training set's rows are the records of the training file in order (generate keeps
    every mlearn structure); the ``source`` column is checked against that.
    """
    import csv

    with (out_dir / "split.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != len(train_atoms):
        raise RuntimeError(f"{out_dir / 'split.csv'}: {len(rows)} rows for {len(train_atoms)} structures")
    return [train_atoms[int(r["index"])] for r in rows if r["set"] == "validation"]


def _spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.3g}"
    return f"{mean:.3g} ± {(max(values) - min(values)) / 2:.2g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--elements", nargs="+", default=["Si", "Mo"], choices=sorted(PUBLISHED))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1], help="each seed: its own validation split and weights")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--descriptor", default="chebyshev", choices=["chebyshev", "behler", "behler-g5"],
                    help="behler: the rule-based Behler2011 set of behler_functions (G2 + G4); behler-g5: G5")
    ap.add_argument("--radial", type=float, nargs=2, metavar=("RC", "N"),
                    help=f"Chebyshev: cutoff and order (default {RADIAL}); Behler: cutoff and number of "
                    f"G2 (default {BEHLER_RADIAL})")
    ap.add_argument("--angular", type=float, nargs=2, metavar=("RC", "N"),
                    help=f"Chebyshev: cutoff and order (default {ANGULAR}); Behler: cutoff and number of "
                    f"angular widths (default {BEHLER_ANGULAR})")
    ap.add_argument("--committee", type=int, default=1, metavar="N",
                    help="train a committee of N members per seed (train's committee; the test and "
                    "validation errors are those of the members' mean)")
    ap.add_argument("--hidden", type=int, nargs="+", default=HIDDEN)
    ap.add_argument("--activation", default="tanh")
    ap.add_argument("--force-weight", type=float, default=FORCE_WEIGHT)
    ap.add_argument("--l2", type=float, default=0.0, help="L2 regularisation of the weights (train's l2)")
    ap.add_argument("--selection", default="auto", choices=["auto", "energy", "forces", "loss"])
    ap.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "adam"])
    ap.add_argument("--learning-rate", type=float, default=0.003, help="adam only")
    ap.add_argument("--batch-size", type=int, default=8, help="adam only")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temporary one)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from anncli.config.generate import load_generate_config
    from anncli.config.loader import load_config
    from anncli.config.train import TrainConfig
    from anncli.workflows import generate, train

    if args.optimizer == "lbfgs":
        optimizer, extra = "{method: lbfgs}", ""
    else:
        optimizer = (f"{{method: adam, learning_rate: {args.learning_rate}, schedule: "
                     f"{{kind: plateau, factor: 0.5, patience: 25, min_lr: 1.0e-5}}}}")
        extra = f"batch_size: {args.batch_size}\n"
    if args.l2:
        extra += f"l2: {args.l2}\n"
    if args.committee > 1:
        extra += f"committee: {{members: {args.committee}}}\n"
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_mlearn_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"recipe: {'x'.join(map(str, args.hidden))} {args.activation}, {args.optimizer} {args.epochs} "
          f"epochs, force_weight {args.force_weight:g}, selection {args.selection}"
          f"{f', committee of {args.committee}' if args.committee > 1 else ''}; seeds {args.seeds}; "
          f"workdir {work}", flush=True)
    # per element and seed: test energy MAE, test force MAE, validation energy MAE, validation force MAE
    results: dict[str, list[tuple[float, float, float, float]]] = {}
    try:
        for el in args.elements:
            from ase.io import write

            train_atoms = read_mlearn(args.data / f"{el}_training.json")
            test_atoms = read_mlearn(args.data / f"{el}_test.json")
            write(work / f"{el}_training.extxyz", train_atoms, format="extxyz")
            name = el.lower()
            gen = work / f"generate-{name}.yaml"
            descriptor, summary = descriptor_yaml(args, el, train_atoms)
            print(f"{el} descriptor: {summary}", flush=True)
            gen.write_text(GENERATE.format(xyz=work / f"{el}_training.extxyz", name=name, el=el,
                                           descriptor=descriptor))
            generate.run(load_generate_config(gen), config_path=gen)
            results[el] = []
            for seed in args.seeds:
                path = work / f"train-{name}-{seed}.yaml"
                path.write_text(TRAIN.format(
                    name=name, seed=seed, hidden=list(args.hidden), activation=args.activation,
                    optimizer=optimizer, epochs=args.epochs, log_every=max(args.epochs, 1),
                    force_weight=args.force_weight, selection=args.selection, extra=extra))
                t0 = time.perf_counter()
                res = train.run(load_config(path, TrainConfig), config_path=path)
                e_mae, f_mae = test_errors(res.model_path, test_atoms)
                ve_mae, vf_mae = test_errors(res.model_path, validation_structures(res.output_dir, train_atoms))
                results[el].append((e_mae, f_mae, ve_mae, vf_mae))
                print(f"{el} seed {seed}: validation MAE {ve_mae:.2f} meV/atom, {vf_mae:.3f} eV/Å; test MAE "
                      f"{e_mae:.2f} meV/atom, {f_mae:.3f} eV/Å (best epoch {res.best_epoch} of {res.epochs}, "
                      f"validation energy RMSE {res.val_rmse:.2f} meV/atom; {time.perf_counter() - t0:.0f} s)",
                      flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n| element | model | energy MAE (meV/atom) | force MAE (eV/Å) |\n|---|---|---|---|")
    keys = []
    for el, rows in results.items():
        best = PUBLISHED[el]["best"]
        print(f"| {el} | best published ({best[0]}) | {best[1]} | {best[2]} |")
        print(f"| {el} | n2p2 NNP (paper) | {PUBLISHED[el]['nnp'][0]} | {PUBLISHED[el]['nnp'][1]} |")
        print(f"| {el} | anncli, issue-11 new-user baseline | {BASELINE[el][0]} | {BASELINE[el][1]} |")
        print(f"| {el} | anncli, this run ({len(rows)} seed(s), mean ± half range) | "
              f"{_spread([r[0] for r in rows])} | {_spread([r[1] for r in rows])} |")
        print(f"| {el} | (validation split of the same runs) | "
              f"{_spread([r[2] for r in rows])} | {_spread([r[3] for r in rows])} |")
        keys.append(f"{el.lower()}_energy_mae_mev={statistics.fmean(r[0] for r in rows):.3f} "
                    f"{el.lower()}_force_mae_ev_a={statistics.fmean(r[1] for r in rows):.4f} "
                    f"{el.lower()}_val_energy_mae_mev={statistics.fmean(r[2] for r in rows):.3f} "
                    f"{el.lower()}_val_force_mae_ev_a={statistics.fmean(r[3] for r in rows):.4f}")
    print("RESULT " + " ".join(keys))


if __name__ == "__main__":
    main()
