"""Ordered work distribution: rank 0 hands out items, all ranks compute, rank 0 emits in input order.

:func:`ordered_map` is how ``generate``, ``predict`` and ``validate`` split structures across
MPI ranks.  Rank 0 iterates over the items (batches of structures read from the input files,
or in generate with many files, groups of files that the rank computing the item reads),
hands them out to the workers (each holds one it computes and, once the items have proved
short, one queued, so that it never idles while rank 0 is busy; rank 0 computes an item
itself only when every worker's queue is full, so its reading and writing come first), and calls ``emit(item, result)`` for every item in input order, so the
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

from anncli.parallel.mpi import POLL_MAX_S, Comm, completed, picklable, wait

logger = logging.getLogger(__name__)

__all__ = ["ordered_map"]

_WORK, _RESULT, _FINAL = 7301, 7302, 7303  # message tags
_END = object()
_QUEUE = 2  # items a worker holds at most: one it computes, one queued ...
_QUEUE_BELOW_S = 0.5  # ... once the items have taken less than this on average: a queued
#                       item keeps a worker busy while rank 0 writes, but is a commitment;
#                       with long items (scan's trainings, validate's MD runs) it can leave
#                       the last item queued behind another while rank 0 is free (4 items on
#                       2 ranks: 3 item-times instead of 2)
_HELD = 3  # items on their way or waiting to be emitted, per rank, at most


def _recv(mpi, source: int, tag: int) -> Any:
    """Receive a message, sleeping between polls: MPI libraries busy-wait in a blocking
    receive, which would take a core from the reader thread or from another rank's threads."""
    delay = 1e-5
    while not mpi.iprobe(source=source, tag=tag):
        time.sleep(delay)
        delay = min(2 * delay, POLL_MAX_S)
    return mpi.recv(source=source, tag=tag)


def _p2p(mpi_comm):
    """The communicator for items and results: pickle protocol 5 with out-of-band buffers
    (mpi4py.util.pkl5), so that large arrays (features, derivatives) go as MPI messages of
    their own instead of being copied into and out of one pickle (generate with derivatives
    on 2 ranks: rank 0 spent 0.39 s receiving 0.36 GB in-band)."""
    from mpi4py.util import pkl5

    return pkl5.Intracomm(mpi_comm)


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


class _Entry:
    """An item on its way: computed by ``owner``; ``done`` once its result is on rank 0."""

    __slots__ = ("item", "owner", "result", "done")

    def __init__(self, item: Any, owner: int, result: Any = None, done: bool = False) -> None:
        self.item, self.owner, self.result, self.done = item, owner, result, done


def _root(comm: Comm, items, compute, emit, final) -> list[Any]:
    mpi, size = _p2p(comm.mpi), comm.size
    pending: deque[_Entry] = deque()  # in input order
    waiting: list[deque[_Entry]] = [deque() for _ in range(size)]  # each worker's items, sent order
    requests: list = []
    clock = {"read": 0.0, "compute": 0.0, "wait": 0.0, "emit": 0.0}  # rank 0's seconds
    worker_seconds = [0.0] * size  # compute seconds reported by each worker
    counts = [0] * size  # items computed by each rank

    def queue_depth() -> int:
        """Items a worker may hold: ``_QUEUE`` once the computed items were short, else 1."""
        done = counts[0] + sum(counts[w] - len(waiting[w]) for w in range(1, size))
        seconds = sum(worker_seconds) + clock["compute"]
        return _QUEUE if done and seconds / done < _QUEUE_BELOW_S else 1

    def take(worker: int, block: bool) -> bool:
        """Receive ``worker``'s oldest outstanding result (messages from one rank arrive in
        the order sent); without ``block`` only if it is there.  True if one was received."""
        if not block and not mpi.iprobe(source=worker, tag=_RESULT):
            return False
        t = time.perf_counter()
        ok, result, seconds = _recv(mpi, worker, _RESULT)
        clock["wait"] += time.perf_counter() - t
        entry = waiting[worker].popleft()
        entry.result, entry.done = (result if ok else _Failed(result)), True
        worker_seconds[worker] += seconds
        return True

    def collect() -> None:
        """Take in every result that is there."""
        for w in range(1, size):
            while waiting[w] and take(w, block=False):
                pass

    def emit_oldest() -> None:
        entry = pending.popleft()
        if isinstance(entry.result, _Failed):
            raise entry.result.error
        t = time.perf_counter()
        emit(entry.item, entry.result)
        clock["emit"] += time.perf_counter() - t

    def fetch() -> Any:
        t = time.perf_counter()
        item = next(iterator, _END)
        clock["read"] += time.perf_counter() - t
        return item

    # Rank 0's priorities, each turn: hand items to the workers with room (a worker holds one
    # it computes and, with short items, one queued, so it never idles while rank 0 writes or
    # computes), then
    # write the oldest result if it is in, and only then compute an item itself, never more
    # items than any worker has had (else it waits for a result).  So rank 0 computes what its
    # reading and writing leave time for, and does not take the last long items from an idle worker.
    iterator = iter(items)
    try:
        item = fetch()
        while item is not _END or pending:
            collect()
            while item is not _END and len(pending) < _HELD * size:
                worker = min(range(1, size), key=lambda w: len(waiting[w]))
                if len(waiting[worker]) >= queue_depth():
                    break
                requests = [r for r in requests if not completed(r)]
                requests.append(mpi.isend(item, dest=worker, tag=_WORK))
                entry = _Entry(item, worker)
                waiting[worker].append(entry)
                pending.append(entry)
                counts[worker] += 1
                item = fetch()
            if pending and pending[0].done:
                emit_oldest()
            elif item is not _END and len(pending) < _HELD * size and counts[0] < min(counts[1:]):
                t = time.perf_counter()
                pending.append(_Entry(item, 0, compute(item), True))
                clock["compute"] += time.perf_counter() - t
                counts[0] += 1
                item = fetch()
            elif pending:  # nothing to do but wait for the oldest item's result
                take(pending[0].owner, block=True)
    finally:
        # release the workers whatever happened: take in what they still send, then stop them
        for w in range(1, size):
            while waiting[w]:
                take(w, block=True)
        for r in requests:
            wait(r)
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


class _Failed:
    """A worker's exception, raised on rank 0 when its item's turn to be emitted comes."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _worker(comm: Comm, compute, final) -> None:
    mpi = _p2p(comm.mpi)
    failed = False
    busy = idle = 0.0
    sends: list = []  # results on their way to rank 0
    while True:
        t = time.perf_counter()
        item = _recv(mpi, 0, _WORK)
        idle += time.perf_counter() - t
        if item is None:
            break
        if failed:  # rank 0 raises the first error; the items after it are not computed
            sends.append(mpi.isend((False, None, 0.0), dest=0, tag=_RESULT))
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
        # Not waiting for the delivery: a large result is delivered only when rank 0 receives
        # it, and rank 0 may be computing an item of its own; the next (queued) item goes on
        # meanwhile (measured: the worker idled 40 % of generate on 2 ranks).
        sends = [r for r in sends if not completed(r)]
        sends.append(mpi.isend((*result, seconds), dest=0, tag=_RESULT))
    for r in sends:
        wait(r)
    logger.debug("ordered_map: rank %d computed for %.2f s, waited %.2f s", comm.rank, busy, idle)
    state: tuple[bool, Any] = (True, None)
    if final is not None:
        try:
            state = (True, final())
        except Exception as exc:  # noqa: BLE001
            state = (False, picklable(exc))
    _send(mpi, state, 0, _FINAL)
