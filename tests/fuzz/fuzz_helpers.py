"""Shared pieces of the parser fuzz tests: seed inputs, mutation strategies, the contract.

The contract every parser must keep, whatever the input: it returns, or it raises an
:class:`~anncli.exceptions.InputError` (``DataError`` / ``ConfigError``, exit status 2 on the
command line).  Any other exception (``IndexError``, ``MemoryError``, ``OverflowError``, ...)
is a crash; an input that makes a parser run longer than :data:`CALL_LIMIT_S` is a hang.

Seeds are the real valid inputs of the repository (tests, example_inputs) and of the shared
reference data (``../shared/data``; those seeds are left out when it is absent).  Mutations are
those a damaged or hand-edited file shows: flipped bytes, truncation, deleted, duplicated or
swapped lines, numbers replaced by garbage, ``nan``, ``inf``, huge values or wrong counts.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from anncli.exceptions import InputError

REPO = Path(__file__).resolve().parents[2]

#: Longest time one parser call may take before the test counts it as a hang (s).
CALL_LIMIT_S = 20

#: Hypothesis settings of the fuzz tests: a fixed budget, no per-example deadline (the
#: machine is shared; the hang guard above catches real hangs), derandomised so that a run
#: is reproducible (set ANNCLI_FUZZ_EXAMPLES to run more cases while hunting crashes).
FUZZ_SETTINGS = dict(
    deadline=None,
    derandomize=os.environ.get("ANNCLI_FUZZ_RANDOM") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


def fuzz_settings(max_examples: int) -> settings:
    """:data:`FUZZ_SETTINGS` with ``max_examples`` (scaled by ``ANNCLI_FUZZ_SCALE``)."""
    scale = float(os.environ.get("ANNCLI_FUZZ_SCALE", "1"))
    return settings(max_examples=max(1, int(max_examples * scale)), **FUZZ_SETTINGS)


def shared_data_dir() -> Path | None:
    """../shared/data (or $ANNCLI_SHARED_DATA), None when absent outside CI.

    In CI (``CI=true``, as in tests/conftest.py) an absent folder fails the collection of the
    module: the seeds from the reference data must not silently drop out of the fuzzing there.
    """
    env = os.environ.get("ANNCLI_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if path.is_dir():
        return path
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true: shared reference data not found at {path} (the fuzz seeds need it)",
                    pytrace=False)
    return None


# ----------------------------------------------------------------------------- mutations

#: Replacements for a number token: garbage, non-finite, huge, tiny, wrong sign, wrong type.
BAD_NUMBERS = [
    "nan", "NaN", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e999", "1d400", "1e-320",
    "0", "-0", "-1", "0.0", "1000000000000", "-1000000000000", "9223372036854775808",
    "99999999999999999999999", "2147483648", "4294967296", "1.5", "abc", "1.2.3", "1e", "--1",
    "0x10", "1_0", "", "''", "\"\"", "~", "null", "true", "[]", "{}", "1d0", ".", "+",
]
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?")


def _mutate_once(data: st.DataObject, text: str) -> str:
    kind = data.draw(st.sampled_from(
        ["number", "number", "number", "count", "delete_line", "duplicate_line", "swap_lines",
         "truncate", "flip_byte", "insert_text", "blank_line"]
    ), label="mutation")
    lines = text.split("\n")
    if kind in ("number", "count"):
        spans = [m.span() for m in _NUMBER.finditer(text)]
        if spans:
            a, b = data.draw(st.sampled_from(spans), label="number at")
            if kind == "count":
                new = data.draw(st.sampled_from(["0", "1", "2", "3", "7", "100", "1000000000000", "-5"]))
            else:
                new = data.draw(st.sampled_from(BAD_NUMBERS) | st.text(
                    alphabet="0123456789.-+eEdDnaif ", min_size=0, max_size=8), label="number")
            return text[:a] + new + text[b:]
    if kind == "delete_line" and len(lines) > 1:
        i = data.draw(st.integers(0, len(lines) - 1), label="delete")
        return "\n".join(lines[:i] + lines[i + 1:])
    if kind == "duplicate_line" and lines:
        i = data.draw(st.integers(0, len(lines) - 1), label="duplicate")
        return "\n".join(lines[: i + 1] + lines[i:])
    if kind == "swap_lines" and len(lines) > 1:
        i = data.draw(st.integers(0, len(lines) - 2), label="swap")
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
        return "\n".join(lines)
    if kind == "truncate":
        return text[: data.draw(st.integers(0, len(text)), label="truncate")]
    if kind == "insert_text":
        i = data.draw(st.integers(0, len(text)), label="insert at")
        new = data.draw(st.text(max_size=12) | st.sampled_from(BAD_NUMBERS), label="inserted")
        return text[:i] + new + text[i:]
    if kind == "blank_line" and lines:
        i = data.draw(st.integers(0, len(lines)), label="blank")
        return "\n".join(lines[:i] + [""] + lines[i:])
    # flip one character to an arbitrary one (a byte flip in text)
    if not text:
        return data.draw(st.text(max_size=20))
    i = data.draw(st.integers(0, len(text) - 1), label="flip at")
    return text[:i] + data.draw(st.characters(codec="utf-8"), label="flip to") + text[i + 1:]


def mutate_text(data: st.DataObject, text: str, max_mutations: int = 3) -> str:
    """``text`` with 1 to ``max_mutations`` mutations drawn from ``data``."""
    for _ in range(data.draw(st.integers(1, max_mutations), label="n mutations")):
        text = _mutate_once(data, text)
    return text


def mutate_bytes(data: st.DataObject, raw: bytes, max_mutations: int = 3) -> bytes:
    """``raw`` with 1 to ``max_mutations`` byte-level mutations (flip, truncate, cut, repeat)."""
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, max_mutations), label="n byte mutations")):
        kind = data.draw(st.sampled_from(["flip", "flip", "set_int", "truncate", "cut", "repeat"]))
        if not buf:
            break
        i = data.draw(st.integers(0, len(buf) - 1), label="at")
        if kind == "flip":
            buf[i] = data.draw(st.integers(0, 255), label="byte")
        elif kind == "set_int":  # a 4-byte integer (record marker, count, ...) set to an extreme
            value = data.draw(st.sampled_from([0, 1, -1, 2, 3, 100, 2**31 - 1, -(2**31), 10**9]))
            buf[i:i + 4] = value.to_bytes(4, "little", signed=True)
        elif kind == "truncate":
            del buf[i:]
        elif kind == "cut":
            j = data.draw(st.integers(i, min(len(buf), i + 64)), label="cut to")
            del buf[i:j]
        else:
            j = data.draw(st.integers(i, min(len(buf), i + 64)), label="repeat to")
            buf[j:j] = buf[i:j]
    return bytes(buf)


# ----------------------------------------------------------------------------- the contract


class Hang(Exception):
    """A parser call ran longer than :data:`CALL_LIMIT_S`."""


@contextmanager
def hang_guard(seconds: float = CALL_LIMIT_S):
    """Raise :class:`Hang` in the main thread if the block runs longer than ``seconds``.

    Works for Python loops (the usual way a parser hangs); in other threads it does nothing.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def _alarm(signum, frame):
        raise Hang(f"parser call longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def expect_clean(call, *args, allowed: tuple[type[BaseException], ...] = (InputError,), **kwargs):
    """Run ``call(*args, **kwargs)``: it must return or raise one of ``allowed`` in time.

    Returns the result, or the allowed exception raised.  Anything else propagates, so that
    hypothesis reports (and shrinks) the input that crashed the parser.
    """
    with hang_guard():
        try:
            return call(*args, **kwargs)
        except allowed as exc:
            message = str(exc)
            assert message.strip(), f"{type(exc).__name__} without a message"
            assert "Traceback" not in message
            return exc
