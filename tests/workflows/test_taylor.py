"""Taylor-expansion augmentation (generate's ``taylor``) and the split by parent structure.

The copies' labels are checked against E − Σ F·δ computed here from the stored positions
and forces, the displacements against their definition (no centre-of-mass motion, the
largest atom displacement equal to ``displacement``), the file against batching, and the
split against leaking a copy of a validation structure into training.
"""

from __future__ import annotations

import csv
import json
import logging
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from ase.data import atomic_masses, atomic_numbers

from anncli.cli import main
from anncli.exceptions import FileFormatError
from anncli.io import write_xsf
from anncli.io.trainset import open_trainset, read_parents
from anncli.structure import Structure
from anncli.training.split import explicit_split, random_split
from anncli.workflows import generate as gen

E_REF = {"H": -0.5, "O": -2.0}
SPECIES = ["H", "O"]
COPIES = 3


def _structures(n: int = 8, seed: int = 1) -> list[Structure]:
    """Isolated H/O clusters (one without forces) and one periodic cell."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        n_at = 3 + k % 4
        grid = np.array([[i, j, l] for i in range(3) for j in range(3) for l in range(3)], float)
        pos = 1.3 * grid[rng.permutation(27)[:n_at]] + rng.normal(scale=0.05, size=(n_at, 3))
        symbols = list(rng.choice(SPECIES, size=n_at))
        symbols[0] = "O"
        forces = None if k == 2 else rng.normal(size=(n_at, 3))
        out.append(Structure(symbols, pos, energy=float(rng.normal(-10, 1)), forces=forces))
    cell = np.eye(3) * 4.0
    pos = np.array([[0.01, 0.01, 0.01], [2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])  # first atom at the cell edge
    out.append(Structure(["O", "H", "H"], pos, cell, (True, True, True), energy=-7.0,
                         forces=rng.normal(size=(3, 3))))
    return out


def _inputs(tmp_path: Path, structures, taylor: dict | None, output: str = "out.h5") -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for k, s in enumerate(structures):
        write_xsf(data / f"s{k:03d}.xsf", s)
    text = textwrap.dedent(f"""\
        structures: [data/*.xsf]
        output: {output}
        reference_energies: {json.dumps(E_REF)}
        descriptors:
          default:
            type: chebyshev
            radial: {{cutoff: 4.0, order: 4}}
            angular: {{cutoff: 3.0, order: 2}}
        """)
    if taylor is not None:
        text += f"taylor: {json.dumps(taylor)}\n"
    path = tmp_path / f"{output}.yaml"
    path.write_text(text)
    return path


def _generate(path: Path):
    from anncli.config.generate import load_generate_config

    return gen.run(load_generate_config(path), config_path=path)


def _read(path: Path) -> dict:
    with h5py.File(path) as f:
        out = {name: f["structures"][name][()] for name in
               ("energy", "cohesive_energy", "n_atoms", "atom_offset", "has_forces", "parent")}
        out["positions"] = f["atoms/positions"][()]
        out["forces"] = f["atoms/forces"][()]
        out["species"] = f["atoms/species"][()]
        out["content_id"] = f.attrs["content_id"]
    return out


def _rows(d: dict, i: int) -> slice:
    return slice(d["atom_offset"][i], d["atom_offset"][i + 1])


@pytest.fixture(scope="module")
def augmented(tmp_path_factory):
    """One augmented training set (mode all), shared by the checks below."""
    tmp = tmp_path_factory.mktemp("taylor")
    structures = _structures()
    path = _inputs(tmp, structures, {"copies": COPIES, "displacement": 0.02, "mode": "all", "seed": 7})
    result = _generate(path)
    return structures, result, _read(tmp / "out.h5"), tmp / "out.h5"


def test_copies_follow_their_parent_and_only_structures_with_forces_get_them(augmented):
    structures, result, d, _ = augmented
    with_forces = sum(s.forces is not None for s in structures)
    assert result.n_structures == len(structures) + COPIES * with_forces
    parents = d["parent"]
    originals = np.flatnonzero(parents == np.arange(len(parents)))
    assert len(originals) == len(structures)
    for k, p in enumerate(originals):  # originals in file order, each followed by its copies
        s = structures[k]
        n_copies = COPIES if s.forces is not None else 0
        assert np.array_equal(parents[p:p + 1 + n_copies], np.full(1 + n_copies, p))
        assert d["has_forces"][p] == (s.forces is not None)
        assert not d["has_forces"][p + 1:p + 1 + n_copies].any()
        for c in range(p + 1, p + 1 + n_copies):
            assert np.isnan(d["forces"][_rows(d, c)]).all()


def test_copy_energies_are_first_order_taylor_of_the_stored_positions(augmented):
    _, _, d, _ = augmented
    parents = d["parent"]
    copies = np.flatnonzero(parents != np.arange(len(parents)))
    assert len(copies)
    for c in copies:
        p = parents[c]
        delta = d["positions"][_rows(d, c)] - d["positions"][_rows(d, p)]
        expected = -np.sum(d["forces"][_rows(d, p)] * delta)
        np.testing.assert_allclose(d["energy"][c] - d["energy"][p], expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d["cohesive_energy"][c] - d["cohesive_energy"][p], expected,
                                   rtol=1e-9, atol=1e-12)
        assert abs(expected) > 1e-4  # the copies do carry the force information


def test_displacements_keep_the_centre_of_mass_and_have_the_given_size(augmented):
    _, _, d, _ = augmented
    parents = d["parent"]
    masses = np.array([atomic_masses[atomic_numbers[s]] for s in SPECIES])[d["species"]]
    seen = []
    for c in np.flatnonzero(parents != np.arange(len(parents))):
        p = parents[c]
        delta = d["positions"][_rows(d, c)] - d["positions"][_rows(d, p)]
        m = masses[_rows(d, c)]
        np.testing.assert_allclose(m @ delta, 0.0, atol=1e-12)
        norms = np.linalg.norm(delta, axis=1)
        assert norms.max() == pytest.approx(0.02, rel=1e-9)
        assert (norms > 1e-6).all()  # mode all: every atom moves
        seen.append(delta.ravel()[:3])
    assert len({tuple(np.round(x, 12)) for x in seen}) == len(seen)  # every copy its own draw


def test_single_mode_moves_one_atom_and_shifts_the_rest_to_keep_the_centre(tmp_path):
    structures = _structures(4)
    path = _inputs(tmp_path, structures, {"copies": 2, "displacement": 0.015, "mode": "single"})
    _generate(path)
    d = _read(tmp_path / "out.h5")
    masses = np.array([atomic_masses[atomic_numbers[s]] for s in SPECIES])[d["species"]]
    parents = d["parent"]
    copies = np.flatnonzero(parents != np.arange(len(parents)))
    assert len(copies) == 2 * sum(s.forces is not None for s in structures)
    for c in copies:
        p = parents[c]
        delta = d["positions"][_rows(d, c)] - d["positions"][_rows(d, p)]
        m = masses[_rows(d, c)]
        # one atom a moved; all the others share the shift -m_a δ_a / (M - m_a) that keeps the
        # centre of mass (a heavy atom in a light molecule moves less than that shift)
        moved = [a for a in range(len(m)) if np.allclose(
            np.delete(delta, a, axis=0), -m[a] * delta[a] / (m.sum() - m[a]), rtol=1e-9, atol=1e-15)]
        assert len(moved) >= 1
        np.testing.assert_allclose(m @ delta, 0.0, atol=1e-12)
        assert np.linalg.norm(delta, axis=1).max() == pytest.approx(0.015, rel=1e-9)
        expected = -np.sum(d["forces"][_rows(d, p)] * delta)
        np.testing.assert_allclose(d["energy"][c] - d["energy"][p], expected, rtol=1e-9, atol=1e-12)


def test_the_file_does_not_depend_on_the_batch_size(augmented, monkeypatch):
    structures, _, d, first = augmented
    # the same structure files (the source paths are part of the content id), another output
    path = _inputs(first.parent, structures, {"copies": COPIES, "displacement": 0.02, "mode": "all",
                                                  "seed": 7}, output="batched.h5")
    monkeypatch.setattr(gen, "BATCH_ATOMS", 1)  # one structure (and its copies) per batch
    _generate(path)
    again = _read(first.parent / "batched.h5")
    for key in ("positions", "energy", "cohesive_energy", "parent", "has_forces"):
        np.testing.assert_array_equal(again[key], d[key])


def test_structures_without_forces_are_counted_in_the_log(tmp_path, caplog):
    structures = _structures(3)
    path = _inputs(tmp_path, structures, {"copies": 1})
    with caplog.at_level(logging.INFO, logger="anncli"):
        _generate(path)
    assert "1 structure(s) without reference forces got no copies" in caplog.text
    assert "3 displaced copies of 3 structures added" in caplog.text


def test_without_taylor_every_structure_is_its_own_parent(tmp_path):
    _generate(_inputs(tmp_path, _structures(3), None))
    d = _read(tmp_path / "out.h5")
    np.testing.assert_array_equal(d["parent"], np.arange(4))  # 3 clusters and a cell


# ----------------------------------------------------------------------------- the parent column
def test_files_without_the_column_read_as_their_own_parents_and_bad_columns_are_refused(augmented, tmp_path):
    import shutil

    _, _, d, path = augmented
    n = len(d["parent"])
    for case, value in (("absent", None), ("range", n + 3), ("copy of a copy", None)):
        copy = tmp_path / f"{case}.h5"
        shutil.copy(path, copy)
        with h5py.File(copy, "a") as f:
            parents = f["structures/parent"][()]
            del f["structures/parent"]
            if case == "range":
                parents[-1] = value
            elif case == "copy of a copy":
                c = int(np.flatnonzero(parents != np.arange(n))[1])
                parents[c] = c - 1  # points to another copy
            if case != "absent":
                f["structures"].create_dataset("parent", data=parents)
        with open_trainset(copy) as f:
            if case == "absent":
                np.testing.assert_array_equal(read_parents(f), np.arange(n))
            else:
                with pytest.raises(FileFormatError, match="parent"):
                    read_parents(f)


# ----------------------------------------------------------------------------- the split
def _families(parents: np.ndarray, ids: np.ndarray) -> set[int]:
    return set(parents[ids].tolist())


def test_random_split_draws_parents_and_keeps_families_together():
    parents = np.repeat(np.arange(0, 200, 5), 5)  # 40 families of 5 (a parent and 4 copies)
    eligible = np.arange(200)
    train, val = random_split(eligible, 0.2, np.random.default_rng(3), parents)
    assert not _families(parents, train) & _families(parents, val)
    assert len(_families(parents, val)) == 8  # 20 % of the 40 parents
    assert len(val) == 40 and len(train) == 160
    assert np.array_equal(np.sort(np.concatenate([train, val])), eligible)
    # the same seed draws the same parents as for the set without copies (paired comparisons)
    _, val_plain = random_split(np.arange(40), 0.2, np.random.default_rng(3))
    np.testing.assert_array_equal(np.unique(parents[val]) // 5, val_plain)
    # every structure its own parent: the split of a file without copies is unchanged
    a = random_split(eligible, 0.2, np.random.default_rng(3))
    b = random_split(eligible, 0.2, np.random.default_rng(3), np.arange(200))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_explicit_validation_indices_take_their_whole_family():
    parents = np.array([0, 0, 0, 3, 4, 4, 6, 6, 6])
    train, val = explicit_split(np.arange(9), np.array([7, 4]), 9, parents=parents)
    assert val.tolist() == [4, 5, 6, 7, 8]  # the parent of copy 7 and both its copies; 4's copy
    assert train.tolist() == [0, 1, 2, 3]


def test_train_never_trains_on_a_copy_of_a_validation_structure(augmented, tmp_path):
    """Through ``anncli train``: a random and an explicit split, read back from split.csv."""
    _, _, d, path = augmented
    parents = d["parent"]
    copy = int(np.flatnonzero(parents != np.arange(len(parents)))[0])
    for name, split in (("random", "validation_fraction: 0.3"), ("explicit", f"validation_set: [{copy}]")):
        cfg = tmp_path / f"train-{name}.yaml"
        cfg.write_text(textwrap.dedent(f"""\
            trainset: {path}
            output: model-{name}.h5
            output_dir: out-{name}
            seed: 2
            {split}
            networks:
              default: {{hidden: [3], activation: tanh}}
            optimizer: {{method: lbfgs}}
            epochs: 2
            checkpoint_every: 0
            """))
        assert main(["train", str(cfg)]) == 0
        with (tmp_path / f"out-{name}" / "split.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        sets = {int(r["index"]): r["set"] for r in rows}
        train = np.array([i for i, s in sets.items() if s == "train"])
        val = np.array([i for i, s in sets.items() if s == "validation"])
        assert not _families(parents, train) & _families(parents, val)
        assert all(parents[i] == i for i in val)  # validation: originals only (copies' labels are approximate)
        missing = set(range(len(parents))) - set(sets)  # the copies of validation structures: in neither set
        assert missing == {i for i in range(len(parents)) if parents[i] != i and parents[i] in set(val.tolist())}
        if name == "explicit":
            assert set(val.tolist()) == {int(parents[copy])}


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("taylor, key", [
    ({"copies": 0}, "taylor.copies"),
    ({"displacement": 0}, "taylor.displacement"),
    ({"displacement": -0.01}, "taylor.displacement"),
    ({"mode": "pairs"}, "taylor.mode"),
    ({"seed": -1}, "taylor.seed"),
    ({"copies": 2, "sigma": 0.1}, "sigma"),
])
def test_bad_taylor_sections_exit_2_naming_the_key(tmp_path, capsys, taylor, key):
    path = _inputs(tmp_path, _structures(2), taylor)
    assert main(["generate", str(path)]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err
    assert not (tmp_path / "out.h5").exists()
