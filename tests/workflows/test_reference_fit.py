"""``reference_energies: fit`` (least squares over the structures) and the ``energy`` choice in generate."""

from __future__ import annotations

import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from anncli.cli import main
from anncli.config.generate import load_generate_config
from anncli.exceptions import DataError
from anncli.io.trainset import content_id
from anncli.workflows import generate as gen
from anncli.workflows.reference_fit import ReferenceEnergyFit

TRUE = {"Cu": -3.71234567891, "Au": -2.93456789012}


def _images(compositions, energy_of, seed=0, free_shift=None):
    """One periodic structure per (n_Cu, n_Au) with the total energy ``energy_of(n_cu, n_au, k)``."""
    rng = np.random.default_rng(seed)
    images = []
    for k, (n_cu, n_au) in enumerate(compositions):
        n = n_cu + n_au
        side = 2.6 * max(2, int(np.ceil(n ** (1 / 3))))
        grid = np.array([(i, j, m) for i in range(4) for j in range(4) for m in range(4)])[:n] * 2.6
        atoms = Atoms(["Cu"] * n_cu + ["Au"] * n_au, positions=grid + rng.normal(scale=0.05, size=(n, 3)),
                      cell=np.eye(3) * max(side, 10.4), pbc=True)
        e = energy_of(n_cu, n_au, k)
        results = {"energy": e, "forces": rng.normal(size=(n, 3))}
        if free_shift is not None:
            results["free_energy"] = e + free_shift * n
        atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    return images


def _config(tmp_path: Path, images, reference="{Cu: fit, Au: fit}", extra="") -> Path:
    write(tmp_path / "data.extxyz", images)
    path = tmp_path / "gen.yaml"
    path.write_text(textwrap.dedent(f"""\
        structures: [data.extxyz]
        output: out.h5
        reference_energies: {reference}
        descriptors:
          default:
            type: chebyshev
            radial: {{cutoff: 3.0, order: 2}}
            angular: {{cutoff: 2.8, order: 1}}
        """) + extra)
    return path


def _run(path: Path):
    return gen.run(load_generate_config(path), config_path=path)


def _compositions(n=40, seed=1):
    rng = np.random.default_rng(seed)
    return [(int(a), int(b)) for a, b in rng.integers(0, 9, size=(n, 2)) if a + b > 0]


def test_linear_energies_recover_the_species_energies(tmp_path, monkeypatch):
    comps = _compositions()
    images = _images(comps, lambda a, b, k: a * TRUE["Cu"] + b * TRUE["Au"])
    monkeypatch.setattr(gen, "BATCH_ATOMS", 40)  # several batches
    result = _run(_config(tmp_path, images))
    n = np.array(comps, dtype=float)
    e = np.array([a.calc.results["energy"] for a in images])
    ref, *_ = np.linalg.lstsq(n, e, rcond=None)
    np.testing.assert_allclose(ref, [TRUE["Cu"], TRUE["Au"]], atol=1e-10)  # the reference itself is exact
    assert result.fitted_reference_energies == pytest.approx(dict(zip(["Cu", "Au"], ref)), abs=1e-8)
    with h5py.File(tmp_path / "out.h5") as f:
        np.testing.assert_allclose(f["reference_energies"][()], ref, atol=1e-8)
        assert f.attrs["reference_energies_fitted"].tolist() == [True, True]
        np.testing.assert_allclose(f["structures/cohesive_energy"][()], 0.0, atol=1e-8)
        np.testing.assert_array_equal(f["structures/species_count"][()], n)
        assert f.attrs["content_id"] == content_id(f)  # the id covers the rewritten datasets
    assert f"{TRUE['Cu']:.8f}" in result.summary and f"{TRUE['Au']:.8f}" in result.summary


def test_noisy_energies_match_lstsq_over_every_structure(tmp_path, monkeypatch):
    # many structures share a composition: the fit keeps one row per composition
    rng = np.random.default_rng(3)
    comps = _compositions(60, seed=4) * 2
    noise = rng.normal(scale=0.3, size=len(comps))
    images = _images(comps, lambda a, b, k: a * TRUE["Cu"] + b * TRUE["Au"] + noise[k])
    monkeypatch.setattr(gen, "BATCH_ATOMS", 64)
    result = _run(_config(tmp_path, images))
    n = np.array(comps, dtype=float)
    e = np.array([a.calc.results["energy"] for a in images])
    ref, *_ = np.linalg.lstsq(n, e, rcond=None)
    with h5py.File(tmp_path / "out.h5") as f:
        np.testing.assert_allclose(f["reference_energies"][()], ref, rtol=0, atol=1e-8)
        np.testing.assert_allclose(f["structures/cohesive_energy"][()], e - n @ ref, rtol=0, atol=1e-8)
    resid = (e - n @ ref) / n.sum(axis=1)
    assert result.summary.count("rms residual") == 1
    assert f"rms residual {1000 * np.sqrt(np.mean(resid ** 2)):.3f} meV/atom" in result.summary
    per_atom = (e - n @ ref) / n.sum(axis=1)
    assert f"min {per_atom.min():.6f}" in result.summary  # the energy distribution uses the fitted values


def test_one_given_one_fitted(tmp_path):
    comps = _compositions(30, seed=5)
    noise = np.random.default_rng(6).normal(scale=0.1, size=len(comps))
    images = _images(comps, lambda a, b, k: a * TRUE["Cu"] + b * TRUE["Au"] + noise[k])
    _run(_config(tmp_path, images, reference="{Cu: -3.5, Au: fit}"))
    n = np.array(comps, dtype=float)
    e = np.array([a.calc.results["energy"] for a in images])
    (au,), *_ = np.linalg.lstsq(n[:, 1:], e - n[:, 0] * -3.5, rcond=None)
    with h5py.File(tmp_path / "out.h5") as f:
        np.testing.assert_allclose(f["reference_energies"][()], [-3.5, au], rtol=0, atol=1e-8)
        assert f.attrs["reference_energies_fitted"].tolist() == [False, True]


def test_given_values_are_marked_not_fitted(tmp_path):
    images = _images(_compositions(6), lambda a, b, k: -float(a + b))
    result = _run(_config(tmp_path, images, reference="{Cu: -1.0, Au: -1.0}"))
    assert result.fitted_reference_energies == {}
    with h5py.File(tmp_path / "out.h5") as f:
        assert f.attrs["reference_energies_fitted"].tolist() == [False, False]


def test_same_ratio_everywhere_is_a_clear_error(tmp_path, capsys):
    images = _images([(1, 1), (2, 2), (3, 3), (4, 4)], lambda a, b, k: -1.0 * (a + b))
    assert main(["generate", str(_config(tmp_path, images))]) == 2
    err = capsys.readouterr().err
    assert "do not determine separate free-atom energies for Cu, Au" in err
    assert "span 1 of 2 directions" in err and "give numbers for 1 of them" in err
    assert "Traceback" not in err and not list(tmp_path.glob("out.h5*"))


def test_fitted_species_absent_from_the_data(tmp_path, capsys):
    images = _images([(1, 0), (2, 0)], lambda a, b, k: -1.0 * a)
    assert main(["generate", str(_config(tmp_path, images, reference="{Cu: fit, Au: fit}"))]) == 2
    assert "cannot fit Au: no structure contains it" in capsys.readouterr().err


def test_accumulator_against_lstsq_with_a_rank_deficient_case():
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 6, size=(200, 3))
    counts[counts.sum(axis=1) == 0, 0] = 1
    e = counts @ np.array([-1.1, -2.2, -3.3]) + rng.normal(scale=0.05, size=200)
    fit = ReferenceEnergyFit(["A", "B", "C"], {})
    for c, energy in zip(counts, e):
        fit.add(c, energy)
    ref, *_ = np.linalg.lstsq(counts.astype(float), e, rcond=None)
    assert list(fit.solve().values()) == pytest.approx(ref, abs=1e-10)
    resid = (e - counts @ ref) / counts.sum(axis=1)
    assert fit.rms_per_atom == pytest.approx(np.sqrt(np.mean(resid**2)), rel=1e-9)
    dependent = ReferenceEnergyFit(["A", "B", "C"], {"A": -1.0})
    for k in range(1, 5):  # B and C always 1:2
        dependent.add([k % 2, k, 2 * k], -5.0 * k)
    with pytest.raises(DataError, match="for B, C .*span 1 of 2"):
        dependent.solve()


def test_energy_choice_decides_the_stored_energies(tmp_path):
    comps = _compositions(8)
    images = _images(comps, lambda a, b, k: -1.0 * (a + b) - 0.1 * k, free_shift=-0.01)
    zk = np.array([a.calc.results["energy"] for a in images])
    free = np.array([a.calc.results["free_energy"] for a in images])
    assert np.all(zk != free)
    _run(_config(tmp_path, images, reference="{Cu: 0.0, Au: 0.0}"))
    with h5py.File(tmp_path / "out.h5") as f:
        np.testing.assert_array_equal(f["structures/energy"][()], free)
        assert (f.attrs["energy_choice"], f.attrs["energy_kinds"]) == ("auto", "free")
    _run(_config(tmp_path, images, reference="{Cu: 0.0, Au: 0.0}", extra="energy: zero_kelvin\noverwrite: true\n"))
    with h5py.File(tmp_path / "out.h5") as f:
        np.testing.assert_array_equal(f["structures/energy"][()], zk)
        assert (f.attrs["energy_choice"], f.attrs["energy_kinds"]) == ("zero_kelvin", "zero_kelvin")


def test_energy_kind_missing_names_file_and_frame(tmp_path, capsys):
    images = _images(_compositions(5), lambda a, b, k: -1.0 * (a + b))
    path = _config(tmp_path, images, reference="{Cu: 0.0, Au: 0.0}", extra="energy: free\n")
    assert main(["generate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'data.extxyz'}: 'energy: free' asks for the free (force-consistent) energy" in err
    assert not list(tmp_path.glob("out.h5*"))


def test_xsf_cohesive_energy_lines_with_fit(tmp_path, capsys):
    from anncli.io import write_xsf
    from anncli.structure import Structure

    comps = [(1, 0), (0, 1), (2, 1), (1, 3)]
    data = tmp_path / "data"
    data.mkdir()
    for k, (a, b) in enumerate(comps):
        n = a + b
        pos = np.array([(i, 0, 0) for i in range(n)], dtype=float) * 2.6
        s = Structure(["Cu"] * a + ["Au"] * b, pos, np.eye(3) * 12.0, (True,) * 3,
                      energy=a * TRUE["Cu"] + b * TRUE["Au"], cohesive_energy=-5.0)
        write_xsf(data / f"s{k}.xsf", s)
    config = _config(tmp_path, _images([(1, 1)], lambda a, b, k: 0.0))
    config.write_text(config.read_text().replace("[data.extxyz]", "[data/*.xsf]"))
    result = _run(config)  # the total energies are fitted; the cohesive lines (-5 eV) are not used
    assert result.fitted_reference_energies == pytest.approx(TRUE, abs=1e-9)
    with h5py.File(tmp_path / "out.h5") as f:
        np.testing.assert_allclose(f["structures/cohesive_energy"][()], 0.0, atol=1e-9)
    s = Structure(["Cu"], [[0, 0, 0]], energy=None, cohesive_energy=-1.0)
    write_xsf(data / "s9.xsf", s)
    assert main(["generate", "--overwrite", str(config)]) == 2
    assert "s9.xsf: the structure gives a cohesive energy but no total energy" in capsys.readouterr().err
