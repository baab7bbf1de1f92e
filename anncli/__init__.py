"""anncli: machine-learning interatomic potentials from artificial neural networks.

The package is a Python API first; the ``anncli`` command is a thin layer over it.
Data flows one way: structure files (``anncli.io``) -> fingerprints
(``anncli.descriptors``) -> training-set HDF5 (``anncli.io.trainset``) -> networks
(``anncli.network``, ``anncli.training``) -> potential (``anncli.potential``).
"""

import os as _os

__version__ = "0.1.0"

# Numba's OpenMP threads otherwise spin for a while after each parallel kernel, taking the
# core that anncli's reader thread (generate) or the Python between kernels needs: passive
# waiting measured 10 % faster for generate and no slower for train and predict (2 cores).
# Read once by the OpenMP runtime when Numba first loads it; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["Structure", "__version__"]


def __getattr__(name: str):
    # Imported lazily so that `anncli --help` does not pay for numpy.
    if name == "Structure":
        from anncli.structure import Structure

        return Structure
    raise AttributeError(f"module 'anncli' has no attribute {name!r}")
