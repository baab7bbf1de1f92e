"""Choice between all threads and one thread for small engine calls, by timing them.

Waking Numba's worker threads for a parallel region costs little on an idle machine, where two
threads are faster even for ~100 atoms; on a busy machine a parallel region waits for its
slowest thread (up to a scheduler time slice, milliseconds), so one thread is several times
faster for small calls.  :class:`ThreadChooser` measures both (first calls alternate, then the
slower mode is re-tried every ``probe_every`` calls) and picks the faster (cost per atom, so
calls of different sizes below the threshold share the estimate).
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager

logger = logging.getLogger(__name__)

__all__ = ["ThreadChooser"]


class ThreadChooser:
    """Times small calls in serial and parallel mode and runs each call in the faster one.

    Parameters
    ----------
    probe_every : int
        After the first calls, the mode not in use is timed once every this many calls.
    smoothing : float
        Weight of a new timing in the running (exponential) average of µs per atom.
    """

    def __init__(self, probe_every: int = 50, smoothing: float = 0.3) -> None:
        self.probe_every = probe_every
        self.smoothing = smoothing
        self.cost = {True: math.nan, False: math.nan}  # serial? -> µs per atom
        self.calls = 0

    def serial_next(self) -> bool:
        """Whether the next call should run on one thread."""
        k = self.calls
        if k < 4:  # warm-up probes: parallel, serial, parallel, serial
            return k % 2 == 1
        best = self.cost[True] <= self.cost[False]
        if k % self.probe_every == 0:
            return not best
        return best

    def record(self, serial: bool, seconds: float, n_atoms: int) -> None:
        """Add the timing of one call."""
        self.calls += 1
        if self.calls == 1:  # the very first call may include compilation / cache loading
            return
        us = 1e6 * seconds / max(n_atoms, 1)
        old = self.cost[serial]
        self.cost[serial] = us if math.isnan(old) else (1 - self.smoothing) * old + self.smoothing * us

    @contextmanager
    def run(self, n_atoms: int):
        """Context that sets Numba's thread count for one call and times it."""
        import numba

        threads = numba.get_num_threads()
        if threads == 1:
            yield
            return
        serial = self.serial_next()
        if serial:
            numba.set_num_threads(1)
        t = time.perf_counter()
        try:
            yield
        finally:
            if serial:
                numba.set_num_threads(threads)
        self.record(serial, time.perf_counter() - t, n_atoms)
