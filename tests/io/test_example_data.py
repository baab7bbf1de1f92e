"""example_inputs/make_example_data.py: valid ænet XSF, EMT labels reproducible."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anncli.io import check_min_distance, check_structure, expand_sources, read_xsf

SCRIPT = Path(__file__).resolve().parents[2] / "example_inputs" / "make_example_data.py"


@pytest.fixture(scope="module")
def module():
    spec = importlib.util.spec_from_file_location("make_example_data", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
