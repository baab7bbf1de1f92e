"""MD stability test: does a potential hold up in molecular dynamics?

A low test-set error says little about MD (method.md §5): a potential can pull atoms on top
of each other or heat up where it extrapolates.  :func:`run_md_test` runs Langevin or NVE
(velocity Verlet) dynamics through :class:`anncli.calculator.ANNCalculator` and records,
every ``interval`` steps, the energies and temperature, the shortest distance of every
species pair, the largest force, the number of extrapolating atoms and (committee) the
largest force spread.  It stops at the first failure: atoms closer than ``min_distance``,
an NVE energy drift beyond ``max_drift``, a force spread beyond ``max_forces_std``, or a
non-finite energy, and returns the failing frame.  Units: eV, Å, fs, K.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["MDThresholds", "MDRun", "run_md_test", "pair_min_distances"]


@dataclass
class MDThresholds:
    """Failure criteria of an MD stability run.

    Attributes
    ----------
    min_distance : float, Å
        Any two atoms closer than this fail the run.
    max_drift : float, meV/atom
        NVE only: |E_total(t) - E_total(0)| per atom beyond this fails the run.
    max_forces_std : float or None, eV/Å
        Committee only: an atom's force spread beyond this fails the run (None: not checked).
    """

    min_distance: float = 0.5
    max_drift: float = 10.0
    max_forces_std: float | None = None


@dataclass
class MDRun:
    """The record of one MD stability run.

    Attributes
    ----------
    label : str
        ``<structure> @ <T> K``.
    records : list of dict
        One per recorded step: ``step``, ``time_ps``, ``epot``, ``ekin``, ``etot`` (eV),
        ``temperature`` (K), ``drift_meV_atom``, ``min_distance`` (Å, any pair),
        ``min_<A>-<B>`` for every species pair, ``max_force`` (eV/Å), ``n_extrapolating``,
        and for a committee ``energy_std`` (eV) and ``max_forces_std`` (eV/Å).
    failed : bool
    failure : str
        Why and when it failed ("" if it did not).
    failed_frame : ase.Atoms or None
        The structure at the failing step.
    frames : list of ase.Atoms
        With ``keep_frames``: the structure at every recorded step (without the failing one),
        ``info`` with ``md_run`` and ``step`` (candidates for active learning).
    """

    label: str
    records: list[dict] = field(default_factory=list)
    failed: bool = False
    failure: str = ""
    failed_frame: object = None
    frames: list = field(default_factory=list)


def pair_min_distances(atoms, cutoff: float = 4.0) -> dict[str, float]:
    """Shortest distance (Å) of every species pair ``"A-B"`` (A <= B) within ``cutoff``
    (periodic images included; pairs not found within the cutoff are absent)."""
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, cutoff)
    symbols = np.array(atoms.get_chemical_symbols())
    out: dict[str, float] = {}
    if len(d) == 0:
        return out
    a, b = symbols[i], symbols[j]
    keys = np.where(a <= b, np.char.add(np.char.add(a, "-"), b), np.char.add(np.char.add(b, "-"), a))
    for key in np.unique(keys):
        out[str(key)] = float(d[keys == key].min())
    return out


def run_md_test(potential, structure, *, temperature: float, steps: int, timestep: float = 1.0,
                ensemble: str = "langevin", friction: float = 0.01, interval: int = 10, seed: int = 0,
                thresholds: MDThresholds | None = None, label: str = "", keep_frames: bool = False) -> MDRun:
    """Run MD with the potential and watch for failures.

    Parameters
    ----------
    potential : Potential
    structure : Structure
        Start configuration (velocities drawn from Maxwell-Boltzmann at ``temperature``).
    temperature : float, K
    steps : int
    timestep : float, fs
    ensemble : {"langevin", "nve"}
    friction : float, 1/fs
        Langevin friction.
    interval : int
        Record (and check) every this many steps.
    seed : int
        Seed of the velocities and the Langevin noise.
    thresholds : MDThresholds, optional
    label : str
    keep_frames : bool
        Keep a copy of the structure at every recorded step that did not fail (``MDRun.frames``).

    Returns
    -------
    MDRun
    """
    from ase import units
    from ase.md import velocitydistribution as vd
    from ase.md.langevin import Langevin
    from ase.md.verlet import VelocityVerlet

    from anncli.calculator import ANNCalculator

    th = thresholds or MDThresholds()
    atoms = structure.to_ase()
    atoms.calc = ANNCalculator(potential, extrapolation=True, max_warnings=0,
                               committee_forces=potential.n_members > 1)
    rng = np.random.default_rng(seed)
    # ASE >= 3.26 calls it thermalize_momenta; older versions MaxwellBoltzmannDistribution
    thermalize = getattr(vd, "thermalize_momenta", None) or vd.MaxwellBoltzmannDistribution
    thermalize(atoms, temperature_K=temperature, rng=rng)
    vd.Stationary(atoms)
    if ensemble == "nve":
        dyn = VelocityVerlet(atoms, timestep * units.fs)
    elif ensemble == "langevin":
        dyn = Langevin(atoms, timestep * units.fs, temperature_K=temperature, friction=friction / units.fs,
                       rng=rng, fixcm=False)
    else:
        raise ValueError(f"unknown ensemble {ensemble!r} (langevin or nve)")
    run = MDRun(label=label or f"{structure.label} @ {temperature:g} K")
    n = len(atoms)
    e0 = None

    def record() -> None:
        nonlocal e0
        step = dyn.nsteps
        epot = atoms.get_potential_energy()
        ekin = atoms.get_kinetic_energy()
        etot = epot + ekin
        if e0 is None:
            e0 = etot
        forces = atoms.get_forces()
        res = atoms.calc.results
        pairs = pair_min_distances(atoms, cutoff=max(4.0, 2 * th.min_distance))
        rec = {
            "step": step, "time_ps": step * timestep / 1000.0, "epot": epot, "ekin": ekin, "etot": etot,
            "temperature": ekin / (1.5 * n * units.kB), "drift_meV_atom": 1000.0 * (etot - e0) / n,
            "min_distance": min(pairs.values(), default=math.inf),
            "max_force": float(np.linalg.norm(forces, axis=1).max()),
            "n_extrapolating": int(res.get("n_extrapolating", 0)),
        }
        rec.update({f"min_{k}": v for k, v in pairs.items()})
        if "energy_std" in res:
            rec["energy_std"] = float(res["energy_std"])
        if "forces_std" in res:
            rec["max_forces_std"] = float(np.max(res["forces_std"]))
        run.records.append(rec)
        why = _failure(rec, th, ensemble)
        if why and not run.failed:
            run.failed = True
            run.failure = f"step {step} ({rec['time_ps']:.3f} ps): {why}"
            run.failed_frame = atoms.copy()
            run.failed_frame.info.update({"md_run": run.label, "step": step, "failure": why})
            raise _Stop
        if keep_frames:
            frame = atoms.copy()
            frame.calc = None
            frame.info.update({"md_run": run.label, "step": step})
            run.frames.append(frame)

    dyn.attach(record, interval=interval)  # also called at step 0
    try:
        dyn.run(steps)
    except _Stop:
        pass
    if run.failed:
        logger.warning("MD %s failed at %s", run.label, run.failure)
    else:
        logger.info("MD %s: %d steps without failure", run.label, steps)
    return run


class _Stop(Exception):
    """Raised inside the MD loop at the first failure."""


def _failure(rec: dict, th: MDThresholds, ensemble: str) -> str:
    if not all(math.isfinite(rec[k]) for k in ("epot", "ekin")):
        return "the energy is not finite"
    if rec["min_distance"] < th.min_distance:
        return f"atoms {rec['min_distance']:.3f} Å apart (threshold {th.min_distance:g} Å)"
    if ensemble == "nve" and abs(rec["drift_meV_atom"]) > th.max_drift:
        return f"energy drift {rec['drift_meV_atom']:+.2f} meV/atom (threshold {th.max_drift:g})"
    if th.max_forces_std is not None and rec.get("max_forces_std", 0.0) > th.max_forces_std:
        return f"committee force spread {rec['max_forces_std']:.3f} eV/Å (threshold {th.max_forces_std:g})"
    return ""
