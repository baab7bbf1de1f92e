"""Make Cu–Au cells whose Δ to the baseline is known exactly: reference = EMT + a Lennard-Jones pair potential.

Usage::

    python make_delta_data.py OUTFILE.extxyz [--n 120] [--seed 0]

Writes rattled, strained fcc Cu–Au cells of 4 and 8 atoms (~40 % Au) as extended XYZ with
the energy, forces and stress of EMT + Lennard-Jones (the "reference"), and EMT's own energy
and forces under ``emt_energy`` / ``emt_forces`` (a baseline stored in the file).  A Δ-model
with baseline EMT (``baseline: {calculator: emt}`` in generate.yaml) must learn the
Lennard-Jones term, which is short-ranged (switched off smoothly between ``ro`` and ``rc``,
inside the descriptors' cutoff).  Deterministic for a given seed.  Also importable (the tests
use it): ``delta_frames(n, seed)``, ``pair_term(atoms)``, ``emt(atoms)``.
"""

from __future__ import annotations

import argparse

import numpy as np

#: The known difference: ASE's LennardJones with these parameters (eV, Å), smoothly cut off.
PAIR = {"sigma": 2.2, "epsilon": 0.08, "rc": 4.5, "ro": 3.5, "smooth": True}


def delta_frames(n: int, seed: int = 0, rattle: float = 0.1, strain: float = 0.02) -> list:
    """``n`` ase.Atoms labelled with EMT + Lennard-Jones (energy, forces, stress); EMT's values in
    ``info['emt_energy']`` (eV) and ``arrays['emt_forces']`` (eV/Å)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((1 + k % 2, 1, 1))
        atoms.symbols[rng.random(len(atoms)) < 0.4] = "Au"
        atoms.set_cell(atoms.cell[:] * (1 + rng.uniform(-strain, strain)), scale_atoms=True)
        atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
        atoms.calc = EMT()
        e_b, f_b, s_b = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = LennardJones(**PAIR)
        e_m, f_m, s_m = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=e_b + e_m, forces=f_b + f_m, stress=s_b + s_m)
        atoms.info["emt_energy"] = e_b
        atoms.arrays["emt_forces"] = f_b
        out.append(atoms)
    return out


def _evaluate(atoms, calc):
    a = atoms.copy()
    a.calc = calc
    return a.get_potential_energy(), a.get_forces(), a.get_stress()


def pair_term(atoms):
    """Energy (eV), forces (eV/Å) and stress (Voigt, eV/Å³) of the Lennard-Jones term alone."""
    from ase.calculators.lj import LennardJones

    return _evaluate(atoms, LennardJones(**PAIR))


def emt(atoms):
    """Energy (eV), forces (eV/Å) and stress (Voigt, eV/Å³) of EMT, the baseline."""
    from ase.calculators.emt import EMT

    return _evaluate(atoms, EMT())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="extended XYZ file to write")
    parser.add_argument("--n", type=int, default=100, help="number of structures (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    from ase.io import write

    write(args.output, delta_frames(args.n, args.seed), format="extxyz")
    print(f"wrote {args.n} structures to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
