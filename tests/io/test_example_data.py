"""example_inputs/make_example_data.py: valid ænet XSF, EMT labels reproducible."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anncli.io import check_min_distance, check_structure, expand_sources, read_xsf
from script_module import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "example_inputs" / "make_example_data.py"


@pytest.fixture(scope="module")
def module():
    return load_script(SCRIPT)


def test_files_are_valid_and_labels_match_emt(tmp_path, module):
    from ase.calculators.emt import EMT

    paths = module.make_example_data(tmp_path / "data", n=12, seed=3)
    assert [p.name for p in paths] == [f"structure{k:04d}.xsf" for k in range(1, 13)]
    assert expand_sources(["data"], tmp_path) == paths
    compositions = set()
    for p in paths:
        s = read_xsf(p)
        check_structure(s, require_energy=True)
        check_min_distance(s, 1.0)
        assert 8 <= s.n_atoms <= 64 and s.n_atoms % 4 == 0
        assert set(s.symbols) <= {"Cu", "Au"}
        compositions.add(round(s.symbols.count("Au") / s.n_atoms, 2))
        atoms = s.to_ase()
        atoms.calc = EMT()
        assert s.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(s.forces, atoms.get_forces(), atol=1e-10, rtol=0)
    assert len(compositions) > 3


def test_deterministic_and_cli(tmp_path, module):
    a = module.make_example_data(tmp_path / "a", n=3, seed=7)
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "b"), "--n", "3", "--seed", "7"],
                         capture_output=True, text=True, check=True)
    assert "wrote 3 structures" in out.stdout
    for p in a:
        assert p.read_text() == (tmp_path / "b" / p.name).read_text()
    c = module.make_example_data(tmp_path / "c", n=1, seed=8)
    assert c[0].read_text() != a[0].read_text()


def _radius(symbol: str) -> float:
    """Half the fcc nearest-neighbour distance of the pure metal (Å), from the lattice constant."""
    return {"Cu": 3.615, "Au": 4.078}[symbol] / 8**0.5


def test_no_pair_closer_than_a_fraction_of_its_fcc_distance(tmp_path, module):
    """The rattle's tail is drawn again: no pair closer than 0.78 of the two metals' mean fcc
    nearest-neighbour distance (the example's 900 K MD stays above 0.82), checked with ASE."""
    from ase.neighborlist import neighbor_list

    for p in module.make_example_data(tmp_path, n=40, seed=5):  # without the redraw: 4 too close
        atoms = read_xsf(p).to_ase()
        i, j, d = neighbor_list("ijd", atoms, 3.0)
        symbols = atoms.get_chemical_symbols()
        limit = np.array([0.78 * (_radius(symbols[a]) + _radius(symbols[b])) for a, b in zip(i, j)])
        assert np.all(d >= limit), p.name


def test_ordered_cells_and_ideal_crystals(tmp_path, module):
    """Some cells are L1_0 CuAu (Au on every other (002) layer, as the MD start cell), and
    --ideal adds the perfect Cu, Au and CuAu crystals with EMT's zero forces."""
    from ase.calculators.emt import EMT

    paths = module.make_example_data(tmp_path, n=20, seed=3, ideal=True)
    assert [p.name for p in paths[-3:]] == ["ideal_Cu.xsf", "ideal_Au.xsf", "ideal_CuAu.xsf"]
    n_ordered = 0
    for p in paths[:-3]:
        s = read_xsf(p)
        c = s.cell[2, 2] / round(s.cell[2, 2] / 3.85) / 2  # (002) layer spacing, about a/2
        layer = np.rint(np.linalg.solve(s.cell.T, s.positions.T).T[:, 2] * s.cell[2, 2] / c).astype(int)
        n_ordered += all((sym == "Au") == (k % 2 == 1) for sym, k in zip(s.symbols, layer))
    assert 2 <= n_ordered <= 15
    for p, formula in zip(paths[-3:], ["Cu4", "Au4", "Au2Cu2"]):
        s = read_xsf(p)
        atoms = s.to_ase()
        assert atoms.get_chemical_formula() == formula
        atoms.calc = EMT()
        assert s.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(s.forces, 0.0, atol=1e-8)
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "b"), "--n", "2", "--ideal"],
                         capture_output=True, text=True, check=True)
    assert "wrote 5 structures" in out.stdout
