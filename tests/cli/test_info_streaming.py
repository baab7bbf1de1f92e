"""anncli info summarises frames as they are read: none is kept after it was counted."""

from __future__ import annotations

import gc
import weakref

import numpy as np

from anncli.cli.info import structure_summary
from anncli.structure import Structure


def _frames(n, refs):
    rng = np.random.default_rng(0)
    for k in range(n):
        pos = rng.uniform(0, 6, size=(3, 3))
        pos[1] = pos[0] + [0.05, 0, 0] if k == 2 else pos[1]
        s = Structure(["Cu", "Au", "Cu"], pos, energy=-1.0 - k, forces=np.zeros((3, 3)) if k % 2 else None,
                      source="t.xyz", frame=k)
        refs.append(weakref.ref(s))
        yield s


def test_summary_of_a_stream_holds_no_frame():
    refs: list = []
    summary = structure_summary(_frames(6, refs), close_pair_distance=0.1)
    gc.collect()
    assert all(r() is None for r in refs)  # every frame was released after it was counted
    assert summary["frames"] == 6 and summary["atoms"] == {"min": 3, "max": 3, "total": 18}
    assert summary["species"] == {"Cu": 12, "Au": 6}
    assert summary["energy_eV"] == [-6.0, -1.0] and summary["frames_with_forces"] == 3
    assert [p["structure"] for p in summary["close_pairs"]] == ["t.xyz@2"]
    assert summary["close_pairs"][0]["atoms"] == [1, 2]
