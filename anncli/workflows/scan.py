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
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError
from anncli.workflows.scan_tasks import (_read_json, _write_json, generate_point, run_phase, time_predict,
                                         train_point, validation_structures)

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
    from anncli.parallel import world

    comm = world()  # MPI: every rank expands the grid; rank 0 hands out the points (anncli.parallel)
    dpoints, npoints = expand_grid(config, source=source)
    fp = fingerprint(config, dpoints, npoints)
    out_dir = Path(config.output_dir)
    k = config.folds
    root = comm.root
    result = ScanResult()
    with comm.checkpoint():
        if root:
            out_dir.mkdir(parents=True, exist_ok=True)
            _check_state(out_dir, fp, config.overwrite, source)
            _write_json(out_dir / STATE_FILE, {
                "version": STATE_VERSION, "fingerprint": fp, "folds": k,
                "descriptor_points": [{"name": p.name, "settings": p.settings, "n_features": p.n_features}
                                      for p in dpoints],
                "networks": [{"name": p.name, "settings": p.settings} for p in npoints]})
            how = f"{comm.size} MPI ranks" if comm.parallel else f"{config.n_workers} worker(s)"
            logger.info("scan: %d descriptor point(s) x %d architecture(s) = %d points, %s, %s, output %s",
                        len(dpoints), len(npoints), len(dpoints) * len(npoints),
                        f"{k} folds" if k > 1 else "one fixed split", how, out_dir)

    # 2. generate
    gen_records: dict[str, dict] = {}
    todo: list[tuple] = []
    with comm.checkpoint():
        if root:
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

        run_phase(comm, todo, config.n_workers, gen_done)

    # 3. the split (d0's structures; every point has the same) and 4. train
    results: dict[tuple, dict] = {}
    todo = []
    with comm.checkpoint():
        if root:
            first = gen_records[dpoints[0].name]
            for p in dpoints[1:]:
                check_same_structures(first, gen_records[p.name], p.name)
            parents = _trainset_parents(out_dir / dpoints[0].name / "trainset.h5")
            splits = make_splits(parents, k, config.train.validation_fraction, config.train.seed)
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

        run_phase(comm, todo, config.n_workers, train_done)
    if not root:  # the other ranks are done: rank 0 times the points and writes the table
        return result

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
                    structures[dp.name] = validation_structures(out_dir / dp.name / "trainset.h5", splits[0])
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
