"""MD stability test: records, failure detection and the validate report."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from synthetic_model import random_model

from anncli.cli import main
from anncli.descriptors.chebyshev import ChebyshevSetup
from anncli.io import write_xsf
from anncli.log import reset_logging
from anncli.potential.evaluate import Potential
from anncli.potential.model_file import save_model
from anncli.structure import Structure
from anncli.validation.md import MDThresholds, pair_min_distances, run_md_test

SPECIES = ["Cu", "Au"]


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    reset_logging()


def fcc(a=3.9, reps=2, seed=0, noise=0.03) -> Structure:
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * a
    shifts = np.array([[i, j, k] for i in range(reps) for j in range(reps) for k in range(reps)]) * a
    pos = (base[None] + shifts[:, None]).reshape(-1, 3) + rng.normal(scale=noise, size=(4 * reps**3, 3))
    return Structure([SPECIES[k % 2] for k in range(len(pos))], pos, np.eye(3) * a * reps, (True, True, True))


@pytest.fixture(scope="module")
def potential():
    setups = {s: ChebyshevSetup(s, SPECIES, 4.5, 6, 3.5, 3) for s in SPECIES}
    model = random_model(setups, (6,), structures=[fcc(seed=k, noise=0.1) for k in range(3)], seed=2,
                         energy_scale=20.0)  # a soft potential: stable short runs
    return Potential(model)


def test_pair_min_distances_by_brute_force():
    s = fcc(reps=1, seed=3, noise=0.2)
    atoms = s.to_ase()
    got = pair_min_distances(atoms, cutoff=4.0)
    pos, cell = s.positions, s.cell
    best: dict[str, float] = {}
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]) @ cell
    for a in range(len(pos)):
        for b in range(len(pos)):
            d = np.linalg.norm(pos[b] + shifts - pos[a], axis=1)
            d = d[d > 1e-9]
            key = "-".join(sorted((s.symbols[a], s.symbols[b])))
            best[key] = min(best.get(key, np.inf), d.min())
    assert got.keys() == best.keys()
    for k in best:
        assert got[k] == pytest.approx(best[k], abs=1e-12)


def test_nve_run_records_and_conserves_energy(potential):
    run = run_md_test(potential, fcc(seed=5), temperature=100, steps=40, timestep=0.5, ensemble="nve",
                      interval=10, seed=1)
    assert not run.failed and run.failure == ""
    assert [r["step"] for r in run.records] == [0, 10, 20, 30, 40]
    drift = np.array([r["drift_meV_atom"] for r in run.records])
    assert drift[0] == 0.0 and np.abs(drift).max() < 1.0  # meV/atom over 20 fs at 0.5 fs
    r = run.records[-1]
    assert r["etot"] == pytest.approx(r["epot"] + r["ekin"])
    assert {"min_Au-Au", "min_Au-Cu", "min_Cu-Cu"} <= set(r)
    # step 0 is the start structure: the engine's energy and force, the brute-force-checked
    # pair distances
    start = fcc(seed=5)
    (p,), _ = potential.evaluate([start])
    r0 = run.records[0]
    assert r0["epot"] == pytest.approx(p.energy, abs=1e-9)
    assert r0["max_force"] == pytest.approx(np.linalg.norm(p.forces, axis=1).max(), abs=1e-9)
    pairs = pair_min_distances(start.to_ase(), cutoff=4.0)
    assert {k: r0[f"min_{k}"] for k in pairs} == pytest.approx(pairs, abs=1e-12)
    assert r0["min_distance"] == pytest.approx(min(pairs.values()), abs=1e-12)


def test_failures_are_detected_with_the_frame(potential):
    run = run_md_test(potential, fcc(seed=5), temperature=100, steps=20, interval=5,
                      thresholds=MDThresholds(min_distance=3.0))  # fcc neighbours are ~2.76 Å apart
    assert run.failed and "Å apart (threshold 3 Å)" in run.failure
    assert run.failed_frame is not None and run.failed_frame.info["step"] == run.records[-1]["step"]
    run = run_md_test(potential, fcc(seed=5), temperature=300, steps=40, timestep=4.0, ensemble="nve",
                      interval=5, thresholds=MDThresholds(max_drift=1e-6))
    assert run.failed and "energy drift" in run.failure and run.records[-1]["step"] > 0


def test_validate_md_section_reports_and_writes_failures(potential, tmp_path, capsys):
    path = save_model(tmp_path / "m.h5", potential.model)
    write_xsf(tmp_path / "start.xsf", fcc(seed=6))
    (tmp_path / "v.yaml").write_text(
        f"model: {path}\nmd: {{structures: [start.xsf], temperatures: [50, 100], steps: 20, interval: 5, "
        "min_distance: 3.0}\n")
    assert main(["validate", str(tmp_path / "v.yaml")]) == 0
    out = tmp_path / "validation"
    report = json.loads((out / "report.json").read_text())
    runs = report["md"]["runs"]
    assert [r["temperature"] for r in runs] == [50.0, 100.0] and report["md"]["n_failed"] == 2
    rows = list(csv.DictReader((out / "md_00.csv").open()))
    assert float(rows[-1]["min_distance"]) < 3.0
    from ase.io import read

    assert len(read(out / "md_failures.extxyz", index=":")) == 2
    assert {"md_00.png", "md_01.png"} <= set(report["figures"])
    assert "FAILED at step" in capsys.readouterr().out


def test_md_start_with_overlapping_atoms_is_an_input_error(potential, tmp_path, capsys):
    path = save_model(tmp_path / "m.h5", potential.model)
    s = fcc(seed=6)
    s.positions[5] = s.positions[4] + [0.05, 0.0, 0.0]
    write_xsf(tmp_path / "bad.xsf", s)
    (tmp_path / "v.yaml").write_text(f"model: {path}\nmd: {{structures: [bad.xsf], steps: 10}}\n")
    assert main(["validate", str(tmp_path / "v.yaml")]) == 2
    err = capsys.readouterr().err
    assert "bad.xsf: atoms 5 (Cu) and 6 (Au) are 0.05 Å apart" in err and "Traceback" not in err
    assert not (tmp_path / "validation").exists()
