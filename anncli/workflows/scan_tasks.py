"""The tasks of ``anncli scan``: one descriptor point generated, one training, one timing.

This module owns what runs for one grid point (through the Python API of generate and
train, never as commands), the files it leaves (``generate.json``, ``result.json``, written
atomically when the task is complete) and how tasks are run: in this process, in
``n_workers`` spawned processes, or handed out over MPI ranks
(:func:`anncli.parallel.pipeline.ordered_map`, each task run whole by one rank).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from anncli.exceptions import InputError

logger = logging.getLogger(__name__)

__all__ = ["generate_point", "train_point", "time_predict", "run_phase", "validation_structures"]

def _write_json(path: Path, data) -> None:
    from anncli.io.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, default=str)


def _read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


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
    from anncli.parallel.mpi import launcher_rank

    record = {"point": name, "rank": launcher_rank(), "n_structures": res.n_structures, "n_atoms": res.n_atoms, "seconds": res.seconds,
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
    from anncli.parallel.mpi import launcher_rank
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
            res = train_workflow.run(cfg, config_path=config_path, plot=False)
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
              "n_validation": len(validation), "train_seconds": time.perf_counter() - t0, "rank": launcher_rank()}
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


def validation_structures(trainset: Path, ids) -> list:
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


def _mpi_compute(item: tuple):
    """One task on the rank it was handed to; inside it the stage code sees one rank."""
    from anncli.parallel.mpi import serial_world

    _key, fn, args = item
    with serial_world():
        return fn(*args)


def run_phase(comm, tasks: list[tuple], n_workers: int, on_done) -> None:
    """Run ``(key, function, args)`` tasks: over the MPI ranks when there are several (every
    rank calls this right after a checkpoint; ``tasks`` matter on rank 0 only, ``on_done`` is
    called there in task order), else :func:`_run_tasks`."""
    if comm.parallel:
        from anncli.parallel import ordered_map

        ordered_map(comm, tasks if comm.root else None, _mpi_compute,
                    (lambda item, res: on_done(item[0], res)) if comm.root else None)
    else:
        _run_tasks(tasks, n_workers, on_done)
