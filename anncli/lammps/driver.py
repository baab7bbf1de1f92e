"""LAMMPS drives the dynamics, anncli computes energy, forces and virial: ``fix external``.

This module owns :class:`LammpsSession`: one LAMMPS instance (serial), the potential, and
the callback that LAMMPS calls every step through ``fix ID all external pf/callback 1 1``.
The callback evaluates the potential on LAMMPS's atoms and hands back

* the forces (eV/Å) of every atom,
* the energy (eV, with the free-atom reference energies, as the ASE calculator gives it),
* the virial ``W = -V σ`` (eV; xx, yy, zz, xy, xz, yz) for the pressure, and
* the atomic energies, for ``compute pe/atom``;
* the fix's global vector: ``f_ID[1]`` the committee's energy spread (eV; 0 for one model)
  and ``f_ID[2]`` the number of atoms outside the training range (0 without the check),
  for ``thermo_style``, ``fix print`` or ``fix halt``.

anncli adds ``fix_modify ID energy yes virial yes`` right after the fix command, so that
``pe``, ``etotal`` and ``press`` include the potential (a later ``fix_modify`` in the script
still wins).  LAMMPS's box (orthogonal or triclinic, periodic or not in each direction) and
atom types go through as they are; atom type ``k`` is the ``k``-th species of ``types``.
Units must be LAMMPS's ``metal`` (eV, Å, ps), which are anncli's.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from anncli.exceptions import ConfigError
from anncli.lammps.library import new_lammps
from anncli.lammps.script import ExternalFix, split_script

logger = logging.getLogger(__name__)

__all__ = ["LammpsSession", "lammps_cell", "run_lammps"]


def lammps_cell(lmp) -> tuple[np.ndarray, np.ndarray]:
    """The box of a LAMMPS instance as anncli's cell (rows a, b, c; Å) and periodicity (3,) bool."""
    boxlo, boxhi, xy, yz, xz, periodicity, _ = lmp.extract_box()
    cell = np.array([[boxhi[0] - boxlo[0], 0.0, 0.0],
                     [xy, boxhi[1] - boxlo[1], 0.0],
                     [xz, yz, boxhi[2] - boxlo[2]]])
    return cell, np.array(periodicity, dtype=bool)


def _lammps_message(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return "; ".join(lines) or type(exc).__name__


class LammpsSession:
    """A serial LAMMPS instance whose ``fix external`` forces anncli computes.

    Parameters
    ----------
    model : str, Path, Model, Potential or dict of str to path
        The potential, as :func:`anncli.potential.evaluate.load_potential` takes it.
    types : sequence of str
        The species of LAMMPS atom types 1, 2, ... (e.g. ``["Ti", "O"]``).
    cmdargs : sequence of str
        LAMMPS command-line arguments (``-log``, ``-screen``, ``-var`` ...).
    extrapolation : bool
        Check every evaluation for atoms outside the training range and log a warning
        (at most ``max_warnings`` times).
    max_warnings : int

    Raises
    ------
    DataError
        A species of ``types`` that the potential does not have.
    ConfigError
        ``types`` empty or LAMMPS started on more than one MPI process.
    LammpsUnavailable
        LAMMPS cannot be loaded.

    Notes
    -----
    After :meth:`run_file` the instance stays open (``session.lmp``) until :meth:`close`,
    so a script or a test can read LAMMPS's thermo values, atoms and forces.
    """

    def __init__(self, model, types: Sequence[str], *, cmdargs: Sequence[str] = (),
                 extrapolation: bool = True, max_warnings: int = 10) -> None:
        from anncli.potential.evaluate import load_potential

        self.potential = load_potential(model)
        self.types = [str(t) for t in types]
        if not self.types:
            raise ConfigError("no species for the LAMMPS atom types: give one per type, e.g. --types Ti O")
        self._type_species = np.concatenate(
            [[-1], self.potential.species_index(self.types, "--types")]).astype(np.int32)
        self.extrapolation = extrapolation
        self.max_warnings = max_warnings
        self.n_warnings = 0
        self.n_calls = 0
        self.n_calls_extrapolating = 0
        self.fixes: list[str] = []
        self._error: BaseException | None = None
        self.lmp = new_lammps(cmdargs)
        if self.lmp.extract_setting("world_size") != 1:
            self.close()
            raise ConfigError("anncli's LAMMPS driver runs serially: start it without mpirun")

    # ------------------------------------------------------------------ running scripts
    def run_file(self, path: str | Path) -> None:
        """Run a LAMMPS input script (relative ``include``/``read_data`` paths: the current directory).

        Raises
        ------
        ConfigError
            The script has no usable ``fix ... external pf/callback``, uses other units than
            ``metal``, has an atom type without a species, or LAMMPS stops with an error.
        DataError
            The potential cannot evaluate a configuration (two atoms at the same position, ...).
        """
        self.run_string(read_script(path), str(path))

    def run_string(self, text: str, source: str = "<input>") -> None:
        """Run LAMMPS commands (a whole input script); see :meth:`run_file`."""
        for piece in split_script(text, source):
            self._commands(piece.text, source, piece.first_line)
            if piece.fix is not None:
                self._attach(piece.fix, source)

    def _commands(self, text: str, source: str, first_line: int) -> None:
        try:
            self.lmp.commands_string(text)
        except Exception as exc:  # LAMMPS reports every error as a plain Exception
            if self._error is None:
                raise ConfigError(f"{source}: LAMMPS stopped (in the commands from line {first_line} on): "
                                  f"{_lammps_message(exc)}") from None
        self._raise_callback_error()

    def _raise_callback_error(self) -> None:
        err, self._error = self._error, None
        if err is not None:
            raise err

    # ------------------------------------------------------------------ the fix
    def _attach(self, fix: ExternalFix, source: str) -> None:
        where = f"{source} line {fix.line}"
        lmp = self.lmp
        units = lmp.extract_global("units")
        if units != "metal":
            raise ConfigError(f"{where}: anncli potentials are in eV and Å: the script must use "
                              f"'units metal', it uses 'units {units}'")
        if lmp.extract_setting("dimension") != 3:
            raise ConfigError(f"{where}: anncli potentials need 'dimension 3'")
        ntypes = int(lmp.extract_global("ntypes"))
        if ntypes > len(self.types):
            given = " ".join(self.types)
            raise ConfigError(
                f"{where}: LAMMPS atom type {len(self.types) + 1} has no species: the box has {ntypes} "
                f"atom types and --types gives {len(self.types)} ({given}); give one species per type, "
                f"in type order")
        if ntypes < len(self.types):
            logger.warning("%s: the box has %d atom types; --types gives %d species (the last %s unused)",
                           where, ntypes, len(self.types), " ".join(self.types[ntypes:]))
        fix_id = lmp.expand(fix.fix_id) if "$" in fix.fix_id else fix.fix_id
        lmp.set_fix_external_callback(fix_id, self._callback, fix_id)
        lmp.command(f"fix_modify {fix_id} energy yes virial yes")
        lmp.fix_external_set_vector_length(fix_id, 2)  # f_ID[1], f_ID[2]: see _evaluate
        self.fixes.append(fix_id)
        logger.info("anncli computes the forces of fix %s (%s)", fix_id,
                    ", ".join(f"type {k + 1} = {s}" for k, s in enumerate(self.types[:ntypes])))

    def _callback(self, fix_id: str, step: int, nlocal: int, tag, x, f) -> None:
        """LAMMPS's ``fix external`` callback: set the forces, energy and virial of the step.

        An exception cannot travel through LAMMPS's C++ code: it is kept, the forces are set
        to zero, LAMMPS is told to end the run (a forced timeout), and the exception is
        raised once LAMMPS returns.
        """
        if self._error is not None:
            f[:] = 0.0
            return
        try:
            self._evaluate(fix_id, step, nlocal, tag, x, f)
        except BaseException as exc:  # noqa: BLE001 - re-raised after LAMMPS returns
            self._error = exc
            f[:] = 0.0
            self.lmp.force_timeout()

    def _evaluate(self, fix_id: str, step: int, nlocal: int, tag, x, f) -> None:
        lmp = self.lmp
        cell, pbc = lammps_cell(lmp)
        # atoms in atom-ID order, so that messages name atoms as LAMMPS numbers them
        tag = np.asarray(tag).reshape(-1)[:nlocal]
        order = np.argsort(tag, kind="stable")
        tag = tag[order]
        types = np.asarray(lmp.numpy.extract_atom("type"))[:nlocal][order]
        bad = (types < 1) | (types >= len(self._type_species))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ConfigError(f"LAMMPS atom {int(tag[k])} has atom type {int(types[k])}, which has no species: "
                              f"--types gives {len(self.types)} ({' '.join(self.types)})")
        by_id = nlocal == 0 or (tag[0] == 1 and tag[-1] == nlocal)
        label = f"LAMMPS step {step}" + ("" if by_id else " (atoms counted in atom-ID order)")
        res = self.potential.evaluate_arrays(
            np.ascontiguousarray(np.asarray(x)[order], dtype=np.float64), cell[None], pbc[None],
            np.array([0, nlocal], dtype=np.int64), self._type_species[types],
            forces=True, stress=True, extrapolation=self.extrapolation, labels=[label])
        f[order] = res.forces
        lmp.fix_external_set_energy_global(fix_id, float(res.energy[0]))
        w = 0.5 * (res.virial[0] + res.virial[0].T)
        lmp.fix_external_set_virial_global(fix_id, [w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])
        eatom = np.empty(nlocal)
        eatom[order] = res.atomic_energies
        lmp.lib.lammps_fix_external_set_energy_peratom(lmp.lmp, fix_id.encode(),
                                                       eatom.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
        # the fix's global vector: f_ID[1] the committee's energy spread (eV; 0 for one model),
        # f_ID[2] the number of atoms outside the training range
        spread = float(res.energy_members[:, 0].std()) if res.energy_members is not None else 0.0
        lmp.fix_external_set_vector(fix_id, 1, spread)
        lmp.fix_external_set_vector(fix_id, 2, float(len(res.extrapolation)))
        self.n_calls += 1
        ex = res.extrapolation
        if len(ex):
            self.n_calls_extrapolating += 1
            if self.n_warnings < self.max_warnings:
                self.n_warnings += 1
                k = int(np.argmax(np.abs(ex.value - np.clip(ex.value, ex.low, ex.high))))
                logger.warning("step %d: %d atom(s) outside the training range of the potential, e.g. "
                               "atom %d (%s): feature %s = %s%s", step, len(ex), int(tag[ex.atom[k]]), ex.species[k],
                               self.potential.feature_label(ex.species[k], int(ex.feature[k])),
                               ex.excess_text(k),
                               " (further warnings suppressed)" if self.n_warnings == self.max_warnings else "")

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the LAMMPS instance (the log file is complete afterwards)."""
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None

    def __enter__(self) -> "LammpsSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_script(path: str | Path) -> str:
    """The text of a LAMMPS input script.

    Raises
    ------
    ConfigError
        If it cannot be read.
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the LAMMPS input script: {exc}") from None


def run_lammps(script: str | Path, model, types: Sequence[str], *, cmdargs: Sequence[str] = (),
               extrapolation: bool = True) -> dict:
    """Run a LAMMPS input script with anncli computing the forces of its external fix.

    Parameters
    ----------
    script : str or Path
        The LAMMPS input script (``units metal``, a ``fix ID all external pf/callback 1 1``).
    model, types, cmdargs, extrapolation
        See :class:`LammpsSession`.

    Returns
    -------
    dict
        ``calls`` (evaluations of the potential) and ``calls_extrapolating`` (those with an
        atom outside the training range).
    """
    text = read_script(script)
    split_script(text, str(script))  # the script's errors before LAMMPS starts
    with LammpsSession(model, types, cmdargs=cmdargs, extrapolation=extrapolation) as session:
        session.run_string(text, str(script))
        return {"calls": session.n_calls, "calls_extrapolating": session.n_calls_extrapolating}
