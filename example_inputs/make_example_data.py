"""Make the small Cu–Au example data set labelled with ASE's EMT calculator.

Usage::

    python make_example_data.py OUTDIR [--n 200] [--seed 0] [--md-start FILE]

Writes ``OUTDIR/structure0001.xsf`` ... : rattled and strained fcc supercells of
8 to 64 atoms with random Cu/Au composition, as ænet XSF files with the EMT total
energy (eV) and forces (eV/Å).  EMT's free atoms are at zero energy, so the
reference (atomic) energies for this set are Cu 0 and Au 0.  Deterministic for a
given seed.  Also importable: ``make_example_data(outdir, n=200, seed=0)``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# repetitions of the 4-atom conventional fcc cell -> 8 ... 64 atoms
_REPEATS = [(1, 1, 2), (1, 1, 3), (1, 2, 2), (1, 2, 3), (2, 2, 2), (1, 3, 3), (2, 2, 3), (2, 2, 4)]
_A_CU, _A_AU = 3.615, 4.078  # fcc lattice constants (Å)
#: No two atoms of a generated cell are closer than this (Å).
MIN_DISTANCE = 2.0


def _one_structure(rng: np.random.Generator):
    """Build one random Cu–Au cell as an ase.Atoms with an EMT calculator attached."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    reps = _REPEATS[rng.integers(len(_REPEATS))]
    x_au = rng.uniform(0.0, 1.0)
    a = (1.0 - x_au) * _A_CU + x_au * _A_AU  # Vegard's law
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(reps)
    n = len(atoms)
    symbols = np.where(rng.uniform(size=n) < x_au, "Au", "Cu")
    atoms.set_chemical_symbols(symbols.tolist())
    eps = rng.uniform(-0.05, 0.05, size=(3, 3))
    eps = 0.5 * (eps + eps.T)  # symmetric strain, components within ±5 %
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
    # Gaussian rattle of 0.05-0.15 Å per component: the thermal displacements of 300-900 K
    # (EMT Langevin MD of these alloys: 0.07-0.15 Å).  Its tail would now and then push two
    # atoms closer than any MD here comes (1.7 Å; 900 K: >= 2.2 Å), forces of tens of eV/Å
    # that then dominate a test RMSE: such a rattle is drawn again.
    sigma = rng.uniform(0.05, 0.15)
    ideal = atoms.positions.copy()
    while True:
        atoms.positions = ideal + rng.normal(scale=sigma, size=(n, 3))
        if _shortest_distance(atoms) >= MIN_DISTANCE:
            break
    atoms.calc = EMT()
    return atoms


def _shortest_distance(atoms) -> float:
    """The shortest interatomic distance (Å) of a periodic ase.Atoms, images included."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, MIN_DISTANCE + 0.5)
    return float(d.min()) if len(d) else np.inf


def ordered_cuau(size: int = 4, a: float = 3.85):
    """L1_0-like CuAu: an fcc cell repeated ``size`` times per direction, Cu and Au layers
    alternating along z (a between the elements' lattice constants); ase.Atoms."""
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(size)
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[np.floor(atoms.positions[:, 2] / (a / 2) + 1e-6).astype(int) % 2 == 1] = "Au"
    atoms.set_chemical_symbols(symbols.tolist())
    return atoms


def make_example_data(outdir: str | Path, n: int = 200, seed: int = 0) -> list[Path]:
    """Write ``n`` EMT-labelled Cu–Au structures as ænet XSF files.

    Parameters
    ----------
    outdir : str or Path
        Output directory (created if needed).
    n : int
        Number of structures.
    seed : int
        Seed of the numpy random generator (same seed -> same files).

    Returns
    -------
    list of Path
        The files written, ``structure0001.xsf`` ... in order.
    """
    from anncli.io.xsf import write_xsf
    from anncli.structure import Structure

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    width = max(4, len(str(n)))
    paths = []
    for k in range(n):
        atoms = _one_structure(rng)
        s = Structure(
            symbols=atoms.get_chemical_symbols(),
            positions=atoms.get_positions(),
            cell=np.array(atoms.cell[:]),
            pbc=(True, True, True),
            energy=float(atoms.get_potential_energy()),
            forces=atoms.get_forces(),
        )
        path = outdir / f"structure{k + 1:0{width}d}.xsf"
        write_xsf(path, s)
        paths.append(path)
    logger.info("wrote %d structures to %s", n, outdir)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", help="output directory for the XSF files")
    parser.add_argument("--n", type=int, default=200, help="number of structures (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--md-start", metavar="FILE", default=None,
                        help="also write the 256-atom ordered CuAu cell (start of the MD runs) as XSF")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    paths = make_example_data(args.outdir, n=args.n, seed=args.seed)
    sys.stdout.write(f"wrote {len(paths)} structures to {args.outdir}\n")
    if args.md_start:
        from anncli.io.xsf import write_xsf
        from anncli.structure import Structure

        write_xsf(args.md_start, Structure.from_ase(ordered_cuau()))
        sys.stdout.write(f"wrote the ordered CuAu cell to {args.md_start}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
