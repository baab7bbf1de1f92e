"""Write small ænet binary potentials (``*.nn``) for tests: the record layout of train.x.

The layout is the one documented in /work/shared/docs/aenet-reference.md §1e and decoded by
:mod:`anncli.potential.aenet_nn` (gfortran unformatted sequential records, little-endian).
Tests build valid files with :func:`write_nn` and damage single records with
:func:`nn_records` / :func:`join_records`, so they need no reference data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _record(payload: bytes) -> bytes:
    n = len(payload).to_bytes(4, "little", signed=True)
    return n + payload + n


def _ints(*values) -> bytes:
    return np.asarray(values if len(values) != 1 else np.atleast_1d(values[0]), dtype="<i4").tobytes()


def _floats(values) -> bytes:
    return np.asarray(values, dtype="<f8").tobytes()


def _text(value: str, width: int) -> bytes:
    return value.ljust(width)[:width].encode("latin-1")


def nn_records(central: str = "Ti", env: tuple[str, ...] = ("Ti", "O"), kind: str = "chebyshev",
               hidden: tuple[int, ...] = (3,), seed: int = 0, orders: tuple[int, int] = (2, 1)) -> list[bytes]:
    """Payloads of the records of a small valid potential of species ``central``.

    Parameters
    ----------
    central : str
        The species of the potential (ATOM).
    env : tuple of str
        Environment species; also the training set's type list.
    kind : str
        ``"chebyshev"`` (radial_N, angular_N = ``orders``) or ``"behler2011"`` (a G2 and a G4
        function per species).
    hidden : tuple of int
        Hidden layer sizes (tanh); the output layer is linear.
    seed : int
        Seed of the weights and feature statistics.
    """
    rng = np.random.default_rng(seed)
    if kind == "chebyshev":
        n_r, n_a = orders
        nsf = (n_r + 1 + n_a + 1) * (2 if len(env) > 1 else 1)
        sf = [0] * nsf
        sfparam = np.zeros((nsf, 4))
        sfparam[0] = [4.5, n_r, 3.5, n_a]
        sfenv = np.zeros((nsf, 2), dtype=int)
        sftype = "Chebyshev"
    else:
        rows = [(2, k + 1, 0, [4.0, 0.0, 0.5, 0.0]) for k in range(len(env))]
        rows += [(4, k + 1, k + 1, [4.0, 1.0, 2.0, 0.1]) for k in range(len(env))]
        nsf = len(rows)
        sf = [r[0] for r in rows]
        sfenv = np.array([[r[1], r[2]] for r in rows])
        sfparam = np.array([r[3] for r in rows], dtype=float)
        sftype = "Behler2011"
    nnodes = [nsf, *hidden, 1]
    sizes = [nnodes[l + 1] * (nnodes[l] + 1) for l in range(len(nnodes) - 1)]
    iw = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    iv = np.concatenate([[0], np.cumsum(nnodes[:-1])]).astype(int)[: len(nnodes)]
    weights = rng.normal(scale=0.3, size=int(iw[-1]))
    avg = rng.normal(size=nsf)
    cov = avg**2 + rng.uniform(0.1, 1.0, size=nsf)
    lo, hi = avg - 3.0, avg + 3.0
    return [
        # Network
        _ints(len(nnodes)), _ints(max(nnodes)), _ints(len(weights)), _ints(sum(nnodes)),
        _ints(*nnodes), _ints(*([1] * (len(nnodes) - 2) + [0])), _ints(*iw[: len(nnodes)]),
        _ints(*iv), _floats(weights),
        # Setup
        _text("test potential", 1024), _text(central, 2), _ints(len(env)),
        b"".join(_text(s, 2) for s in env), _floats([0.75]), _floats([4.5]), _text(sftype, 100),
        _ints(nsf), _ints(4), _ints(*sf), _floats(sfparam.ravel()),
        _ints(*sfenv.ravel()), _ints(100), _floats(lo), _floats(hi), _floats(avg), _floats(cov),
        # TrnSet
        _text("refdata.train", 1024), _ints(1), _floats([0.5]), _floats([-1.0]), _ints(len(env)),
        b"".join(_text(s, 2) for s in env), _floats(-rng.uniform(1, 2, size=len(env))),
        _ints(1000), _ints(50), _floats([-3.0, -1.0, -2.0]),
    ]


#: Index of the records of :func:`nn_records` by name (those the tests damage).
RECORD = {"nlayers": 0, "Wsize": 2, "nnodes": 4, "f_a": 5, "iw": 6, "W": 8, "atomtype": 10,
          "nenv": 11, "envtypes": 12, "Rc_min": 13, "sftype": 15, "nsf": 16, "nsfparam": 17, "sf": 18,
          "sfparam": 19, "sfenv": 20, "sfval_min": 22, "sfval_max": 23, "sfval_avg": 24,
          "sfval_cov": 25, "scale": 28, "shift": 29, "nTypes": 30, "typeName": 31, "E_atom": 32}


def join_records(records: list[bytes]) -> bytes:
    """The bytes of a file holding ``records``."""
    return b"".join(_record(r) for r in records)


def write_nn(path: str | Path, records: list[bytes] | None = None, **kwargs) -> Path:
    """Write ``records`` (default: ``nn_records(**kwargs)``) to ``path``."""
    path = Path(path)
    path.write_bytes(join_records(records if records is not None else nn_records(**kwargs)))
    return path


def int_record(*values: int) -> bytes:
    """Payload of a record of 4-byte integers."""
    return _ints(*values)


def float_record(*values: float) -> bytes:
    """Payload of a record of 8-byte floats."""
    return _floats(values)
