"""anncli: machine-learning interatomic potentials from artificial neural networks.

The package is a Python API first; the ``anncli`` command is a thin layer over it.
Data flows one way: structure files (``anncli.io``) -> fingerprints
(``anncli.descriptors``) -> training-set HDF5 (``anncli.io.trainset``) -> networks
(``anncli.network``, ``anncli.training``) -> potential (``anncli.potential``).

Importing anncli changes no process-wide state (environment variables, matplotlib's
backend): the ``anncli`` command sets ``OMP_WAIT_POLICY`` for itself in
:func:`anncli.cli.main`.
"""

__version__ = "0.1.0"

__all__ = ["Structure", "__version__"]


def __getattr__(name: str):
    # Imported lazily so that `anncli --help` does not pay for numpy.
    if name == "Structure":
        from anncli.structure import Structure

        return Structure
    raise AttributeError(f"module 'anncli' has no attribute {name!r}")
