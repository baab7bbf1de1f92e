"""ænet training-set files -> anncli HDF5 training sets (``anncli convert file.train``).

Golden: ref.train written by ænet 2.0.4's generate.x and its decoded features.json.  The
converted file holds exactly the decoded features, positions, forces, species and cohesive
energies; the setups recorded are those of the .stp files, so anncli recomputes the stored
features from the structures and a model trained on the converted set predicts with them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from aenet_files import load_json, write_binary

from anncli.exceptions import DataError, FileFormatError
from anncli.io.aenet_trainset import read_aenet_trainset
from anncli.workflows.convert_trainset import convert_aenet_trainset


def _decoded(d: dict):
    """Per-species features and the flat atom table of features.json."""
    species = d["header"]["typeName"]
    atoms = [a for s in d["structures"] for a in s["atoms"]]
    feats = {sym: np.array([a["sfval"] for a in atoms if a["itype"] == k + 1])
             for k, sym in enumerate(species)}
    return atoms, feats


def _check_equal(h5: Path, d: dict, exact: bool = True) -> None:
    atoms, feats = _decoded(d)
    eq = (lambda a, b: np.testing.assert_array_equal(a, b)) if exact else \
        (lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12))
    with h5py.File(h5) as f:
        species = [s.decode() if isinstance(s, bytes) else s for s in f["species"][()]]
        assert species == d["header"]["typeName"]
        np.testing.assert_array_equal(f["reference_energies"][()], d["header"]["E_atom"])
        st = f["structures"]
        assert list(st["n_atoms"][()]) == [len(s["atoms"]) for s in d["structures"]]
        eq(st["cohesive_energy"][()], [s["energy"] for s in d["structures"]])
        e_atom = np.array(d["header"]["E_atom"])
        total = [s["energy"] + sum(e_atom[a["itype"] - 1] for a in s["atoms"]) for s in d["structures"]]
        np.testing.assert_allclose(st["energy"][()], total, rtol=0, atol=1e-12)
        assert [x.decode() for x in st["source"][()]] == [s["file"] for s in d["structures"]]
        assert st["has_forces"][()].all()
        np.testing.assert_array_equal(f["atoms/species"][()], [a["itype"] - 1 for a in atoms])
        np.testing.assert_array_equal(f["atoms/positions"][()], [a["coo"] for a in atoms])
        eq(f["atoms/forces"][()], [a["force"] for a in atoms])
        for sym in species:
            eq(f[f"features/{sym}/values"][()], feats[sym])
            idx = [i for i, a in enumerate(atoms) if species[a["itype"] - 1] == sym]
            np.testing.assert_array_equal(f[f"features/{sym}/atom_index"][()], idx)
        assert f.attrs["complete"]


def test_binary_golden_equals_decoded_features_exactly(golden, tmp_path):
    d = load_json(golden)
    out = convert_aenet_trainset(golden / "trainset" / "ref.train", tmp_path / "ref.h5")
    assert (out.n_structures, out.n_atoms) == (5, 76)
    _check_equal(tmp_path / "ref.h5", d)
    # the footer's statistics (mean, mean of squares over every atom) agree with the writer's
    with h5py.File(tmp_path / "ref.h5") as f:
        for sym, s in d["footer"]["setups"].items():
            g = f[f"features/{sym}"]
            np.testing.assert_allclose(g.attrs["mean"], s["sfval_avg"], rtol=1e-12, atol=1e-14)
            np.testing.assert_array_equal(g.attrs["min"], s["sfval_min"])
            np.testing.assert_array_equal(g.attrs["max"], s["sfval_max"])


def test_test_helper_writes_generate_x_bytes(golden, tmp_path):
    """The writer of the other tests' files gives generate.x's bytes back."""
    path = write_binary(load_json(golden), tmp_path / "x.train")
    assert path.read_bytes() == (golden / "trainset" / "ref.train").read_bytes()


def test_recorded_setups_are_the_stp_files_and_recompute_the_features(golden, tmp_path):
    """The descriptor recorded is the .stp's: anncli's features of the XSF structures equal
    the stored ones (so a model trained on the converted set predicts correctly)."""
    from anncli.descriptors import descriptor_from_dict
    from anncli.io.aenet_inputs import read_stp
    from anncli.potential.evaluate import Potential
    from anncli.potential.model_file import Model
    from anncli.network.mlp import Network
    from anncli.io.xsf import read_xsf

    convert_aenet_trainset(golden / "trainset" / "ref.train", tmp_path / "ref.h5")
    d = load_json(golden)
    with h5py.File(tmp_path / "ref.h5") as f:
        descs = {s: json.loads(f[f"features/{s}"].attrs["descriptor"]) for s in ("Ti", "O")}
    for sym in ("Ti", "O"):
        stp = read_stp(golden / "trainset" / f"{sym}.stp")
        assert descriptor_from_dict(descs[sym]) == descriptor_from_dict({"kind": "chebyshev", **stp})
    # a model with a linear "network" sum(w * x) on raw features: its energies on the XSF
    # structures (features recomputed by anncli) equal those from the stored features
    rng = np.random.default_rng(0)
    nets, n_feat = {}, {"Ti": 8, "O": 6}
    for sym, n in n_feat.items():
        nets[sym] = Network([n, 1], ["linear"])
        nets[sym].weights[0][...] = rng.normal(size=(1, n))
    model = Model(species=["Ti", "O"], reference_energies=np.array([-2.45, -1.55]),
                  descriptors={s: json.dumps(descs[s]) for s in descs},
                  feature_mean={s: np.zeros(n) for s, n in n_feat.items()},
                  feature_std={s: np.ones(n) for s, n in n_feat.items()},
                  feature_min={s: np.full(n, -1e9) for s, n in n_feat.items()},
                  feature_max={s: np.full(n, 1e9) for s, n in n_feat.items()},
                  networks=nets, energy_shift=0.0, energy_scale=1.0)
    names = [Path(s["file"]).name for s in d["structures"]]
    structures = [read_xsf(golden / "trainset" / "xsf" / n) for n in names]
    preds, _ = Potential(model).evaluate(structures, forces=False, stress=False, extrapolation=False)
    _, feats = _decoded(d)
    with h5py.File(tmp_path / "ref.h5") as f:
        sidx = {s: f[f"features/{s}/structure_index"][()] for s in ("Ti", "O")}
    stored = model.energies(feats, sidx, len(structures))
    np.testing.assert_allclose([p.energy for p in preds], stored, rtol=0, atol=1e-9)


def test_text_golden_equals_decoded_features_exactly(golden, tmp_path):
    res = convert_aenet_trainset(golden / "trainset" / "ref.train.ascii", tmp_path / "a.h5")
    _check_equal(tmp_path / "a.h5", load_json(golden))
    # no setups in the text: recorded as unavailable, with the reason
    assert all(k.startswith("unavailable: ") for k in res.descriptors.values())
    with h5py.File(tmp_path / "a.h5") as f:
        desc = json.loads(f["features/Ti"].attrs["descriptor"])
    assert desc["kind"] == "unavailable" and desc["n_features"] == 8 and "trnset2ASCII" in desc["reason"]


def test_text_with_stp_files_records_the_setups(golden, tmp_path):
    g = golden / "trainset"
    res = convert_aenet_trainset(g / "ref.train.ascii", tmp_path / "a.h5", stp=[g / "Ti.stp", g / "O.stp"])
    assert res.descriptors == {"Ti": "chebyshev", "O": "chebyshev"}
    convert_aenet_trainset(g / "ref.train", tmp_path / "b.h5")
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        for sym in ("Ti", "O"):
            assert a[f"features/{sym}"].attrs["descriptor"] == b[f"features/{sym}"].attrs["descriptor"]
        assert a.attrs["content_id"] == b.attrs["content_id"]  # the same data, from text or binary


@pytest.mark.parametrize("name", ["ref.train.scaled"])
def test_normalised_file_is_unnormalised(golden, tmp_path, name):
    h, _ = read_aenet_trainset(golden / "trainset" / name)
    assert h.normalized and h.scale != 1.0
    convert_aenet_trainset(golden / "trainset" / name, tmp_path / "s.h5")
    _check_equal(tmp_path / "s.h5", load_json(golden), exact=False)


def test_normalised_text_is_refused(golden, tmp_path):
    with pytest.raises(DataError, match="normalised.*--raw"):
        convert_aenet_trainset(golden / "trainset" / "ref.train.scaled.ascii", tmp_path / "s.h5")
    assert not list(tmp_path.iterdir())


def test_cells_come_from_the_source_xsf_when_found(golden, tmp_path):
    from anncli.io.xsf import read_xsf

    d = load_json(golden)
    shutil.copytree(golden / "trainset" / "xsf", tmp_path / "xsf")
    for s in d["structures"]:
        s["file"] = "xsf/" + Path(s["file"]).name
    res = convert_aenet_trainset(write_binary(d, tmp_path / "x.train"), tmp_path / "x.h5")
    with h5py.File(tmp_path / "x.h5") as f:
        cells, pbc = f["structures/cell"][()], f["structures/pbc"][()]
    n_periodic = 0
    for k, s in enumerate(d["structures"]):
        x = read_xsf(tmp_path / s["file"])
        if x.cell is not None and any(x.pbc):
            n_periodic += 1
            np.testing.assert_array_equal(cells[k], x.cell)
            assert pbc[k].all()
        else:
            assert not cells[k].any() and not pbc[k].any()
    assert n_periodic >= 3 and res.cells_found == n_periodic


def test_behler_features_from_aenets_wrong_table_are_marked(golden, tmp_path):
    """TYPES Ti O but ENV O Ti: ænet 2.0.4 evaluated each species with the other's table."""
    d = load_json(golden)
    for sym in ("Ti", "O"):
        s = d["footer"]["setups"][sym]
        n = s["nsf"]
        s.update(sftype="Behler2011", envtypes=["O", "Ti"], nsfparam=4, sf=[2] * n,
                 sfparam=[[4.0, 0.0, 0.1 * (k + 1), 0.0] for k in range(n)],
                 sfenv=[[1 + k % 2, 0] for k in range(n)])
    res = convert_aenet_trainset(write_binary(d, tmp_path / "b.train"), tmp_path / "b.h5")
    assert res.descriptors["Ti"].startswith("unavailable: ænet 2.0.4 computed the Behler2011")
    assert res.descriptors["O"].startswith("unavailable: ")
    # the same setups with ENV in TYPES order are recorded as they are
    for sym in ("Ti", "O"):
        s = d["footer"]["setups"][sym]
        s["envtypes"] = ["Ti", "O"]
    res = convert_aenet_trainset(write_binary(d, tmp_path / "c.train"), tmp_path / "c.h5")
    assert res.descriptors == {"Ti": "behler2011", "O": "behler2011"}


def test_bad_files(golden, tmp_path):
    d = load_json(golden)
    data = write_binary(d, tmp_path / "ok.train").read_bytes()
    (tmp_path / "cut.train").write_bytes(data[:5000])
    with pytest.raises(FileFormatError, match="cut.train"):
        convert_aenet_trainset(tmp_path / "cut.train", tmp_path / "cut.h5")
    d["structures"][1]["atoms"][2]["sfval"] = d["structures"][1]["atoms"][2]["sfval"][:-1]
    with pytest.raises(DataError, match=r"atom 3 of structure 2 .* has 5 features; O has 6 in its setup"):
        convert_aenet_trainset(write_binary(d, tmp_path / "nsf.train"), tmp_path / "nsf.h5")
    d = load_json(golden)
    d["structures"][0]["atoms"][0]["itype"] = 3
    with pytest.raises(FileFormatError, match="atom 1 of structure 1 .* has type 3; the file has 2 types"):
        convert_aenet_trainset(write_binary(d, tmp_path / "t.train"), tmp_path / "t.h5")
    d = load_json(golden)
    d["structures"][3]["atoms"][1]["sfval"][2] = float("nan")
    with pytest.raises(DataError, match=r"structure 4 .*: atom 2 has features that are not finite"):
        convert_aenet_trainset(write_binary(d, tmp_path / "t.train"), tmp_path / "t.h5")
    d = load_json(golden)
    d["structures"][2]["energy"] = float("inf")
    with pytest.raises(DataError, match=r"structure 3 .* has the energy inf"):
        convert_aenet_trainset(write_binary(d, tmp_path / "t.train"), tmp_path / "t.h5")
    convert_aenet_trainset(tmp_path / "ok.train", tmp_path / "ok.h5")
    with pytest.raises(DataError, match="exists"):
        convert_aenet_trainset(tmp_path / "ok.train", tmp_path / "ok.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.train", "nsf.train", "ok.h5", "ok.train", "t.train"]


def test_nul_character_in_a_structure_path_is_a_format_error(golden, tmp_path):
    """A damaged path (a NUL byte, found by tests/fuzz) was an h5py ValueError on writing."""
    d = load_json(golden)
    name = d["structures"][1]["file"]
    d["structures"][1]["file"] = name[:3] + "\0" + name[4:]
    with pytest.raises(FileFormatError, match=r"b\.train: structure 2: its path holds a NUL character"):
        convert_aenet_trainset(write_binary(d, tmp_path / "b.train"), tmp_path / "b.h5")
    text = (golden / "trainset" / "ref.train.ascii").read_text()
    first = d["structures"][0]["file"]
    assert text.count(first) == 1
    (tmp_path / "t.ascii").write_text(text.replace(first, first[:3] + "\0" + first[4:]))
    with pytest.raises(FileFormatError, match=r"t\.ascii, line \d+: the path of structure 1 holds a NUL character"):
        convert_aenet_trainset(tmp_path / "t.ascii", tmp_path / "t.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.train", "t.ascii"]


@pytest.mark.parametrize("line, value, match", [
    # was an OverflowError in numpy
    (15, "9223372036854775808", r"line 15: the type of atom 1 of structure 1 must be a 4-byte integer"),
    # 2**31 - 1 atoms: was a MemoryError (48 GiB allocated up front); now the 25th atom is the
    # next structure's path
    (13, "2147483647          2", r"line \d+: the type of atom 25 of structure 1 must be an integer, "
                                  r"got '\.\./\.\./xsf/"),
])
def test_text_integers_out_of_range_are_format_errors(golden, tmp_path, line, value, match):
    """Found by tests/fuzz: a damaged trnset2ASCII integer (ænet writes 4-byte integers)."""
    lines = (golden / "trainset" / "ref.train.ascii").read_text().splitlines(keepends=True)
    lines[line - 1] = f"  {value}\n"
    (tmp_path / "t.ascii").write_text("".join(lines))
    with pytest.raises(FileFormatError, match=rf"t\.ascii, {match}"):
        convert_aenet_trainset(tmp_path / "t.ascii", tmp_path / "t.h5")
    assert [p.name for p in tmp_path.iterdir()] == ["t.ascii"]


def test_units_are_converted_features_kept(golden, tmp_path):
    """A set in Hartree and Bohr: energies, positions, forces and cutoffs become eV and Å; the
    dimensionless features stay, and anncli recomputes them from the converted structures."""
    from anncli.descriptors import descriptor_from_dict
    from anncli.units import energy_factor, length_factor

    ha, bohr = energy_factor("Hartree"), length_factor("Bohr")
    g = golden / "trainset"
    convert_aenet_trainset(g / "ref.train", tmp_path / "a.h5")
    convert_aenet_trainset(g / "ref.train", tmp_path / "b.h5", energy_unit="Hartree", length_unit="Bohr")
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        np.testing.assert_allclose(b["structures/cohesive_energy"][()], a["structures/cohesive_energy"][()] * ha,
                                   rtol=1e-15)
        np.testing.assert_allclose(b["reference_energies"][()], a["reference_energies"][()] * ha, rtol=1e-15)
        np.testing.assert_allclose(b["atoms/positions"][()], a["atoms/positions"][()] * bohr, rtol=1e-15)
        np.testing.assert_allclose(b["atoms/forces"][()], a["atoms/forces"][()] * ha / bohr, rtol=1e-15)
        for sym in ("Ti", "O"):
            np.testing.assert_array_equal(b[f"features/{sym}/values"][()], a[f"features/{sym}/values"][()])
            da = json.loads(a[f"features/{sym}"].attrs["descriptor"])
            db = json.loads(b[f"features/{sym}"].attrs["descriptor"])
            assert db["radial_cutoff"] == pytest.approx(da["radial_cutoff"] * bohr, rel=1e-15)
            assert db["angular_cutoff"] == pytest.approx(da["angular_cutoff"] * bohr, rel=1e-15)
            descriptor_from_dict(db)


def test_a_set_in_bohr_converts_to_the_set_in_angstrom(golden, tmp_path):
    """The golden set rewritten in Bohr (coordinates and cutoffs) converts to the Å original,
    whose features anncli recomputes (test above)."""
    from anncli.units import length_factor

    bohr = length_factor("Bohr")
    d = load_json(golden)
    for s in d["structures"]:
        for a in s["atoms"]:
            a["coo"] = [x / bohr for x in a["coo"]]
    for s in d["footer"]["setups"].values():
        p = s["sfparam"][0]
        p[0], p[2] = p[0] / bohr, p[2] / bohr
    convert_aenet_trainset(write_binary(d, tmp_path / "bohr.train"), tmp_path / "b.h5", length_unit="Bohr")
    convert_aenet_trainset(golden / "trainset" / "ref.train", tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        np.testing.assert_allclose(b["atoms/positions"][()], a["atoms/positions"][()], rtol=1e-14, atol=1e-14)
        for sym in ("Ti", "O"):
            da = json.loads(a[f"features/{sym}"].attrs["descriptor"])
            db = json.loads(b[f"features/{sym}"].attrs["descriptor"])
            for k in ("radial_cutoff", "angular_cutoff"):
                assert db[k] == pytest.approx(da[k], rel=1e-14)
