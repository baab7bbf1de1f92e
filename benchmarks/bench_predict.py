"""Throughput of the potential engine, ``anncli predict`` and the ASE calculator (issue 5).

Model: a randomly initialised anncli model of the issue's shape (Chebyshev radial 8.0 Å /
order 16, angular 6.5 Å / order 4, 44 features; networks 44-15-15-1 tanh; feature statistics
from the data), which costs exactly what a trained one costs.

1. Engine throughput on TiO2-1000 (../shared/data), all 1000 structures in one batch, after a
   warm-up call (Numba compilation excluded): µs/atom with forces (and stress) and energies only.
   ænet predict.x: 671 µs/atom with forces, 238 µs/atom energies only.  Goals 34 / 12.
2. The whole command ``anncli predict`` on TiO2-1000 with forces in a fresh process
   (start-up, reading, table, extxyz and CSV included).  Goal < 3 s.
   And on one structure (one TiO2 cell of 23 atoms), the median of several runs with warm
   caches: the cost of a shell loop that calls predict once per structure (ænet predict.x:
   0.01 s; goal 0.4 s).  For scale, the median of a process that only imports Numba and
   calls one cached kernel (the floor of any process that runs a Numba kernel) is printed too.
3. MD through ANNCalculator (velocity Verlet, 1 fs) on a >= 3,000-atom TiO2 supercell:
   atom-steps per second.  Goal >= 10,000.
4. Size scaling: µs/atom with forces for supercells of ~100 to ~100,000 atoms (goal: flat ±20 %).

Ends with ``RESULT us_per_atom_forces=<x> us_per_atom_energy=<x> command_s=<x> one_structure_command_s=<x>
md_atom_steps_per_s=<x>``.
Usage: python benchmarks/bench_predict.py [--data ../shared/data] [--repeat 3] [--max-atoms 100000]
[--one-repeat 9]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the anncli command sets it (before Numba starts OpenMP)

REPO = Path(__file__).resolve().parents[1]
E_REF = {"Ti": -1604.604515075, "O": -432.503149303}


def build_model(structures):
    from anncli.descriptors.chebyshev import ChebyshevSetup

    sys.path.insert(0, str(REPO / "tests"))  # the random-model fixture lives with the tests
    from synthetic_model import random_model

    setups = {s: ChebyshevSetup(s, ["Ti", "O"], 8.0, 16, 6.5, 4) for s in ("Ti", "O")}
    return random_model(setups, (15, 15), structures=structures, reference_energies=E_REF, seed=0)


def best_time(fn, repeat: int) -> float:
    fn()  # warm-up: Numba compilation / cache load
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def median_run_time(cmd: list[str], repeat: int, cwd: Path | None = None) -> float:
    """Median wall time (s) of ``repeat`` runs of ``cmd`` after one warm-up run."""
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


_FLOOR_KERNEL = """\
import numba
import numpy as np


@numba.njit(cache=True)
def total(x):
    s = 0.0
    for v in x:
        s += v
    return s
"""


def supercell(s, n_min: int):
    """Smallest near-cubic repetition of ``s`` with at least ``n_min`` atoms."""
    from anncli.structure import Structure

    lengths = np.linalg.norm(s.cell, axis=1)
    reps = np.ones(3, dtype=int)
    while s.n_atoms * reps.prod() < n_min:
        reps[np.argmin(lengths * reps)] += 1
    shifts = np.array([[i, j, k] for i in range(reps[0]) for j in range(reps[1]) for k in range(reps[2])]) @ s.cell
    pos = (s.positions[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    return Structure(s.symbols * len(shifts), pos, s.cell * reps[:, None], s.pbc)


def md_rate(pot, structure, steps: int) -> float:
    """Atom-steps per second of velocity Verlet (1 fs, 300 K start) through ANNCalculator."""
    from ase import units
    from ase.md import velocitydistribution as vd
    from ase.md.verlet import VelocityVerlet

    from anncli.calculator import ANNCalculator

    atoms = structure.to_ase()
    atoms.calc = ANNCalculator(pot, extrapolation=False)
    thermalize = getattr(vd, "thermalize_momenta", None) or vd.MaxwellBoltzmannDistribution
    thermalize(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, 1.0 * units.fs)
    dyn.run(2)  # warm-up
    t = time.perf_counter()
    dyn.run(steps)
    return len(atoms) * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-atoms", type=int, default=100_000)
    ap.add_argument("--md-steps", type=int, default=20)
    ap.add_argument("--one-repeat", type=int, default=9, help="runs of the one-structure command (median)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import numba

    from anncli.io import read_structures
    from anncli.potential.evaluate import Potential, pack_structures
    from anncli.potential.model_file import save_model

    xsf = args.data / "TiO2-1000" / "xsf"
    files = sorted(xsf.glob("*.xsf"))
    structures = [read_structures(f)[0] for f in files]
    n_atoms = sum(s.n_atoms for s in structures)
    model = build_model(structures)
    pot = Potential(model)
    arrays = pack_structures(structures, pot)
    print(f"TiO2-1000: {len(structures)} structures, {n_atoms} atoms; {numba.get_num_threads()} threads")

    # 1. engine throughput
    t_f = best_time(lambda: pot.evaluate_arrays(*arrays, forces=True, stress=True, extrapolation=False), args.repeat)
    t_e = best_time(lambda: pot.evaluate_arrays(*arrays, forces=False, extrapolation=False), args.repeat)
    us_f, us_e = 1e6 * t_f / n_atoms, 1e6 * t_e / n_atoms
    print(f"engine, forces+stress : {us_f:8.2f} µs/atom  (ænet 671, goal 34)")
    print(f"engine, energies only : {us_e:8.2f} µs/atom  (ænet 238, goal 12)")

    # 2. the whole command in a fresh process
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_model(tmp / "model.h5", model)
        cfg = tmp / "predict.yaml"
        cfg.write_text(f"model: model.h5\nstructures: ['{xsf}/*.xsf']\nforces: true\n"
                       "extrapolation: {check: false}\n")
        cmd = [sys.executable, "-m", "anncli", "predict", str(cfg)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm caches
        command_s = np.inf
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            command_s = min(command_s, time.perf_counter() - t)
        # one structure: a shell loop calling predict once per structure pays this each time
        one = tmp / "one.yaml"
        one.write_text(f"model: model.h5\nstructures: ['{files[0]}']\nforces: true\n")
        one_s = median_run_time([sys.executable, "-m", "anncli", "predict", str(one)], args.one_repeat, cwd=tmp)
        (tmp / "floor_kernel.py").write_text(_FLOOR_KERNEL)
        floor_s = median_run_time([sys.executable, "-c", "import numpy as np, floor_kernel; floor_kernel.total(np.ones(3))"],
                                  args.one_repeat, cwd=tmp)
    print(f"anncli predict (whole command, forces): {command_s:.2f} s  (goal < 3)")
    print(f"anncli predict, one structure ({files[0].name}), median of {args.one_repeat}: {one_s:.2f} s  "
          f"(predict.x 0.01, goal 0.4); a process that imports Numba and runs one cached kernel: {floor_s:.2f} s")

    # 3. MD through the ASE calculator
    big = supercell(max(structures, key=lambda s: s.n_atoms), 3000)
    md = md_rate(pot, big, args.md_steps)
    print(f"MD (velocity Verlet, {big.n_atoms} atoms): {md:,.0f} atom-steps/s  (goal >= 10,000)")

    # 4. size scaling: ~100,000 atoms in structures of each size, evaluated as predict does
    #    (batches of whole structures); every copy rattled so no two are alike
    from anncli.structure import Structure

    small = min(structures, key=lambda s: abs(s.n_atoms - 24))
    rng = np.random.default_rng(1)
    print("size scaling (forces + stress, ~100,000 atoms per size):")
    per_atom = {}
    for target in (100, 1_000, 10_000, 100_000):
        if target > args.max_atoms:
            break
        s = supercell(small, target)
        copies = [Structure(s.symbols, s.positions + rng.normal(scale=0.02, size=s.positions.shape), s.cell, s.pbc)
                  for _ in range(max(1, min(args.max_atoms, 100_000) // s.n_atoms))]
        n = sum(c.n_atoms for c in copies)
        t = best_time(lambda: pot.evaluate(copies, forces=True, stress=True, extrapolation=False), 2)
        per_atom[s.n_atoms] = 1e6 * t / n
        print(f"  {s.n_atoms:7d} atoms × {len(copies):4d}: {per_atom[s.n_atoms]:8.2f} µs/atom")
    if per_atom:
        v = np.array(list(per_atom.values()))
        dev = 100 * np.abs(v / v.mean() - 1).max()
        print(f"  mean {v.mean():.2f} µs/atom, largest deviation {dev:.0f} % (goal <= 20 %)")
    print(f"RESULT us_per_atom_forces={us_f:.2f} us_per_atom_energy={us_e:.2f} command_s={command_s:.2f} "
          f"one_structure_command_s={one_s:.2f} md_atom_steps_per_s={md:.0f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
