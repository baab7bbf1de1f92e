"""The training set's ``content_id``: computed while writing, equal to the documented digest of
the file's datasets, independent of the batching, changed by any changed value."""

from __future__ import annotations

import hashlib
import logging

import h5py
import numpy as np
import pytest

from anncli.io.trainset import content_id, open_trainset, trainset_content_id

from test_trainset import _batch, _writer


def _derivatives(rng, features):
    out = {}
    for sym, (centers, values) in features.items():
        counts = rng.integers(0, 3, size=len(centers))
        offsets = np.concatenate([[0], np.cumsum(counts)])
        n_pairs = int(offsets[-1])
        out[sym] = (offsets, rng.integers(0, 4, size=n_pairs),
                    rng.normal(size=(n_pairs, values.shape[1], 3)))
    return out


def _write(path, batches, derivatives=False):
    w = _writer(path, derivatives=derivatives)
    for b in batches:
        w.append(*b)
    written = w.content_id()
    w.close()
    return written


def _documented_id(path) -> str:
    """docs/trainset-format.md, written out independently of anncli.io.trainset."""
    parts = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            data = item[()]
            if h5py.check_string_dtype(item.dtype) is not None:
                label = "str"
                body = b"".join(len(v).to_bytes(8, "little") + v for v in data.ravel())
            else:
                label = data.dtype.newbyteorder("<").str if data.dtype.byteorder == ">" else data.dtype.str
                body = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
            parts[name] = (label, item.shape, hashlib.sha256(body).digest())

    with h5py.File(path) as f:
        f.visititems(visit)
    h = hashlib.sha256()
    for name in sorted(parts):
        label, shape, digest = parts[name]
        h.update(f"{name}\0{label}\0{','.join(map(str, shape))}\0".encode() + digest)
    return h.hexdigest()


@pytest.mark.parametrize("derivatives", [False, True])
def test_written_id_is_the_documented_digest_of_the_file(tmp_path, derivatives):
    rng = np.random.default_rng(0)
    batches = []
    for sizes in ([3, 2], [4], [1, 5, 2]):
        b = _batch(rng, sizes)
        batches.append((*b, _derivatives(rng, b[2])) if derivatives else b)
    written = _write(tmp_path / "t.h5", batches, derivatives)
    with open_trainset(tmp_path / "t.h5") as f:
        assert f.attrs["content_id"] == written
        assert content_id(f) == written
        assert ("derivatives" in f) == derivatives
    assert _documented_id(tmp_path / "t.h5") == written


def test_id_does_not_depend_on_batching_but_on_every_value(tmp_path, monkeypatch):
    import anncli.io.trainset as trainset

    rng = np.random.default_rng(1)
    s, a, f = _batch(rng, [3, 2, 4])
    one = _write(tmp_path / "one.h5", [(s, a, f)])
    # the same rows in two batches, per-structure columns flushed after every batch
    monkeypatch.setattr(trainset, "STRUCTURE_BUFFER_ROWS", 1)
    n1 = 3  # atoms of the first structure
    cut = lambda d, sl: {k: v[sl] for k, v in d.items()}  # noqa: E731
    first = (cut(s, slice(0, 1)), cut(a, slice(0, n1)),
             {sym: (c[c < n1], v[c < n1]) for sym, (c, v) in f.items()})
    second = (cut(s, slice(1, None)), cut(a, slice(n1, None)),
              {sym: (c[c >= n1] - n1, v[c >= n1]) for sym, (c, v) in f.items()})
    assert _write(tmp_path / "two.h5", [first, second]) == one
    changed = {sym: (c, v.copy()) for sym, (c, v) in f.items()}
    changed["B"][1][-1, -1] += 1e-12
    assert _write(tmp_path / "feature.h5", [(s, a, changed)]) != one
    s2 = dict(s, cohesive_energy=s["cohesive_energy"] + np.array([0.0, 0.0, 1e-9]))
    assert _write(tmp_path / "energy.h5", [(s2, a, f)]) != one


def test_files_without_the_attribute_get_it_recomputed(tmp_path, caplog):
    rng = np.random.default_rng(2)
    written = _write(tmp_path / "t.h5", [_batch(rng, [2, 3])])
    with h5py.File(tmp_path / "t.h5", "a") as f:
        del f.attrs["content_id"]  # as written by anncli before the attribute existed
    with caplog.at_level(logging.INFO, logger="anncli"), open_trainset(tmp_path / "t.h5") as f:
        assert trainset_content_id(f) == written
    assert "no content_id" in caplog.text
