"""``anncli scan``: model selection over descriptor settings and architectures (method.md §2, §4).

Steps, each skipped on a rerun where its output exists (a killed scan resumes):

1. expand the grid (:mod:`anncli.workflows.scan_grid`): every descriptor point and every
   architecture validated as a whole generate / train input before anything runs; the input
   fingerprint is compared with ``scan.json`` of a previous run (a different input is refused,
   or with ``overwrite: true`` the old scan is deleted);
2. generate every descriptor point once (``d<i>/trainset.h5``, ``d<i>/generate.json``);
3. the split from d0's training set: one fixed split or k folds, the same for every point;
4. train every architecture on every descriptor point's features for every fold
   (``d<i>/n<j>/fold<f>/``, finished when ``result.json`` exists); points run in
   ``n_workers`` processes;
5. time predict on the validation structures of fold 0, one point at a time after all
   trainings, so every point is timed under the same load (``d<i>/n<j>/timing.json``);
6. the table (``scan.csv``), ``scan.png`` and ``recommendation.txt``
   (:mod:`anncli.workflows.scan_report`).

Generate and train are called through their Python API (:mod:`anncli.workflows.generate`,
:mod:`anncli.workflows.train`), never as commands.  Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError, InputError

logger = logging.getLogger(__name__)

__all__ = ["run", "ScanResult", "STATE_FILE", "TABLE_FILE"]

STATE_FILE = "scan.json"
TABLE_FILE = "scan.csv"
PLOT_FILE = "scan.png"
RECOMMENDATION_FILE = "recommendation.txt"
STATE_VERSION = 1


@dataclass
class ScanResult:
    """What :func:`run` did.

    Attributes
    ----------
    rows : list of dict
        The table, one row per (descriptor point, architecture).
    recommended : str or None
        Point name (``d<i>n<j>``).
    reason : str
    generated, trained : int
        Descriptor points generated and trainings run by this call (0 for finished ones).
    table : Path
    """

    rows: list = field(default_factory=list)
    recommended: str | None = None
    reason: str = ""
    generated: int = 0
    trained: int = 0
    table: Path | None = None
    seconds: float = 0.0
    exit_code: int = 0


def _write_json(path: Path, data) -> None:
    from anncli.io.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, default=str)


def _read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- tasks
@contextlib.contextmanager
def _quiet():
    """Keep generate's and train's per-epoch lines out of a normal (not -v) scan log."""
    root = logging.getLogger("anncli")
    own = logging.getLogger(__name__)
    if root.getEffectiveLevel() < logging.INFO:  # -v, -vv: everything
        yield
        return
    old_root, old_own = root.level, own.level
    own.setLevel(root.getEffectiveLevel())
    root.setLevel(max(logging.WARNING, root.getEffectiveLevel()))
    try:
        yield
    finally:
        root.setLevel(old_root)
        own.setLevel(old_own)


def _named(exc: InputError, name: str) -> InputError:
    """The same input error, its message prefixed by the grid point."""
    new = type(exc)(f"grid point {name}: {exc}")
    return new


def _structures_digest(path: Path) -> str:
    from anncli.io.trainset import open_trainset

    h = hashlib.sha256()
    with open_trainset(path) as f:
        for key in ("structures/n_atoms", "structures/energy", "structures/parent"):
            h.update(np.ascontiguousarray(f[key][()]).tobytes())
    return h.hexdigest()[:16]


def generate_point(name: str, generate: dict, out_dir: str, config_path: str | None, n_features: dict) -> dict:
    """Generate one descriptor point's training set; write ``<out_dir>/<name>/generate.json``.

    Returns
    -------
    dict
        ``n_structures``, ``n_atoms``, ``seconds``, ``n_features``, ``content``.
    """
    from anncli.config.generate import GenerateConfig
    from anncli.config.loader import validate_config
    from anncli.workflows import generate as gen_workflow

    d = Path(out_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    data = dict(generate, output=str(d / "trainset.h5"), overwrite=True)
    try:
        cfg = validate_config(data, GenerateConfig, source=f"grid point {name}")
        with _quiet():
            res = gen_workflow.run(cfg, config_path=config_path)
    except InputError as exc:
        raise _named(exc, name) from None
    record = {"point": name, "n_structures": res.n_structures, "n_atoms": res.n_atoms, "seconds": res.seconds,
              "n_features": n_features, "content": _structures_digest(d / "trainset.h5")}
    _write_json(d / "generate.json", record)
    return record


def _force_rmse(results_csv: Path) -> float | None:
    """Validation force RMSE (meV/Å) over all force components, from train's results.csv."""
    import csv

    num = den = 0.0
    with results_csv.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("set") != "validation" or not row.get("force_rmse"):
                continue
            r = float(row["force_rmse"])
            if math.isfinite(r):
                n = 3 * int(row["n_atoms"])
                num += n * r * r
                den += n
    return 1000.0 * math.sqrt(num / den) if den else None


def train_point(name: str, train: dict, trainset: str, fold_dir: str, validation: list[int],
                config_path: str | None) -> dict:
    """Train one architecture on one descriptor point for one fold; write ``result.json``.

    A training error (NaN loss) is recorded as ``status: failed`` and does not stop the scan;
    an input error does (named with the point).
    """
    from anncli.config.loader import validate_config
    from anncli.config.train import TrainConfig
    from anncli.exceptions import TrainingError
    from anncli.potential.model_file import load_model
    from anncli.workflows import train as train_workflow

    d = Path(fold_dir)
    d.mkdir(parents=True, exist_ok=True)
    data = dict(train, trainset=trainset, output=str(d / "model.h5"), output_dir=str(d), overwrite=True,
                validation_set=list(validation))
    t0 = time.perf_counter()
    try:
        cfg = validate_config(data, TrainConfig, source=f"grid point {name}")
        with _quiet():
            res = train_workflow.run(cfg, config_path=config_path)
    except InputError as exc:
        raise _named(exc, name) from None
    except TrainingError as exc:
        record = {"point": name, "status": f"failed: {exc}", "train_seconds": time.perf_counter() - t0}
        _write_json(d / "result.json", record)
        return record
    model = load_model(d / "model.h5")
    record = {"point": name, "status": "done", "val_energy_rmse": float(res.val_rmse),
              "train_energy_rmse": float(res.train_rmse), "best_epoch": res.best_epoch, "epochs": res.epochs,
              "val_force_rmse": _force_rmse(d / "results.csv") if cfg.force_weight > 0 else None,
              "n_parameters": int(sum(net.n_params for net in model.networks.values())),
              "n_validation": len(validation), "train_seconds": time.perf_counter() - t0}
    _write_json(d / "result.json", record)
    return record


def _worker_init(threads: int) -> None:
    """A pool process: warnings only on stderr, ``threads`` Numba threads."""
    import numba

    from anncli.log import setup_logging

    setup_logging(-1)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _run_tasks(tasks: list[tuple], n_workers: int, on_done) -> None:
    """Run ``(key, function, args)`` tasks (serially, or in ``n_workers`` processes); call
    ``on_done(key, result)`` as each finishes.  The first error stops the scan (after the
    running tasks end; their results are kept)."""
    if n_workers <= 1 or len(tasks) <= 1:
        for key, fn, args in tasks:
            on_done(key, fn(*args))
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import numba

    threads = max(1, numba.config.NUMBA_NUM_THREADS // n_workers)
    ctx = multiprocessing.get_context("spawn")  # Numba's thread pools do not survive fork
    error = None
    with ProcessPoolExecutor(max_workers=min(n_workers, len(tasks)), mp_context=ctx,
                             initializer=_worker_init, initargs=(threads,)) as pool:
        pending = {pool.submit(fn, *args): key for key, fn, args in tasks}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    key = pending.pop(fut)
                    try:
                        on_done(key, fut.result())
                    except BaseException as exc:  # noqa: BLE001 - the first error is raised below
                        if error is None:
                            error = exc
                            for other in pending:
                                other.cancel()
        except BaseException:
            for other in pending:
                other.cancel()
            raise
    if error is not None:
        raise error


# ----------------------------------------------------------------------------- state
def _own_outputs(out_dir: Path) -> list[Path]:
    names = {STATE_FILE, TABLE_FILE, PLOT_FILE, RECOMMENDATION_FILE}
    out = [p for p in out_dir.iterdir() if p.name in names]
    out += [p for p in out_dir.iterdir() if p.is_dir() and p.name[:1] == "d" and p.name[1:].isdigit()]
    return out


def _check_state(out_dir: Path, fp: str, overwrite: bool, source) -> None:
    """Refuse (or, with overwrite, delete) a previous scan of another input in ``out_dir``."""
    state_path = out_dir / STATE_FILE
    if not state_path.is_file():
        return
    try:
        old = _read_json(state_path)
    except (OSError, ValueError):
        old = {}
    if old.get("fingerprint") == fp:
        return
    if not overwrite:
        raise ConfigError(f"{source}: output_dir {out_dir} holds a scan of a different input (the grid, the generate "
                          "or train keys, or folds changed); choose another output_dir, or set 'overwrite: true' to "
                          "delete that scan and start again")
    logger.warning("scan: the input changed since the scan in %s; overwrite: true, starting again", out_dir)
    for p in _own_outputs(out_dir):
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def _trainset_parents(path: Path) -> np.ndarray:
    from anncli.io.trainset import open_trainset, read_parents

    with open_trainset(path) as f:
        return read_parents(f)


def _validation_structures(trainset: Path, ids) -> list:
    """The structures of rows ``ids`` of a training set (positions, cell, species)."""
    from anncli.io.trainset import open_trainset, read_species
    from anncli.structure import Structure

    with open_trainset(trainset) as f:
        species = read_species(f)
        n = f["structures/n_atoms"][()]
        off = np.concatenate([[0], np.cumsum(n)])
        cells, pbcs = f["structures/cell"][()], f["structures/pbc"][()]
        spec, pos = f["atoms/species"][()], f["atoms/positions"][()]
    out = []
    for i in ids:
        a, b = off[i], off[i + 1]
        out.append(Structure([species[k] for k in spec[a:b]], pos[a:b], cells[i] if pbcs[i].any() else None,
                             tuple(bool(x) for x in pbcs[i]), source=f"{trainset}@{i}"))
    return out


def time_predict(model: Path, structures: list, repeats: int) -> float:
    """Predict time (µs per atom) of energies and forces: the fastest of ``repeats`` runs after a warm-up."""
    from anncli.potential.evaluate import load_potential

    pot = load_potential(str(model))
    n_atoms = sum(s.n_atoms for s in structures)
    pot.evaluate(structures, forces=True, stress=False, extrapolation=False)  # compile, allocate
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        pot.evaluate(structures, forces=True, stress=False, extrapolation=False)
        best = min(best, time.perf_counter() - t0)
    return 1e6 * best / max(n_atoms, 1)


# ----------------------------------------------------------------------------- table
def _row(dp, np_, folds: list[dict], timing: dict | None) -> dict:
    done = [r for r in folds if r.get("status") == "done"]
    failed = [r["status"] for r in folds if r.get("status") != "done"]

    def stats(key):
        vals = [r[key] for r in done if r.get(key) is not None]
        if not vals or len(done) < len(folds):
            return float("nan"), float("nan")
        return float(np.mean(vals)), (float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan"))

    e, e_sd = stats("val_energy_rmse")
    f, f_sd = stats("val_force_rmse")
    nf = dp.n_features
    row = {"point": f"{dp.name}{np_.name}", "descriptor": dp.name, "network": np_.name,
           "settings": " ".join(t for t in (_settings(dp.settings), _settings(np_.settings)) if t),
           **{k: _cell(v) for k, v in dp.settings.items()}, **{k: _cell(v) for k, v in np_.settings.items()},
           "n_features": (str(next(iter(nf.values()))) if len(set(nf.values())) == 1
                          else " ".join(f"{s}:{n}" for s, n in nf.items())),
           "n_features_total": int(sum(nf.values())),
           "n_parameters": done[0]["n_parameters"] if done else None,
           "val_energy_rmse": e, "val_energy_rmse_std": e_sd, "val_force_rmse": f, "val_force_rmse_std": f_sd,
           "train_seconds": float(np.mean([r["train_seconds"] for r in folds])) if folds else float("nan"),
           "predict_us_per_atom": timing["predict_us_per_atom"] if timing else float("nan"),
           "status": failed[0] if failed else "done"}
    return row


def _settings(settings: dict) -> str:
    from anncli.workflows.scan_grid import settings_text

    return settings_text(settings) if settings else ""


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _columns(config, forces: bool) -> list[str]:
    cols = ["point", "descriptor", "network", *config.grid.descriptors, *config.grid.networks,
            "n_features", "n_features_total", "n_parameters", "val_energy_rmse"]
    if config.folds > 1:
        cols.append("val_energy_rmse_std")
    if forces:
        cols += ["val_force_rmse"] + (["val_force_rmse_std"] if config.folds > 1 else [])
    return cols + ["train_seconds", "predict_us_per_atom", "pareto", "recommended", "status"]


# ----------------------------------------------------------------------------- run
def run(config, *, config_path: str | Path | None = None, stdout=None) -> ScanResult:
    """Run (or resume) a scan.

    Parameters
    ----------
    config : ScanConfig
    config_path : path, optional
        The input file (structure entries are relative to its directory; named in messages).
    stdout : text stream, optional
        Where the recommendation goes (default ``sys.stdout``).

    Returns
    -------
    ScanResult

    Raises
    ------
    ConfigError
        A grid value invalid for one point (named), an output_dir holding another scan.
    DataError
        Bad structures (as in generate), too few structures for the folds.
    """
    from anncli.log import VERBOSE, Progress
    from anncli.workflows.scan_grid import check_same_structures, expand_grid, fingerprint, make_splits
    from anncli.workflows.scan_report import (COSTS, METRICS, pareto_front, plot_scan, recommend,
                                              write_table)

    t0 = time.perf_counter()
    stream = stdout if stdout is not None else sys.stdout
    source = str(config_path) if config_path is not None else "<input>"
    cpath = str(Path(config_path).resolve()) if config_path is not None else None
    dpoints, npoints = expand_grid(config, source=source)
    fp = fingerprint(config, dpoints, npoints)
    out_dir = Path(config.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_state(out_dir, fp, config.overwrite, source)
    k = config.folds
    _write_json(out_dir / STATE_FILE, {
        "version": STATE_VERSION, "fingerprint": fp, "folds": k,
        "descriptor_points": [{"name": p.name, "settings": p.settings, "n_features": p.n_features} for p in dpoints],
        "networks": [{"name": p.name, "settings": p.settings} for p in npoints]})
    n_total = len(dpoints) * len(npoints)
    logger.info("scan: %d descriptor point(s) x %d architecture(s) = %d points, %s, %d worker(s), output %s",
                len(dpoints), len(npoints), n_total, f"{k} folds" if k > 1 else "one fixed split",
                config.n_workers, out_dir)
    result = ScanResult()

    # 2. generate
    gen_records: dict[str, dict] = {}
    todo = []
    for p in dpoints:
        f = out_dir / p.name / "generate.json"
        if f.is_file():
            gen_records[p.name] = _read_json(f)
        else:
            todo.append((p.name, generate_point, (p.name, p.generate, str(out_dir), cpath, p.n_features)))
    if len(todo) < len(dpoints):
        logger.info("scan: %d descriptor point(s) generated before; skipped", len(dpoints) - len(todo))
    with Progress(len(todo), "scan: generate", "descriptor points") if todo else contextlib.nullcontext() as progress:
        def gen_done(key, rec):
            gen_records[key] = rec
            result.generated += 1
            logger.log(VERBOSE, "scan: %s generated: %d structures, %.1f s", key, rec["n_structures"], rec["seconds"])
            progress.update(1)

        _run_tasks(todo, config.n_workers, gen_done)
    first = gen_records[dpoints[0].name]
    for p in dpoints[1:]:
        check_same_structures(first, gen_records[p.name], p.name)

    # 3. the split
    parents = _trainset_parents(out_dir / dpoints[0].name / "trainset.h5")
    splits = make_splits(parents, k, config.train.validation_fraction, config.train.seed)

    # 4. train
    results: dict[tuple, dict] = {}
    todo = []
    for dp in dpoints:
        for np_ in npoints:
            for f in range(k):
                fold_dir = out_dir / dp.name / np_.name / f"fold{f}"
                key = (dp.name, np_.name, f)
                if (fold_dir / "result.json").is_file():
                    results[key] = _read_json(fold_dir / "result.json")
                else:
                    todo.append((key, train_point, (f"{dp.name}{np_.name}", np_.train,
                                                    str(out_dir / dp.name / "trainset.h5"), str(fold_dir),
                                                    [int(i) for i in splits[f]], cpath)))
    if results:
        logger.info("scan: %d training(s) finished before; skipped", len(results))
    with Progress(len(todo), "scan: train", "trainings") if todo else contextlib.nullcontext() as progress:
        def train_done(key, rec):
            results[key] = rec
            result.trained += 1
            err = rec.get("val_energy_rmse")
            logger.log(VERBOSE, "scan: %s%s fold %d: %s", key[0], key[1], key[2],
                       f"validation {err:.4g} meV/atom, {rec['train_seconds']:.1f} s" if err is not None
                       else rec["status"])
            progress.update(1)

        _run_tasks(todo, config.n_workers, train_done)

    # 5. timing (serial: the same load for every point)
    timings: dict[tuple, dict] = {}
    structures: dict[str, list] = {}
    for dp in dpoints:
        for np_ in npoints:
            tfile = out_dir / dp.name / np_.name / "timing.json"
            model = out_dir / dp.name / np_.name / "fold0" / "model.h5"
            if tfile.is_file():
                timings[(dp.name, np_.name)] = _read_json(tfile)
            elif results[(dp.name, np_.name, 0)].get("status") == "done":
                if dp.name not in structures:
                    structures[dp.name] = _validation_structures(out_dir / dp.name / "trainset.h5", splits[0])
                us = time_predict(model, structures[dp.name], config.timing_repeats)
                timings[(dp.name, np_.name)] = {"predict_us_per_atom": us,
                                                "n_structures": len(structures[dp.name])}
                _write_json(tfile, timings[(dp.name, np_.name)])

    # 6. table, plot, recommendation
    rows = [_row(dp, np_, [results[(dp.name, np_.name, f)] for f in range(k)], timings.get((dp.name, np_.name)))
            for dp in dpoints for np_ in npoints]
    rc = config.recommend
    rule = rc.rule if rc.rule != "auto" else ("one_se" if k > 1 else "tolerance")
    chosen = recommend(rows, metric=rc.metric, cost=rc.cost, rule=rule, tolerance=rc.tolerance, folds=k)
    mean_col = METRICS[rc.metric][0]
    front = pareto_front([r.get(COSTS[rc.cost][0]) or float("nan") for r in rows], [r[mean_col] for r in rows])
    for i, r in enumerate(rows):
        r["pareto"] = "yes" if front[i] else ""
        r["recommended"] = "yes" if chosen is not None and i == chosen.index else ""
    forces = config.train.force_weight > 0
    write_table(out_dir / TABLE_FILE, rows, _columns(config, forces))
    reason = chosen.reason if chosen is not None else "No point finished with a finite error: nothing to recommend."
    from anncli.io.atomic import atomic_open

    with atomic_open(out_dir / RECOMMENDATION_FILE, "w", encoding="utf-8") as fh:
        fh.write(reason + "\n")
    if config.plots:
        try:
            plot_scan(out_dir / PLOT_FILE, rows, metric=rc.metric, cost=rc.cost, folds=k, chosen=chosen)
        except Exception as exc:  # noqa: BLE001 - a missing plot must not lose the table
            logger.warning("scan: %s not written: %s", PLOT_FILE, exc)
    state = _read_json(out_dir / STATE_FILE)
    state.update(recommended=rows[chosen.index]["point"] if chosen else None, reason=reason, finished=True)
    _write_json(out_dir / STATE_FILE, state)
    stream.write(reason + "\n")
    stream.write(f"scan: {len(rows)} points in {out_dir / TABLE_FILE}\n")
    result.rows = rows
    result.recommended = rows[chosen.index]["point"] if chosen else None
    result.reason = reason
    result.table = out_dir / TABLE_FILE
    result.seconds = time.perf_counter() - t0
    return result
