"""Geometry optimisation with a potential (ænet predict.x's RELAX), through ASE optimisers.

This module owns :func:`relax_structure`: one structure, positions only (the cell is kept),
with ``ase.optimize.BFGS`` or ``FIRE`` driven by :class:`anncli.calculator.ANNCalculator`.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["relax_structure", "OPTIMIZERS"]

OPTIMIZERS = ("BFGS", "FIRE")


def relax_structure(potential, structure, *, optimizer: str = "BFGS", fmax: float = 0.05,
                    steps: int = 200):
    """Relax the atomic positions of one structure.

    Parameters
    ----------
    potential : Potential
    structure : Structure
    optimizer : str
        ``"BFGS"`` or ``"FIRE"`` (:mod:`ase.optimize`).
    fmax : float, eV/Å
        Convergence threshold on the largest atomic force.
    steps : int
        Maximum number of optimiser steps.

    Returns
    -------
    relaxed : Structure
        Same atoms, cell and provenance, relaxed positions (reference energy/forces dropped).
    info : dict
        ``converged`` (bool), ``steps`` (int), ``initial_energy`` (eV), ``fmax`` (eV/Å).
    """
    from ase.optimize import BFGS, FIRE

    from anncli.calculator import ANNCalculator
    from anncli.structure import Structure

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
    atoms = Structure(structure.symbols, structure.positions, structure.cell, structure.pbc).to_ase()
    atoms.calc = ANNCalculator(potential, extrapolation=False)
    e0 = float(atoms.get_potential_energy())
    opt = {"BFGS": BFGS, "FIRE": FIRE}[optimizer](atoms, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    n_steps = int(opt.get_number_of_steps())
    f = atoms.get_forces()
    if not converged:  # ASE returns False when steps ran out; double-check on the final forces
        converged = bool(np.sqrt((f**2).sum(axis=1)).max() < fmax)
    relaxed = Structure(structure.symbols, atoms.get_positions(), structure.cell, structure.pbc,
                        source=structure.source, frame=structure.frame)
    logger.debug("%s: relaxed in %d steps (%s)", structure.label, n_steps,
                 "converged" if converged else "not converged")
    return relaxed, {"converged": converged, "steps": n_steps, "initial_energy": e0, "fmax": fmax}
