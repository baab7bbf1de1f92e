"""Logging set-up and progress reporting: the only place that configures log handlers.

Verbosity levels (``anncli -q`` / default / ``-v`` / ``-vv``):

=====  ===========  ==========================================================
 -1    quiet        warnings and errors only; no progress
  0    normal       one line per stage (``logger.info``) and progress
  1    verbose      details (``logger.log(VERBOSE, ...)``)
  2    debug        everything (``logger.debug``), with module names
=====  ===========  ==========================================================

Messages go to stderr as ``anncli: message`` (``anncli: warning: ...`` for
warnings); when stderr is not a terminal (batch jobs) every line starts with a
timestamp.  :class:`Progress` draws a one-line bar on a terminal and writes plain
periodic log lines otherwise.

Numba compiles anncli's kernels on their first run (30-60 s on 2 cores; cached on disk
afterwards).  :func:`watch_compilation` (called by the ``anncli`` command) says so when it
starts and counts the time, which :class:`Progress` leaves out of its rates.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Callable, TextIO

__all__ = ["VERBOSE", "setup_logging", "reset_logging", "Progress", "format_duration",
           "watch_compilation", "compile_seconds"]

#: Level between INFO and DEBUG for ``-v`` details: ``logger.log(VERBOSE, ...)``.
VERBOSE = 15
logging.addLevelName(VERBOSE, "VERBOSE")

_ROOT = "anncli"
_LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: VERBOSE, 2: logging.DEBUG}


class _StderrHandler(logging.StreamHandler):
    """A stream handler that always writes to the current ``sys.stderr`` (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


class _Formatter(logging.Formatter):
    def __init__(self, timestamps: bool, debug: bool) -> None:
        super().__init__()
        self.timestamps = timestamps
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info and self.debug:
            msg += "\n" + self.formatException(record.exc_info)
        if record.levelno >= logging.ERROR:
            msg = "error: " + msg
        elif record.levelno >= logging.WARNING:
            msg = "warning: " + msg
        if self.debug:
            msg = f"[{record.name}] {msg}"
        head = "anncli: "
        if self.timestamps:
            head = time.strftime("%Y-%m-%d %H:%M:%S ", time.localtime(record.created)) + head
        return head + msg


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def setup_logging(verbosity: int = 0, *, log_file: str | None = None) -> logging.Logger:
    """Configure the ``anncli`` logger for the command line.

    Parameters
    ----------
    verbosity : int
        -1 quiet (warnings and errors), 0 normal (one line per stage), 1 verbose,
        2 (or more) debug.  Values are clipped to [-1, 2].
    log_file : str, optional
        Also write every message of the chosen level to this file, with timestamps.

    Returns
    -------
    logging.Logger
        The ``anncli`` logger.  Calling again replaces the handlers installed before.
    """
    verbosity = max(-1, min(2, int(verbosity)))
    level = _LEVELS[verbosity]
    logger = logging.getLogger(_ROOT)
    for h in list(logger.handlers):
        if getattr(h, "_anncli", False):
            logger.removeHandler(h)
            h.close()
    handler = _StderrHandler()
    handler._anncli = True  # type: ignore[attr-defined]
    handler.setFormatter(_Formatter(timestamps=not _is_tty(sys.stderr), debug=verbosity >= 2))
    logger.addHandler(handler)
    if log_file:
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh._anncli = True  # type: ignore[attr-defined]
        fh.setFormatter(_Formatter(timestamps=True, debug=verbosity >= 2))
        logger.addHandler(fh)
    logger.setLevel(level)
    logger.propagate = False
    logging.captureWarnings(True)
    return logger


def reset_logging() -> None:
    """Undo :func:`setup_logging` (remove its handlers; messages propagate to the root logger again)."""
    logger = logging.getLogger(_ROOT)
    for h in list(logger.handlers):
        if getattr(h, "_anncli", False):
            logger.removeHandler(h)
            h.close()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    logging.captureWarnings(False)


# ----------------------------------------------------------------- Numba compilation

#: Announcement logged when Numba starts compiling a kernel for the first time in a process.
COMPILING_MESSAGE = ("compiling the Numba kernels: first run only (they are cached on disk for later "
                     "runs); this takes 30-60 s on 2 cores and is not counted in the rates shown")

_COMPILE = {"seconds": 0.0, "watching": False, "announced": False}
_COMPILE_LOCK = threading.Lock()


def compile_seconds() -> float:
    """Wall-clock seconds Numba has spent compiling kernels since :func:`watch_compilation`.

    Loading a kernel from Numba's on-disk cache does not count (it is not a compilation).
    """
    return _COMPILE["seconds"]


def _compile_started() -> None:
    with _COMPILE_LOCK:
        first = not _COMPILE["announced"]
        _COMPILE["announced"] = True
    if first:
        logging.getLogger(f"{_ROOT}.kernels").info(COMPILING_MESSAGE)


def _compile_finished(seconds: float) -> None:
    with _COMPILE_LOCK:
        _COMPILE["seconds"] += seconds


def watch_compilation() -> None:
    """Announce Numba's first compilation in this process and count the time compiling.

    Installs a listener for Numba's ``numba:compile`` event, which fires only when a
    kernel is compiled, not when it is loaded from the cache.  The first compilation logs
    :data:`COMPILING_MESSAGE` (INFO, logger ``anncli.kernels``) before the wait;
    :func:`compile_seconds` then grows by the duration of each outermost compilation
    (a kernel compiles the kernels it calls inside its own event).  Calling it again does
    nothing.  The ``anncli`` command calls it; Python users may.
    """
    with _COMPILE_LOCK:
        if _COMPILE["watching"]:
            return
        _COMPILE["watching"] = True
    from numba.core import event

    class _Listener(event.Listener):
        def __init__(self) -> None:
            self._local = threading.local()

        def on_start(self, ev) -> None:
            depth = getattr(self._local, "depth", 0)
            if depth == 0:
                self._local.start = time.perf_counter()
                _compile_started()
            self._local.depth = depth + 1

        def on_end(self, ev) -> None:
            self._local.depth = depth = getattr(self._local, "depth", 1) - 1
            if depth == 0:
                _compile_finished(time.perf_counter() - self._local.start)

    event.register("numba:compile", _Listener())


def format_duration(seconds: float) -> str:
    """``3 s``, ``2 min 05 s``, ``1 h 02 min``; ``0.4 s`` below 10 s."""
    if seconds != seconds or seconds < 0:  # NaN
        return "?"
    if seconds < 10:
        return f"{seconds:.1f} s" if seconds < 1 else f"{seconds:.0f} s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _rate(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


class Progress:
    """Progress of a long loop: a one-line bar on a terminal, periodic log lines otherwise.

    Parameters
    ----------
    total : int or None
        Number of items expected (None: unknown, no percentage or ETA).
    desc : str
        Name shown first, usually the stage (``"generate"``).
    unit : str
        Name of the items counted by ``update(n)`` (``"structures"``).
    rate_unit : str, optional
        If given, the rate is shown in these units per second, counted by
        ``update(n, work=...)`` (e.g. ``"atoms"``); otherwise in ``unit`` per second.
    interval : float
        Seconds between plain log lines when stderr is not a terminal (default 10).
    tty : bool, optional
        Force bar (True) or log-line (False) mode; default: whether stderr is a terminal.
    clock : callable, optional
        Time source in seconds (tests pass a fake clock).
    excluded : callable, optional
        Seconds not to count in the rate, as a running total (default
        :func:`compile_seconds`: Numba compiling kernels on a first run); the increase
        since the start is left out of the rate and the ETA, and named in the final line.

    Examples
    --------
    >>> with Progress(len(files), "generate", "structures", rate_unit="atoms") as p:  # doctest: +SKIP
    ...     for s in structures:
    ...         p.update(1, work=s.n_atoms)

    Nothing is shown when the ``anncli`` logger is quieter than INFO (``anncli -q``).
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str = "items",
        *,
        rate_unit: str | None = None,
        interval: float = 10.0,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        excluded: Callable[[], float] = compile_seconds,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.rate_unit = rate_unit
        self.interval = interval
        self.clock = clock
        self.excluded = excluded
        self._excluded0 = excluded()
        self.count = 0
        self.work = 0.0
        self._logger = logging.getLogger(f"{_ROOT}.progress")
        self.enabled = self._logger.isEnabledFor(logging.INFO)
        self.tty = _is_tty(sys.stderr) if tty is None else tty
        self._start = self._last = clock()
        self._drawn = False
        self._closed = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(done=exc_type is None)

    # ----------------------------------------------------------------- text

    def line(self, final: bool = False) -> str:
        """The status text, e.g. ``generate: 500/1000 structures (50 %), 2,300 atoms/s, ETA 3 s``."""
        elapsed = max(self.clock() - self._start, 1e-9)
        excluded = min(max(self.excluded() - self._excluded0, 0.0), elapsed)
        busy = max(elapsed - excluded, 1e-9)  # the rate leaves out Numba compiling kernels
        if self.total:
            text = f"{self.desc}: {self.count:,}/{self.total:,} {self.unit} ({100 * self.count / self.total:.0f} %)"
        else:
            text = f"{self.desc}: {self.count:,} {self.unit}"
        done = self.work if self.rate_unit else self.count
        if done:
            text += f", {_rate(done / busy)} {self.rate_unit or self.unit}/s"
        if final:
            text += f", {format_duration(elapsed)}"
            if excluded >= 0.05 * elapsed and excluded >= 0.5:
                text += f" ({format_duration(excluded)} of it compiling kernels, not in the rate)"
        elif self.total and self.count:
            remaining = busy * (self.total - self.count) / self.count
            text += f", ETA {format_duration(remaining)}"
        return text

    def _bar(self) -> str:
        width = 24
        if self.total:
            filled = int(width * min(self.count, self.total) / self.total)
            return "[" + "#" * filled + "." * (width - filled) + "] "
        return ""

    # ----------------------------------------------------------------- updates

    def update(self, n: int = 1, *, work: float = 0) -> None:
        """Count ``n`` more items (and ``work`` more rate units, e.g. atoms)."""
        self.count += n
        self.work += work
        if not self.enabled or self._closed:
            return
        now = self.clock()
        if self.tty:
            if now - self._last >= 0.1 or (self.total and self.count >= self.total):
                self._last = now
                sys.stderr.write("\r" + self._bar() + self.line() + "\x1b[K")
                sys.stderr.flush()
                self._drawn = True
        elif now - self._last >= self.interval:
            self._last = now
            self._logger.info(self.line())

    def close(self, done: bool = True) -> None:
        """Finish: final line (bar mode: newline after the bar; log mode: a last line)."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        if self.tty:
            if self._drawn or done:
                sys.stderr.write("\r" + self._bar() + self.line(final=True) + "\x1b[K\n")
                sys.stderr.flush()
        elif done or self.count:
            self._logger.info(self.line(final=True))
