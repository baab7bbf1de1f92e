"""benchmarks/bench_mlearn.py reads pymatgen Structure dicts without pymatgen: the atoms it
builds must have the stored Cartesian positions, the fractional ones mapped through the
lattice, the cell, and the energy and forces of the record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from script_module import load_script

REPO = Path(__file__).resolve().parents[2]


def _bench():
    return load_script(REPO / "benchmarks" / "bench_mlearn.py")


def _record(with_xyz: bool) -> dict:
    cell = [[4.0, 0.0, 0.0], [1.0, 5.0, 0.0], [0.5, 0.5, 6.0]]
    abc = [[0.1, 0.2, 0.3], [0.6, 0.7, 0.8]]
    sites = []
    for frac in abc:
        site = {"species": [{"element": "Mo", "occu": 1}], "abc": frac, "label": "Mo"}
        if with_xyz:  # pymatgen writes both; xyz = abc @ matrix (rows are the cell vectors)
            site["xyz"] = list(np.asarray(frac) @ np.asarray(cell))
        sites.append(site)
    return {"structure": {"lattice": {"matrix": cell}, "sites": sites},
            "outputs": {"energy": -21.5, "forces": [[0.1, -0.2, 0.3], [-0.1, 0.2, -0.3]],
                        "virial_stress": [0.0] * 6}, "group": "Elastic"}


@pytest.mark.parametrize("with_xyz", [True, False])
def test_record_to_atoms(with_xyz):
    atoms = _bench().atoms_from_mlearn(_record(with_xyz))
    assert atoms.get_chemical_symbols() == ["Mo", "Mo"]
    assert np.allclose(atoms.cell[:], [[4.0, 0.0, 0.0], [1.0, 5.0, 0.0], [0.5, 0.5, 6.0]])
    # fractional (0.1, 0.2, 0.3): x = 0.4 + 0.2 + 0.15, y = 1.0 + 0.15, z = 1.8
    assert np.allclose(atoms.positions[0], [0.75, 1.15, 1.8])
    assert np.allclose(atoms.get_scaled_positions(wrap=False), [[0.1, 0.2, 0.3], [0.6, 0.7, 0.8]])
    assert atoms.get_potential_energy() == -21.5
    assert np.allclose(atoms.get_forces(), [[0.1, -0.2, 0.3], [-0.1, 0.2, -0.3]])
    assert atoms.pbc.all()


def test_partial_occupancy_is_refused():
    record = _record(True)
    record["structure"]["sites"][0]["species"] = [{"element": "Mo", "occu": 0.5}, {"element": "W", "occu": 0.5}]
    with pytest.raises(ValueError, match="partial occupancy"):
        _bench().atoms_from_mlearn(record)


def test_mlearn_files(shared_path):
    path = shared_path("mlearn/Mo_test.json")
    raw = json.loads(path.read_text())
    atoms = _bench().read_mlearn(path)
    assert len(atoms) == len(raw)
    for a, r in zip(atoms, raw):
        assert len(a) == r["num_atoms"]
        frac = np.array([s["abc"] for s in r["structure"]["sites"]])
        assert np.allclose(a.get_scaled_positions(wrap=False), frac, atol=1e-5)
        assert a.get_potential_energy() == r["outputs"]["energy"]


def test_behler_set_follows_the_rule():
    """n shifted G2 from r_min with width = spacing; 8 angular functions (zeta 1/2/4/16 x
    lambda -1/1) per width, widths evenly from r_min to the angular cutoff; every function
    is one that generate accepts."""
    from anncli.config.generate import BehlerFunction

    bench = _bench()
    funcs = bench.behler_functions("Si", (6.0, 4), (4.5, 3), r_min=2.0, kind=5)
    assert len(funcs) == 4 + 8 * 3
    g2 = [f for f in funcs if f["G"] == 2]
    assert [f["Rs"] for f in g2] == pytest.approx([2.0, 3.0, 4.0, 5.0])  # d = (6 - 2) / 4 = 1
    assert all(f["eta"] == pytest.approx(0.5) and f["Rc"] == 6.0 for f in g2)
    ang = [f for f in funcs if f["G"] == 5]
    assert sorted({f["eta"] for f in ang}) == pytest.approx(sorted(1 / (2 * r * r) for r in (2.0, 3.25, 4.5)), rel=1e-5)
    assert {(f["zeta"], f["lambda"]) for f in ang} == {(z, s) for z in (1, 2, 4, 16) for s in (-1, 1)}
    for f in funcs:
        BehlerFunction.model_validate(f)


def test_group_weights_give_every_group_the_same_total():
    from ase import Atoms

    bench = _bench()
    groups = ["AIMD"] * 6 + ["Surface"] * 1 + ["Elastic"] * 3
    atoms = []
    for g in groups:
        a = Atoms("Si")
        a.info["group"] = g
        atoms.append(a)
    w = bench.group_weights(atoms)
    totals = {g: w[[i for i, h in enumerate(groups) if h == g]].sum() for g in set(groups)}
    assert totals == pytest.approx({g: 10 / 3 for g in totals})
    assert w.mean() == pytest.approx(1.0)


@pytest.mark.parametrize("committee", [False, True])
def test_validation_structures_are_those_of_the_split(tmp_path, committee):
    bench = _bench()
    d = tmp_path / "member_0" if committee else tmp_path
    d.mkdir(exist_ok=True)
    (d / "split.csv").write_text("index,source,set\n0,a.xyz:0,train\n1,a.xyz:1,validation\n"
                                 "2,a.xyz:2,train\n3,a.xyz:3,validation\n")
    items = ["s0", "s1", "s2", "s3"]
    assert bench.validation_structures(tmp_path, items) == ["s1", "s3"]
    with pytest.raises(RuntimeError, match="4 rows for 5 structures"):
        bench.validation_structures(tmp_path, items + ["s4"])


def test_group_table_averages_each_group_over_the_seeds():
    """Two groups, two seeds, by hand: surface energy errors (+4, -2) and (+6, 0) meV/atom give
    MAE (3 + 3) / 2 = 3.00 and signed mean (1 + 3) / 2 = +2.00; force MAE is the group's
    summed |error| over its components (9 per 3-atom structure)."""
    from ase import Atoms

    structures = [Atoms("Si3"), Atoms("Si3"), Atoms("Si3")]
    for a, g in zip(structures, ["Surface", "Surface", "Elastic"]):
        a.info["group"] = g
    n = np.array([9, 9, 9])
    seed1 = (np.array([4.0, -2.0, -1.0]), np.array([0.9, 1.8, 0.09]), n)
    seed2 = (np.array([6.0, 0.0, -3.0]), np.array([0.9, 0.0, 0.27]), n)
    rows = _bench().group_table("Si", structures, [seed1, seed2])
    # surface forces: seed 1 (0.9 + 1.8) / 18 = 0.15, seed 2 0.9 / 18 = 0.05: mean 0.100
    assert rows == ["| Si | Surface | 2 | 3.00 | +2.00 | 0.100 |",
                    "| Si | Elastic | 1 | 2.00 | -2.00 | 0.020 |"]
