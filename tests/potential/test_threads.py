"""ThreadChooser: probes both modes, then keeps the faster and re-probes the other."""

from __future__ import annotations

import numba

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


def test_run_restores_thread_count():
    c = ThreadChooser()
    before = numba.get_num_threads()
    for _ in range(4):
        with c.run(100):
            assert numba.get_num_threads() in (1, before)
    assert numba.get_num_threads() == before
