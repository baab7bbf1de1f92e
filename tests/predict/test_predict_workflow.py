"""``anncli predict`` end to end: golden ænet run, outputs, command-line structures, bad input,
extrapolation warnings, relaxation."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from anncli.cli import main
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.io import write_structures, write_xsf
from anncli.log import reset_logging
from anncli.potential.evaluate import Potential
from anncli.potential.model_file import save_model
from synthetic_model import random_model
from anncli.structure import Structure

SPECIES = ["Cu", "Au"]


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


def fcc(a=3.9, reps=1, seed=0, noise=0.05, symbols=None) -> Structure:
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * a
    pos = np.concatenate([base + [a * r, 0, 0] for r in range(reps)]) + rng.normal(scale=noise, size=(4 * reps, 3))
    syms = symbols or [SPECIES[k % 2] for k in range(4 * reps)]
    return Structure(syms, pos, np.diag([a * reps, a, a]), (True, True, True), energy=-10.0 - seed)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    setups = {s: ChebyshevSetup(s, SPECIES, 5.0, 6, 3.5, 3) for s in SPECIES}
    train = [fcc(seed=k, noise=0.08) for k in range(6)] + [fcc(reps=2, seed=9)]
    model = random_model(setups, (8, 8), structures=train, seed=1, reference_energies={"Cu": -1.5, "Au": -2.5})
    path = tmp_path_factory.mktemp("model") / "model.h5"
    save_model(path, model)
    return path


def write_config(tmp_path: Path, model: Path, structures="data/*.xsf", **extra) -> Path:
    text = f"model: {model}\nstructures: [{structures}]\n"
    for key, value in extra.items():
        text += f"{key}: {json.dumps(value)}\n"
    path = tmp_path / "predict.yaml"
    path.write_text(text)
    return path


def write_data(tmp_path: Path, structures) -> list[Path]:
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    paths = []
    for k, s in enumerate(structures):
        paths.append(d / f"s{k:02d}.xsf")
        write_xsf(paths[-1], s)
    return paths


def test_golden_aenet_chain(golden, tmp_path, capsys):
    d = golden / "predict-TiO2"
    cfg = tmp_path / "predict.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        aenet_networks: {{Ti: {d / 'Ti.nn'}, O: {d / 'O.nn'}}}
        structures: ["{d / 'xsf-TiO2'}/structure-00[1-3].xsf"]
        output: {{json: out.json}}
        """))
    assert main(["predict", str(cfg)]) == 0
    out = capsys.readouterr().out
    golden_totals = [float(l.split(":")[1].split()[0]) for l in (d / "predict.out").read_text().splitlines()
                     if "Total energy" in l]
    printed = [float(l.split(":")[1].split()[0]) for l in out.splitlines() if "Total energy" in l]
    assert printed == golden_totals  # the table prints the same 8 decimals as predict.x
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert len(rows) == len(golden_totals) == 3
    for row, ref in zip(rows, golden_totals):
        assert abs(float(row["energy"]) - ref) <= 1e-6
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [abs(r["energy"] - e) <= 1e-6 for r, e in zip(doc["structures"], golden_totals)] == [True] * 3


def test_outputs_match_engine(model_file, tmp_path, capsys):
    from ase.io import read

    structures = [fcc(seed=k) for k in range(3)] + [fcc(reps=2, seed=7)]
    write_data(tmp_path, structures)
    cfg = write_config(tmp_path, model_file, print="atoms", output={"json": "p.json"})
    assert main(["predict", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "E_atom" in out and "Maximum force" in out
    pot = Potential(__import__("anncli.potential.model_file", fromlist=["load_model"]).load_model(model_file))
    preds, _ = pot.evaluate(structures)
    images = read(tmp_path / "predictions.extxyz", ":")
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert len(images) == len(rows) == 4
    for s, p, a, row in zip(structures, preds, images, rows):
        assert a.get_potential_energy() == pytest.approx(p.energy, abs=1e-9)
        np.testing.assert_allclose(a.get_forces(), p.forces, atol=1e-7)
        np.testing.assert_allclose(a.get_potential_energies(), p.atomic_energies, atol=1e-9)
        np.testing.assert_allclose(a.get_stress(voigt=False), p.stress, atol=1e-12)
        assert float(row["energy"]) == pytest.approx(p.energy, abs=1e-7)
        assert float(row["error"]) == pytest.approx(p.energy - s.energy, abs=1e-7)
        assert int(row["n_atoms"]) == s.n_atoms
        assert float(row["max_force"]) == pytest.approx(np.linalg.norm(p.forces, axis=1).max(), abs=1e-7)
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["summary"]["n_structures"] == 4
    assert not list(tmp_path.glob("*.tmp-*"))


def test_structures_on_command_line(model_file, tmp_path, capsys):
    paths = write_data(tmp_path, [fcc(seed=k) for k in range(3)])
    cfg = write_config(tmp_path, model_file, structures="does-not-exist/*.xsf", print="none")
    write_structures(tmp_path / "extra.extxyz", [fcc(seed=5), fcc(seed=6)])
    assert main(["predict", str(cfg), str(paths[1]), str(tmp_path / "extra.extxyz")]) == 0
    assert capsys.readouterr().out == ""
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert [(Path(r["file"]).name, r["frame"]) for r in rows] == [("s01.xsf", "0"), ("extra.extxyz", "0"),
                                                                   ("extra.extxyz", "1")]


def test_missing_species_exit_2(model_file, tmp_path, capsys):
    s = fcc(seed=1, symbols=["Cu", "Ni", "Au", "Cu"])
    write_data(tmp_path, [fcc(seed=0), s])
    assert main(["predict", str(write_config(tmp_path, model_file))]) == 2
    err = capsys.readouterr().err
    assert "s01.xsf" in err and "species Ni not in the model" in err
    assert not (tmp_path / "predictions.csv").exists() and not list(tmp_path.glob("*.tmp-*"))


def test_not_a_model_exit_2(tmp_path, capsys):
    bogus = tmp_path / "model.h5"
    bogus.write_text("not hdf5\n")
    write_data(tmp_path, [fcc()])
    assert main(["predict", str(write_config(tmp_path, bogus))]) == 2
    assert "model.h5: not a readable HDF5 file" in capsys.readouterr().err
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    assert main(["predict", str(write_config(tmp_path, tmp_path / "other.h5"))]) == 2
    assert "not an anncli model file" in capsys.readouterr().err


def test_overlapping_atoms_exit_2(model_file, tmp_path, capsys):
    s = fcc(seed=2, noise=0.0)
    s.positions[2] = s.positions[1] + [0.03, 0.0, 0.0]
    write_data(tmp_path, [s])
    assert main(["predict", str(write_config(tmp_path, model_file))]) == 2
    err = capsys.readouterr().err
    assert "s00.xsf" in err and "atoms 2 (Au) and 3 (Cu)" in err and "0.03" in err


@pytest.mark.parametrize("min_distance", [0.1, 0.0])
def test_duplicated_atom_exit_2_even_without_min_distance(model_file, tmp_path, capsys, min_distance):
    s = fcc(seed=2, noise=0.0)
    dup = Structure(s.symbols + [s.symbols[1]], np.vstack([s.positions, s.positions[1]]), s.cell, s.pbc)
    write_data(tmp_path, [dup])
    assert main(["predict", str(write_config(tmp_path, model_file, min_distance=min_distance))]) == 2
    err = capsys.readouterr().err
    assert "s00.xsf: atoms 2 (Au) and 5 (Au) are at the same position" in err
    assert "Traceback" not in err


def test_extrapolation_warning_names_structure_atom_feature(model_file, tmp_path, capsys):
    squeezed = fcc(a=3.3, seed=3)  # denser than every training structure
    structures = [fcc(seed=k, noise=0.08) for k in range(2)] + [squeezed] * 3  # training structures first
    write_data(tmp_path, structures)
    cfg = write_config(tmp_path, model_file, extrapolation={"max_warnings": 2}, print="none")
    assert main(["predict", str(cfg)]) == 0
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if " the training m" in l]  # "... below the training minimum ..."
    assert len(lines) == 2  # capped
    assert "s02.xsf: atom 1 (Cu): feature " in lines[0]
    assert "further extrapolation warnings are not listed" in err
    assert "12 atom(s) in 3 structure(s) have features outside the training range" in err
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert [int(r["n_extrapolating"]) for r in rows] == [0, 0, 4, 4, 4]


def test_relax(model_file, tmp_path, capsys):
    from ase.io import read

    s = fcc(seed=4, noise=0.1)
    write_data(tmp_path, [s])
    cfg = write_config(tmp_path, model_file, relax={"optimizer": "fire", "fmax": 0.01, "steps": 500})
    assert main(["predict", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "Relaxation                 : converged" in out
    (relaxed,) = read(tmp_path / "relaxed.extxyz", ":")
    assert relaxed.info["relax_converged"] is True  # extxyz "T", read back as a bool
    assert np.linalg.norm(relaxed.get_forces(), axis=1).max() < 0.01
    row = next(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert float(row["energy"]) < float(row["initial_energy"])


def test_aenet_file_given_as_model_gets_a_hint(golden, tmp_path, capsys):
    write_data(tmp_path, [fcc()])
    assert main(["predict", str(write_config(tmp_path, golden / "predict-TiO2" / "Ti.nn"))]) == 2
    err = capsys.readouterr().err
    assert "Ti.nn: not a readable HDF5 file" in err and "aenet_networks" in err


def test_config_errors(tmp_path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("structures: [a.xsf]\n")
    assert main(["predict", str(cfg)]) == 2
    assert "p.yaml, line 1: missing required key 'model' (an anncli model file) or 'aenet_networks'" in (
        capsys.readouterr().err)
    cfg.write_text("model: m.h5\nstructures: [a.xsf]\nrelax: {optimizer: lbfgs}\n")
    assert main(["predict", str(cfg)]) == 2
    assert "p.yaml, line 3: relax.optimizer: expected 'BFGS' or 'FIRE', got 'lbfgs'" in capsys.readouterr().err


def test_structures_only_on_command_line(model_file, tmp_path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"model: {model_file}\nprint: none\n")
    assert main(["predict", str(cfg)]) == 2
    assert "missing required key 'structures' (or give structure files on the command line" in capsys.readouterr().err
    (path,) = write_data(tmp_path, [fcc()])
    assert main(["predict", str(cfg), str(path)]) == 0
    assert len(list(csv.DictReader((tmp_path / "predictions.csv").open()))) == 1
