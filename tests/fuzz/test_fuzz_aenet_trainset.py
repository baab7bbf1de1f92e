"""Fuzz the ænet training-set reader (``anncli convert file.train``): an HDF5 file or an
InputError, never a crash or a left-over file.

Seeds: generate.x's binary ref.train and trnset2ASCII's text of the shared data; damaged copies
(flipped bytes, truncation, deleted or repeated pieces, mutated text lines) and binary files
whose records keep their Fortran framing but hold wrong values (counts, types, sizes, nan).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_helpers import expect_clean, fuzz_settings, mutate_bytes, mutate_text
from anncli.exceptions import InputError
from anncli.workflows.convert_trainset import convert_aenet_trainset


@pytest.fixture(scope="module")
def seeds(golden) -> Path:
    """ænet's training-set files (the ``golden`` fixture: a skip without the data, a failure in CI)."""
    return golden / "trainset"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-trainset")


def _convert(path: Path, out: Path) -> None:
    try:
        convert_aenet_trainset(path, out, overwrite=True)
    finally:
        leftovers = [p.name for p in out.parent.glob(out.name + ".tmp-*")]
        assert not leftovers, f"temporary files left: {leftovers}"
        out.unlink(missing_ok=True)


def _records(raw: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos:pos + 4], "little")
        out.append(raw[pos + 4:pos + 4 + n])
        pos += 8 + n
    return out


def _join(records: list[bytes]) -> bytes:
    return b"".join(len(r).to_bytes(4, "little") + r + len(r).to_bytes(4, "little") for r in records)


@fuzz_settings(150)
@given(data=st.data())
def test_damaged_binary(seeds, workdir, data):
    raw = (seeds / "ref.train").read_bytes()
    path = workdir / "damaged.train"
    path.write_bytes(mutate_bytes(data, raw, max_mutations=3))
    expect_clean(_convert, path, workdir / "damaged.h5", allowed=(InputError,))


@fuzz_settings(100)
@given(data=st.data())
def test_damaged_text(seeds, workdir, data):
    text = (seeds / "ref.train.ascii").read_text()
    path = workdir / "damaged.ascii"
    path.write_text(mutate_text(data, text, max_mutations=3))
    expect_clean(_convert, path, workdir / "damaged-text.h5", allowed=(InputError,))


_INTS = st.sampled_from([0, 1, 2, 3, 5, 7, 100, -1, 2**31 - 1, -(2**31)])
_FLOATS = st.sampled_from([0.0, -1.0, 1e300, 1e-300, float("nan"), float("inf"), 2.0**40])


@fuzz_settings(150)
@given(data=st.data())
def test_valid_records_with_wrong_values(seeds, workdir, data):
    records = _records((seeds / "ref.train").read_bytes())
    small = [k for k, r in enumerate(records) if len(r) in (4, 8)]
    for _ in range(data.draw(st.integers(1, 3), label="n changes")):
        k = data.draw(st.sampled_from(small) | st.integers(0, len(records) - 1), label="record")
        rec = records[k]
        if len(rec) % 8 == 0 and data.draw(st.booleans(), label="as float"):
            a = np.frombuffer(rec, dtype="<f8").copy()
            a[data.draw(st.integers(0, len(a) - 1), label="at")] = data.draw(_FLOATS, label="float")
        elif len(rec) % 4 == 0 and rec:
            a = np.frombuffer(rec, dtype="<i4").copy()
            a[data.draw(st.integers(0, len(a) - 1), label="at")] = data.draw(_INTS, label="int")
        else:
            records[k] = rec[: len(rec) // 2]
            continue
        records[k] = a.tobytes()
    path = workdir / "values.train"
    path.write_bytes(_join(records))
    expect_clean(_convert, path, workdir / "values.h5", allowed=(InputError,))
