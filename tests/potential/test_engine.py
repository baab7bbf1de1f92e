"""The potential engine: finite differences, invariances, batching, plain-numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.exceptions import DataError
from anncli.potential.evaluate import Potential
from anncli.structure import Structure

from pot_helpers import cluster_structure, triclinic_structure


def energy(pot: Potential, s: Structure) -> float:
    return pot.evaluate([s], forces=False)[0][0].energy


def moved(s: Structure, positions=None, cell=None) -> Structure:
    return Structure(s.symbols, s.positions if positions is None else positions,
                     s.cell if cell is None else cell, s.pbc)


@pytest.mark.parametrize("make", [triclinic_structure, cluster_structure], ids=["triclinic", "cluster"])
def test_forces_are_minus_gradient(small_potential, make):
    s = make()
    (p,), _ = small_potential.evaluate([s])
    assert np.abs(p.forces).max() > 0.1  # a non-trivial test
    h = 1e-5
    fd = np.zeros_like(s.positions)
    for i in range(s.n_atoms):
        for a in range(3):
            plus, minus = s.positions.copy(), s.positions.copy()
            plus[i, a] += h
            minus[i, a] -= h
            fd[i, a] = -(energy(small_potential, moved(s, plus)) - energy(small_potential, moved(s, minus))) / (2 * h)
    np.testing.assert_allclose(p.forces, fd, atol=2e-6 * max(1.0, np.abs(fd).max()))


def test_stress_is_strain_derivative(small_potential):
    s = triclinic_structure()
    (p,), _ = small_potential.evaluate([s])
    vol = abs(np.linalg.det(s.cell))
    h = 1e-5
    fd = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] = eps[b, a] = h / 2 if a != b else h
            e = []
            for sign in (1, -1):
                f = np.eye(3) + sign * eps
                e.append(energy(small_potential, moved(s, s.positions @ f.T, s.cell @ f.T)))
            fd[a, b] = (e[0] - e[1]) / (2 * h) / vol
    assert np.abs(fd).max() > 1e-3
    np.testing.assert_allclose(p.stress, fd, atol=1e-6 * max(1.0, np.abs(fd).max()))
    np.testing.assert_allclose(p.stress, p.stress.T)


def test_forces_sum_to_zero_and_energy_assembly(small_potential, small_model):
    structures = [triclinic_structure(), cluster_structure()]
    preds, _ = small_potential.evaluate(structures)
    for s, p in zip(structures, preds):
        np.testing.assert_allclose(p.forces.sum(axis=0), 0.0, atol=1e-11)
        assert p.energy == pytest.approx(p.atomic_energies.sum(), abs=1e-10)
        ref = sum(small_model.reference_energy(x) for x in s.symbols)
        assert p.cohesive_energy == pytest.approx(p.energy - ref, abs=1e-10)
    # the Model's own (unfolded) evaluation of the same features gives the same atomic energies
    from anncli.descriptors.batch import featurize_batch
    from anncli.potential.evaluate import pack_structures

    pos, cells, pbcs, offsets, sym = pack_structures(structures, small_potential)
    bf = featurize_batch(pos, cells, pbcs, offsets, sym, small_potential.species, small_potential.setups)
    atomic = np.concatenate([p.atomic_energies for p in preds])
    for name, sf in bf.species.items():
        ref_e = small_model.atomic_energies({name: sf.features})[name]
        np.testing.assert_allclose(atomic[sf.centers], ref_e, rtol=0, atol=1e-10)
        _, ref_g = small_model.atomic_energies_and_gradients({name: sf.features})[name]
        _, g = small_potential._members[0][name].energies_and_gradients(sf.features)
        np.testing.assert_allclose(g, ref_g, rtol=1e-10, atol=1e-12)


def test_invariances(small_potential):
    s = triclinic_structure()
    (p0,), _ = small_potential.evaluate([s])
    # translation
    (p,), _ = small_potential.evaluate([moved(s, s.positions + [0.37, -1.2, 5.1])])
    assert p.energy == pytest.approx(p0.energy, abs=1e-9)
    # rotation (cell and positions), forces rotate with it
    rot = _rotation(0.4, 1.1, -0.7)
    (p,), _ = small_potential.evaluate([moved(s, s.positions @ rot.T, s.cell @ rot.T)])
    assert p.energy == pytest.approx(p0.energy, abs=1e-9)
    np.testing.assert_allclose(p.forces, p0.forces @ rot.T, atol=1e-9)
    np.testing.assert_allclose(p.stress, rot @ p0.stress @ rot.T, atol=1e-9)
    # permutation
    perm = np.random.default_rng(5).permutation(s.n_atoms)
    sp = Structure([s.symbols[k] for k in perm], s.positions[perm], s.cell, s.pbc)
    (p,), _ = small_potential.evaluate([sp])
    assert p.energy == pytest.approx(p0.energy, abs=1e-9)
    np.testing.assert_allclose(p.forces, p0.forces[perm], atol=1e-9)
    # 2x2x2 supercell: energy x 8, forces repeated, same stress
    shifts = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)]) @ s.cell
    big = Structure(s.symbols * 8, np.concatenate([s.positions + t for t in shifts]), 2 * s.cell, s.pbc)
    (p,), _ = small_potential.evaluate([big])
    assert p.energy == pytest.approx(8 * p0.energy, abs=1e-8)
    np.testing.assert_allclose(p.forces, np.tile(p0.forces, (8, 1)), atol=1e-9)
    np.testing.assert_allclose(p.stress, p0.stress, atol=1e-10)


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def test_batches_equal_single_calls(small_potential):
    structures = [triclinic_structure(seed=k) for k in range(1, 5)] + [cluster_structure()]
    together, _ = small_potential.evaluate(structures)
    split, _ = small_potential.evaluate(structures, batch_atoms=7)  # one structure per call
    for a, b in zip(together, split):
        assert a.energy == pytest.approx(b.energy, abs=1e-10)
        np.testing.assert_allclose(a.forces, b.forces, atol=1e-12)
    assert together[-1].stress is None  # isolated: no stress
    f_only, _ = small_potential.evaluate(structures, forces=False)
    assert f_only[0].forces is None and f_only[0].energy == pytest.approx(together[0].energy, abs=1e-10)


def test_missing_species_is_named(small_potential):
    s = Structure(["Cu", "Ni"], [[0, 0, 0], [2.0, 0, 0]], source="x.xyz")
    with pytest.raises(DataError, match=r"x\.xyz: species Ni not in the model \(it has Cu, Au\)"):
        small_potential.evaluate([s])


def test_extrapolation_flags_atom_and_feature(small_model):
    pot = Potential(small_model)
    s = triclinic_structure()
    _, ex = pot.evaluate([s])
    assert len(ex) == 0  # the model's ranges come from this structure
    squeezed = moved(s, s.positions * 0.8, s.cell * 0.8)  # denser: radial features grow
    _, ex = pot.evaluate([cluster_structure(), squeezed])
    assert len(ex) > 0 and set(ex.structure) <= {0, 1} and 1 in set(ex.structure)
    k = int(np.flatnonzero(ex.structure == 1)[0])
    lo, hi = ex.low[k], ex.high[k]
    assert not lo <= ex.value[k] <= hi
    sym = ex.species[k]
    assert sym == squeezed.symbols[ex.atom[k]]
    np.testing.assert_array_equal([lo, hi], [small_model.feature_min[sym][ex.feature[k]],
                                             small_model.feature_max[sym][ex.feature[k]]])


def test_forces_and_stress_with_behler_descriptor():
    """The engine is generic over descriptor families: same finite-difference checks for Behler2011."""
    from anncli.descriptors.behler import BehlerSetup
    from synthetic_model import random_model

    fns = [{"G": 2, "type2": t, "eta": 0.3, "Rs": 0.0, "Rc": 4.0} for t in ("Cu", "Au")]
    fns += [{"G": 4, "type2": "Cu", "type3": "Au", "eta": 0.05, "lambda": -1, "zeta": 2.0, "Rc": 4.0},
            {"G": 5, "type2": "Au", "type3": "Au", "eta": 0.02, "lambda": 1, "zeta": 1.0, "Rc": 3.5}]
    setups = {s: BehlerSetup(s, ["Cu", "Au"], fns) for s in ("Cu", "Au")}
    s = triclinic_structure(seed=4)
    pot = Potential(random_model(setups, (6,), structures=[s], seed=2))
    (p,), _ = pot.evaluate([s])
    h = 1e-5
    for i, a in ((0, 0), (3, 2), (5, 1)):
        e = []
        for sign in (1, -1):
            t = s.positions.copy()
            t[i, a] += sign * h
            e.append(energy(pot, moved(s, t)))
        assert p.forces[i, a] == pytest.approx(-(e[0] - e[1]) / (2 * h), abs=2e-6 * max(1, abs(p.forces[i, a])))
    eps = np.zeros((3, 3))
    eps[0, 1] = eps[1, 0] = h / 2
    e = [energy(pot, moved(s, s.positions @ (np.eye(3) + sg * eps).T, s.cell @ (np.eye(3) + sg * eps).T))
         for sg in (1, -1)]
    assert p.stress[0, 1] == pytest.approx((e[0] - e[1]) / (2 * h) / abs(np.linalg.det(s.cell)), abs=1e-7)
    np.testing.assert_allclose(p.forces.sum(axis=0), 0.0, atol=1e-11)


def test_fused_force_pass_equals_separate_passes(small_model):
    """The single-model fused pass (features, network, pair gradients per centre) against the
    batched path (features, BLAS network, pair-gradient kernel, scatter)."""
    from anncli.potential.evaluate import Potential

    from pot_helpers import cluster_structure, triclinic_structure

    fused = Potential(small_model)
    assert fused._packed and all(v is not None for v in fused._packed.values())
    separate = Potential(small_model)
    separate._packed = {}
    structures = [triclinic_structure(), cluster_structure(), triclinic_structure(seed=5, n=9)]
    got, _ = fused.evaluate(structures)
    ref, _ = separate.evaluate(structures)
    for a, b in zip(got, ref):
        assert a.energy == pytest.approx(b.energy, rel=1e-13, abs=1e-12)
        np.testing.assert_allclose(a.atomic_energies, b.atomic_energies, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(a.forces, b.forces, rtol=0, atol=1e-12 * max(1.0, np.abs(b.forces).max()))
        if b.stress is not None:
            np.testing.assert_allclose(a.stress, b.stress, rtol=0, atol=1e-12)


def test_scatter_columns_equals_numpy_scatter():
    from anncli.potential._kernels import scatter_columns_nb

    rng = np.random.default_rng(1)
    n, n_s = 9, 2
    counts = rng.integers(0, 5, size=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    index = rng.integers(0, n, size=offsets[-1]).astype(np.int64)
    vectors = rng.normal(size=(offsets[-1], 3))
    centers = np.array([0, 2, 3, 7, 8], dtype=np.int64)
    n_cp = int(counts[centers].sum())
    g = rng.normal(size=(3, n_cp, 3))
    atom_structure = np.array([0] * 4 + [1] * 5, dtype=np.int64)
    center_pairs = np.concatenate([[0], np.cumsum(counts[centers])]).astype(np.int64)
    pairs = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in centers])
    owner = np.repeat(centers, counts[centers])
    for n_chunks in (1, 2, 4):
        f = np.zeros((n_chunks, 3, n, 3))
        v = np.zeros((n_chunks, 3, n_s, 3, 3))
        scatter_columns_nb(offsets, index, vectors, centers, center_pairs, g, atom_structure, True, f, v)
        for col in range(3):
            f1 = np.zeros((n, 3))
            np.add.at(f1, index[pairs], -g[col])
            np.add.at(f1, owner, g[col])
            v1 = np.zeros((n_s, 3, 3))
            np.add.at(v1, atom_structure[owner], -np.einsum("qa,qb->qab", vectors[pairs], g[col]))
            np.testing.assert_allclose(f.sum(axis=0)[col], f1, rtol=0, atol=1e-13)
            np.testing.assert_allclose(v.sum(axis=0)[col], v1, rtol=0, atol=1e-13)


def test_fused_forces_do_not_depend_on_threads_or_on_the_rest_of_the_batch(small_model):
    """Forces are summed per chunk of atoms, a fixed number of chunks at structure boundaries: the
    same bits with one thread or several, and for a structure alone or in a batch with others."""
    import numba

    from anncli.potential.evaluate import FORCE_CHUNK_MIN_ATOMS, Potential
    from anncli.structure import Structure

    from pot_helpers import cluster_structure, triclinic_structure

    pot = Potential(small_model)
    small = [triclinic_structure(), cluster_structure(), triclinic_structure(seed=5, n=9)]
    together, _ = pot.evaluate(small)
    for s, a in zip(small, together):
        (b,), _ = pot.evaluate([s])
        np.testing.assert_array_equal(a.forces, b.forces)
        assert a.energy == b.energy
        if b.stress is not None:
            np.testing.assert_array_equal(a.stress, b.stress)
    s = triclinic_structure(n=8)
    reps = np.array([6, 6, 6])  # several chunks of one structure
    shifts = np.array(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij")).reshape(3, -1).T @ s.cell
    big = Structure(s.symbols * len(shifts), (s.positions[None] + shifts[:, None]).reshape(-1, 3),
                    s.cell * reps[:, None], s.pbc)
    assert big.n_atoms > 2 * FORCE_CHUNK_MIN_ATOMS
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        (one,), _ = pot.evaluate([big])
    finally:
        numba.set_num_threads(threads)
    (several,), _ = pot.evaluate([big])
    np.testing.assert_array_equal(one.forces, several.forces)
    np.testing.assert_array_equal(one.stress, several.stress)
    np.testing.assert_allclose(several.forces.sum(axis=0), 0.0, atol=1e-10)
