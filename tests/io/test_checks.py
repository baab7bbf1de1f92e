"""Structure checks: finite data, cells, and close pairs against a brute-force reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from anncli.exceptions import DataError
from anncli.io.checks import check_min_distance, check_structure, close_pairs
from anncli.structure import Structure


def _brute_force_pairs(s: Structure, rmin: float) -> dict[tuple[int, int], float]:
    """Plain-numpy reference: all pairs over a generous block of periodic images."""
    pos = s.positions
    shifts = np.zeros((1, 3))
    if s.is_periodic:
        # enough images for rmin well below the smallest cell height
        shifts = np.array(list(itertools.product(range(-2, 3), repeat=3)), dtype=float) @ s.cell
    out: dict[tuple[int, int], float] = {}
    for i in range(len(pos)):
        for j in range(i, len(pos)):
            d = np.linalg.norm(pos[j] + shifts - pos[i], axis=1)
            if i == j:
                d = d[np.abs(shifts).sum(axis=1) > 0]
            if d.size and d.min() < rmin:
                out[(i, j)] = float(d.min())
    return out


def _random(periodic: bool, n: int = 40, seed: int = 0) -> Structure:
    rng = np.random.default_rng(seed)
    cell = np.array([[6.0, 0.0, 0.0], [1.5, 5.5, 0.0], [-0.8, 0.7, 6.3]])
    frac = rng.uniform(size=(n, 3))
    return Structure(symbols=["Cu"] * n, positions=frac @ cell, cell=cell if periodic else None,
                     pbc=(periodic,) * 3)


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("rmin", [0.8, 1.6])
def test_close_pairs_match_brute_force(periodic, rmin):
    s = _random(periodic)
    ref = _brute_force_pairs(s, rmin)
    got = close_pairs(s, rmin)
    assert len(ref) > 0
    assert {(i, j) for i, j, _ in got} == set(ref)
    for i, j, d in got:
        assert d == pytest.approx(ref[(i, j)], abs=1e-12)
    assert got == sorted(got)


def test_pair_across_periodic_boundary():
    s = Structure(symbols=["O", "H", "H"], positions=[[0.02, 5.0, 5.0], [9.97, 5.0, 5.0], [5.0, 5.0, 5.0]],
                  cell=np.eye(3) * 10.0, pbc=(True, True, True))
    pairs = close_pairs(s, 0.1)
    assert len(pairs) == 1
    i, j, d = pairs[0]
    assert (i, j) == (0, 1) and d == pytest.approx(0.05, abs=1e-12)
    # the same atoms without periodicity are 9.95 Å apart
    iso = Structure(symbols=s.symbols, positions=s.positions)
    assert close_pairs(iso, 0.1) == []
    with pytest.raises(DataError) as info:
        check_min_distance(Structure(**{**s.__dict__, "source": "w.xsf", "frame": 3}), 0.1)
    assert str(info.value) == "file w.xsf (frame 3): atoms 1 (O) and 2 (H) are 0.05 Å apart (min_distance is 0.1 Å)"


def test_self_image_in_tiny_cell():
    s = Structure(symbols=["H"], positions=[[0, 0, 0]], cell=np.eye(3) * 0.5, pbc=(True, True, True))
    assert close_pairs(s, 0.6) == [(0, 0, pytest.approx(0.5))]
    with pytest.raises(DataError, match="atom 1 \\(H\\) and its own periodic image are 0.5 Å apart"):
        check_min_distance(s, 0.6)


def test_min_distance_threshold_is_the_closest_pair():
    """Passes just below the closest pair's distance (brute force), raises just above it."""
    s = _random(True, n=5, seed=3)
    ref = _brute_force_pairs(s, 10.0)
    (i, j), d_min = min(ref.items(), key=lambda item: item[1])
    assert close_pairs(s, d_min * (1 - 1e-9)) == []
    check_min_distance(s, d_min * (1 - 1e-9))  # no error: every pair is farther apart
    assert [(a, b) for a, b, _ in close_pairs(s, d_min * (1 + 1e-9))] == [(i, j)]
    with pytest.raises(DataError, match=f"atoms {i + 1} \\(Cu\\) and {j + 1} \\(Cu\\) are "):
        check_min_distance(s, d_min * (1 + 1e-9))


def _good() -> Structure:
    return Structure(symbols=["Ti", "O"], positions=[[0, 0, 0], [1, 1, 1]], cell=np.eye(3) * 4,
                     pbc=(True, True, True), energy=-1.0, forces=np.zeros((2, 3)), source="t.xsf")


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda s: setattr(s, "energy", float("nan")), "total energy is nan"),
        (lambda s: setattr(s, "cohesive_energy", float("inf")), "cohesive energy is inf"),
        (lambda s: s.positions.__setitem__((1, 2), np.inf), "atom 2 (O) has a non-finite position"),
        (lambda s: s.forces.__setitem__((0, 0), np.nan), "atom 1 (Ti) has a non-finite force"),
        (lambda s: setattr(s, "forces", np.zeros((3, 3))), "forces have shape (3, 3), expected (2, 3)"),
        (lambda s: setattr(s, "cell", np.array([[4.0, 0, 0], [0, 4, 0], [8, 0, 0]])), "linearly dependent"),
        (lambda s: setattr(s, "cell", None), "without a cell"),
        (lambda s: setattr(s, "energy", None), "no total energy"),
        (lambda s: (setattr(s, "symbols", []), setattr(s, "positions", np.zeros((0, 3)))), "no atoms"),
    ],
)
def test_check_structure_errors(change, fragment):
    s = _good()
    check_structure(s, require_energy=True)
    change(s)
    with pytest.raises(DataError) as info:
        check_structure(s, require_energy=True)
    assert str(info.value).startswith("file t.xsf: ")
    assert fragment in str(info.value)


def test_slab_with_zero_vacuum_vector_is_fine():
    s = Structure(symbols=["Cu", "Cu"], positions=[[0, 0, 0], [1.3, 1.3, 1.0]],
                  cell=[[2.6, 0, 0], [0, 2.6, 0], [0, 0, 0]], pbc=(True, True, False))
    check_structure(s)
    assert close_pairs(s, 2.5) == [(0, 1, pytest.approx(np.sqrt(1.3**2 * 2 + 1), abs=1e-12))]


@pytest.mark.parametrize("rmin", [0.9, 1.7])
def test_large_cell_ghost_path_matches_dense(monkeypatch, rmin):
    import anncli.io.checks as checks

    rng = np.random.default_rng(5)
    cell = np.array([[9.0, 0.0, 0.0], [2.5, 8.5, 0.0], [-1.2, 1.1, 9.3]])
    s = Structure(symbols=["Cu"] * 300, positions=rng.uniform(-0.2, 1.2, size=(300, 3)) @ cell, cell=cell,
                  pbc=(True, True, True))
    dense = close_pairs(s, rmin)
    monkeypatch.setattr(checks, "_DENSE_MAX_ATOMS", 10)
    ghosts = close_pairs(s, rmin)
    assert len(dense) > 10
    assert [(i, j) for i, j, _ in ghosts] == [(i, j) for i, j, _ in dense]
    np.testing.assert_allclose([d for *_, d in ghosts], [d for *_, d in dense], atol=1e-12, rtol=0)
    # and both agree with the plain reference on a subset small enough for the brute force
    sub = Structure(symbols=s.symbols[:60], positions=s.positions[:60], cell=cell, pbc=s.pbc)
    ref = _brute_force_pairs(sub, rmin)
    monkeypatch.setattr(checks, "_DENSE_MAX_ATOMS", 10)
    assert {(i, j) for i, j, _ in close_pairs(sub, rmin)} == set(ref)


def test_tiny_cell_falls_back_and_matches_reference():
    # r larger than half a cell height: several images can be close
    s = _random(True, n=6, seed=2)
    rmin = 3.5
    ref = _brute_force_pairs(s, rmin)
    got = close_pairs(s, rmin)
    assert {(i, j) for i, j, _ in got} == set(ref)
    for i, j, d in got:
        assert d == pytest.approx(ref[(i, j)], abs=1e-12)
