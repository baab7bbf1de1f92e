"""Fuzz the XSF reader: mutated and random files give a result or a DataError, never a crash.

The atom block has two parses (the Numba kernel and the Python fallback); every mutated
file is read both ways and the two must agree: same structure, or the same error message.
"""

from __future__ import annotations

import bz2
import gzip
import lzma

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_helpers import expect_clean, fuzz_settings, mutate_bytes, mutate_text, shared_data_dir
from anncli.exceptions import DataError
from anncli.io import xsf
from anncli.structure import Structure

HAND_WRITTEN = [
    # comments, both energy lines, D exponents, CRYSTAL/CONVVEC ignored, a count that disagrees
    "# total energy = -1.5D1 eV\n# cohesive energy = -0.25 eV\nCRYSTAL\nCONVVEC\n 1 0 0\n 0 1 0\n"
    " 0 0 1\nPRIMVEC\n 4.0 0.0 0.0\n 0.0 4.0d0 0.0\n 0.0 0.0 4.0\nPRIMCOORD\n 3 1\n"
    "Ti 0.0 0.0 0.0 0.1 0.2 0.3\nO 2.0 2.0 2.0 -0.1 0.0 0.0\nO 1.0 2.0 3.0 0.0 -0.2 -0.3\n",
    "total energy = 12.5\nATOMS\nH 0 0 0\nH 0.74 0 0\n\n# trailing comment\n",
    "ATOMS\nC 0.0 0.0 0.0\nH 1.09 0.0 0.0\nH -0.36 1.03 0.0\nH -0.36 -0.51 0.89\nH -0.36 -0.51 -0.89\n",
]


def _written(periodic: bool, forces: bool, seed: int) -> str:
    import io

    rng = np.random.default_rng(seed)
    n = 5
    s = Structure(
        symbols=list(rng.choice(["Ti", "O", "Au"], size=n)),
        positions=rng.normal(scale=3.0, size=(n, 3)),
        cell=np.diag([5.0, 6.0, 7.0]) + rng.normal(scale=0.2, size=(3, 3)) if periodic else None,
        pbc=(periodic,) * 3,
        energy=float(rng.normal() * 100),
        forces=rng.normal(size=(n, 3)) if forces else None,
    )
    buf = io.StringIO()
    xsf.write_xsf(buf, s)
    return buf.getvalue()


def _shared_seeds() -> list[str]:
    root = shared_data_dir()
    if root is None:
        return []
    paths = [root / "aenet-golden" / "parsers" / "periodic.xsf", root / "aenet-golden" / "parsers" / "isolated.xsf"]
    for sub in ("TiO2-1000/xsf", "water-clusters/xsf", "LiMoNiTiO/xsf"):
        paths += sorted((root / sub).glob("*.xsf"))[:1]
    return [p.read_text() for p in paths if p.is_file()]


SEEDS = HAND_WRITTEN + [_written(p, f, k) for k, (p, f) in enumerate([(1, 1), (1, 0), (0, 1), (0, 0)])] + _shared_seeds()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    import numba  # noqa: F401 - the XSF reader takes its Numba kernel only once numba is loaded

    return tmp_path_factory.mktemp("fuzz-xsf")


def _read_both_ways(path):
    """Read with the Numba kernel and with the Python parse; both must agree."""
    fast = expect_clean(xsf.read_xsf, path, allowed=(DataError,))
    original = xsf._fast_atoms
    xsf._fast_atoms = lambda block: None
    try:
        slow = expect_clean(xsf.read_xsf, path, allowed=(DataError,))
    finally:
        xsf._fast_atoms = original
    if isinstance(fast, Exception) or isinstance(slow, Exception):
        assert type(fast) is type(slow) and str(fast) == str(slow), (fast, slow)
        return fast
    assert fast.symbols == slow.symbols
    np.testing.assert_array_equal(fast.positions, slow.positions)
    assert (fast.forces is None) == (slow.forces is None)
    if fast.forces is not None:
        np.testing.assert_array_equal(fast.forces, slow.forces)
    assert np.isfinite(fast.positions).all() and (fast.cell is None or np.isfinite(fast.cell).all())
    return fast


def test_seeds_are_valid(workdir):
    for k, text in enumerate(SEEDS):
        path = workdir / f"seed{k}.xsf"
        path.write_text(text)
        assert isinstance(_read_both_ways(path), Structure), k


@fuzz_settings(250)
@given(data=st.data())
def test_mutated_xsf(workdir, data):
    text = mutate_text(data, data.draw(st.sampled_from(SEEDS), label="seed"), max_mutations=4)
    path = workdir / "mutated.xsf"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    _read_both_ways(path)


@fuzz_settings(60)
@given(raw=st.binary(max_size=300) | st.text(alphabet="PRIMVECOATS0123456789.-eEdD \n#=tolaenrgy", max_size=300)
       .map(lambda t: t.encode()))
def test_random_bytes_xsf(workdir, raw):
    path = workdir / "random.xsf"
    path.write_bytes(raw)
    _read_both_ways(path)


@fuzz_settings(40)
@given(data=st.data())
def test_damaged_compressed_xsf(workdir, data):
    """Truncated or flipped .gz/.bz2/.xz files are DataErrors (not zlib/lzma errors)."""
    suffix, compress = data.draw(st.sampled_from([(".gz", gzip.compress), (".bz2", bz2.compress),
                                                  (".xz", lzma.compress)]), label="format")
    raw = compress(data.draw(st.sampled_from(SEEDS), label="seed").encode())
    path = workdir / f"damaged.xsf{suffix}"
    path.write_bytes(mutate_bytes(data, raw))
    expect_clean(xsf.read_xsf, path, allowed=(DataError,))
