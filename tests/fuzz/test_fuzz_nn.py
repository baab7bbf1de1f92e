"""Fuzz the binary ænet potential reader (.nn): a model or a FileFormatError, never a crash.

Damaged files are truncated or byte-flipped copies of small potentials written by
tests/potential/aenet_nn_writer.py (and of the ænet TiO2 potentials of the shared data), and
files whose records are valid Fortran records with wrong values (counts, sizes, indices,
non-finite numbers).  A file that still reads must also give a :class:`Potential` (the
descriptors built from its setup) or an InputError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_helpers import REPO, expect_clean, fuzz_settings, mutate_bytes, shared_data_dir
from anncli.exceptions import InputError
from anncli.potential.aenet_nn import read_aenet_nn, read_nn_records
from anncli.potential.evaluate import Potential
from script_module import load_script


def _writer():
    return load_script(REPO / "tests" / "potential" / "aenet_nn_writer.py")


W = _writer()


def _seeds() -> list[tuple[str, bytes]]:
    seeds = [("Ti", W.join_records(W.nn_records("Ti", kind=kind, hidden=hidden)))
             for kind in ("chebyshev", "behler2011") for hidden in ((3,), (2, 2))]
    root = shared_data_dir()
    if root is not None:
        for sym in ("Ti", "O"):
            seeds.append((sym, (root / "aenet-golden" / "predict-TiO2" / f"{sym}.nn").read_bytes()))
    return seeds


SEEDS = _seeds()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-nn")


def _load(path: Path, sym: str):
    """What predict does with aenet_networks: read the file, build the potential."""
    return Potential(read_aenet_nn({sym: path}))


def test_seeds_are_valid(workdir):
    for k, (sym, raw) in enumerate(SEEDS):
        path = workdir / f"seed{k}.nn"
        path.write_bytes(raw)
        assert _load(path, sym).species == [sym]


@fuzz_settings(200)
@given(data=st.data())
def test_damaged_bytes(workdir, data):
    sym, raw = data.draw(st.sampled_from(SEEDS), label="seed")
    path = workdir / "damaged.nn"
    path.write_bytes(mutate_bytes(data, raw, max_mutations=3))
    expect_clean(_load, path, sym, allowed=(InputError,))


_INT_VALUES = st.sampled_from([0, 1, 2, 3, 4, 5, 7, 100, -1, -5, 2**31 - 1, -(2**31), 10**6])
_FLOAT_VALUES = st.sampled_from([0.0, -1.0, 1.0, 0.5, 3.0, 30.0, 1e300, -1e300, 1e-300,
                                 float("nan"), float("inf"), float("-inf"), 2.0**40])


#: Records holding sizes, counts, indices and parameters (changed more often than the others).
_SIZES_AND_INDICES = [W.RECORD[k] for k in ("nlayers", "Wsize", "nnodes", "f_a", "iw", "nenv", "nsf",
                                             "nsfparam", "sf", "sfparam", "sfenv", "scale", "nTypes",
                                             "E_atom")]


def _index(n: int) -> st.SearchStrategy[int]:
    """An element of an array of ``n``: often one of the first four (sizes, parameters)."""
    return st.integers(0, min(n, 4) - 1) | st.integers(0, n - 1)


@fuzz_settings(250)
@given(data=st.data())
def test_valid_records_with_wrong_values(workdir, data):
    """Every record keeps its Fortran framing; the values in 1-3 of them are wrong."""
    sym = "Ti"
    records = W.nn_records(sym, kind=data.draw(st.sampled_from(["chebyshev", "behler2011"]), label="kind"))
    for _ in range(data.draw(st.integers(1, 3), label="n changes")):
        k = data.draw(st.integers(0, len(records) - 1) | st.sampled_from(_SIZES_AND_INDICES), label="record")
        rec = records[k]
        width = 8 if len(rec) % 8 == 0 and k in (8, 14, 19, 22, 23, 24, 25, 28, 29, 32) else 4
        if k in (9, 10, 12, 15, 26, 31):  # text records
            new = data.draw(st.binary(min_size=0, max_size=len(rec) + 4), label="text")
            records[k] = new if data.draw(st.booleans()) else new.ljust(len(rec), b" ")[: len(rec)]
        elif len(rec) < width or data.draw(st.booleans(), label="resize"):
            n = data.draw(st.integers(0, max(1, 2 * len(rec) // width)), label="length")
            records[k] = ((rec or bytes(width)) * (n + 1))[: n * width]
        elif width == 8:
            a = np.frombuffer(rec, dtype="<f8").copy()
            a[data.draw(_index(len(a)), label="at")] = data.draw(_FLOAT_VALUES, label="float")
            records[k] = a.tobytes()
        else:
            a = np.frombuffer(rec, dtype="<i4").copy()
            a[data.draw(_index(len(a)), label="at")] = data.draw(_INT_VALUES, label="int")
            records[k] = a.tobytes()
    path = workdir / "values.nn"
    path.write_bytes(W.join_records(records))
    expect_clean(_load, path, sym, allowed=(InputError,))


def test_records_of_seeds_split_back(workdir):
    """The writer's framing is the one the reader expects (the fuzzing above relies on it)."""
    path = W.write_nn(workdir / "x.nn", kind="behler2011")
    assert read_nn_records(path) == W.nn_records(kind="behler2011")
