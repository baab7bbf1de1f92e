"""``anncli validate``: errors of a potential on labelled test structures, with plots and a report.

Data flow: the potential is loaded once (as in predict); the test structure files are read
one by one and evaluated in batches of ``batch_atoms`` atoms; per structure the predicted
and reference energies, forces and the extrapolation grade are kept (arrays, a few numbers
per atom).  At the end :mod:`anncli.validation.metrics` turns them into statistics,
:mod:`anncli.validation.plots` into PNG figures and :mod:`anncli.validation.report` into
``report.html`` and ``report.json``; every file of ``output_dir`` is written under a
temporary name and renamed once all of them are ready, so a failed run leaves no report.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anncli.exceptions import DataError
from anncli.io.atomic import write_files_atomically

logger = logging.getLogger(__name__)

__all__ = ["run", "ValidateResult", "STRUCTURE_COLUMNS"]

#: Columns of structures.csv (one row per test structure, sorted by |error_per_atom_meV|).
STRUCTURE_COLUMNS = [
    "rank", "index", "source", "frame", "n_atoms", "energy_ref", "energy_pred", "cohesive_energy_per_atom_ref",
    "error_per_atom_meV", "force_rmse", "force_max_error", "n_extrapolating", "extrapolating_fraction",
    "extrapolation_grade", "energy_std_per_atom_meV", "max_forces_std",
]
#: Columns of extrapolation.csv (one row per extrapolating atom, worst first).
EXTRAPOLATION_COLUMNS = [
    "index", "source", "frame", "atom", "species", "feature", "value", "train_min", "train_max", "grade",
    "n_features_out",
]
#: Missing-energy files named in the error message.
MAX_NAMED = 5


@dataclass
class ValidateResult:
    """What :func:`run` measured and wrote.

    Attributes
    ----------
    report : dict
        Everything in report.json (statistics, worst structures, extrapolation summary).
    n_structures, n_atoms : int
    outputs : list of Path
        Files written.
    seconds : float
    exit_code : int
    """

    report: dict = field(default_factory=dict)
    n_structures: int = 0
    n_atoms: int = 0
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    exit_code: int = 0


class _Collector:
    """Per-structure numbers of the whole test set, gathered batch by batch."""

    def __init__(self, potential, config) -> None:
        self.pot, self.cfg = potential, config
        self.rows: list[dict] = []
        self.f_pred: list[np.ndarray] = []
        self.f_ref: list[np.ndarray] = []
        self.f_symbols: list[str] = []
        self.f_spread: list[np.ndarray] = []  # committee: per-atom force spread of those atoms
        self.s_pred: list[np.ndarray] = []  # stress (3, 3) of structures with a reference stress
        self.s_ref: list[np.ndarray] = []
        self.ex_rows: list[list] = []
        self.extrapolating: list = []  # (structure, prediction) of structures with extrapolating atoms
        self.missing_energy: list[str] = []

    def evaluate(self, structures: list) -> tuple:
        """``(predictions, extrapolation)`` of a batch, its atom distances checked."""
        cfg = self.cfg
        committee = self.pot.n_members > 1
        want_stress = cfg.forces and any(s.stress is not None for s in structures)
        preds, ex = self.pot.evaluate(structures, forces=cfg.forces, stress=want_stress, extrapolation=True,
                                      batch_atoms=1 << 62, committee_forces=committee and cfg.forces)
        for s, p in zip(structures, preds):
            if cfg.min_distance and p.min_distance < cfg.min_distance:
                from anncli.io import check_min_distance

                check_min_distance(s, cfg.min_distance)  # names the pair
        return preds, ex

    def add(self, structures: list, evaluated: tuple) -> None:
        """Add the numbers of a batch evaluated by :meth:`evaluate` (rank 0, in input order)."""
        cfg = self.cfg
        preds, ex = evaluated
        first = len(self.rows)
        for s, p in zip(structures, preds):
            n = s.n_atoms
            ref_coh = s.energy - (p.energy - p.cohesive_energy)  # the model's free-atom energies
            row = {
                "index": len(self.rows), "source": s.source, "frame": s.frame, "n_atoms": n,
                "energy_ref": float(s.energy), "energy_pred": p.energy, "cohesive_energy_per_atom_ref": ref_coh / n,
                "error_per_atom_meV": 1000.0 * (p.energy - s.energy) / n,
                "force_rmse": float("nan"), "force_max_error": float("nan"),
                "n_extrapolating": p.n_extrapolating, "extrapolating_fraction": p.n_extrapolating / n,
                "extrapolation_grade": p.extrapolation_grade,
                "energy_std_per_atom_meV": float("nan") if p.energy_std is None else 1000.0 * p.energy_std / n,
                "max_forces_std": float("nan") if p.forces_std is None else float(p.forces_std.max()),
            }
            if cfg.forces and s.forces is not None:
                d = p.forces - s.forces
                row["force_rmse"] = float(np.sqrt(np.mean(d * d)))
                row["force_max_error"] = float(np.abs(d).max())
                self.f_pred.append(p.forces)
                self.f_ref.append(s.forces)
                self.f_symbols.extend(s.symbols)
                if p.forces_std is not None:
                    self.f_spread.append(p.forces_std)
            if s.stress is not None and p.stress is not None:
                self.s_pred.append(p.stress)
                self.s_ref.append(s.stress)
            self.rows.append(row)
            if p.n_extrapolating:
                self.extrapolating.append((s, p))
        for k in range(len(ex)):
            i = first + int(ex.structure[k])
            sym, f = ex.species[k], int(ex.feature[k])
            self.ex_rows.append([
                i, self.rows[i]["source"], self.rows[i]["frame"], int(ex.atom[k]) + 1, sym,
                self.pot.feature_label(sym, f), float(ex.value[k]), float(ex.low[k]), float(ex.high[k]),
                float(ex.grade[k]), int(ex.n_features[k]),
            ])


def _evaluator(collector: _Collector):
    """The compute step of :func:`_read_and_evaluate` (run on every MPI rank)."""
    return lambda item: collector.evaluate(item[0]) if item[0] else None


def _read_and_evaluate(files: list[Path], config, collector: _Collector, comm=None) -> None:
    """Read the test set in batches and evaluate them (over the MPI ranks of ``comm``)."""
    from anncli.log import Progress
    from anncli.parallel import ordered_map, world
    from anncli.workflows.predict import MPI_BATCH_ATOMS, iter_config_structures

    comm = comm or world()
    batch_atoms = min(config.batch_atoms, MPI_BATCH_ATOMS) if comm.parallel else config.batch_atoms

    def batches():
        batch: list = []
        n_batch = 0
        for k, s in iter_config_structures(files, config):
            collector.pot.species_index(s.symbols, s.label)  # names a species the model lacks
            if s.energy is None:
                collector.missing_energy.append(s.label)
                continue
            if collector.missing_energy:
                continue  # keep reading to name every file without an energy
            batch.append(s)
            n_batch += s.n_atoms
            if n_batch >= batch_atoms:
                yield batch, k, n_batch
                batch, n_batch = [], 0
        yield (batch if not collector.missing_energy else []), len(files), n_batch

    files_done = 0
    with Progress(total=len(files), desc="validate", unit="files", rate_unit="atoms") as progress:

        def add(item: tuple, evaluated: tuple | None) -> None:
            nonlocal files_done
            if evaluated is not None:
                collector.add(item[0], evaluated)
            progress.update(item[1] - files_done, work=item[2])
            files_done = item[1]

        comm.sync()
        ordered_map(comm, batches(), _evaluator(collector), add)
    if collector.missing_energy:
        names = collector.missing_energy
        more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
        raise DataError(
            f"{len(names)} test structure(s) have no reference energy, which validate needs: "
            f"{', '.join(names[:MAX_NAMED])}{more}"
        )
    if not collector.rows:
        raise DataError("the test set is empty: no structures were read from 'structures'")


def _training_energies(path: Path | None) -> np.ndarray | None:
    """Cohesive energies per atom of a training set (eV/atom), or None.

    For a Δ-learning training set the stored baseline energies are added back, so that the
    distribution is that of the reference energies, like the test set's.
    """
    if path is None:
        return None
    from anncli.io.trainset import open_trainset

    with open_trainset(path) as f:
        e = np.asarray(f["structures/cohesive_energy"][()], dtype=float)
        n = np.asarray(f["structures/n_atoms"][()], dtype=float)
        if "baseline_energy" in f["structures"]:
            e = e + np.asarray(f["structures/baseline_energy"][()], dtype=float)
    return e / n


def _statistics(col: _Collector) -> dict:
    from anncli.validation.metrics import energy_errors, force_errors, rank_correlation, stress_errors

    rows = col.rows
    pred = np.array([r["energy_pred"] for r in rows])
    ref = np.array([r["energy_ref"] for r in rows])
    n_atoms = np.array([r["n_atoms"] for r in rows])
    stats = {"energy": energy_errors(pred, ref, n_atoms), "forces": None, "stress": None}
    if col.s_pred:
        stats["stress"] = {**stress_errors(np.array(col.s_pred), np.array(col.s_ref)),
                           "n_structures": len(col.s_pred)}
    if col.f_pred:
        stats["forces"] = force_errors(np.concatenate(col.f_pred), np.concatenate(col.f_ref), col.f_symbols)
    grade = np.array([r["extrapolation_grade"] for r in rows])
    err = np.abs(np.array([r["error_per_atom_meV"] for r in rows]))
    n_ex = np.array([r["n_extrapolating"] for r in rows])
    stats["extrapolation"] = {
        "tolerance": col.cfg.extrapolation.tolerance,
        "n_atoms": int(n_ex.sum()),
        "n_structures": int(np.count_nonzero(n_ex)),
        "fraction_of_atoms": float(n_ex.sum() / n_atoms.sum()),
        "max_grade": float(grade.max()),
        "energy_error_rank_correlation": rank_correlation(grade, err),
    }
    inside = grade <= 0
    for name, mask in (("inside", inside), ("outside", ~inside)):
        e = err[mask]
        stats["extrapolation"][f"energy_rmse_meV_{name}"] = float(np.sqrt(np.mean(e * e))) if len(e) else None
    stats["committee"] = None
    if col.pot.n_members > 1:
        spread = np.array([r["energy_std_per_atom_meV"] for r in rows])
        c = {"members": col.pot.n_members, "energy_std_per_atom_meV_mean": float(spread.mean()),
             "energy_std_per_atom_meV_max": float(spread.max()),
             "energy_spread_error_rank_correlation": rank_correlation(spread, err)}
        if col.f_spread:
            f_err = np.linalg.norm(np.concatenate(col.f_pred) - np.concatenate(col.f_ref), axis=1)
            f_spread = np.concatenate(col.f_spread)
            c["forces_std_mean"] = float(f_spread.mean())
            c["force_spread_error_rank_correlation"] = rank_correlation(f_spread, f_err)
        stats["committee"] = c
    return stats


def _figures(col: _Collector, train_e: np.ndarray | None, stats: dict) -> dict[str, bytes]:
    from anncli.validation import plots

    rows = col.rows
    ref_pa = np.array([r["cohesive_energy_per_atom_ref"] for r in rows])
    err = np.array([r["error_per_atom_meV"] for r in rows])
    pred_pa = ref_pa + err / 1000.0
    e = stats["energy"]["per_atom_meV"]
    figs = {"energy_parity.png": plots.energy_parity_png(ref_pa, pred_pa, e["rmse"], e["mae"],
                                                          title="Cohesive energy per atom")}
    f_err = None
    if col.f_pred:
        fp, fr = np.concatenate(col.f_pred), np.concatenate(col.f_ref)
        fs = stats["forces"]["component"]
        figs["force_parity.png"] = plots.force_parity_png(fr, fp, fs["rmse"], fs["mae"])
        f_err = (fp - fr).ravel()
        figs["force_error_vs_magnitude.png"] = plots.force_error_vs_magnitude_png(
            np.linalg.norm(fr, axis=1), np.linalg.norm(fp - fr, axis=1))
    figs["error_histograms.png"] = plots.error_histograms_png(err, f_err)
    figs["energy_distribution.png"] = plots.energy_distribution_png(ref_pa, train_e)
    figs["error_vs_extrapolation.png"] = plots.error_vs_extrapolation_png(
        ref_pa, err, np.array([r["extrapolation_grade"] for r in rows]))
    if stats.get("committee"):
        f_pair = None
        if col.f_spread:
            f_pair = (np.concatenate(col.f_spread),
                      np.linalg.norm(np.concatenate(col.f_pred) - np.concatenate(col.f_ref), axis=1))
        figs["error_vs_committee_spread.png"] = plots.error_vs_spread_png(
            np.array([r["energy_std_per_atom_meV"] for r in rows]), err, f_pair)
    return figs


def csv_text(header: list[str], rows: list[list]) -> str:
    """A CSV file's text (floats with 10 significant digits)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow([f"{v:.10g}" if isinstance(v, float) else v for v in r])
    return buf.getvalue()


def _extrapolating_extxyz(col: _Collector) -> str:
    """The structures with extrapolating atoms, with their reference labels, as extended XYZ."""
    from ase.io import write

    buf = io.StringIO()
    for s, p in col.extrapolating:
        atoms = s.to_ase()
        atoms.info.update({"source": s.source, "frame": s.frame, "n_extrapolating": p.n_extrapolating,
                           "extrapolation_grade": p.extrapolation_grade})
        write(buf, atoms, format="extxyz")
    return buf.getvalue()


def run(config, *, config_path: str | Path | None = None, stdout=None) -> ValidateResult:
    """Run the validate stage.

    Parameters
    ----------
    config : ValidateConfig
        The validated input (:mod:`anncli.config.validate`); paths already resolved.
    config_path : path, optional
        The input file (relative structure entries are relative to its directory).
    stdout : text stream, optional
        Where the summary goes (default ``sys.stdout``).

    Returns
    -------
    ValidateResult

    Raises
    ------
    DataError
        A test structure without reference energy (all such files are named), an empty test
        set, a species the model lacks, overlapping atoms.
    """
    import numba

    from anncli.validation.report import render_html, summary_text
    from anncli.workflows.predict import baseline_record, load_config_potential, model_text

    t0 = time.perf_counter()
    stream = stdout if stdout is not None else sys.stdout
    potential = load_config_potential(config, config_path)
    base_dir = Path(config_path).parent if config_path else Path.cwd()
    out_dir = config.output_dir if Path(config.output_dir).is_absolute() else base_dir / config.output_dir
    report: dict = {
        "potential": model_text(config.model) if config.model is not None else
        {k: str(v) for k, v in config.aenet_networks.items()},
        "species": potential.species,
        "committee_members": potential.n_members,
        "baseline": baseline_record(potential),
        "trainset": None if config.trainset is None else str(config.trainset),
        "units": {"energy": "eV", "energy_per_atom_errors": "meV/atom", "force": "eV/Angstrom"},
        "statistics": None,
    }
    files_out: dict[str, str | bytes] = {}
    figures: dict[str, bytes] = {}
    old_threads = numba.get_num_threads()
    if config.n_threads:
        numba.set_num_threads(min(config.n_threads, numba.config.NUMBA_NUM_THREADS))
    from anncli.parallel import ordered_map, world

    comm = world()  # MPI: the test set's batches are evaluated on every rank, the rest on rank 0
    try:
        if not comm.root:
            if config.structures:
                comm.sync()
                ordered_map(comm, None, _evaluator(_Collector(potential, config)), None)
            if config.md is not None:
                comm.sync()
                ordered_map(comm, None, _md_runner(potential, config), None)
            return ValidateResult(report={})
        if config.structures:
            figures.update(_test_set(config, potential, base_dir, report, files_out))
        if config.candidates is not None:
            from anncli.validation.candidates import select_next

            report["candidates"] = select_next(config, potential, base_dir, files_out)
        if config.md is not None:
            report["md"] = _md_tests(config, potential, base_dir, files_out, figures)
    finally:
        numba.set_num_threads(old_threads)
    files_out.update(figures)
    report["figures"] = sorted(figures)
    report["files"] = sorted(set(files_out) | {"report.json", "report.html"})
    files_out["report.json"] = json.dumps(report, indent=1, allow_nan=True)
    files_out["report.html"] = render_html(report)
    result = ValidateResult(report=report, n_structures=report.get("n_structures", 0),
                            n_atoms=report.get("n_atoms", 0))
    result.outputs = write_files_atomically(out_dir, files_out)
    stream.write(summary_text(report))
    result.seconds = time.perf_counter() - t0
    logger.info("validate: done in %.2f s; report in %s", result.seconds, out_dir / "report.html")
    return result


def _test_set(config, potential, base_dir: Path, report: dict, files_out: dict) -> dict[str, bytes]:
    """Evaluate the labelled test set: statistics into ``report``, tables into ``files_out``;
    returns the figures."""
    from anncli.io import expand_sources

    files = expand_sources(list(config.structures), base_dir)
    train_e = _training_energies(config.trainset)
    logger.info("validate: %d test structure file(s), potential for %s", len(files), " ".join(potential.species))
    collector = _Collector(potential, config)
    _read_and_evaluate(files, config, collector)
    stats = _statistics(collector)
    rows = sorted(collector.rows, key=lambda r: -abs(r["error_per_atom_meV"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    ex_rows = sorted(collector.ex_rows, key=lambda r: -r[9])[: config.extrapolation.atoms_listed]
    report.update({
        "test_files": len(files),
        "n_structures": len(rows),
        "n_atoms": int(sum(r["n_atoms"] for r in rows)),
        "n_structures_with_forces": len(collector.f_pred),
        "statistics": stats,
        "worst_structures": [{k: r[k] for k in STRUCTURE_COLUMNS} for r in rows[: config.worst]],
    })
    files_out["structures.csv"] = csv_text(STRUCTURE_COLUMNS, [[r[k] for k in STRUCTURE_COLUMNS] for r in rows])
    files_out["extrapolation.csv"] = csv_text(EXTRAPOLATION_COLUMNS, ex_rows)
    if config.extrapolation.write and collector.extrapolating:
        files_out["extrapolating.extxyz"] = _extrapolating_extxyz(collector)
    return _figures(collector, train_e, stats) if config.plots else {}


def _md_runner(potential, config):
    """The compute step of :func:`_md_tests`: one MD run ``(k, start, temperature)`` (any rank)."""
    from anncli.validation.md import MDThresholds, run_md_test

    md = config.md
    th = MDThresholds(min_distance=md.min_distance, max_drift=md.max_drift, max_forces_std=md.max_forces_std)

    def run(job: tuple):
        k, s, temp = job
        return run_md_test(potential, s, temperature=temp, steps=md.steps, timestep=md.timestep,
                           ensemble=md.ensemble, friction=md.friction, interval=md.interval,
                           seed=md.seed + k, thresholds=th, label=f"{Path(s.source).name or s.label} @ {temp:g} K")
    return run


def _md_tests(config, potential, base_dir: Path, files_out: dict, figures: dict) -> dict:
    """Run the MD stability tests; per run a CSV (and PNG), failing frames in md_failures.extxyz.

    Under MPI the runs are shared out over the ranks (:func:`anncli.parallel.ordered_map`)."""
    from anncli.io import expand_sources
    from anncli.parallel import ordered_map, world
    from anncli.workflows.predict import iter_config_structures

    comm = world()

    md = config.md
    files = expand_sources(list(md.structures), base_dir)
    reader_cfg = config.model_copy(update={"format": md.format, "frames": md.frames,  # labels unused
                                           "energy": None, "energy_key": None, "forces_key": None})
    starts = [s for _, s in iter_config_structures(files, reader_cfg)]
    if not starts:
        raise DataError("md: no start structures were read from md.structures")
    runs, failed_frames = [], []
    from anncli.io import check_min_distance

    for s in starts:  # bad start structures are input errors before any run
        potential.species_index(s.symbols, s.label)
        check_min_distance(s, max(config.min_distance, 1e-6))
    jobs = [(len(md.temperatures) * i + j, s, temp) for i, s in enumerate(starts)
            for j, temp in enumerate(md.temperatures)]

    def record(job: tuple, run) -> None:  # rank 0, in the order of the runs
        k, s, temp = job
        columns = list(dict.fromkeys(key for r in run.records for key in r))
        files_out[f"md_{k:02d}.csv"] = csv_text(columns, [[r.get(c, "") for c in columns] for r in run.records])
        if config.plots:
            from anncli.validation.plots import md_run_png

            figures[f"md_{k:02d}.png"] = md_run_png(run.records, run.label, md.min_distance, run.failure)
        if run.failed:
            failed_frames.append(run.failed_frame)
        last = run.records[-1]
        runs.append({
            "run": k, "structure": s.source, "temperature": temp, "ensemble": md.ensemble,
            "steps_done": last["step"], "steps": md.steps, "failed": run.failed, "failure": run.failure,
            "min_distance": min(r["min_distance"] for r in run.records),
            "max_abs_drift_meV_atom": max(abs(r["drift_meV_atom"]) for r in run.records),
            "max_extrapolating": max(r["n_extrapolating"] for r in run.records),
            "max_forces_std": max((r.get("max_forces_std", float("nan")) for r in run.records), default=None),
            "csv": f"md_{k:02d}.csv",
        })

    comm.sync()
    ordered_map(comm, jobs, _md_runner(potential, config), record)  # the runs on every MPI rank
    if failed_frames:
        from ase.io import write

        buf = io.StringIO()
        for atoms in failed_frames:
            write(buf, atoms, format="extxyz")
        files_out["md_failures.extxyz"] = buf.getvalue()
    return {"runs": runs, "n_failed": sum(r["failed"] for r in runs), "min_distance_threshold": md.min_distance,
            "max_drift_threshold": md.max_drift if md.ensemble == "nve" else None}
