"""Cost of committees and of ``anncli validate`` (issue 10).

Model: randomly initialised anncli models of the issue's shape (Chebyshev radial 8.0 Å / order
16, angular 6.5 Å / order 4, 44 features; networks 44-15-15-1 tanh; feature statistics from the
data), one model and a committee of 5 members (different seeds), which cost exactly what trained
ones cost.

1. Engine on TiO2-1000 (../shared/data), energies and forces, one batch, after a warm-up: the
   committee of 5 against one model, with every member's forces (for forces_std) and with the
   mean's forces only (energy_std).  Goal: committee_cost_ratio <= 2.5.
2. ``anncli validate`` on TiO2-1000 with the committee (in process, plots off): structures/s.
3. MD through the ASE calculator (velocity Verlet, 1 fs) on the 3,420-atom TiO2 supercell of
   bench_predict: atom-steps/s with one model and with the committee (forces_std every step).

Ends with ``RESULT committee_cost_ratio=<x> committee_cost_ratio_mean_forces=<x>
structures_per_s=<x> md_atom_steps_per_s=<x> md_committee_atom_steps_per_s=<x>``.
Usage: python benchmarks/bench_validate.py [--data ../shared/data] [--repeat 3] [--md-steps 20]
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the anncli command sets it (before Numba starts OpenMP)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_predict import E_REF, best_time, md_rate, supercell  # noqa: E402


def build_models(structures, n_members: int):
    from anncli.descriptors.chebyshev import ChebyshevSetup

    sys.path.insert(0, str(REPO / "tests"))  # the random-model fixture lives with the tests
    from synthetic_model import random_model

    setups = {s: ChebyshevSetup(s, ["Ti", "O"], 8.0, 16, 6.5, 4) for s in ("Ti", "O")}
    members = [random_model(setups, (15, 15), structures=structures, reference_energies=E_REF, seed=k)
               for k in range(n_members)]
    committee = copy.deepcopy(members[0])
    committee.committee = [m.networks for m in members[1:]]
    return members[0], committee


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--md-steps", type=int, default=20)
    ap.add_argument("--members", type=int, default=5)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import numba

    from anncli.io import read_structures
    from anncli.potential.evaluate import Potential, pack_structures
    from anncli.potential.model_file import save_model

    xsf = args.data / "TiO2-1000" / "xsf"
    structures = [read_structures(f)[0] for f in sorted(xsf.glob("*.xsf"))]
    n_atoms = sum(s.n_atoms for s in structures)
    single, committee = build_models(structures, args.members)
    p1, pc = Potential(single), Potential(committee)
    arrays = pack_structures(structures, p1)
    print(f"TiO2-1000: {len(structures)} structures, {n_atoms} atoms; {numba.get_num_threads()} threads; "
          f"committee of {args.members}")

    # 1. engine
    t1 = best_time(lambda: p1.evaluate_arrays(*arrays, forces=True, stress=True, extrapolation=False), args.repeat)
    tc = best_time(lambda: pc.evaluate_arrays(*arrays, forces=True, stress=True, extrapolation=False,
                                              committee_forces=True), args.repeat)
    tm = best_time(lambda: pc.evaluate_arrays(*arrays, forces=True, stress=True, extrapolation=False), args.repeat)
    print(f"one model, forces               : {1e6 * t1 / n_atoms:8.2f} µs/atom")
    print(f"committee, every member's forces: {1e6 * tc / n_atoms:8.2f} µs/atom  ratio {tc / t1:.2f} (goal <= 2.5)")
    print(f"committee, mean forces only     : {1e6 * tm / n_atoms:8.2f} µs/atom  ratio {tm / t1:.2f}")

    # 2. anncli validate, in process
    from anncli.config.loader import load_config
    from anncli.config.validate import ValidateConfig
    from anncli.workflows import validate

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_model(tmp / "committee.h5", committee)
        cfg_path = tmp / "validate.yaml"
        cfg_path.write_text(f"model: committee.h5\nstructures: ['{xsf}/*.xsf']\nplots: false\n")
        cfg = load_config(cfg_path, ValidateConfig)
        import io

        validate.run(cfg, config_path=cfg_path, stdout=io.StringIO())  # warm-up
        best = np.inf
        for _ in range(args.repeat):
            t = time.perf_counter()
            validate.run(cfg, config_path=cfg_path, stdout=io.StringIO())
            best = min(best, time.perf_counter() - t)
    sps = len(structures) / best
    print(f"anncli validate (committee, forces, no plots): {best:.2f} s, {sps:,.0f} structures/s")

    # 3. MD
    big = supercell(max(structures, key=lambda s: s.n_atoms), 3000)
    md1 = md_rate(p1, big, args.md_steps)
    mdc = md_rate(pc, big, args.md_steps)
    print(f"MD ({big.n_atoms} atoms), one model : {md1:,.0f} atom-steps/s  (goal >= 80,000)")
    print(f"MD ({big.n_atoms} atoms), committee : {mdc:,.0f} atom-steps/s  (goal >= 30,000)")
    print(f"RESULT committee_cost_ratio={tc / t1:.2f} committee_cost_ratio_mean_forces={tm / t1:.2f} "
          f"structures_per_s={sps:.0f} md_atom_steps_per_s={md1:.0f} md_committee_atom_steps_per_s={mdc:.0f}")


if __name__ == "__main__":
    main()
