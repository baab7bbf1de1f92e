"""Δ-learning end to end on a difference known exactly: reference = EMT + Lennard-Jones, baseline = EMT.

generate must store reference − baseline (and the baseline itself), train must carry the
baseline into the model, the networks must learn the Lennard-Jones term, and predict / validate must
add EMT back; bad baselines are input errors (exit 2) that name the calculator or the structure.
The inputs are those of example_inputs/delta/ (so the example is tested too).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from anncli.cli import main
from script_module import load_script

EXAMPLE = Path(__file__).resolve().parents[2] / "example_inputs" / "delta"


def _data_module():
    return load_script(EXAMPLE / "make_delta_data.py")


DATA = _data_module()


def _write(path: Path, frames) -> Path:
    from ase.io import write

    write(path, frames, format="extxyz")
    return path


def _example(tmp: Path, n_train: int = 80, n_test: int = 20) -> Path:
    for name in ("generate.yaml", "train.yaml", "predict.yaml", "validate.yaml"):
        shutil.copy(EXAMPLE / name, tmp / name)
    _write(tmp / "data.extxyz", DATA.delta_frames(n_train, seed=0))
    _write(tmp / "test.extxyz", DATA.delta_frames(n_test, seed=1))
    return tmp


def _read_trainset(path: Path) -> dict:
    with h5py.File(path) as f:
        return {"energy": f["structures/energy"][()], "cohesive": f["structures/cohesive_energy"][()],
                "baseline_energy": f["structures/baseline_energy"][()], "forces": f["atoms/forces"][()],
                "baseline_forces": f["atoms/baseline_forces"][()], "positions": f["atoms/positions"][()],
                "offsets": f["structures/atom_offset"][()], "parent": f["structures/parent"][()],
                "baseline": json.loads(f.attrs["baseline"])}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The example run: generate (baseline EMT), train, predict, validate."""
    tmp = _example(tmp_path_factory.mktemp("delta"))
    for stage in ("generate", "train", "predict", "validate"):
        assert main([stage, str(tmp / f"{stage}.yaml")]) == 0, stage
    return tmp


# ----------------------------------------------------------------------------- generate
def test_generate_stores_reference_minus_baseline(trained):
    from ase.io import read

    ts = _read_trainset(trained / "trainset.h5")
    frames = read(trained / "data.extxyz", ":")
    assert ts["baseline"] == {"calculator": "emt", "kwargs": {}, "class": "ase.calculators.emt.EMT"}
    for k, atoms in enumerate(frames):
        a, b = ts["offsets"][k], ts["offsets"][k + 1]
        e_b, f_b, _ = DATA.emt(atoms)
        assert ts["baseline_energy"][k] == pytest.approx(e_b, rel=1e-12, abs=1e-12)
        assert ts["energy"][k] + ts["baseline_energy"][k] == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
        assert ts["cohesive"][k] == pytest.approx(ts["energy"][k], abs=1e-12)  # free-atom energies are 0
        np.testing.assert_allclose(ts["baseline_forces"][a:b], f_b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ts["forces"][a:b] + ts["baseline_forces"][a:b], atoms.get_forces(), atol=1e-9)
        # the stored difference is the pair term (the known answer; extxyz keeps ~8 decimals)
        e_m, f_m, _ = DATA.pair_term(atoms)
        assert ts["energy"][k] == pytest.approx(e_m, abs=1e-6)
        np.testing.assert_allclose(ts["forces"][a:b], f_m, atol=1e-6)


def test_stored_baseline_values_give_the_same_training_set(trained, tmp_path):
    """baseline: {energy_key, forces_key} reads EMT's values from the file: same labels."""
    shutil.copy(trained / "data.extxyz", tmp_path / "data.extxyz")
    text = (EXAMPLE / "generate.yaml").read_text()
    text = text.replace("  calculator: emt ", "# calculator: emt ").replace("  kwargs: {}", "# kwargs: {}")
    text = text.replace("# baseline:   ", "baseline:     ").replace("#   energy_key", "  energy_key")
    text = text.replace("#   forces_key", "  forces_key").replace("\nbaseline:\n#", "\n#")
    (tmp_path / "generate.yaml").write_text(text)
    assert main(["generate", str(tmp_path / "generate.yaml")]) == 0
    stored, calc = _read_trainset(tmp_path / "trainset.h5"), _read_trainset(trained / "trainset.h5")
    assert stored["baseline"] == {"energy_key": "emt_energy", "forces_key": "emt_forces"}
    for key in ("energy", "baseline_energy", "forces", "baseline_forces"):
        np.testing.assert_allclose(stored[key], calc[key], atol=1e-6)  # extxyz keeps ~8 decimals


def test_taylor_copies_are_labelled_with_the_baseline_of_their_positions(tmp_path):
    _write(tmp_path / "data.extxyz", DATA.delta_frames(4, seed=3))
    text = (EXAMPLE / "generate.yaml").read_text()
    (tmp_path / "generate.yaml").write_text(text + "taylor: {copies: 2, displacement: 0.02, mode: all}\n")
    assert main(["generate", str(tmp_path / "generate.yaml")]) == 0
    ts = _read_trainset(tmp_path / "trainset.h5")
    from ase.io import read

    frames = read(tmp_path / "data.extxyz", ":")
    copies = np.flatnonzero(ts["parent"] != np.arange(len(ts["parent"])))
    assert len(copies) == 8
    for c in copies:
        p = ts["parent"][c]
        parent = frames[p // 3]  # rows: parent, copy, copy, parent, ...
        delta = ts["positions"][ts["offsets"][c]:ts["offsets"][c + 1]] - parent.positions
        first_order = parent.get_potential_energy() - float(np.sum(parent.get_forces() * delta))
        atoms = parent.copy()
        atoms.positions += delta
        e_b = DATA.emt(atoms)[0]
        assert ts["baseline_energy"][c] == pytest.approx(e_b, rel=1e-12)  # exact baseline at the copy
        assert ts["energy"][c] == pytest.approx(first_order - e_b, abs=1e-9)


# ----------------------------------------------------------------------------- train, predict, validate
def _bare_and_total(model_path: Path, frames):
    """Energies and forces of the networks alone (baseline removed) and with the baseline."""
    import copy

    from anncli.potential.evaluate import Potential
    from anncli.potential.model_file import load_model

    model = load_model(model_path)
    bare = copy.deepcopy(model)
    bare.baseline = None
    return Potential(bare).evaluate(frames)[0], Potential(model).evaluate(frames)[0]


def test_model_records_the_baseline(trained):
    from anncli.potential.model_file import load_model

    assert load_model(trained / "model.h5").baseline == _read_trainset(trained / "trainset.h5")["baseline"]


def test_networks_learn_the_known_difference(trained):
    from ase.io import read

    frames = read(trained / "test.extxyz", ":")
    bare, total = _bare_and_total(trained / "model.h5", frames)
    n = np.array([len(a) for a in frames])
    pair = [DATA.pair_term(a) for a in frames]
    e_m = np.array([m[0] for m in pair])
    err = (np.array([p.energy for p in bare]) - e_m) / n
    spread = np.std(e_m / n)
    assert spread > 0.01  # eV/atom: the pair term is not a constant
    assert np.sqrt(np.mean(err**2)) < 0.25 * spread  # a model that learned nothing: ~1.0
    f_m = np.concatenate([m[1] for m in pair])
    f_err = np.concatenate([p.forces for p in bare]) - f_m
    assert np.sqrt(np.mean(f_err**2)) < 0.25 * np.sqrt(np.mean(f_m**2))
    # predictions are baseline + networks, exactly
    for atoms, b, t in zip(frames, bare, total):
        e_b, f_b, s_b = DATA.emt(atoms)
        assert t.energy == pytest.approx(b.energy + e_b, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(t.forces, b.forces + f_b, rtol=1e-12, atol=1e-12)
        from ase.stress import full_3x3_to_voigt_6_stress

        np.testing.assert_allclose(full_3x3_to_voigt_6_stress(t.stress),
                                   full_3x3_to_voigt_6_stress(b.stress) + s_b, rtol=1e-12, atol=1e-14)


def test_predict_and_validate_include_the_baseline(trained):
    from ase.io import read

    frames = read(trained / "test.extxyz", ":")
    doc = json.loads((trained / "predictions.json").read_text())
    assert doc["baseline"]["included"] is True and doc["baseline"]["calculator"] == "emt"
    _, total = _bare_and_total(trained / "model.h5", frames)
    pred = np.array([r["energy"] for r in doc["structures"]])
    np.testing.assert_allclose(pred, [t.energy for t in total], rtol=1e-12)
    ref = np.array([a.get_potential_energy() for a in frames])
    n = np.array([len(a) for a in frames])
    rmse = np.sqrt(np.mean(((pred - ref) / n) ** 2))
    report = json.loads((trained / "validation" / "report.json").read_text())
    assert report["baseline"]["included"] is True
    assert report["statistics"]["energy"]["per_atom_meV"]["rmse"] == pytest.approx(1000 * rmse, rel=1e-9)
    # without the baseline added back the error would be EMT's whole energy
    assert 1000 * rmse < 0.01 * 1000 * np.sqrt(np.mean((ref / n) ** 2))


def test_predict_output_says_the_baseline_is_included(trained, capsys):
    text = (trained / "predict.yaml").read_text().replace("print: none", "print: energies")
    (trained / "predict-print.yaml").write_text(text.replace("json: predictions.json", "json: null")
                                                .replace("csv: predictions.csv", "csv: null"))
    assert main(["predict", str(trained / "predict-print.yaml")]) == 0
    out = capsys.readouterr().out
    assert "Baseline       : emt" in out and "baseline + networks" in out


def test_stored_baseline_model_needs_a_calculator_at_predict_time(trained, tmp_path, capsys):
    from anncli.potential.model_file import load_model, save_model

    model = load_model(trained / "model.h5")
    model.baseline = {"energy_key": "emt_energy", "forces_key": "emt_forces"}
    save_model(tmp_path / "model.h5", model)
    shutil.copy(trained / "test.extxyz", tmp_path / "test.extxyz")
    base = "model: model.h5\nstructures: [test.extxyz]\nprint: none\noutput: {extxyz: null, csv: null, json: p.json}\n"
    (tmp_path / "predict.yaml").write_text(base)
    assert main(["predict", str(tmp_path / "predict.yaml")]) == 2
    err = capsys.readouterr().err
    assert "predict.yaml, line 1: model: " in err and "cannot be computed for new structures" in err
    assert "baseline: {calculator" in err and "Traceback" not in err
    (tmp_path / "predict.yaml").write_text(base + "baseline: {calculator: emt}\n")
    assert main(["predict", str(tmp_path / "predict.yaml")]) == 0
    ours = json.loads((tmp_path / "p.json").read_text())
    theirs = json.loads((trained / "predictions.json").read_text())
    np.testing.assert_allclose([r["energy"] for r in ours["structures"]],
                               [r["energy"] for r in theirs["structures"]], rtol=1e-12)


def test_validate_draws_training_energies_with_the_baseline(trained):
    from anncli.workflows.validate import _training_energies

    ts = _read_trainset(trained / "trainset.h5")
    with h5py.File(trained / "trainset.h5") as f:
        n = f["structures/n_atoms"][()]
    np.testing.assert_allclose(_training_energies(trained / "trainset.h5"),
                               (ts["cohesive"] + ts["baseline_energy"]) / n, rtol=1e-12)


# ----------------------------------------------------------------------------- bad input
GEN = textwrap.dedent("""\
    structures: [data.extxyz]
    output: out.h5
    reference_energies: {Cu: 0.0, Au: 0.0, Ti: 0.0}
    descriptors:
      default: {type: chebyshev, radial: {cutoff: 4.0, order: 4}, angular: {cutoff: 3.0, order: 2}}
    """)


def _bad(tmp_path, capsys, baseline: str, frames=None) -> str:
    _write(tmp_path / "data.extxyz", frames if frames is not None else DATA.delta_frames(3, seed=5))
    (tmp_path / "gen.yaml").write_text(GEN + baseline)
    assert main(["generate", str(tmp_path / "gen.yaml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len([x for x in err.splitlines() if "anncli: error:" in x]) == 1
    assert not (tmp_path / "out.h5").exists()
    return err


def test_calculator_not_installed(tmp_path, capsys):
    err = _bad(tmp_path, capsys, "baseline: {calculator: tblite}\n")
    assert "gen.yaml, line 6: baseline.calculator: " in err and "'tblite'" in err and "pip install tblite" in err


def test_calculator_import_path_not_found(tmp_path, capsys):
    err = _bad(tmp_path, capsys, "baseline: {calculator: 'no_such_package.calc:Calculator'}\n")
    assert "no_such_package" in err and "not installed" in err
    err = _bad(tmp_path, capsys, "baseline: {calculator: 'ase.calculators.emt:NoSuchThing'}\n")
    assert "has no calculator class 'NoSuchThing'" in err
    err = _bad(tmp_path, capsys, "baseline: {calculator: no_such_code}\n")  # not one of ASE's names
    assert "gen.yaml, line 6: baseline.calculator: " in err and "'no_such_code'" in err
    err = _bad(tmp_path, capsys, "baseline: {calculator: 'subprocess:run', kwargs: {args: 'true'}}\n")
    assert "subprocess.run (from 'subprocess:run') is not an ASE calculator class" in err


def test_calculator_failing_on_a_structure_names_it(tmp_path, capsys):
    frames = DATA.delta_frames(3, seed=5)
    frames[2].symbols[0] = "Ti"  # EMT has no parameters for Ti
    err = _bad(tmp_path, capsys, "baseline: {calculator: emt}\n", frames)
    assert "data.extxyz@2: the baseline calculator emt" in err and "failed" in err and "Ti" in err


def test_calculator_that_cannot_be_created(tmp_path, capsys):
    err = _bad(tmp_path, capsys, "baseline: {calculator: 'ase.calculators.mixing:SumCalculator', kwargs: {}}\n")
    assert "baseline: the calculator ase.calculators.mixing:SumCalculator" in err and "cannot be created" in err


def test_stored_baseline_missing_in_a_frame(tmp_path, capsys):
    frames = DATA.delta_frames(3, seed=5)
    del frames[1].info["emt_energy"]
    err = _bad(tmp_path, capsys, "baseline: {energy_key: emt_energy, forces_key: emt_forces}\n", frames)
    assert "data.extxyz@1: no energy under 'emt_energy' (baseline.energy_key)" in err


def test_stored_baseline_without_forces_for_structures_with_forces(tmp_path, capsys):
    err = _bad(tmp_path, capsys, "baseline: {energy_key: emt_energy}\n")
    assert "data.extxyz: the structure has reference forces but the baseline has none" in err
    assert "baseline.forces_key" in err


@pytest.mark.parametrize("section, message", [
    ("{calculator: emt, energy_key: e}", "either 'calculator' or 'energy_key'"),
    ("{kwargs: {a: 1}}", "give 'calculator'"),
    ("{energy_key: e, kwargs: {a: 1}}", "'kwargs' belongs to a 'calculator'"),
    ("{calculator: emt, forces_key: f}", "'forces_key' belongs to 'energy_key'"),
])
def test_baseline_section_errors_name_the_key(tmp_path, capsys, section, message):
    err = _bad(tmp_path, capsys, f"baseline: {section}\n")
    assert "gen.yaml, line 6" in err and message in err


def test_fitted_reference_energies_apply_to_the_difference(tmp_path):
    from ase.io import read

    _write(tmp_path / "data.extxyz", DATA.delta_frames(8, seed=4))
    text = (EXAMPLE / "generate.yaml").read_text()
    text = text.replace("  Cu: 0.0 ", "  Cu: fit ").replace("  Au: 0.0", "  Au: fit")
    (tmp_path / "generate.yaml").write_text(text)
    assert main(["generate", str(tmp_path / "generate.yaml")]) == 0
    ts = _read_trainset(tmp_path / "trainset.h5")
    with h5py.File(tmp_path / "trainset.h5") as f:
        counts, ref = f["structures/species_count"][()], f["reference_energies"][()]
        assert f.attrs["reference_energies_fitted"].all()
    frames = read(tmp_path / "data.extxyz", ":")
    delta = np.array([a.get_potential_energy() - DATA.emt(a)[0] for a in frames])
    # the least-squares fit of the differences (not of the reference energies)
    expected, *_ = np.linalg.lstsq(counts.astype(float), delta, rcond=None)
    np.testing.assert_allclose(ref, expected, atol=1e-6)
    np.testing.assert_allclose(ts["cohesive"], delta - counts @ ref, atol=1e-6)
