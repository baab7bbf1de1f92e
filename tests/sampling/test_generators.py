"""The physics of every candidate generator of ``anncli sample`` (anncli.sampling.generators)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

from anncli.sampling import generators as gen
from anncli.sampling.pool import isotropic_strains


def _cu(reps=2):
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat(reps)


def _nn(atoms) -> float:
    return gen.min_distance(atoms)


def test_supercell_reaches_min_atoms_compactly():
    prim = bulk("Cu", "fcc", a=3.61)  # one atom
    sc = gen.supercell(prim, 8)
    assert len(sc) == 8
    lengths = np.linalg.norm(sc.cell[:], axis=1)
    assert lengths.max() / lengths.min() == pytest.approx(1.0)  # 2x2x2, not 8x1x1
    assert len(gen.supercell(molecule("H2O"), 50)) == 3  # clusters are not repeated


def test_rattle_displacements_have_the_given_sigma():
    atoms = _cu(4)  # 256 atoms, 768 components
    out = gen.rattle(atoms, 0.1, np.random.default_rng(1))
    d = (out.positions - atoms.positions).ravel()
    assert abs(d.mean()) < 3 * 0.1 / np.sqrt(d.size)
    assert d.std() == pytest.approx(0.1, rel=0.08)
    assert np.array_equal(out.cell[:], atoms.cell[:])
    assert np.array_equal(atoms.positions, _cu(4).positions)  # input not modified


def test_isotropic_strain_scales_every_length():
    atoms = _cu()
    for eps in (-0.03, 0.02):
        out = gen.strain_isotropic(atoms, eps)
        assert np.allclose(out.cell[:], (1 + eps) * atoms.cell[:])
        assert _nn(out) == pytest.approx((1 + eps) * _nn(atoms))
        assert np.allclose(out.get_scaled_positions(), atoms.get_scaled_positions())


def test_isotropic_strains_are_evenly_spaced_and_bounded():
    values = isotropic_strains(0.04, 4)
    assert sorted(values) == pytest.approx([-0.04, -0.02, 0.02, 0.04])
    assert isotropic_strains(0.04, 3) == pytest.approx([-0.02, 0.02, -0.04])
    assert 0.0 not in isotropic_strains(0.04, 5)


def test_anisotropic_strain_is_symmetric_bounded_and_applied():
    atoms = _cu()
    rng = np.random.default_rng(3)
    for _ in range(20):
        out, eps = gen.strain_anisotropic(atoms, 0.03, rng)
        assert np.allclose(eps, eps.T)
        assert np.abs(eps).max() <= 0.03
        # the strain recovered from the cells is the one reported
        recovered = np.linalg.solve(atoms.cell[:], out.cell[:]) - np.eye(3)
        assert np.allclose(recovered, eps, atol=1e-12)
        assert out.get_volume() == pytest.approx(atoms.get_volume() * np.linalg.det(np.eye(3) + eps))
        assert np.allclose(out.get_scaled_positions(wrap=False), atoms.get_scaled_positions(wrap=False))
    assert len({round(float(x), 12) for x in np.diag(eps)}) == 3  # not isotropic


def test_vacancies_remove_count_atoms_of_the_species_asked_for():
    atoms = _cu()
    atoms.symbols[:4] = "Au"
    rng = np.random.default_rng(0)
    out = gen.vacancies(atoms, 2, rng)
    assert len(out) == len(atoms) - 2
    only_au = gen.vacancies(atoms, 3, rng, ["Au"])
    assert only_au.get_chemical_symbols().count("Au") == 1
    assert only_au.get_chemical_symbols().count("Cu") == atoms.get_chemical_symbols().count("Cu")
    # the remaining atoms sit where they were
    remaining = {tuple(np.round(p, 8)) for p in only_au.positions}
    assert remaining <= {tuple(np.round(p, 8)) for p in atoms.positions}
    assert gen.vacancies(atoms, 5, rng, ["Au"]) is None


def test_interstitials_land_in_open_space():
    atoms = _cu()  # a = 3.61: octahedral hole at a/2 = 1.805 Å, tetrahedral at a*sqrt(3)/4 = 1.563 Å
    rng = np.random.default_rng(5)
    out = gen.interstitials(atoms, ["Au"], 1, rng, tries=200)
    assert len(out) == len(atoms) + 1 and out.get_chemical_symbols()[-1] == "Au"
    added = out[-1:]
    from ase.geometry import get_distances

    _, d = get_distances(added.positions, atoms.positions, cell=atoms.cell, pbc=True)
    assert d.min() > 1.4
    # far better than a random point: the median random point is ~1.2 Å from an atom
    pts = np.random.default_rng(0).random((500, 3)) @ atoms.cell[:]
    _, dr = get_distances(pts, atoms.positions, cell=atoms.cell, pbc=True)
    assert d.min() > np.quantile(dr.min(axis=1), 0.9)
    two = gen.interstitials(atoms, ["Cu", "Au"], 2, np.random.default_rng(6))
    assert len(two) == len(atoms) + 2 and gen.min_distance(two) > 1.2


def test_substitutions_change_count_atoms_to_allowed_species():
    atoms = _cu()
    rng = np.random.default_rng(2)
    out = gen.substitutions(atoms, 3, {"Cu": ["Au", "Ag"]}, rng)
    sym = np.array(out.get_chemical_symbols())
    assert (sym != "Cu").sum() == 3 and set(sym[sym != "Cu"]) <= {"Au", "Ag"}
    assert np.array_equal(out.positions, atoms.positions)
    assert gen.substitutions(atoms, 1, {"Au": ["Cu"]}, rng) is None


@pytest.mark.parametrize("miller", [(1, 0, 0), (1, 1, 1)])
def test_slab_has_the_vacuum_and_layers_asked_for(miller):
    prim = bulk("Cu", "fcc", a=3.61, cubic=True)
    out = gen.slab(prim, miller, 3, 5.0, periodic=True, repeat=(2, 2))
    assert all(out.pbc)
    normal = np.cross(out.cell[0], out.cell[1])
    normal /= np.linalg.norm(normal)
    heights = out.positions @ normal
    thickness = heights.max() - heights.min()
    c_height = abs(out.cell[2] @ normal)
    assert c_height - thickness == pytest.approx(10.0, abs=1e-6)  # 5 Å on each side
    single = gen.slab(prim, miller, 3, 5.0, periodic=True)
    assert len(out) == 4 * len(single)
    assert len(gen.slab(prim, miller, 6, 5.0)) == 2 * len(single)
    assert gen.min_distance(out) == pytest.approx(3.61 / np.sqrt(2))  # no atom duplicated


def test_md_snapshots_count_and_reproducibility():
    atoms = _cu()
    a = gen.md_snapshots(atoms, EMT(), 600, 20, 5, 2.0, 0.02, np.random.default_rng(4))
    b = gen.md_snapshots(atoms, EMT(), 600, 20, 5, 2.0, 0.02, np.random.default_rng(4))
    assert len(a) == 4
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(a, b))
    assert not np.allclose(a[0].positions, atoms.positions)
    assert all(f.calc is None and "momenta" not in f.arrays for f in a)


def test_min_distance_of_a_known_cell():
    assert gen.min_distance(_cu()) == pytest.approx(3.61 / np.sqrt(2))
    h2 = molecule("H2")
    assert gen.min_distance(h2) == pytest.approx(h2.get_distance(0, 1))
