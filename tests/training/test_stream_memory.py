"""``memory: stream`` must not hold the whole training set's features at any time.

Chunks are made small (10 structures) so that the synthetic set spans many of them; the test
records (a) that no feature array is loaded, (b) the largest read of a ``/features/*/values``
dataset, and (c) the most structures held at once in batches made by the stream source.
"""

from __future__ import annotations

import functools
import weakref

import h5py
import pytest

import anncli.training.normalization as normalization
import anncli.workflows.train as train_workflow
from anncli.training import data as data_mod
from anncli.workflows.train import run

from conftest import train_config

CHUNK = 10


@pytest.mark.parametrize("opt", [{"method": "lbfgs"}, {"method": "adam", "learning_rate": 0.01}])
def test_stream_never_holds_all_features(tmp_path, synthetic, monkeypatch, opt):
    loaded = []

    def load(*args, **kwargs):
        loaded.append(data_mod.load_training_data(*args, **kwargs))
        return loaded[-1]

    largest_read = {}
    getitem = h5py.Dataset.__getitem__

    def read(self, args, *rest, **kw):
        out = getitem(self, args, *rest, **kw)
        if self.name.startswith("/features/") and self.name.endswith("/values"):
            largest_read[self.name] = max(largest_read.get(self.name, 0), len(out))
        return out

    live = {"now": 0, "max": 0, "batches": 0}

    def released(n):
        live["now"] -= n

    class SmallChunks(data_mod.StreamSource):
        def batch(self, ids):
            b = super().batch(ids)
            live["batches"] += 1
            live["now"] += len(b.ids)
            live["max"] = max(live["max"], live["now"])
            weakref.finalize(b, released, len(b.ids))
            return b

    monkeypatch.setattr(train_workflow, "load_training_data", load)
    monkeypatch.setattr(train_workflow, "StreamSource",
                        functools.partial(SmallChunks, chunk_structures=CHUNK))
    monkeypatch.setattr(normalization, "raw_feature_chunks",
                        functools.partial(data_mod.raw_feature_chunks, chunk=CHUNK))
    monkeypatch.setattr(h5py.Dataset, "__getitem__", read)

    run(train_config(tmp_path, synthetic["path"], epochs=3, optimizer=opt, memory="stream",
                     batch_size=8))

    data = loaded[0]
    assert data.features == {}
    n_train = int(round(0.8 * data.n_structures))
    assert n_train > 4 * CHUNK and live["batches"] > n_train // CHUNK
    # full passes (L-BFGS): one chunk at a time, released before the next one is made; Adam's
    # loop holds its last mini-batch of 8 while the next is drawn
    assert live["max"] <= (CHUNK if opt["method"] == "lbfgs" else 2 * 8)
    for sym in data.species:
        total = len(data.structure_index[sym])
        # a read covers one chunk (a slab of up to 4x its rows, anncli.training.data.read_rows)
        assert 0 < largest_read[f"/features/{sym}/values"] <= total // 3
