"""Make the small Cu–Au example data set labelled with ASE's EMT calculator.

Usage::

    python make_example_data.py OUTDIR [--n 200] [--seed 0] [--ideal] [--md-start FILE]

Writes ``OUTDIR/structure0001.xsf`` ... : rattled (0-0.15 Å, 300-900 K) and strained
(0-5 %) fcc supercells of 8 to 64 atoms, random Cu/Au alloys of any composition and (35 %)
ordered L1_0 CuAu, as ænet XSF files with the EMT total energy (eV) and forces (eV/Å);
``--ideal`` adds the perfect Cu, Au and CuAu crystals (for training data).  EMT's free atoms are at zero energy, so the
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
#: No two atoms of a generated cell are closer than this fraction of their fcc nearest-neighbour
#: distance (the sum of the two elements' radii a/(2 sqrt 2): Cu-Cu 1.99, Cu-Au 2.12, Au-Au
#: 2.25 Å).  The 900 K MD of the example comes no closer than 0.82-0.87 of it.
MIN_DISTANCE_FRACTION = 0.78
_RADIUS = {"Cu": _A_CU / 8**0.5, "Au": _A_AU / 8**0.5}
#: Share of the cells that are ordered L1_0 CuAu (the others are random alloys).
ORDERED_FRACTION = 0.35


def _one_structure(rng: np.random.Generator):
    """Build one random Cu–Au cell as an ase.Atoms with an EMT calculator attached."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    reps = _REPEATS[rng.integers(len(_REPEATS))]
    ordered = rng.uniform() < ORDERED_FRACTION
    x_au = 0.5 if ordered else rng.uniform(0.0, 1.0)
    a = (1.0 - x_au) * _A_CU + x_au * _A_AU  # Vegard's law
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(reps)
    n = len(atoms)
    if ordered:  # L1_0 CuAu, the structure of the example's MD runs: Cu and Au layers along z
        layer = np.floor(atoms.positions[:, 2] / (a / 2) + 1e-6).astype(int)
        symbols = np.where(layer % 2 == 1, "Au", "Cu")
    else:
        symbols = np.where(rng.uniform(size=n) < x_au, "Au", "Cu")
    atoms.set_chemical_symbols(symbols.tolist())
    # symmetric strain, components within ±s with s drawn from 0-5 % per cell: MD at a fixed
    # cell (and the ideal crystals) is unstrained, and a fixed ±5 % would leave no cell near it
    eps = rng.uniform(-1.0, 1.0, size=(3, 3)) * rng.uniform(0.0, 0.05)
    eps = 0.5 * (eps + eps.T)
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
    # Gaussian rattle of 0-0.15 Å per component: from the perfect crystal (where an MD run
    # starts) to the thermal displacements of 900 K (EMT Langevin MD of these alloys: 0.07 Å
    # at 300 K, 0.13-0.15 Å at 900 K).  Its tail would now and then push two atoms closer
    # than any MD here comes (1.7 Å; 900 K: >= 2.2 Å), forces of tens of eV/Å that then
    # dominate a test RMSE: such a rattle is drawn again.
    sigma = rng.uniform(0.0, 0.15)
    ideal = atoms.positions.copy()
    while True:
        atoms.positions = ideal + rng.normal(scale=sigma, size=(n, 3))
        if not _too_close(atoms):
            break
    atoms.calc = EMT()
    return atoms


def _too_close(atoms) -> bool:
    """Whether two atoms (images included) are closer than MIN_DISTANCE_FRACTION of the sum
    of their radii."""
    from ase.neighborlist import neighbor_list

    radii = np.array([_RADIUS[s] for s in atoms.get_chemical_symbols()])
    i, j, d = neighbor_list("ijd", atoms, 2 * MIN_DISTANCE_FRACTION * max(_RADIUS.values()))
    return bool(np.any(d < MIN_DISTANCE_FRACTION * (radii[i] + radii[j])))


def ordered_cuau(size: int = 4, a: float = 3.85):
    """L1_0-like CuAu: an fcc cell repeated ``size`` times per direction, Cu and Au layers
    alternating along z (a between the elements' lattice constants); ase.Atoms."""
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(size)
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[np.floor(atoms.positions[:, 2] / (a / 2) + 1e-6).astype(int) % 2 == 1] = "Au"
    atoms.set_chemical_symbols(symbols.tolist())
    return atoms


def make_example_data(outdir: str | Path, n: int = 200, seed: int = 0, ideal: bool = False) -> list[Path]:
    """Write ``n`` EMT-labelled Cu–Au structures as ænet XSF files.

    Parameters
    ----------
    outdir : str or Path
        Output directory (created if needed).
    n : int
        Number of structures.
    seed : int
        Seed of the numpy random generator (same seed -> same files).
    ideal : bool
        Also write the three ideal crystals, unrattled and unstrained: fcc Cu and Au at their
        lattice constants and L1_0 CuAu as in :func:`ordered_cuau` (``ideal_Cu.xsf``,
        ``ideal_Au.xsf``, ``ideal_CuAu.xsf``; after the ``n`` structures in the list).  Every
        MD run starts from such a perfect lattice, whose sharp neighbour shells put some
        features just beyond those of the rattled cells: training data want them, a test set
        (drawn with another seed) does not.

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
    if ideal:
        from ase.build import bulk
        from ase.calculators.emt import EMT

        crystals = {"Cu": bulk("Cu", "fcc", a=_A_CU, cubic=True),
                    "Au": bulk("Au", "fcc", a=_A_AU, cubic=True), "CuAu": ordered_cuau(1)}
        for name, atoms in crystals.items():
            atoms.calc = EMT()
            atoms.get_forces()  # fills atoms.calc.results: energy and forces
            path = outdir / f"ideal_{name}.xsf"
            write_xsf(path, Structure.from_ase(atoms))
            paths.append(path)
    logger.info("wrote %d structures to %s", len(paths), outdir)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", help="output directory for the XSF files")
    parser.add_argument("--n", type=int, default=200, help="number of structures (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--ideal", action="store_true",
                        help="also write the ideal Cu, Au and L1_0 CuAu crystals (training data)")
    parser.add_argument("--md-start", metavar="FILE", default=None,
                        help="also write the 256-atom ordered CuAu cell (start of the MD runs) as XSF")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    paths = make_example_data(args.outdir, n=args.n, seed=args.seed, ideal=args.ideal)
    sys.stdout.write(f"wrote {len(paths)} structures to {args.outdir}\n")
    if args.md_start:
        from anncli.io.xsf import write_xsf
        from anncli.structure import Structure

        write_xsf(args.md_start, Structure.from_ase(ordered_cuau()))
        sys.stdout.write(f"wrote the ordered CuAu cell to {args.md_start}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
