"""Labelling many structures: in parallel, restartable, with failures recorded and not retried forever.

The work directory holds everything a rerun needs::

    work_dir/results/<key>.extxyz   one labelled structure per finished calculation
    work_dir/calc/<key>/            the calculation's own directory (input and output files of a
                                    command or a file-based calculator; removed when empty)
    work_dir/state.json             failed attempts per structure: {"failures": {key: {attempts, error}}}
    work_dir/failures.csv           the structures that failed, with the last error (rewritten every run)

A structure is identified by its *key*, a hash of its species, positions, cell and periodicity
(:func:`structure_key`): a rerun on the same or a longer list of structures (the active-learning
loop appends) computes only those without a result, and a structure that failed
``max_attempts`` times is listed but not tried again.  Results are written under a temporary
name and renamed, so a killed run never leaves a half-written result.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["LabelResult", "label_structures", "structure_key", "FAILURE_COLUMNS"]

#: Columns of failures.csv.
FAILURE_COLUMNS = ["index", "key", "structure", "attempts", "error"]
STATE_VERSION = 1


#: Decimals (Å) of positions and cell in :func:`structure_key`: a structure held in memory and the
#: same structure read back from an extxyz file (8 decimals) get the same key.
KEY_DECIMALS = 6


def _rounded(x) -> bytes:
    return (np.round(np.asarray(x, dtype=np.float64), KEY_DECIMALS) + 0.0).tobytes()  # + 0.0: no -0.0


def structure_key(atoms) -> str:
    """16 hex digits identifying a structure: species, positions and cell (to 1e-6 Å), periodicity."""
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(_rounded(atoms.positions))
    h.update(_rounded(atoms.cell[:]))
    h.update(np.asarray(atoms.pbc, dtype=np.uint8).tobytes())
    return h.hexdigest()[:16]


@dataclass
class LabelResult:
    """Outcome of :func:`label_structures`.

    Attributes
    ----------
    labelled : list of ase.Atoms or None
        One entry per input structure, in input order: the labelled copy (energy, forces,
        stress in a SinglePointCalculator; the input's ``info`` kept) or None if it failed.
    computed : int
        Calculations finished by this run.
    reused : int
        Structures whose result an earlier run had written.
    failures : list of dict
        ``{index, key, structure, attempts, error}`` of every structure without a result.
    skipped : int
        Failed structures not tried again (``max_attempts`` reached).
    failures_file : Path or None
        failures.csv in the work directory.
    """

    labelled: list = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    failures: list[dict] = field(default_factory=list)
    skipped: int = 0
    failures_file: Path | None = None

    @property
    def n_labelled(self) -> int:
        """Structures with a result."""
        return sum(a is not None for a in self.labelled)


def _compute(method, atoms, directory: Path, key: str, index: int) -> tuple[str, Any]:
    """Run one calculation; ``("ok", atoms)`` or ``("error", message)`` (also in worker processes)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        labelled = method.compute(atoms, directory, key=key, index=index)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is recorded, the others go on
        text = str(exc).strip().splitlines()
        return "error", f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    finally:
        try:
            directory.rmdir()  # only if empty (a calculator that wrote nothing)
        except OSError:
            pass
    return "ok", labelled


class _State:
    """failed attempts per key, saved atomically after every change."""

    def __init__(self, work_dir: Path) -> None:
        self.path = work_dir / "state.json"
        self.failures: dict[str, dict] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.failures = dict(data.get("failures", {}))
            except (OSError, ValueError, AttributeError) as exc:
                logger.warning("%s is unreadable (%s): failed attempts start from zero", self.path, exc)

    def attempts(self, key: str) -> int:
        return int(self.failures.get(key, {}).get("attempts", 0))

    def fail(self, key: str, error: str) -> int:
        entry = self.failures.setdefault(key, {"attempts": 0})
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        entry["error"] = error
        self.save()
        return entry["attempts"]

    def clear(self, key: str) -> None:
        if self.failures.pop(key, None) is not None:
            self.save()

    def save(self) -> None:
        from anncli.io.atomic import atomic_open

        with atomic_open(self.path, "w", encoding="utf-8") as fh:
            json.dump({"version": STATE_VERSION, "failures": self.failures}, fh, indent=1, sort_keys=True)


def _write_result(path: Path, atoms) -> None:
    from ase.io import write

    from anncli.io.atomic import atomic_open

    buf = io.StringIO()
    write(buf, atoms, format="extxyz")
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(buf.getvalue())


def _read_result(path: Path):
    from ase.io import read

    return read(str(path), index=0, format="extxyz")


def label_structures(
    structures: Sequence,
    method,
    work_dir: str | Path,
    *,
    workers: int = 1,
    max_attempts: int = 2,
    retry_failed: bool = False,
    names: Sequence[str] | None = None,
    desc: str = "label",
) -> LabelResult:
    """Label ``structures`` with ``method``; skip those done before, record failures.

    Parameters
    ----------
    structures : sequence of ase.Atoms
        Structures to compute (their calculators are ignored).
    method : CalculatorMethod or CommandMethod
        See :mod:`anncli.labelling.methods`.
    work_dir : str or Path
        Results, calculation directories and the failure record (created if needed).
    workers : int
        Calculations run at the same time, each in its own process (1: in this process).
    max_attempts : int
        A structure that failed this many times (over all runs) is not tried again.
    retry_failed : bool
        Forget earlier failed attempts and try every failed structure again.
    names : sequence of str, optional
        Name of every structure in messages (e.g. ``file@frame``); default ``structure <i>``.
    desc : str
        Name shown in the progress line.

    Returns
    -------
    LabelResult
    """
    from anncli.log import Progress

    work_dir = Path(work_dir)
    (work_dir / "results").mkdir(parents=True, exist_ok=True)
    names = list(names) if names is not None else [f"structure {i}" for i in range(len(structures))]
    keys = [structure_key(a) for a in structures]
    state = _State(work_dir)
    if retry_failed and state.failures:
        logger.info("%s: retrying %d structure(s) that failed before", desc, len(state.failures))
        state.failures = {}
        state.save()
    result = LabelResult(labelled=[None] * len(structures))
    todo: dict[str, int] = {}  # key -> first index (duplicates are computed once)
    exhausted: set[str] = set()
    for i, key in enumerate(keys):
        if key in todo or key in exhausted:
            continue
        if (work_dir / "results" / f"{key}.extxyz").is_file():
            continue
        if state.attempts(key) >= max_attempts:
            exhausted.add(key)
            continue
        todo[key] = i
    n_done_before = sum(1 for k in dict.fromkeys(keys) if k not in todo and k not in exhausted)
    result.skipped = len(exhausted)
    if exhausted:
        logger.warning("%s: %d structure(s) failed %d time(s) before and are not tried again (retry with "
                       "--retry-failed or a larger max_attempts)", desc, len(exhausted), max_attempts)
    logger.info("%s: %d structure(s), %d done before, %d to compute%s", desc, len(structures), n_done_before,
                len(todo), f" with {workers} workers" if workers > 1 and len(todo) > 1 else "")

    def finish(key: str, status: str, value: Any) -> None:
        i = todo[key]
        if status == "ok":
            _write_result(work_dir / "results" / f"{key}.extxyz", value)
            state.clear(key)
            result.computed += 1
        else:
            n = state.fail(key, value)
            logger.warning("%s: %s failed (attempt %d of %d): %s", desc, names[i], n, max_attempts, value)

    tasks = [(key, i) for key, i in todo.items()]
    with Progress(total=len(tasks), desc=desc, unit="structures", rate_unit="atoms") as progress:
        if workers <= 1 or len(tasks) <= 1:
            for key, i in tasks:
                status, value = _compute(method, structures[i], work_dir / "calc" / key, key, i)
                finish(key, status, value)
                progress.update(1, work=len(structures[i]))
        else:
            _run_pool(method, structures, tasks, work_dir, workers, finish, progress)

    try:
        (work_dir / "calc").rmdir()  # no calculation wrote files
    except OSError:
        pass
    failures = []
    for i, key in enumerate(keys):
        path = work_dir / "results" / f"{key}.extxyz"
        if path.is_file():
            atoms = _read_result(path)
            atoms.info = {**structures[i].info, "label_key": key}
            result.labelled[i] = atoms
        elif key in state.failures:
            entry = state.failures[key]
            failures.append({"index": i, "key": key, "structure": names[i], "attempts": entry.get("attempts", 0),
                             "error": entry.get("error", "")})
    result.reused = sum(1 for a in result.labelled if a is not None) - result.computed
    result.failures = failures
    result.failures_file = _write_failures(work_dir, failures)
    return result


def _run_pool(method, structures, tasks, work_dir: Path, workers: int, finish, progress) -> None:
    """Run ``tasks`` in ``workers`` spawned processes (no state shared with this process).

    At most ``workers`` tasks are in flight.  A worker that dies (a segfault, the out-of-memory
    killer) breaks the pool and every task in flight with it: those are then run again one at
    a time, each alone in a pool, so that only the structure that kills its worker is recorded
    as failed; the others continue in a new pool.
    """
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    queue = list(tasks)  # not started
    suspects: list = []  # in flight when a worker died
    while queue or suspects:
        alone = bool(suspects)
        n = 1 if alone else min(workers, len(queue))
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            running: dict = {}

            def refill() -> bool:
                """Start tasks up to ``n`` in flight; False if the pool broke meanwhile."""
                source = suspects if alone else queue
                while source and len(running) < n:
                    key, i = source.pop(0)
                    try:
                        fut = pool.submit(_compute, method, structures[i], work_dir / "calc" / key, key, i)
                    except BrokenProcessPool:  # a worker died after the last wait(): not this task's fault
                        source.insert(0, (key, i))
                        return False
                    running[fut] = (key, i)
                return True

            broken = not refill()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    key, i = running.pop(fut)
                    try:
                        status, value = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        if not alone:
                            suspects.append((key, i))
                            continue
                        status, value = "error", "the worker process died (a crash, or killed: out of memory?)"
                    finish(key, status, value)
                    progress.update(1, work=len(structures[i]))
                if not broken:
                    broken = not refill()


def _write_failures(work_dir: Path, failures: list[dict]) -> Path | None:
    from anncli.io.atomic import atomic_open

    path = work_dir / "failures.csv"
    if not failures:
        if path.exists():
            path.unlink()
        return None
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FAILURE_COLUMNS)
    for f in failures:
        w.writerow([f[c] for c in FAILURE_COLUMNS])
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(buf.getvalue())
    return path
