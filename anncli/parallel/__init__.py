"""Running anncli on several MPI ranks (``mpiexec -n N anncli ...``), with a serial fallback.

:mod:`anncli.parallel.mpi` owns the ranks (:func:`world`) and the failure protocol;
:mod:`anncli.parallel.pipeline` distributes batches of structures (:func:`ordered_map`).
"""

from anncli.parallel.mpi import Comm, world
from anncli.parallel.pipeline import ordered_map

__all__ = ["Comm", "world", "ordered_map"]
