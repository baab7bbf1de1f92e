"""Small rattled Cu-Au cells labelled with ASE's EMT calculator, for tests (``from emt_data import ...``)."""

from __future__ import annotations

import numpy as np

from anncli.structure import Structure


def emt_structures(n: int, seed: int = 0, rattle: float = 0.08) -> list[Structure]:
    """``n`` fcc Cu cells (4 or 8 atoms) with ~40 % Au, positions rattled by ``rattle`` Å (σ),
    labelled with EMT energies (eV) and forces (eV/Å)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((1 + k % 2, 1, 1))
        atoms.symbols[rng.random(len(atoms)) < 0.4] = "Au"
        atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
        atoms.calc = EMT()
        out.append(Structure(list(atoms.symbols), atoms.positions, atoms.cell[:], (True,) * 3,
                             energy=atoms.get_potential_energy(), forces=atoms.get_forces()))
    return out
