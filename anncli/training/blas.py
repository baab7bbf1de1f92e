"""Limit the BLAS thread pool while training.

The network matrices are small (n_atoms x 44 times 44 x 15): OpenBLAS threads cost more in
start-up and, on a busy machine, in waiting for a descheduled thread than they gain (measured
on TiO2-1000: loss+gradient 15 ms single-threaded, 20-270 ms with 2 threads while other
processes ran).  :func:`blas_threads` sets the OpenBLAS thread count through its C API
(found among the loaded libraries, as threadpoolctl does) and restores it afterwards; it
does nothing when no OpenBLAS is found.  ``ANNCLI_BLAS_THREADS`` overrides the count.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os

logger = logging.getLogger(__name__)

_SET = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
        "openblas_set_num_threads64_", "openblas_set_num_threads")
_GET = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
        "openblas_get_num_threads64_", "openblas_get_num_threads")


def _openblas_functions():
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower()}
    except OSError:
        return []
    found = []
    for path in sorted(paths):
        if not os.path.isfile(path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SET if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GET if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            found.append((setter, getter))
    return found


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Context manager: OpenBLAS uses ``n`` threads inside the block."""
    import numpy  # noqa: F401 - make sure numpy's OpenBLAS is loaded

    n = int(os.environ.get("ANNCLI_BLAS_THREADS", n))
    funcs = _openblas_functions()
    old = []
    for setter, getter in funcs:
        try:
            old.append((setter, int(getter())))
            setter(ctypes.c_int(n))
        except Exception:  # noqa: BLE001 - best effort only
            pass
    if funcs:
        logger.debug("OpenBLAS threads set to %d", n)
    try:
        yield
    finally:
        for setter, value in old:
            setter(ctypes.c_int(value))
