"""ThreadChooser: probes both modes, then keeps the faster and re-probes the other."""

from __future__ import annotations

import numba
import pytest

from anncli.potential.threads import ThreadChooser


def test_chooser_picks_the_faster_mode_and_reprobes():
    c = ThreadChooser(probe_every=10)
    seen = []
    for _ in range(40):
        serial = c.serial_next()
        seen.append(serial)
        c.record(serial, 0.001 if serial else 0.010, 100)  # serial is 10x faster here
    assert seen[:4] == [False, True, False, True]
    later = seen[4:]
    assert later.count(True) > later.count(False) and False in later  # mostly serial, parallel re-probed
    c2 = ThreadChooser(probe_every=10)
    for _ in range(40):
        serial = c2.serial_next()
        c2.record(serial, 0.010 if serial else 0.001, 100)
    assert c2.cost[False] < c2.cost[True]
    assert c2.serial_next() == (c2.calls % 10 == 0)  # parallel, except on a probe call


def _two_threads() -> int:
    """Set 2 Numba threads (skip when only one is available); return the previous count."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("only 1 Numba thread available (one core): run with NUMBA_NUM_THREADS=2 to test the switch")
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    return old


def test_run_uses_one_thread_exactly_for_serial_calls_and_restores_the_count():
    old = _two_threads()
    try:
        c = ThreadChooser(probe_every=10)
        inside = []
        for _ in range(8):
            serial = c.serial_next()
            with c.run(100):
                inside.append((serial, numba.get_num_threads()))
            assert numba.get_num_threads() == 2
        assert inside[:4] == [(False, 2), (True, 1), (False, 2), (True, 1)]  # the warm-up probes
        assert all(n == (1 if serial else 2) for serial, n in inside)
        assert c.calls == 8
        c = ThreadChooser()
        c.calls = 1  # the next call is a serial probe
        with pytest.raises(RuntimeError, match="in the call"):
            with c.run(100):
                assert numba.get_num_threads() == 1
                raise RuntimeError("in the call")
        assert numba.get_num_threads() == 2
    finally:
        numba.set_num_threads(old)


def test_run_on_one_thread_neither_switches_nor_records():
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        c = ThreadChooser()
        for _ in range(3):
            with c.run(100):
                assert numba.get_num_threads() == 1
        assert c.calls == 0 and numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(old)
