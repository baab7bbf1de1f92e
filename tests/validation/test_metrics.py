"""Error statistics against values computed by hand or by an independent formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anncli.validation.metrics import energy_errors, error_summary, force_errors, rank_correlation, stress_errors


def test_error_summary_by_hand():
    s = error_summary([3.0, -4.0])
    assert s == {"rmse": pytest.approx(math.sqrt(12.5)), "mae": 3.5, "max": 4.0, "mean": -0.5, "n": 2}
    empty = error_summary([])
    assert empty["n"] == 0 and math.isnan(empty["rmse"])


def test_energy_errors_per_atom_and_per_structure():
    pred = np.array([-10.0, -20.5, -5.0])
    ref = np.array([-10.2, -20.0, -5.0])
    n = np.array([2, 5, 1])
    out = energy_errors(pred, ref, n)
    per_atom = np.array([0.2 / 2, -0.5 / 5, 0.0]) * 1000
    assert out["per_atom_meV"]["rmse"] == pytest.approx(np.sqrt(np.mean(per_atom**2)))
    assert out["per_atom_meV"]["max"] == pytest.approx(100.0)
    assert out["per_structure_eV"]["mae"] == pytest.approx((0.2 + 0.5) / 3)
    assert out["per_structure_eV"]["mean"] == pytest.approx(-0.1)


def test_force_errors_components_vectors_and_species():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(7, 3))
    d = rng.normal(scale=0.1, size=(7, 3))
    symbols = ["O", "H", "H", "O", "H", "H", "O"]
    out = force_errors(ref + d, ref, symbols)
    assert out["component"]["rmse"] == pytest.approx(np.sqrt((d**2).sum() / 21))
    norms = np.sqrt((d**2).sum(axis=1))
    assert out["vector"]["mae"] == pytest.approx(norms.mean())
    assert out["vector"]["max"] == pytest.approx(norms.max())
    h = np.array(symbols) == "H"
    assert out["per_species"]["H"]["rmse"] == pytest.approx(np.sqrt((d[h] ** 2).mean()))
    assert out["per_species"]["O"]["n"] == 9
    assert list(out["per_species"]) == ["O", "H"]
    assert out["relative_percent"] == pytest.approx(100 * np.sqrt((d**2).mean()) / np.sqrt((ref**2).mean()))


def test_stress_errors_in_gpa_over_six_components():
    from ase.units import GPa

    ref = np.zeros((1, 3, 3))
    pred = np.zeros((1, 3, 3))
    pred[0, 0, 1] = pred[0, 1, 0] = 2 * GPa  # one off-diagonal pair: counted once
    out = stress_errors(pred, ref)["component_GPa"]
    assert out["n"] == 6 and out["max"] == pytest.approx(2.0) and out["mae"] == pytest.approx(2 / 6)


def test_rank_correlation_against_pearson_of_ranks():
    x = np.array([0.1, 0.5, 0.2, 0.9, 0.7])
    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert rank_correlation(x, y) == pytest.approx(1.0)
    assert rank_correlation(x, -y) == pytest.approx(-1.0)
    y2 = np.array([2.0, 1.0, 3.0, 5.0, 4.0])  # ranks of x: 0 2 1 4 3, of y2: 1 0 2 4 3
    rx, ry = np.array([0, 2, 1, 4, 3]), np.array([1, 0, 2, 4, 3])
    assert rank_correlation(x, y2) == pytest.approx(np.corrcoef(rx, ry)[0, 1])
    assert math.isnan(rank_correlation([1, 1, 1], [1, 2, 3]))
    assert math.isnan(rank_correlation([1, 2], [1, 2]))
