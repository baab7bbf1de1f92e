"""Force data: the pair derivatives are read in chunks into float32, bit-identical to a full
float64 conversion and without a float64 copy of the whole array (tracemalloc)."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

from anncli.io.trainset import TrainsetWriter
from anncli.training import forces as forces_mod
from anncli.training.data import load_training_data
from anncli.training.forces import ForceData, read_scaled_float32
from anncli.training.normalization import compute_normalization

from conftest import FakeDescriptor

SPECIES = ["A", "B"]


def _trainset_with_derivatives(path, *, n_structures=40, atoms_per_structure=24, neighbors=24,
                               n_features=16, seed=0):
    """Random features and dG (every atom has ``neighbors`` pairs inside its structure)."""
    rng = np.random.default_rng(seed)
    n_atoms = np.full(n_structures, atoms_per_structure)
    total = int(n_atoms.sum())
    species = rng.integers(0, 2, size=total).astype(np.int32)
    first = np.repeat(np.arange(n_structures) * atoms_per_structure, atoms_per_structure)
    derivatives, features = {}, {}
    for k, sym in enumerate(SPECIES):
        centers = np.flatnonzero(species == k)
        neighbor = (first[centers, None] + rng.integers(0, atoms_per_structure, (len(centers), neighbors))).ravel()
        pair_offsets = np.arange(len(centers) + 1, dtype=np.int64) * neighbors
        dG = rng.normal(size=(len(neighbor), n_features, 3)) * rng.uniform(0.1, 10, n_features)[None, :, None]
        derivatives[sym] = (pair_offsets, neighbor, dG)
        features[sym] = (centers, rng.normal(size=(len(centers), n_features)) * np.linspace(0.5, 3, n_features))
    setups = {s: FakeDescriptor(s, n_features) for s in SPECIES}
    with TrainsetWriter(path, SPECIES, np.array([-1.0, -2.0]), setups, derivatives=True) as w:
        w.append(
            structures={"energy": rng.normal(size=n_structures), "cohesive_energy": rng.normal(size=n_structures),
                        "n_atoms": n_atoms, "cell": np.zeros((n_structures, 3, 3)),
                        "pbc": np.zeros((n_structures, 3), bool),
                        "source": np.array([f"s{k}.xsf" for k in range(n_structures)], dtype=object),
                        "frame": np.zeros(n_structures, dtype=np.int64), "has_forces": np.ones(n_structures, bool)},
            atoms={"species": species, "positions": np.zeros((total, 3)), "forces": rng.normal(size=(total, 3))},
            features=features,
            derivatives=derivatives,
        )
        w.close()
    return path


def _load(path):
    data = load_training_data(path)
    norm = compute_normalization(data, np.arange(data.n_structures))
    return data, norm


def _full_conversion(path, norm) -> dict:
    """The former implementation: the whole dG in float64, scaled, then converted."""
    out = {}
    with h5py.File(path) as f:
        for sym in SPECIES:
            dx = np.asarray(f["derivatives"][sym]["dG"][()], dtype=float)
            dx *= norm.inv_std(sym)[None, :, None]
            out[sym] = dx.astype(np.float32)
    return out


@pytest.mark.parametrize("chunk_bytes", [None, 1, 100_000])
def test_chunked_read_is_bit_identical_to_the_full_conversion(tmp_path, monkeypatch, chunk_bytes):
    path = _trainset_with_derivatives(tmp_path / "set.h5", n_structures=6)
    data, norm = _load(path)
    if chunk_bytes is not None:  # one HDF5 chunk per read, or several pieces of one
        monkeypatch.setattr(forces_mod, "READ_CHUNK_BYTES", chunk_bytes)
    fd = ForceData(data, norm, np.ones(data.n_structures), 0.5)
    expected = _full_conversion(path, norm)
    for sym in SPECIES:
        assert fd.dx[sym].dtype == np.float32 and fd.dx[sym].shape == expected[sym].shape
        np.testing.assert_array_equal(fd.dx[sym], expected[sym])


@pytest.mark.parametrize("chunks", [None, (7, 4, 3)])
@pytest.mark.parametrize("chunk_bytes", [1, 8 * 12 * 10, 1 << 30])
def test_read_scaled_float32_any_layout(tmp_path, monkeypatch, chunks, chunk_bytes):
    """Contiguous and chunked datasets, steps of one row, several rows and all rows (n=50)."""
    rng = np.random.default_rng(1)
    dG = rng.normal(size=(50, 4, 3)) * 1e3
    scale = rng.uniform(0.01, 3.0, 4)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        ds = f.create_dataset("dG", data=dG, chunks=chunks)
        monkeypatch.setattr(forces_mod, "READ_CHUNK_BYTES", chunk_bytes)
        got = read_scaled_float32(ds, scale)
        empty = read_scaled_float32(f.create_dataset("none", shape=(0, 4, 3), dtype="f8"), scale)
    np.testing.assert_array_equal(got, (dG * scale[None, :, None]).astype(np.float32))
    assert empty.shape == (0, 4, 3) and empty.dtype == np.float32


def test_no_float64_copy_of_the_whole_derivatives(tmp_path, monkeypatch):
    """Peak memory while loading: the float32 arrays plus about one chunk, not 1.5x float64."""
    path = _trainset_with_derivatives(tmp_path / "set.h5", n_structures=120)  # ~13 MB of dG per species
    data, norm = _load(path)
    with h5py.File(path) as f:
        full64 = {sym: f["derivatives"][sym]["dG"].size * 8 for sym in SPECIES}
    chunk = 1 << 20  # = the HDF5 chunk of dG written by TrainsetWriter (~1 MB), the smallest read
    monkeypatch.setattr(forces_mod, "READ_CHUNK_BYTES", chunk)
    tracemalloc.start()
    try:
        fd = ForceData(data, norm, np.ones(data.n_structures), 0.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = sum(a.nbytes for a in fd.dx.values()) + sum(a.nbytes for a in fd.neighbor.values())
    assert kept >= 0.5 * sum(full64.values())  # the float32 result is held (and traced)
    assert min(full64.values()) > 8 * chunk  # the check below could not pass with a full copy
    # the former full conversion peaks at kept + the largest float64 array
    assert peak - kept < 4 * chunk, (peak, kept, full64)
