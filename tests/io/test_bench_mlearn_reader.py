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
