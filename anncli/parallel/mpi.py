"""MPI: who am I, how many are we, and agreeing on failure (the only module that imports mpi4py).

anncli runs under ``mpiexec -n N`` / ``srun`` when mpi4py is installed (``pip install
"anncli[mpi]"``).  :func:`world` returns the process's :class:`Comm`: rank and size from MPI,
or rank 0 of 1 (the serial fallback, identical behaviour) when anncli was not started by an
MPI launcher.  mpi4py is imported only when a launcher's environment variables say so (or
``ANNCLI_MPI=1``), so a serial run never initialises MPI.  Started by a launcher with more
than one rank but without mpi4py, every rank stops with a :class:`ConfigError` instead of N
serial copies writing the same files.

Failure protocol (no rank may hang when another fails):

* ranks meet only at *checkpoints* (:meth:`Comm.agree`, :meth:`Comm.checkpoint`,
  :meth:`Comm.gather_arrays`, which carries each rank's failure with its data) and inside
  :func:`anncli.parallel.pipeline.ordered_map`, which hands a worker's exception to rank 0 as
  a result and always releases the workers;
* at a checkpoint every rank says whether it failed (one ``allgather``); if any did, every
  rank raises: rank 0 the error (a failure of rank r > 0 is re-raised as
  :class:`RankError` ``"rank r: message"`` with that rank's exit status), the others
  :class:`ReportedByRoot` (same exit status, nothing printed).  The exceptions are marked as
  agreed, so later checkpoints on the way out let them pass without communicating.

Threads per rank: unless ``NUMBA_NUM_THREADS`` is set, each rank uses
``cores // ranks on its node`` Numba threads (at least 1), so ranks × threads = cores; a
stage's ``n_threads`` key overrides this.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from anncli.exceptions import AnncliError, ConfigError

logger = logging.getLogger(__name__)

__all__ = ["Comm", "world", "completed", "wait", "launcher_size", "launcher_rank", "RankError", "ReportedByRoot", "exit_code_of",
           "serial_world"]

#: Environment variables by which MPI launchers announce the number of ranks.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE",
                  "SLURM_STEP_NUM_TASKS")
#: ... and this process's rank.
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMIX_RANK",
                  "SLURM_PROCID")

_AGREED = "_anncli_agreed"


class RankError(AnncliError):
    """A rank other than 0 failed; raised on rank 0 with that rank's message and exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ReportedByRoot(AnncliError):
    """Raised on ranks other than 0 when some rank failed: rank 0 prints the message.

    The command line exits with :attr:`exit_code` and prints nothing (``silent``).
    """

    silent = True

    def __init__(self, exit_code: int) -> None:
        super().__init__("")
        self.exit_code = exit_code


POLL_MAX_S = 0.001  # longest sleep between two tests of a pending request
SPIN_S = 0.002  # test without sleeping this long first: ranks of a balanced reduction arrive together


def completed(request: Any) -> bool:
    """True if ``request`` (an mpi4py request, or an ``mpi4py.util.pkl5`` one) has completed."""
    return bool(request.Test() if hasattr(request, "Test") else request.test()[0])


def wait(request: Any, spin: float = SPIN_S) -> None:
    """Wait for an MPI request: test it in a loop for ``spin`` seconds, then sleep between tests.

    MPI libraries busy-wait in blocking calls, which would take a core from a rank that is
    still working (ranks x threads = cores) when one rank arrives long before the others.
    Sleeping from the first test, though, costs every reduction a sleep's latency (Python's
    shortest sleep is ~60 µs, the back-off reaches 1 ms): measured 1 ms per training
    reduction against 20 µs for a blocking one.  A short spin catches the ranks of a balanced
    reduction, which arrive within microseconds to a few milliseconds of each other.
    """
    if completed(request):
        return
    end = time.perf_counter() + spin
    while time.perf_counter() < end:
        if completed(request):
            return
    delay = 1e-5
    while not completed(request):
        time.sleep(delay)
        delay = min(2 * delay, POLL_MAX_S)


def exit_code_of(exc: BaseException) -> int:
    """The exit status the command line gives ``exc`` (anncli.cli): 2 input, 130 interrupt, 1 other."""
    if isinstance(exc, AnncliError):
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return 130
    code = getattr(exc, "exit_code", None)  # click's exceptions
    return int(code) if isinstance(code, int) else 1


def _env_int(names: tuple[str, ...]) -> int | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


def launcher_size() -> int | None:
    """Number of ranks announced by an MPI launcher's environment (None: not started by one)."""
    return _env_int(SIZE_VARIABLES)


def launcher_rank() -> int:
    """This process's rank as announced by the launcher (0 when not started by one)."""
    return _env_int(RANK_VARIABLES) or 0


class Comm:
    """This process's place among the ranks, with the serial fallback.

    Parameters
    ----------
    mpi_comm : mpi4py.MPI.Comm or None
        None: serial (rank 0 of 1, no MPI).
    """

    def __init__(self, mpi_comm: Any = None) -> None:
        self.mpi = mpi_comm
        self.rank = 0 if mpi_comm is None else int(mpi_comm.Get_rank())
        self.size = 1 if mpi_comm is None else int(mpi_comm.Get_size())
        self.local_size = 1  # ranks on this node
        if mpi_comm is not None and self.size > 1:
            from mpi4py import MPI

            node = mpi_comm.Split_type(MPI.COMM_TYPE_SHARED)
            self.local_size = int(node.Get_size())
            node.Free()

    @property
    def parallel(self) -> bool:
        """More than one rank."""
        return self.size > 1

    @property
    def root(self) -> bool:
        """Rank 0: reads inputs, writes outputs, prints."""
        return self.rank == 0

    def library(self) -> str:
        """The MPI library's name and version (first line), or ``serial``."""
        if self.mpi is None:
            return "serial"
        from mpi4py import MPI

        return " ".join(MPI.Get_library_version().split("\n")[0].split())

    # ----------------------------------------------------------------- failure agreement
    def agree(self, error: BaseException | None) -> None:
        """Checkpoint: every rank says whether it failed; if any did, every rank raises.

        Collective: every rank must call it the same number of times (errors marked as
        agreed pass through without communicating).  Serial: re-raises ``error``.

        Raises
        ------
        BaseException
            Rank 0: ``error`` itself if rank 0 failed, else :class:`RankError` with the
            message and exit status of the lowest failing rank.  Other ranks:
            :class:`ReportedByRoot` with the same exit status.
        """
        if error is not None and getattr(error, _AGREED, False):
            raise error
        if not self.parallel:
            if error is not None:
                raise error
            return
        import numpy as np
        from mpi4py import MPI

        # the lowest failing rank (size: none), without busy-waiting: ranks that arrive early
        # (workers while rank 0 writes the outputs) must not take a core from the others
        first_failed = np.array([self.rank if error is not None else self.size], dtype=np.int64)
        out = np.empty(1, dtype=np.int64)
        wait(self.mpi.Iallreduce(first_failed, out, op=MPI.MIN))
        first = int(out[0])
        if first >= self.size:
            return
        mine = (exit_code_of(error), _message(error)) if error is not None else None
        code, message = self.mpi.allgather(mine)[first]
        if self.root:
            exc: BaseException = error if first == 0 and error is not None else RankError(
                f"rank {first}: {message}", code)
        else:
            exc = ReportedByRoot(code)
        _mark(exc)
        if exc is error:
            raise exc
        raise exc from error

    def sync(self) -> None:
        """A checkpoint at which this rank has not failed (:meth:`agree` with no error)."""
        self.agree(None)

    @contextmanager
    def checkpoint(self) -> Iterator[None]:
        """Run a block on every rank, then agree on whether it failed anywhere."""
        try:
            yield
        except BaseException as exc:  # noqa: BLE001 - re-raised by agree on every rank
            self.agree(exc)
            raise  # not reached: agree raises
        self.agree(None)

    def gather_arrays(self, compute: Callable[[], list]) -> list:
        """Every rank's arrays, in rank order, on every rank; a checkpoint as well.

        ``compute()`` runs on every rank and returns a list of 1-D float64 arrays (any number,
        any lengths).  If it raises on any rank, every rank raises as in :meth:`agree`.
        The result is the concatenation of the ranks' lists (rank 0's first), the same on
        every rank, so sums over it in list order are identical on every rank.  Two
        non-blocking collectives (status and sizes; lengths and values), waited for as
        :func:`wait` does.  Serial: ``compute()``.
        """
        import numpy as np

        error: BaseException | None = None
        try:
            parts = [np.ascontiguousarray(a, dtype=np.float64).ravel() for a in compute()]
        except BaseException as exc:  # noqa: BLE001 - agreed on below
            error, parts = exc, []
        if not self.parallel:
            if error is not None:
                raise error
            return parts
        if error is not None and getattr(error, _AGREED, False):
            raise error
        from mpi4py import MPI

        # two collectives: (status, number of parts, values) per rank; then every rank's
        # part lengths and values in one message (lengths as float64: exact below 2**53)
        head = np.array([error is not None, len(parts), sum(len(p) for p in parts)], dtype=np.int64)
        heads = np.empty((self.size, 3), dtype=np.int64)
        wait(self.mpi.Iallgather(head, heads))
        if heads[:, 0].any():
            self.agree(error)  # every rank reaches it: raises everywhere
        counts, sizes = heads[:, 1], heads[:, 1] + heads[:, 2]
        flat = np.concatenate([np.array([len(p) for p in parts], dtype=np.float64)] + parts)
        out = np.empty(int(sizes.sum()))
        wait(self.mpi.Iallgatherv(flat, [out, (sizes, np.concatenate([[0], np.cumsum(sizes)[:-1]])),
                                        MPI.DOUBLE]))
        result: list = []
        start = 0
        for count, size in zip(counts, sizes):
            lengths = out[start:start + count].astype(np.int64)
            values = out[start + count:start + size]
            result.extend(np.split(values, np.cumsum(lengths)[:-1]) if count else [])
            start += size
        return result

    def bcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (collective: only where no rank can have failed)."""
        if not self.parallel:
            return value
        wait(self.mpi.Ibarrier())  # the others may arrive long before rank 0: do not spin
        return self.mpi.bcast(value, root=0)

    # ----------------------------------------------------------------- threads and logging
    def choose_threads(self) -> tuple[int, str]:
        """Numba threads of this rank and why: ``NUMBA_NUM_THREADS``; the cores the launcher
        bound this rank to (``srun --cpus-per-task``, ``mpiexec --bind-to``); else the node's
        cores // ranks on the node.

        Sets them (``numba.set_num_threads``) when anncli chooses; a stage's ``n_threads``
        key still overrides the number for that stage.
        """
        import numba

        if os.environ.get("NUMBA_NUM_THREADS"):
            return numba.get_num_threads(), "NUMBA_NUM_THREADS"
        cores = os.cpu_count() or 1
        try:
            bound = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            bound = cores
        if bound < cores:
            n, why = bound, f"the {bound} core(s) this rank is bound to"
        else:
            n, why = cores // max(self.local_size, 1), f"{cores} cores / {self.local_size} ranks on the node"
        n = max(1, min(numba.config.NUMBA_NUM_THREADS, n))
        numba.set_num_threads(n)
        return n, why

    def quiet_other_ranks(self) -> None:
        """Ranks other than 0 log only warnings and errors, prefixed ``rank N:``."""
        if self.root:
            return
        log = logging.getLogger("anncli")
        log.setLevel(max(log.level, logging.WARNING))
        prefix = f"rank {self.rank}: "

        def add_rank(record: logging.LogRecord) -> bool:
            if not getattr(record, "_anncli_rank", False):
                record.msg = prefix + str(record.msg)
                record._anncli_rank = True  # type: ignore[attr-defined]
            return True

        for handler in log.handlers:
            if not any(getattr(f, "_anncli_rank_filter", False) for f in handler.filters):
                add_rank._anncli_rank_filter = True  # type: ignore[attr-defined]
                handler.addFilter(add_rank)


def _message(exc: BaseException) -> str:
    if isinstance(exc, AnncliError):
        return str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = str(exc).strip().splitlines()
    return f"internal error: {type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _mark(exc: BaseException) -> None:
    try:
        setattr(exc, _AGREED, True)
    except AttributeError:  # pragma: no cover - exceptions without a __dict__
        pass


_WORLD: Comm | None = None


def world() -> Comm:
    """This process's :class:`Comm` (created on first use).

    MPI is initialised only when an MPI launcher started the process with more than one
    rank (or ``ANNCLI_MPI=1``); ``ANNCLI_MPI=0`` forces serial.

    Raises
    ------
    ConfigError
        Started as one of several ranks, but mpi4py is not installed (or not importable).
    """
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    forced = os.environ.get("ANNCLI_MPI", "").strip()
    size = launcher_size()
    if forced == "0" or (forced != "1" and (size is None or size <= 1)):
        _WORLD = Comm(None)
        return _WORLD
    try:
        from mpi4py import MPI
    except ImportError as exc:
        if launcher_rank() != 0:  # every rank sees the same: rank 0 says it
            raise ReportedByRoot(ConfigError.exit_code) from None
        raise ConfigError(
            f"anncli was started as one of {size or 'several'} MPI ranks (mpiexec/srun), but mpi4py "
            f"cannot be imported ({exc}); install it with pip install \"anncli[mpi]\" "
            "(or mpi4py built against your MPI), or run anncli as one process") from None
    _serial_ase()
    _WORLD = Comm(MPI.COMM_WORLD)
    return _WORLD


def _serial_ase() -> None:
    """Keep ASE on one rank: with mpi4py imported, ASE's file readers and MD drivers act as
    one program over all ranks (rank 0 reads or draws, then broadcasts to every rank), which
    would mix its messages into anncli's; in anncli each rank makes its own ASE calls."""
    try:
        import ase.parallel as ase_parallel
    except ImportError:  # pragma: no cover - ase is a dependency
        return
    if isinstance(ase_parallel.world, ase_parallel.MPI):
        ase_parallel.world.comm = ase_parallel.DummyMPI()


@contextmanager
def serial_world() -> Iterator[None]:
    """Within the block :func:`world` is this rank alone (rank 0 of 1).

    For a task that one rank runs whole (a grid point of ``anncli scan``, handed out by
    :func:`anncli.parallel.pipeline.ordered_map`): the stage code it calls (generate) then
    works serially instead of waiting for the other ranks.
    """
    global _WORLD
    old = _WORLD
    _WORLD = Comm(None)
    try:
        yield
    finally:
        _WORLD = old


def start_stage(stage: str,
                stages: tuple[str, ...] = ("generate", "scan", "train", "predict", "validate")) -> Comm:
    """The ranks of a stage command: quiets the log of ranks > 0; refuses stages without MPI support.

    Raises
    ------
    ConfigError
        Several ranks, but ``stage`` does not run under MPI (yet).
    """
    comm = world()
    comm.quiet_other_ranks()
    if comm.parallel and stage not in stages:
        if not comm.root:
            raise ReportedByRoot(ConfigError.exit_code)
        raise ConfigError(f"anncli {stage} does not run on several MPI ranks yet (started with {comm.size}); "
                          f"run it as one process (the stages that do: {', '.join(stages)})")
    return comm


def on_root(command: Callable[..., int]) -> Callable[..., int]:
    """Decorator of commands that do not split work (``info``, ``export``): under MPI rank 0
    alone runs ``command`` (one output, one set of files); the other ranks wait without
    busy-waiting and exit with rank 0's status.  Serial: ``command`` itself."""
    import functools

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        comm = world()
        if not comm.parallel:
            return command(*args, **kwargs)
        comm.quiet_other_ranks()
        code = 0
        with comm.checkpoint():
            if comm.root:
                code = command(*args, **kwargs)
        return comm.bcast(code if isinstance(code, int) else 0)

    return wrapper


def log_threads(comm: Comm, config: Any) -> None:
    """Choose (:meth:`Comm.choose_threads`) and log the ranks and threads of a stage."""
    if not comm.parallel:
        return
    n, why = comm.choose_threads()
    n_key = getattr(config, "n_threads", None)
    if n_key:
        n, why = n_key, "n_threads in the input"
    logger.info("MPI: %d ranks (%s), %d on this node; %d thread(s) per rank (%s)",
                comm.size, comm.library(), comm.local_size, n, why)


def _reset_world() -> None:
    """Forget the cached :class:`Comm` (tests)."""
    global _WORLD
    _WORLD = None


def picklable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else an :class:`AnncliError` with its message and status."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        err = AnncliError(_message(exc))
        err.exit_code = exit_code_of(exc)  # type: ignore[misc]
        return err
