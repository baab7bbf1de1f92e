"""``anncli predict``: energies, forces and stress of structures with a trained potential.

Data flow: the potential (anncli model file or ænet ``.nn`` files) is loaded once; structure
files (:mod:`anncli.io`) are read one by one and gathered into batches of ``batch_atoms``
atoms; each batch is checked (species, overlapping atoms), optionally relaxed, evaluated in
one engine call (:class:`anncli.potential.evaluate.Potential`) and written out: the
predict.x-like table on standard output, extxyz / CSV / JSON files (temporary names, renamed
when complete) and extrapolation warnings (capped, with totals) on the log.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from anncli.exceptions import DataError

logger = logging.getLogger(__name__)

WARM_UP_ATOMS = 8  # under MPI every rank first evaluates this many atoms of the first structure
MPI_BATCH_ATOMS = 4096  # under MPI: batches at most this large, shared out over the ranks

__all__ = ["run", "PredictResult", "load_config_potential", "iter_config_structures", "model_text"]


@dataclass
class PredictResult:
    """What :func:`run` did.

    Attributes
    ----------
    records : list of dict
        One per structure (the CSV columns).
    n_structures, n_atoms : int
    n_extrapolating_atoms, n_extrapolating_structures : int
    n_not_converged : int
        Relaxations that did not converge.
    outputs : list of Path
        Files written.
    seconds : float
    exit_code : int
    """

    records: list[dict] = field(default_factory=list)
    n_structures: int = 0
    n_atoms: int = 0
    n_extrapolating_atoms: int = 0
    n_extrapolating_structures: int = 0
    n_not_converged: int = 0
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    exit_code: int = 0


def model_text(model) -> str:
    """The ``model`` key for people: one path, or the committee's paths."""
    return ", ".join(str(m) for m in model) if isinstance(model, list) else str(model)


def load_config_potential(config, config_path=None):
    """The :class:`Potential` named by a :class:`PredictConfig` (``model`` or ``aenet_networks``).

    A baseline problem (a stored-labels model without ``baseline``, a calculator that is not
    installed) is a ConfigError naming ``config_path`` and the line of the key.
    """
    from anncli.exceptions import ConfigError
    from anncli.potential.evaluate import load_potential

    source = dict(config.aenet_networks) if config.aenet_networks is not None else config.model
    extra = {"baseline": config.baseline.model_dump()} if getattr(config, "baseline", None) is not None else {}
    try:
        potential = load_potential(source, extrapolation_tolerance=config.extrapolation.tolerance, **extra)
    except ConfigError as exc:
        from anncli.workflows.delta import in_input_file

        raise in_input_file(exc, config_path, "baseline" if extra else "model") from None
    if potential.baseline is not None:
        logger.info("Δ-learning model: its baseline %s is added to the networks' energies, forces and stress",
                    potential.baseline.describe())
    return potential


def baseline_record(potential) -> dict | None:
    """The baseline for the JSON outputs: its specification and ``included: true``, or None."""
    if potential.baseline is None:
        return None
    return {**potential.baseline.spec, "description": potential.baseline.describe(), "included": True}


def _header(config, potential) -> str:
    lines = [" " + "=" * 70, " anncli predict".center(71), " " + "=" * 70, ""]
    if config.aenet_networks is not None:
        for sym, path in config.aenet_networks.items():
            lines.append(f" Potential {sym:<4} : {path} (ænet)")
    else:
        lines.append(f" Potential      : {model_text(config.model)}")
    lines.append(f" Species        : {' '.join(potential.species)}")
    if potential.baseline is not None:
        lines.append(f" Baseline       : {potential.baseline.describe()}")
        lines.append("                  included: energies, forces and stress = baseline + networks")
    for sym in potential.species:
        setup = potential.setups[sym]
        net = potential.model.networks[sym]
        lines.append(f" {sym:<2} descriptor  : {setup.kind}, {setup.n_features} features, cutoff {setup.cutoff:g} Ang;"
                     f" network {'-'.join(str(n) for n in net.sizes)} ({', '.join(net.activations[:-1]) or 'linear'})")
    lines += ["", " " + "-" * 70, " Energy evaluation".center(71), " " + "-" * 70, "", ""]
    return "\n".join(lines)


class _Run:
    """State of one predict run (outputs, counters, warnings)."""

    def __init__(self, config, potential, stream: TextIO) -> None:
        self.cfg, self.pot, self.stream = config, potential, stream
        self.result = PredictResult()
        self.number = 0
        self.warned = 0
        self.outputs: dict = {}
        self.csv = None

    # ------------------------------------------------------------------ checks
    def check(self, s) -> None:
        self.pot.species_index(s.symbols, s.label)  # names a species the model lacks
        if self.cfg.relax is not None and self.cfg.min_distance > 0:
            from anncli.io import check_min_distance

            check_min_distance(s, self.cfg.min_distance)

    def _min_distance(self, s, d: float) -> None:
        if self.cfg.min_distance and d < self.cfg.min_distance:
            from anncli.io import check_min_distance

            check_min_distance(s, self.cfg.min_distance)  # names the pair
            raise DataError(f"{s.label}: two atoms are {d:.3g} Å apart (min_distance is {self.cfg.min_distance:g} Å)")

    # ------------------------------------------------------------------ batches
    def batch(self, structures: list) -> None:
        """Evaluate one batch and write it out (serial; MPI splits the two: :func:`run`)."""
        self.emit(structures, self.compute(structures))

    def compute(self, structures: list) -> tuple:
        """Relax (if asked) and evaluate a batch: ``(structures, predictions, extrapolation, relax info)``."""
        cfg = self.cfg
        relax_info: list[dict | None] = [None] * len(structures)
        if cfg.relax is not None:
            from anncli.potential.relax import relax_structure

            for k, s in enumerate(structures):
                structures[k], relax_info[k] = relax_structure(
                    self.pot, s, optimizer=cfg.relax.optimizer, fmax=cfg.relax.fmax, steps=cfg.relax.steps)
                if not relax_info[k]["converged"]:
                    logger.warning("%s: relaxation not converged after %d steps (fmax %g eV/Å)",
                                   s.label, relax_info[k]["steps"], cfg.relax.fmax)
        preds, ex = self.pot.evaluate(structures, forces=cfg.forces, stress=cfg.stress,
                                      committee_forces=self.pot.n_members > 1,
                                      extrapolation=cfg.extrapolation.check, batch_atoms=1 << 62)
        for s, p in zip(structures, preds):
            self._min_distance(s, p.min_distance)
        return structures, preds, ex, relax_info

    def emit(self, _batch: list, computed: tuple) -> None:
        """Write out a batch evaluated by :meth:`compute` (rank 0, in input order)."""
        from anncli.potential.output import csv_columns, csv_row, extxyz_frame, prediction_record, structure_report

        cfg = self.cfg
        structures, preds, ex, relax_info = computed
        self.result.n_not_converged += sum(1 for r in relax_info if r is not None and not r["converged"])
        self._warn(structures, ex)
        frames = []
        parts = []
        for s, p, r in zip(structures, preds, relax_info):
            self.number += 1
            if cfg.print != "none":
                parts.append(structure_report(self.number, s, p, atoms=cfg.print == "atoms", relax=r))
            rec = prediction_record(s, p)
            if r is not None:
                rec.update(relax_converged=r["converged"], relax_steps=r["steps"], initial_energy=r["initial_energy"])
            if cfg.output.json_ is not None:
                if p.stress is not None:
                    rec["stress"] = p.stress.tolist()
            self.result.records.append(rec)
            if self.csv is not None:
                extra = [] if r is None else [r["converged"], r["steps"], f"{r['initial_energy']:.8f}"]
                self.csv.writerow(csv_row(rec, csv_columns(self.pot.n_members > 1)) + extra)
            if "extxyz" in self.outputs or "relax" in self.outputs:
                info = None if r is None else {"relax_converged": r["converged"], "relax_steps": r["steps"]}
                frames.append(extxyz_frame(s, p, info))
            self.result.n_atoms += s.n_atoms
            self.result.n_structures += 1
        if parts:
            self.stream.write("".join(parts))
            self.stream.flush()
        if frames:
            text = "".join(frames)
            for key in ("extxyz", "relax"):
                if key in self.outputs:
                    self.outputs[key].fh.write(text)
        self.result.n_extrapolating_atoms += len(ex)
        self.result.n_extrapolating_structures += len(set(ex.structure.tolist()))

    def _warn(self, structures: list, ex) -> None:
        cap = self.cfg.extrapolation.max_warnings
        for k in np.lexsort((ex.atom, ex.structure)):
            if self.warned >= cap:
                break
            self.warned += 1
            s = structures[int(ex.structure[k])]
            sym = ex.species[k]
            more = int(ex.n_features[k]) - 1
            logger.warning(
                "%s: atom %d (%s): feature %s = %s%s",
                s.label, int(ex.atom[k]) + 1, sym, self.pot.feature_label(sym, int(ex.feature[k])),
                ex.excess_text(k),
                f" (and {more} more feature{'s' if more > 1 else ''})" if more > 0 else "",
            )
            if self.warned == cap:
                logger.warning("further extrapolation warnings are not listed (max_warnings %d); totals at the end", cap)

    # ------------------------------------------------------------------ end
    def summary(self) -> str:
        res = self.result
        lines = [f" Structures evaluated       : {res.n_structures}", f" Atoms                      : {res.n_atoms}"]
        errs = [(r["error"], r["n_atoms"]) for r in res.records if r["error"] is not None]
        if errs:
            e = np.array([x for x, _ in errs])
            n = np.array([m for _, m in errs])
            lines.append(f" With a reference energy    : {len(errs)}")
            lines.append(f" RMSE (energy)              : {math.sqrt(float((e**2).mean())):20.8f} eV")
            lines.append(f" RMSE (energy per atom)     : {1000 * math.sqrt(float(((e / n) ** 2).mean())):20.4f} meV/atom")
            lines.append(f" MAE (energy per atom)      : {1000 * float(np.abs(e / n).mean()):20.4f} meV/atom")
        if self.cfg.extrapolation.check:
            lines.append(f" Extrapolating atoms        : {res.n_extrapolating_atoms} in "
                         f"{res.n_extrapolating_structures} structure(s)")
        if self.cfg.relax is not None:
            lines.append(f" Relaxations not converged  : {res.n_not_converged}")
        return "\n".join(lines) + "\n"

    def json_document(self) -> dict:
        res = self.result
        return {
            "potential": model_text(self.cfg.model) if self.cfg.model is not None else
            {k: str(v) for k, v in self.cfg.aenet_networks.items()},
            "species": self.pot.species,
            "baseline": baseline_record(self.pot),
            "units": {"energy": "eV", "length": "Angstrom", "force": "eV/Angstrom", "stress": "eV/Angstrom^3"},
            "summary": {"n_structures": res.n_structures, "n_atoms": res.n_atoms,
                        "n_extrapolating_atoms": res.n_extrapolating_atoms,
                        "n_extrapolating_structures": res.n_extrapolating_structures,
                        "n_relax_not_converged": res.n_not_converged if self.cfg.relax is not None else None},
            "structures": res.records,
        }


def iter_config_structures(files: list[Path], cfg):
    """``(file number, Structure)`` of every selected frame of ``files``, read as ``cfg`` says
    (``format``, ``frames``, ``units``, ``energy``, ``energy_key``, ``forces_key``)."""
    from anncli.io import iter_structures
    from anncli.units import Units

    units = Units(energy=cfg.units.energy, length=cfg.units.length)
    for k, path in enumerate(files):
        for s in iter_structures(path, format=cfg.format, index=cfg.frames, units=units, energy=cfg.energy,
                                 energy_key=cfg.energy_key, forces_key=cfg.forces_key):
            yield k, s


def _batches(files: list[Path], config, state: _Run, batch_atoms: int):
    """``(structures, files read, atoms)`` of every batch of ``batch_atoms`` atoms (the last may
    be empty), the structures checked (:meth:`_Run.check`)."""
    batch: list = []
    n_batch = 0
    for k, s in iter_config_structures(files, config):
        state.check(s)
        batch.append(s)
        n_batch += s.n_atoms
        if n_batch >= batch_atoms:
            yield batch, k, n_batch
            batch, n_batch = [], 0
    yield batch, len(files), n_batch


def _warm_up(files: list[Path], cfg, potential) -> None:
    """Evaluate the first ``WARM_UP_ATOMS`` atoms of the first structure and forget the result (under MPI, as generate's
    ``_warm_up``: a worker's JIT start and kernel loading run beside rank 0's set-up instead
    of after it, in its first item).  Errors are left to the run."""
    from anncli.structure import Structure

    try:
        first = next(s for _, s in iter_config_structures(files[:1], cfg))
        n = min(first.n_atoms, WARM_UP_ATOMS)  # the same kernels as the whole structure
        s = Structure(list(first.symbols[:n]), first.positions[:n], first.cell, first.pbc)
        potential.evaluate([s], forces=cfg.forces, stress=cfg.stress, committee_forces=potential.n_members > 1,
                           extrapolation=cfg.extrapolation.check, batch_atoms=1 << 62)
    except Exception:  # noqa: BLE001 - the run itself reports what is wrong with the input
        pass


def run(config, *, config_path: str | Path | None = None, stdout: TextIO | None = None) -> PredictResult:
    """Run the predict stage.

    Parameters
    ----------
    config : PredictConfig
        The validated input (:mod:`anncli.config.predict`); paths already resolved.
    config_path : path, optional
        The input file (relative structure entries are relative to its directory).
    stdout : text stream, optional
        Where the table goes (default ``sys.stdout``).

    Returns
    -------
    PredictResult
    """
    import numba

    from anncli.io import expand_sources
    from anncli.log import Progress
    from anncli.potential.output import AtomicOutput, csv_columns

    from anncli.log import compile_seconds
    from anncli.parallel import ordered_map, world
    from anncli.parallel.files import FileGroup, group_files

    t0, c0 = time.perf_counter(), compile_seconds()
    stream = stdout if stdout is not None else sys.stdout
    potential = load_config_potential(config, config_path)
    base_dir = Path(config_path).parent if config_path else Path.cwd()
    files = expand_sources(list(config.structures), base_dir)
    logger.info("predict: %d structure file(s), potential for %s", len(files), " ".join(potential.species))
    state = _Run(config, potential, stream)
    old_threads = numba.get_num_threads()
    if config.n_threads:
        numba.set_num_threads(min(config.n_threads, numba.config.NUMBA_NUM_THREADS))
    outputs = state.outputs
    comm = world()  # MPI: rank 0 writes, every rank evaluates (anncli.parallel.pipeline, .files)
    batch_atoms = min(config.batch_atoms, MPI_BATCH_ATOMS) if comm.parallel else config.batch_atoms

    def compute(item) -> list | tuple | None:
        if isinstance(item, FileGroup):  # this rank reads the group's files
            return [state.compute(batch) for batch, _, _ in
                    _batches(files[item.start:item.stop], config, state, batch_atoms) if batch]
        return state.compute(item[0]) if item[0] else None

    if comm.parallel:  # every rank loads its kernels now, side by side (see _warm_up)
        _warm_up(files, config, potential)
    if not comm.root:
        try:
            comm.sync()
            ordered_map(comm, None, compute, None)
        finally:
            numba.set_num_threads(old_threads)
        return PredictResult()

    def here(path: Path) -> Path:  # defaults of omitted sections are not resolved by the loader
        return Path(path) if Path(path).is_absolute() else base_dir / path

    try:
        if config.output.extxyz is not None:
            outputs["extxyz"] = AtomicOutput(here(config.output.extxyz))
        if config.output.csv is not None:
            outputs["csv"] = AtomicOutput(here(config.output.csv), newline="")
            state.csv = csv.writer(outputs["csv"].fh)
            state.csv.writerow(csv_columns(potential.n_members > 1) + (["relax_converged", "relax_steps", "initial_energy"]
                                              if config.relax is not None else []))
        if config.relax is not None:
            outputs["relax"] = AtomicOutput(here(config.relax.output))
        if config.print != "none":
            stream.write(_header(config, potential))
        files_done = 0
        with Progress(total=len(files), desc="predict", unit="files", rate_unit="atoms") as progress:

            def emit(item, computed) -> None:
                nonlocal files_done
                if isinstance(item, FileGroup):
                    for batch in computed:
                        state.emit(None, batch)
                    progress.update(item.stop - files_done, work=sum(s.n_atoms for b in computed for s in b[0]))
                    files_done = item.stop
                    return
                if computed is not None:
                    state.emit(item[0], computed)
                progress.update(item[1] - files_done, work=item[2])
                files_done = item[1]

            groups = group_files(files, comm.size, batch_atoms,
                                 lambda f: sum(s.n_atoms for _, s in iter_config_structures([f], config)))
            if groups is not None:
                logger.info("  MPI: every rank reads its own files (%d groups of consecutive files)", len(groups))
            comm.sync()
            ordered_map(comm, groups or _batches(files, config, state, batch_atoms), compute, emit)
        if state.result.n_structures == 0:
            raise DataError("no structures to evaluate")
        if config.output.json_ is not None:
            outputs["json"] = AtomicOutput(here(config.output.json_))
            json.dump(state.json_document(), outputs["json"].fh, indent=1)
        summary = state.summary()
        if config.print != "none":
            stream.write(summary + "\n")
        for out in outputs.values():
            state.result.outputs.append(out.commit())
    finally:
        numba.set_num_threads(old_threads)
        for out in outputs.values():
            out.discard()
    res = state.result
    if res.n_extrapolating_atoms:
        logger.warning("%d atom(s) in %d structure(s) have features outside the training range of the potential; "
                       "their energies and forces are extrapolated", res.n_extrapolating_atoms,
                       res.n_extrapolating_structures)
    res.seconds = time.perf_counter() - t0
    compiling = compile_seconds() - c0  # a first run's Numba compilation is not throughput
    logger.info("predict: %d structures, %d atoms in %.2f s (%.1f µs/atom%s)", res.n_structures, res.n_atoms,
                res.seconds, 1e6 * (res.seconds - compiling) / max(res.n_atoms, 1),
                f"; {compiling:.0f} s compiling kernels not counted" if compiling >= 0.5 else "")
    return res
