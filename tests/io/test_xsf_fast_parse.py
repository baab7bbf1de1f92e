"""The Numba fast path of the XSF atom-block parse: bit-identical to float(), falls back otherwise."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import anncli.io.xsf as xsf
from anncli.exceptions import DataError
from anncli.io.xsf import _fast_atoms, _float, read_xsf

importlib.import_module("numba")  # read_xsf uses the kernel only once numba is loaded

_FAST = re.compile(r"[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eEdD]([+-]?[0-9]+))?")


def _in_fast_path(token: str) -> bool:
    """Whether ``token`` is in Clinger's exact fast path (decided here without the kernel)."""
    m = _FAST.fullmatch(token)
    if m is None:
        return False
    whole, frac, exp = m.group(1), m.group(2) or "", m.group(3)
    if not whole and not frac:
        return False
    sig = int(whole + frac)
    e = (int(exp) if exp else 0) - len(frac)
    return sig == 0 or (sig <= 2**53 and abs(e) <= 22)


def _kernel_value(token: str) -> float | None:
    """The kernel's value of one token, or None if the kernel does not handle it."""
    out = _fast_atoms([f"Ti {token} 0 0"])
    return None if out is None else float(out[1][0, 0])


def _bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.int64)


def _random_token(rng: np.random.Generator) -> str:
    """A random decimal token of the forms found in XSF files (and around the fast-path limits)."""
    digits = "".join(rng.choice(list("0123456789"), size=int(rng.integers(1, 20))))
    split = int(rng.integers(0, len(digits) + 1))
    whole, frac = digits[:split], digits[split:]
    if frac or not whole or rng.random() < 0.5:
        mantissa = f"{whole}.{frac}"  # also '5.' and '.5'
    else:
        mantissa = whole
    sign = str(rng.choice(["", "", "+", "-"]))
    if rng.random() < 0.5:
        return sign + mantissa
    letter = str(rng.choice(list("eEdD")))
    esign = str(rng.choice(["", "+", "-"]))
    return f"{sign}{mantissa}{letter}{esign}{int(rng.integers(0, 31)):0{int(rng.integers(1, 4))}d}"


def test_random_tokens_exact_and_fast_path_exactly_where_expected():
    rng = np.random.default_rng(7)
    tokens = [_random_token(rng) for _ in range(20000)]
    tokens += ["0", "-0", "+0", "-0.0", "0.", ".0", "-.0e5", "0e999", "-0D-999", "5.", ".5", "-.5", "+5.",
               "1e22", "1e-22", "1e23", "1e-23", "9007199254740992", "9007199254740993",
               "900719925474099.3", "0.000000000000000000001", "1.5D+03", "2.0d-5", "-3D2"]
    fast = 0
    for token in tokens:
        expected = _float(token)
        got = _kernel_value(token)
        assert (got is not None) == _in_fast_path(token), token
        if got is not None:
            fast += 1
            assert _bits(got) == _bits(expected), (token, got, expected)
    assert fast > len(tokens) // 4  # the property test exercises the kernel, not only the fallback


def _formats(rng: np.random.Generator, n: int) -> dict[str, tuple[list[str], bool]]:
    """Tokens of random doubles per format, and whether the kernel must take all of them."""
    x = rng.uniform(-1, 1, n) * 10.0 ** rng.integers(-3, 6, n)
    x[::17] = 0.0
    x[::23] = -0.0
    ints = rng.integers(-10**6, 10**6, n)
    return {
        "repr": ([repr(float(v)) for v in x], False),
        "%.8f": (["%.8f" % v for v in x], True),
        "%.15e": (["%.15e" % v for v in x], False),
        "%.17g": (["%.17g" % v for v in x], False),
        "%.10E as D": ([("%.10E" % v).replace("E", "D") for v in x], True),
        "%.6e as d": ([("%.6e" % v).replace("e", "d") for v in x], True),
        "%+.6f": (["%+.6f" % v for v in x], True),
        "negative zero": (["-0.0", "-0", "-0.000e+00", "-0D0", "-.0", "-0."] * (n // 6), True),
        "integer": ([str(int(v)) for v in ints], True),
        ".5": ([f".{abs(int(v))}" for v in ints] + [f"-.{abs(int(v))}" for v in ints], True),
        "5.": ([f"{int(v)}." for v in ints], True),
    }


@pytest.mark.parametrize("width", [3, 6])
def test_random_doubles_read_bit_identical_to_float(tmp_path, monkeypatch, width):
    rng = np.random.default_rng(width)
    for name, (tokens, all_fast) in _formats(rng, 600).items():
        tokens = tokens[: len(tokens) // width * width]
        rows = [tokens[k:k + width] for k in range(0, len(tokens), width)]
        symbols = [str(s) for s in rng.choice(["Ti", "O", "H", "Au", "Ti"], size=len(rows))]
        lines = [f"{s} " + "   ".join(r) for s, r in zip(symbols, rows)]
        expected = np.array([[_float(t) for t in r] for r in rows])
        fast = _fast_atoms(lines)
        if all_fast:
            assert fast is not None, name
        if fast is not None:
            assert fast[0] == symbols
            assert np.array_equal(_bits(fast[1]), _bits(expected[:, :3])), name
            assert (fast[2] is None) == (width == 3)
        path = tmp_path / "atoms.xsf"
        path.write_text("ATOMS\n" + "\n".join(lines) + "\n")
        for kernel in (True, False):  # whichever path is taken, the same doubles
            if not kernel:
                monkeypatch.setattr(xsf, "_fast_atoms", lambda block: None)
            s = read_xsf(path)
            monkeypatch.undo()
            assert s.symbols == symbols
            assert np.array_equal(_bits(s.positions), _bits(expected[:, :3])), (name, kernel)
            if width == 6:
                assert np.array_equal(_bits(s.forces), _bits(expected[:, 3:])), (name, kernel)
            else:
                assert s.forces is None


def test_tio2_files_take_the_kernel(shared_data):
    files = sorted((shared_data / "TiO2-1000" / "xsf").glob("*.xsf"))[:50]
    for f in files:
        lines = f.read_text().splitlines()
        start = lines.index("PRIMCOORD") + 2
        block = lines[start:start + int(lines[start - 1].split()[0])]
        symbols, positions, forces = _fast_atoms(block)
        rows = [line.split() for line in block]
        assert symbols == [r[0] for r in rows]
        expected = np.array([[float(t) for t in r[1:]] for r in rows])
        assert np.array_equal(_bits(positions), _bits(expected[:, :3]))
        assert np.array_equal(_bits(forces), _bits(expected[:, 3:]))
        assert positions.flags.c_contiguous and forces.flags.c_contiguous
        s = read_xsf(f)
        assert np.array_equal(_bits(s.positions), _bits(positions)) and s.symbols == symbols


# Blocks outside the fast path: the kernel says so, and read_xsf gives what the Python parse gives
FALLBACK = {
    "17 digits": ["Ti 0.30000000000000004 1 2", "O 1 2 3"],
    "big exponent": ["Ti 1e23 1 2", "O 1 2 3"],
    "tiny": ["Ti 4.9e-324 1 2", "O 1 2 3"],
    "underscore": ["Ti 1_000.5 1 2", "O 1 2 3"],
    "8 tokens (8th ignored)": ["Ti 0 0 0 1 1 1 x", "O 1 2 3 4 5 6 7"],
    "non-breaking space": ["Ti 1.0\u00a02.0 3.0", "O 1 2 3"],
    "unit separator": ["Ti 1.0\x1f2.0 3.0", "O 1 2 3"],
    "nan": ["Ti 0 nan 0", "O 1 2 3"],
    "inf force": ["Ti 0 0 0 1 -inf 1", "O 1 2 3 4 5 6"],
    "garbage": ["Ti 0 1.0.0 0", "O 1 2 3"],
    "exponent without digits": ["Ti 0 1e 0", "O 1 2 3"],
    "D without digits": ["Ti 0 1.0D+ 0", "O 1 2 3"],
    "lone dot": ["Ti 0 . 0", "O 1 2 3"],
    "hex": ["Ti 0 0x10 0", "O 1 2 3"],
    "too few columns": ["Ti 0 0 0", "O 1 2"],
    "5 columns": ["Ti 0 0 0 1", "O 1 2 3 4"],
    "mixed widths": ["Ti 0 0 0 1 1 1", "O 1 2 3"],
    "non-ASCII symbol": ["Tï 0 0 0", "O 1 2 3"],
    "labels as symbols": [f"Ti{k} 0 0 {k}" for k in range(200)],
}


@pytest.mark.parametrize("case", sorted(FALLBACK))
def test_fallback_blocks_match_the_python_parse(tmp_path, monkeypatch, case):
    lines = FALLBACK[case]
    assert _fast_atoms(lines) is None
    path = tmp_path / f"{case}.xsf"
    path.write_text("# total energy = 1.0\nATOMS\n" + "\n".join(lines) + "\n")
    results = []
    for kernel in (True, False):
        if not kernel:
            monkeypatch.setattr(xsf, "_fast_atoms", lambda block: None)
        try:
            s = read_xsf(path)
            results.append((s.symbols, _bits(s.positions).tolist(),
                            None if s.forces is None else _bits(s.forces).tolist()))
        except DataError as exc:
            results.append(str(exc))
        monkeypatch.undo()
    assert results[0] == results[1]


@pytest.mark.parametrize("lines,lineno,fragment", [
    (["Ti 0 0 0", "Xx 1 1 1"], 4, "unknown element symbol 'Xx'"),
    (["Ti 0 0 0", "ti 1 1 1"], 4, "did you mean 'Ti'"),
    (["22 0 0 0", "O 1 1 1"], 3, "(Ti)"),
])
def test_symbol_errors_on_the_kernel_path(tmp_path, lines, lineno, fragment):
    assert _fast_atoms(lines) is not None  # symbols are checked after the kernel
    path = tmp_path / "s.xsf"
    path.write_text("# total energy = 1.0\nATOMS\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        read_xsf(path)
    assert str(info.value).startswith(f"{path}, line {lineno}: ") and fragment in str(info.value)


def test_up_to_118_distinct_symbols_take_the_kernel():
    from ase.data import chemical_symbols

    lines = [f"{s} 0 0 {k}" for k, s in enumerate(chemical_symbols[1:119] * 2)]
    symbols, positions, _ = _fast_atoms(lines)
    assert symbols == [line.split()[0] for line in lines] and positions[-1, 2] == 235.0
    assert _fast_atoms(lines + ["Xx 0 0 0"]) is None


def test_separators_and_repeated_symbols():
    lines = ["\tTi  1.5\t-2\t 3e0  ", "O 1 2 3", "Tix 0 0 0", "T 0 0 0", "O\t.5 5. -.5", "Ti 0 0 0"]
    symbols, positions, forces = _fast_atoms(lines)
    assert symbols == ["Ti", "O", "Tix", "T", "O", "Ti"]
    assert positions.tolist() == [[1.5, -2.0, 3.0], [1, 2, 3], [0, 0, 0], [0, 0, 0], [0.5, 5.0, -0.5], [0, 0, 0]]
    assert forces is None


def test_import_and_one_off_reads_do_not_load_numba(tmp_path):
    path = tmp_path / "a.xsf"
    path.write_text("ATOMS\nH 0 0 0\n")
    code = (f"import sys, anncli.io.xsf as x; x.read_xsf({str(path)!r}); "
            "assert 'numba' not in sys.modules, 'numba imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=Path(__file__).parent)
