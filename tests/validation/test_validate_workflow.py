"""``anncli validate`` end to end: the report's numbers equal errors known by construction."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from anncli.cli import main
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.io import write_xsf
from anncli.log import reset_logging
from anncli.potential.evaluate import Potential
from anncli.potential.model_file import load_model, save_model
from synthetic_model import random_model
from anncli.structure import Structure
from anncli.validation.metrics import error_summary

SPECIES = ["Cu", "Au"]


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


def fcc(a=3.9, seed=0, noise=0.05) -> Structure:
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * a
    pos = base + rng.normal(scale=noise, size=(4, 3))
    return Structure([SPECIES[k % 2] for k in range(4)], pos, np.diag([a, a, a]), (True, True, True))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    setups = {s: ChebyshevSetup(s, SPECIES, 5.0, 6, 3.5, 3) for s in SPECIES}
    train = [fcc(seed=k, noise=0.08) for k in range(8)]
    model = random_model(setups, (8, 8), structures=train, seed=1, reference_energies={"Cu": -1.5, "Au": -2.5})
    path = tmp_path_factory.mktemp("model") / "model.h5"
    save_model(path, model)
    return path


def labelled(model_file, structures, energy_offsets_mev, force_scale, seed=0):
    """Reference labels = prediction - known offsets: the errors are known exactly."""
    pot = Potential(load_model(model_file))
    preds, _ = pot.evaluate(structures)
    rng = np.random.default_rng(seed)
    out, df = [], []
    for s, p, de in zip(structures, preds, energy_offsets_mev):
        d = rng.normal(scale=force_scale, size=p.forces.shape)
        out.append(Structure(s.symbols, s.positions, s.cell, s.pbc, energy=p.energy - de * s.n_atoms / 1000,
                             forces=p.forces - d))
        df.append(d)
    return out, np.concatenate(df)


def write_inputs(tmp_path, model_file, structures, **extra) -> Path:
    d = tmp_path / "test"
    d.mkdir(exist_ok=True)
    for k, s in enumerate(structures):
        write_xsf(d / f"t{k:02d}.xsf", s)
    text = f"model: {model_file}\nstructures: [test/*.xsf]\n" + "".join(
        f"{k}: {json.dumps(v)}\n" for k, v in extra.items())
    (tmp_path / "validate.yaml").write_text(text)
    return tmp_path / "validate.yaml"


def test_report_numbers_equal_the_known_errors(model_file, tmp_path, capsys):
    structures = [fcc(seed=20 + k, noise=0.03) for k in range(6)]
    offsets = np.array([1.5, -3.0, 0.25, 8.0, -0.5, 2.0])  # meV/atom
    test, df = labelled(model_file, structures, offsets, 0.05)
    cfg = write_inputs(tmp_path, model_file, test)
    assert main(["validate", str(cfg)]) == 0
    out_dir = tmp_path / "validation"
    report = json.loads((out_dir / "report.json").read_text())
    e = report["statistics"]["energy"]["per_atom_meV"]
    expected = error_summary(offsets)
    # XSF stores energies with finite digits: compare to 1e-6 meV/atom
    for key in ("rmse", "mae", "max", "mean"):
        assert e[key] == pytest.approx(expected[key], abs=1e-6)
    f = report["statistics"]["forces"]
    assert f["component"]["rmse"] == pytest.approx(np.sqrt(np.mean(df**2)), rel=1e-6)
    assert f["vector"]["max"] == pytest.approx(np.linalg.norm(df, axis=1).max(), rel=1e-6)
    assert set(f["per_species"]) == {"Cu", "Au"}
    rows = list(csv.DictReader((out_dir / "structures.csv").open()))
    assert [r["source"][-7:] for r in rows[:3]] == ["t03.xsf", "t01.xsf", "t05.xsf"]  # sorted by |error|
    assert [int(r["rank"]) for r in rows] == list(range(1, 7))
    assert float(rows[0]["error_per_atom_meV"]) == pytest.approx(8.0, abs=1e-6)
    for name in report["figures"]:
        assert (out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"energy_parity.png", "force_parity.png", "error_histograms.png"} <= set(report["figures"])
    html = (out_dir / "report.html").read_text()
    assert f"{expected['rmse']:.4g}" in html and "<img src='energy_parity.png'" in html
    text = capsys.readouterr().out
    assert "energy per atom" in text and f"{expected['rmse']:.4g}" in text
    assert not list(out_dir.glob("*.tmp-*"))


def test_missing_reference_energies_are_named_and_nothing_is_written(model_file, tmp_path, capsys):
    structures = [fcc(seed=k) for k in range(8)]
    test, _ = labelled(model_file, structures, np.zeros(8), 0.0)
    for k in (1, 2, 4, 5, 6, 7, 0):
        test[k].energy = None
    cfg = write_inputs(tmp_path, model_file, test)
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "7 test structure(s) have no reference energy" in err
    assert "t00.xsf" in err and "and 2 more" in err and "t03.xsf" not in err
    assert "Traceback" not in err
    assert not (tmp_path / "validation").exists()


def test_empty_test_set_and_unknown_species_exit_2(model_file, tmp_path, capsys):
    test, _ = labelled(model_file, [fcc(seed=1)], [0.0], 0.0)
    cfg = write_inputs(tmp_path, model_file, test, frames="5:")
    assert main(["validate", str(cfg)]) == 2
    assert "the test set is empty" in capsys.readouterr().err
    ni = Structure(["Ni"] + test[0].symbols[1:], test[0].positions, test[0].cell, test[0].pbc, energy=-3.0)
    cfg = write_inputs(tmp_path, model_file, [ni])
    assert main(["validate", str(cfg)]) == 2
    assert "species Ni not in the model" in capsys.readouterr().err


def test_extrapolating_structures_are_listed_and_written(model_file, tmp_path):
    from ase.io import read

    normal = [fcc(seed=k, noise=0.08) for k in range(3)]  # training structures: inside the range
    squeezed = [fcc(a=3.3, seed=40 + k) for k in range(2)]  # denser than every training structure
    test, _ = labelled(model_file, normal + squeezed, np.zeros(5), 0.01)
    cfg = write_inputs(tmp_path, model_file, test, plots=False)
    assert main(["validate", str(cfg)]) == 0
    out_dir = tmp_path / "validation"
    report = json.loads((out_dir / "report.json").read_text())
    rows = list(csv.DictReader((out_dir / "structures.csv").open()))
    flagged = {r["source"][-7:] for r in rows if int(r["n_extrapolating"])}
    assert flagged == {"t03.xsf", "t04.xsf"}
    frames = read(out_dir / "extrapolating.extxyz", index=":")
    assert sorted(Path(a.info["source"]).name for a in frames) == ["t03.xsf", "t04.xsf"]
    ex_rows = list(csv.DictReader((out_dir / "extrapolation.csv").open()))
    assert len(ex_rows) == report["statistics"]["extrapolation"]["n_atoms"] == sum(int(r["n_extrapolating"]) for r in rows)
    grades = [float(r["grade"]) for r in ex_rows]
    assert grades == sorted(grades, reverse=True) and grades[-1] > 0
    assert report["figures"] == [] and not list(out_dir.glob("*.png"))


def committee_members(seeds=(1, 2, 3)):
    """Random models of one architecture and normalisation (the training structures of model_file)."""
    setups = {s: ChebyshevSetup(s, SPECIES, 5.0, 6, 3.5, 3) for s in SPECIES}
    train = [fcc(seed=k, noise=0.08) for k in range(8)]
    return [random_model(setups, (8, 8), structures=train, seed=seed) for seed in seeds]


@pytest.fixture(scope="module")
def committee_file(tmp_path_factory):
    import copy

    members = committee_members()
    committee = copy.deepcopy(members[0])
    committee.committee = [m.networks for m in members[1:]]
    return save_model(tmp_path_factory.mktemp("committee") / "committee.h5", committee), committee, members


def test_committee_spread_is_reported_against_the_errors(tmp_path, committee_file):
    from anncli.validation.metrics import rank_correlation

    path, committee, _ = committee_file
    structures = [fcc(seed=50 + k, noise=0.1) for k in range(6)]
    test, _ = labelled(path, structures, np.array([1.0, -2.0, 3.0, 0.5, -4.0, 2.5]), 0.02)
    cfg = write_inputs(tmp_path, path, test)
    assert main(["validate", str(cfg)]) == 0
    report = json.loads((tmp_path / "validation" / "report.json").read_text())
    c = report["statistics"]["committee"]
    preds, _ = Potential(committee).evaluate(test, committee_forces=True)
    spread = np.array([1000 * p.energy_std / 4 for p in preds])
    err = np.abs(np.array([1.0, -2.0, 3.0, 0.5, -4.0, 2.5]))
    assert c["members"] == 3
    assert c["energy_std_per_atom_meV_mean"] == pytest.approx(spread.mean(), rel=1e-9)
    assert c["energy_spread_error_rank_correlation"] == pytest.approx(rank_correlation(spread, err))
    f_spread = np.concatenate([p.forces_std for p in preds])
    assert c["forces_std_mean"] == pytest.approx(f_spread.mean(), rel=1e-9)
    assert "error_vs_committee_spread.png" in report["figures"]
    assert "<h2>Committee</h2>" in (tmp_path / "validation" / "report.html").read_text()


def test_candidates_are_ranked_and_thinned(tmp_path, committee_file):
    from ase.io import read

    path, committee, members = committee_file
    # candidates: 4 near-copies of one frame, and 6 others; no reference labels
    base = fcc(seed=60, noise=0.15)
    copies = [Structure(base.symbols, base.positions + 1e-4 * k, base.cell, base.pbc) for k in range(4)]
    others = [fcc(seed=70 + k, noise=0.1) for k in range(6)]
    d = tmp_path / "md"
    d.mkdir()
    for k, s in enumerate(copies + others):
        write_xsf(d / f"c{k:02d}.xsf", s)
    (tmp_path / "v.yaml").write_text(
        f"model: {path}\ncandidates: {{structures: [md/*.xsf], n: 3, rank_by: energy_spread, pool: 10}}\n")
    assert main(["validate", str(tmp_path / "v.yaml")]) == 0
    out = tmp_path / "validation"
    rows = list(csv.DictReader((out / "candidates.csv").open()))
    assert len(rows) == 10
    preds, _ = Potential(committee).evaluate(copies + others)
    spread = np.array([1000 * p.energy_std / 4 for p in preds])
    np.testing.assert_allclose([float(r["score"]) for r in rows], spread, rtol=1e-8)
    chosen = sorted((int(r["selected_rank"]), int(r["index"])) for r in rows if r["selected_rank"])
    assert len(chosen) == 3
    assert chosen[0][1] == int(np.argmax(spread))  # farthest-point sampling starts at the top score
    assert sum(1 for _, i in chosen if i < 4) <= 1  # not several near-copies of one frame
    frames = read(out / "selected.extxyz", index=":")
    assert [a.info["selected_rank"] for a in frames] == [1, 2, 3]
    assert Path(frames[0].info["source"]).name == f"c{chosen[0][1]:02d}.xsf"
    report = json.loads((out / "report.json").read_text())
    assert report["statistics"] is None and report["candidates"]["n_selected"] == 3
    # a spread ranking needs a committee
    single = save_model(tmp_path / "single.h5", members[0])
    (tmp_path / "s.yaml").write_text(f"model: {single}\ncandidates: {{structures: [md/*.xsf]}}\n")
    assert main(["validate", str(tmp_path / "s.yaml")]) == 0  # default: extrapolation
    (tmp_path / "s2.yaml").write_text(
        f"model: {single}\noutput_dir: v2\ncandidates: {{structures: [md/*.xsf], rank_by: force_spread}}\n")
    assert main(["validate", str(tmp_path / "s2.yaml")]) == 2
    assert not (tmp_path / "v2").exists()


def test_stress_errors_where_the_files_have_a_stress(model_file, tmp_path):
    from ase.io import write
    from ase.units import GPa

    structures = [fcc(seed=80 + k, noise=0.05) for k in range(3)]
    pot = Potential(load_model(model_file))
    preds, _ = pot.evaluate(structures)
    offsets = np.array([0.5, -1.0, 2.0]) * GPa  # eV/Å^3 added to sigma_xy
    frames = []
    for s, p, d in zip(structures, preds, offsets):
        ref = p.stress.copy()
        ref[0, 1] += d
        ref[1, 0] += d
        labelled_s = Structure(s.symbols, s.positions, s.cell, s.pbc, energy=p.energy, forces=p.forces, stress=ref)
        frames.append(labelled_s.to_ase())
    (tmp_path / "test").mkdir()
    write(tmp_path / "test" / "t.extxyz", frames, format="extxyz")
    (tmp_path / "validate.yaml").write_text(f"model: {model_file}\nstructures: [test/t.extxyz]\nplots: false\n")
    assert main(["validate", str(tmp_path / "validate.yaml")]) == 0
    st = json.loads((tmp_path / "validation" / "report.json").read_text())["statistics"]["stress"]
    # one off-diagonal component of six differs per structure
    errs = np.zeros((3, 6))
    errs[:, 5] = -np.array([0.5, -1.0, 2.0])
    assert st["n_structures"] == 3
    assert st["component_GPa"]["rmse"] == pytest.approx(np.sqrt(np.mean(errs**2)), rel=1e-6)
    assert st["component_GPa"]["max"] == pytest.approx(2.0, rel=1e-6)
