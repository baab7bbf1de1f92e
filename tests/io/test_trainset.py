"""The training-set writer: layout, statistics, atomic completion, refusal to overwrite."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest

from anncli.exceptions import DataError, FileFormatError
from anncli.io.h5info import describe, dump_json
from anncli.io.trainset import TrainsetWriter, open_trainset, temporary_path


class _FakeSetup:
    kind = "fake"

    def __init__(self, central, n_features):
        self.central = central
        self.env = ["A", "B"]
        self.n_features = n_features
        self.cutoff = 3.0

    def to_dict(self):
        return {"kind": self.kind, "central": self.central, "env": self.env, "n": self.n_features}


def _batch(rng, n_atoms_list, species_count=2):
    n_atoms = np.array(n_atoms_list)
    total = int(n_atoms.sum())
    atom_species = rng.integers(0, species_count, total).astype(np.int32)
    structures = {
        "energy": rng.normal(size=len(n_atoms)),
        "cohesive_energy": rng.normal(size=len(n_atoms)),
        "n_atoms": n_atoms,
        "cell": np.zeros((len(n_atoms), 3, 3)),
        "pbc": np.zeros((len(n_atoms), 3), bool),
        "source": np.array([f"s{k}.xsf" for k in range(len(n_atoms))], dtype=object),
        "frame": np.zeros(len(n_atoms), np.int64),
        "has_forces": np.ones(len(n_atoms), bool),
    }
    atoms = {"species": atom_species, "positions": rng.normal(size=(total, 3)), "forces": rng.normal(size=(total, 3))}
    features = {}
    for k, sym in enumerate(["A", "B"]):
        centers = np.flatnonzero(atom_species == k)
        features[sym] = (centers, rng.normal(size=(len(centers), 3 + k)))
    return structures, atoms, features


def _writer(path, **kw):
    setups = {"A": _FakeSetup("A", 3), "B": _FakeSetup("B", 4)}
    return TrainsetWriter(path, ["A", "B"], np.array([-1.0, -2.0]), setups, input_text="x: 1", **kw)


@pytest.mark.parametrize("buffer_rows", [1, 65536])  # per-structure columns flushed often / once
def test_two_batches_concatenate_with_global_indices_and_statistics(tmp_path, monkeypatch, buffer_rows):
    import anncli.io.trainset as trainset

    monkeypatch.setattr(trainset, "STRUCTURE_BUFFER_ROWS", buffer_rows)
    rng = np.random.default_rng(1)
    path = tmp_path / "t.h5"
    b1, b2 = _batch(rng, [3, 5]), _batch(rng, [4])
    with _writer(path) as w:
        w.append(*b1)
        w.append(*b2)
        w.close()
    with open_trainset(path) as f:
        np.testing.assert_array_equal(f["structures/atom_offset"][()], [0, 3, 8, 12])
        np.testing.assert_array_equal(f["structures/n_atoms"][()], [3, 5, 4])
        all_species = np.concatenate([b1[1]["species"], b2[1]["species"]])
        np.testing.assert_array_equal(f["atoms/species"][()], all_species)
        for k, sym in enumerate(["A", "B"]):
            g = f["features"][sym]
            expected_index = np.flatnonzero(all_species == k)
            np.testing.assert_array_equal(g["atom_index"][()], expected_index)
            owner = np.repeat([0, 1, 2], [3, 5, 4])
            np.testing.assert_array_equal(g["structure_index"][()], owner[expected_index])
            values = np.concatenate([b1[2][sym][1], b2[2][sym][1]])
            np.testing.assert_array_equal(g["values"][()], values)
            np.testing.assert_allclose(g.attrs["mean"], values.mean(axis=0), rtol=1e-12)
            np.testing.assert_allclose(g.attrs["std"], values.std(axis=0), rtol=1e-10)
            np.testing.assert_array_equal(g.attrs["min"], values.min(axis=0))
            assert json.loads(g.attrs["descriptor"])["central"] == sym
        counts = f["structures/species_count"][()]
        assert counts.sum() == 12 and (counts.sum(axis=1) == [3, 5, 4]).all()


def test_interrupted_write_leaves_nothing(tmp_path):
    path = tmp_path / "t.h5"
    with pytest.raises(RuntimeError):
        with _writer(path) as w:
            w.append(*_batch(np.random.default_rng(0), [2]))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_not_overwritten_unless_asked(tmp_path):
    path = tmp_path / "t.h5"
    path.write_text("precious")
    with pytest.raises(DataError, match="exists"):
        _writer(path)
    assert path.read_text() == "precious"
    w = _writer(path, overwrite=True)
    w.append(*_batch(np.random.default_rng(0), [2]))
    w.close()
    assert open_trainset(path).attrs["complete"]


def test_incomplete_foreign_and_future_files_are_refused(tmp_path):
    w = _writer(tmp_path / "t.h5")
    w.append(*_batch(np.random.default_rng(0), [2]))
    w._file.flush()
    with pytest.raises(FileFormatError, match="incomplete"):
        open_trainset(temporary_path(tmp_path / "t.h5"))
    w.abort()
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(FileFormatError, match="not an anncli training-set"):
        open_trainset(tmp_path / "other.h5")
    with h5py.File(tmp_path / "future.h5", "w") as f:
        f.attrs.update(format="anncli-trainset", format_version=99, complete=True)
    with pytest.raises(FileFormatError, match="version 99"):
        open_trainset(tmp_path / "future.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FileFormatError, match="not a readable HDF5"):
        open_trainset(tmp_path / "text.h5")


def test_describe_and_json_dump(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "t.h5"
    b = _batch(rng, [3, 2])
    w = _writer(path)
    w.append(*b)
    w.close()
    text = describe(path)
    assert "structures: 2" in text and "atoms: 5" in text
    out = io.StringIO()
    dump_json(path, out)
    doc = json.loads(out.getvalue())
    assert [len(s["atoms"]) for s in doc["structures"]] == [3, 2]
    atom0 = doc["structures"][0]["atoms"][0]
    sym = atom0["species"]
    centers, values = b[2][sym]
    np.testing.assert_allclose(atom0["features"], values[list(centers).index(0)])
    assert doc["structures"][1]["cohesive_energy"] == pytest.approx(b[0]["cohesive_energy"][1])


def test_describe_model_file(tmp_path):
    from anncli.descriptors import ChebyshevSetup
    from anncli.potential.model_file import save_model
    from synthetic_model import random_model

    setups = {s: ChebyshevSetup(s, ["Ti", "O"], 6.0, 8, 4.0, 3) for s in ("Ti", "O")}
    model = random_model(setups, hidden=(7, 5), reference_energies={"Ti": -1.0, "O": -2.5})
    save_model(tmp_path / "m.h5", model)
    text = describe(tmp_path / "m.h5")
    n_features = setups["Ti"].n_features
    import re

    assert re.search(rf"Ti\s+-1\.000000000\s+{n_features}-7-5-1 tanh\s+chebyshev, cutoff 6 Å, env Ti O", text)
    assert re.search(r"\n\s+O\s+-2\.500000000\s", text)


@pytest.mark.parametrize("what", ["trainset", "model", "checkpoint"])
def test_every_anncli_file_reader_refuses_foreign_and_missing_files(tmp_path, what):
    from anncli.potential.model_file import load_model
    from anncli.training.checkpoint import load_checkpoint

    reader = {"trainset": open_trainset, "model": load_model, "checkpoint": load_checkpoint}[what]
    with pytest.raises(FileFormatError, match="no such"):
        reader(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.attrs.update(format="anncli-something-else", format_version=1)
    with pytest.raises(FileFormatError, match=r"not an anncli .*format attribute 'anncli-something-else'"):
        reader(tmp_path / "x.h5")
