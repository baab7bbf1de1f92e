"""Short Langevin molecular dynamics with an anncli potential through ASE.

Uses the Cu-Au example model: run ``cu-au/run.sh`` first (it generates the data, the
training set and, with cu-au/train.yaml, the model file named by that file's ``output``).

    python md_langevin.py                       # cu-au model, 256-atom CuAu fcc cell, 300 K
    python md_langevin.py --model my.h5 --steps 1000 --temperature 600 --trajectory md.extxyz

Any anncli model works (``--model``) as long as it has Cu and Au; ænet potentials can be used
with ``ANNCalculator({"Cu": "Cu.nn", "Au": "Au.nn"})``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def default_model() -> Path:
    """The model file written by cu-au/train.yaml (its 'output' key, relative to it)."""
    train_yaml = HERE / "cu-au" / "train.yaml"
    name = "model.h5"
    if train_yaml.is_file():
        import yaml

        name = (yaml.safe_load(train_yaml.read_text()) or {}).get("output", name)
    return (train_yaml.parent / name).resolve()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="anncli model file (default: the cu-au example's)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--temperature", type=float, default=300.0, help="K")
    ap.add_argument("--timestep", type=float, default=2.0, help="fs")
    ap.add_argument("--friction", type=float, default=0.02, help="1/fs")
    ap.add_argument("--size", type=int, default=4, help="fcc cell repeated size^3 times (4 atoms each)")
    ap.add_argument("--trajectory", type=Path, default=None, help="write frames (extxyz) every 20 steps")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from ase import units
    from ase.constraints import FixCom
    from ase.io import write
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    from anncli.calculator import ANNCalculator

    model = args.model or default_model()
    if not model.is_file():
        raise SystemExit(f"{model}: no model file; run cu-au/run.sh first (or give --model)")

    from make_example_data import ordered_cuau  # next to this script

    atoms = ordered_cuau(args.size)  # L1_0-like CuAu, a between the elements' values

    atoms.calc = ANNCalculator(model)
    rng = np.random.default_rng(args.seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())  # no drift of the centre of mass (ASE's recommended way)
    dyn = Langevin(atoms, args.timestep * units.fs, temperature_K=args.temperature,
                   friction=args.friction / units.fs, fixcm=False, rng=rng)

    print(f"{len(atoms)} atoms ({atoms.get_chemical_formula()}), model {model}")
    print(f"{'step':>6} {'E_pot (eV/atom)':>16} {'E_kin (eV/atom)':>16} {'T (K)':>8} {'p (GPa)':>9}")

    def report() -> None:
        n = len(atoms)
        p = -np.trace(atoms.get_stress(voigt=False)) / 3 / units.GPa
        print(f"{dyn.get_number_of_steps():6d} {atoms.get_potential_energy() / n:16.6f} "
              f"{atoms.get_kinetic_energy() / n:16.6f} {atoms.get_temperature():8.1f} {p:9.3f}")
        if args.trajectory is not None:
            write(args.trajectory, atoms, format="extxyz", append=dyn.get_number_of_steps() > 0)

    dyn.attach(report, interval=20)
    t = time.perf_counter()
    dyn.run(args.steps)
    dt = time.perf_counter() - t
    n_ex = atoms.calc.n_extrapolating
    spread = atoms.calc.results.get("forces_std")  # a committee model: how much its members disagree
    print(f"{args.steps} steps in {dt:.1f} s ({len(atoms) * args.steps / dt:,.0f} atom-steps/s)"
          + (f"; last step: {n_ex} atoms outside the training range" if n_ex else "; no extrapolation")
          + (f"; largest committee force spread {spread.max():.3f} eV/Å" if spread is not None else ""))


if __name__ == "__main__":
    main()
