"""Ordered work distribution: rank 0 hands out items, all ranks compute, rank 0 emits in input order.

:func:`ordered_map` is how ``generate``, ``predict`` and ``validate`` split structures across
MPI ranks.  Rank 0 iterates over the items (batches of structures read from the input files,
or in generate with many files, groups of files that the rank computing the item reads),
hands them out to the ranks (an idle worker first; rank 0 computes one itself while its own
reading, writing and computing time is below a worker's computing time; a worker may hold a
second, queued item), and calls ``emit(item, result)`` for every item in input order, so the
outputs are written by rank 0 alone and are the same bytes as a serial run's.  Writing stays on rank 0 (the
training set is *written in turn*, there is no merge step and no rank file).

Failures: an exception in ``compute`` on a worker is sent to rank 0 as the result and raised
there, in input order; whatever ends rank 0's loop (an error, Ctrl-C), rank 0 first receives
every result still on its way, then tells every worker to stop and collects their final
state, so no rank is left waiting.  Serially (one rank) it is a plain loop.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from typing import Any, Callable, Iterable

from anncli.parallel.mpi import POLL_MAX_S, Comm, picklable, wait

logger = logging.getLogger(__name__)

__all__ = ["ordered_map"]

_WORK, _RESULT, _FINAL = 7301, 7302, 7303  # message tags
_END = object()


def _recv(mpi, source: int, tag: int) -> Any:
    """Receive a message, sleeping between polls: MPI libraries busy-wait in a blocking
    receive, which would take a core from the reader thread or from another rank's threads."""
    delay = 1e-5
    while not mpi.iprobe(source=source, tag=tag):
        time.sleep(delay)
        delay = min(2 * delay, POLL_MAX_S)
    return mpi.recv(source=source, tag=tag)


def _send(mpi, obj: Any, dest: int, tag: int) -> None:
    """Send a message, sleeping between polls until it is delivered (see :func:`_recv`)."""
    wait(mpi.isend(obj, dest=dest, tag=tag))


def ordered_map(
    comm: Comm,
    items: Iterable[Any] | None,
    compute: Callable[[Any], Any],
    emit: Callable[[Any, Any], None],
    *,
    final: Callable[[], Any] | None = None,
) -> list[Any]:
    """Compute ``compute(item)`` for every item on some rank; ``emit`` them on rank 0 in order.

    Every rank must call it at the same point (right after a checkpoint, see
    :mod:`anncli.parallel.mpi`).

    Parameters
    ----------
    comm : Comm
        The ranks.
    items : iterable or None
        Rank 0: the items (consumed lazily).  Other ranks: ignored.
    compute : callable
        ``compute(item) -> result``, run on the rank the item went to.
    emit : callable
        ``emit(item, result)``, run on rank 0 for every item in input order.
    final : callable, optional
        ``final() -> state``, run on every rank after the last item (e.g. per-rank statistics).

    Returns
    -------
    list
        Rank 0: the ``final()`` states of all ranks (rank order; empty without ``final``).
        Other ranks: an empty list.

    Raises
    ------
    BaseException
        On rank 0: the first exception of ``compute`` (on any rank) or of ``emit``.
    """
    if not comm.parallel:
        for item in items or ():
            emit(item, compute(item))
        return [final()] if final is not None else []
    if comm.root:
        return _root(comm, items or (), compute, emit, final)
    _worker(comm, compute, final)
    return []


def _root(comm: Comm, items, compute, emit, final) -> list[Any]:
    mpi, size = comm.mpi, comm.size
    pending: deque = deque()  # (item, owner, local result), in input order
    inflight = [0] * size  # items sent to each worker and not yet received back
    requests: list = []
    clock = {"read": 0.0, "compute": 0.0, "wait": 0.0, "emit": 0.0}  # rank 0's seconds
    worker_seconds = [0.0] * size  # compute seconds reported by each worker
    sent_at: list[deque] = [deque() for _ in range(size)]  # when each in-flight item went out
    counts = [0] * size  # items computed by each rank

    def emit_oldest() -> None:
        item, owner, result = pending.popleft()
        if owner != 0:
            t = time.perf_counter()
            ok, result, seconds = _recv(mpi, owner, _RESULT)
            clock["wait"] += time.perf_counter() - t
            inflight[owner] -= 1
            sent_at[owner].popleft()
            worker_seconds[owner] += seconds
            if not ok:
                raise result
        t = time.perf_counter()
        emit(item, result)
        clock["emit"] += time.perf_counter() - t

    def choose() -> int:
        """Rank for the next item: an idle worker first; then rank 0 unless its own work
        (reading, writing, computing) already exceeds a worker's; then a worker with room
        for a second (queued) item."""
        workers = sorted(range(1, size), key=lambda w: (inflight[w], counts[w]))
        if inflight[workers[0]] == 0:
            return workers[0]
        now = time.perf_counter()  # a worker's time: reported, plus its current item so far
        busy_workers = sum(worker_seconds[w] + (now - sent_at[w][0] if sent_at[w] else 0.0)
                           for w in range(1, size)) / (size - 1)
        busy_root = clock["read"] + clock["emit"] + clock["compute"]
        if busy_root <= busy_workers or inflight[workers[0]] >= 2:
            return 0
        return workers[0]

    try:
        iterator = iter(items)
        while True:
            t = time.perf_counter()
            item = next(iterator, _END)
            clock["read"] += time.perf_counter() - t
            if item is _END:
                break
            while len(pending) >= 2 * size:
                emit_oldest()
            owner = choose()
            counts[owner] += 1
            if owner == 0:
                t = time.perf_counter()
                pending.append((item, 0, compute(item)))
                clock["compute"] += time.perf_counter() - t
            else:
                requests = [r for r in requests if not r.Test()]
                requests.append(mpi.isend(item, dest=owner, tag=_WORK))
                inflight[owner] += 1
                sent_at[owner].append(time.perf_counter())
                pending.append((item, owner, None))
        while pending:
            emit_oldest()
    finally:
        # release the workers whatever happened: take in what they still send, then stop them
        for _, owner, _ in pending:
            if owner != 0:
                _recv(mpi, owner, _RESULT)
        for r in requests:
            r.wait()
        for w in range(1, size):
            _send(mpi, None, w, _WORK)
        states = [_recv(mpi, w, _FINAL) for w in range(1, size)]
        logger.debug("ordered_map: %d items on %d ranks (%s); rank 0: %s; workers computed %s s",
                     sum(counts), size, "/".join(map(str, counts)),
                     ", ".join(f"{name} {sec:.2f} s" for name, sec in clock.items()),
                     "/".join(f"{sec:.2f}" for sec in worker_seconds[1:]))
    idle = [r for r in range(size) if counts[r] == 0]
    if idle and sum(counts):
        logger.warning("%d item(s) for %d MPI ranks: rank(s) %s had nothing to compute; use fewer ranks",
                       sum(counts), size, ", ".join(map(str, idle)))
    finals: list[Any] = []
    if final is not None:
        finals = [final()]
        for ok, state in states:
            if not ok:
                raise state
            finals.append(state)
    return finals


def _worker(comm: Comm, compute, final) -> None:
    mpi = comm.mpi
    failed = False
    busy = idle = 0.0
    while True:
        t = time.perf_counter()
        item = _recv(mpi, 0, _WORK)
        idle += time.perf_counter() - t
        if item is None:
            break
        if failed:  # rank 0 raises the first error; the items after it are not computed
            _send(mpi, (False, None, 0.0), 0, _RESULT)
            continue
        t = time.perf_counter()
        try:
            result = (True, compute(item))
        except Exception as exc:  # noqa: BLE001 - handed to rank 0, raised there
            failed = True
            exc.add_note(f"(raised on rank {comm.rank}: {traceback.format_exc()})")  # for --debug
            result = (False, picklable(exc))
        seconds = time.perf_counter() - t
        busy += seconds
        t = time.perf_counter()
        _send(mpi, (*result, seconds), 0, _RESULT)
        idle += time.perf_counter() - t
    logger.debug("ordered_map: rank %d computed for %.2f s, waited %.2f s", comm.rank, busy, idle)
    state: tuple[bool, Any] = (True, None)
    if final is not None:
        try:
            state = (True, final())
        except Exception as exc:  # noqa: BLE001
            state = (False, picklable(exc))
    _send(mpi, state, 0, _FINAL)
