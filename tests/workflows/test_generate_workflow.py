"""``anncli generate`` end to end: plumbing, filters, errors, ænet input, golden features."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from anncli.cli import main
from anncli.io import read_xsf, write_xsf
from anncli.structure import Structure
from anncli.workflows import generate as gen

E_REF = {"Cu": -1.5, "Au": -2.5}


def _structures(n=12, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        reps = 1 + k % 2
        base = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * 3.8
        cell = np.eye(3) * 3.8 * np.array([reps, 1, 1])
        pos = np.concatenate([base + [3.8 * r, 0, 0] for r in range(reps)]) + rng.normal(scale=0.05, size=(4 * reps, 3))
        symbols = list(rng.choice(["Cu", "Au"], size=4 * reps))
        out.append(Structure(symbols, pos, cell, (True, True, True), energy=float(rng.normal(-10, 1)),
                             forces=rng.normal(size=(4 * reps, 3))))
    return out


def _write_inputs(tmp_path: Path, structures, **extra) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for k, s in enumerate(structures):
        write_xsf(data / f"s{k:03d}.xsf", s)
    text = textwrap.dedent("""\
        structures: [data/*.xsf]
        output: out.h5
        reference_energies: {Cu: -1.5, Au: -2.5}
        descriptors:
          default:
            type: chebyshev
            radial: {cutoff: 5.0, order: 6}
            angular: {cutoff: 3.5, order: 3}
        """)
    for key, value in extra.items():
        text += f"{key}: {json.dumps(value)}\n"
    path = tmp_path / "gen.yaml"
    path.write_text(text)
    return path


def _run(config_path: Path):
    from anncli.config.generate import load_generate_config

    return gen.run(load_generate_config(config_path), config_path=config_path)


def test_features_energies_and_indices_survive_several_batches(tmp_path, monkeypatch):
    from anncli.descriptors.batch import featurize_batch

    structures = _structures()
    config_path = _write_inputs(tmp_path, structures)
    monkeypatch.setattr(gen, "BATCH_ATOMS", 10)  # several batches
    result = _run(config_path)
    assert (result.n_structures, result.n_atoms) == (12, sum(s.n_atoms for s in structures))
    with h5py.File(tmp_path / "out.h5") as f:
        e_coh = f["structures/cohesive_energy"][()]
        expected = [s.energy - sum(E_REF[x] for x in s.symbols) for s in structures]
        np.testing.assert_allclose(e_coh, expected, rtol=1e-12)
        offsets = f["structures/atom_offset"][()]
        setups = gen.build_setups(
            {"default": {"type": "chebyshev", "radial": {"cutoff": 5.0, "order": 6},
                         "angular": {"cutoff": 3.5, "order": 3}}}, ["Cu", "Au"])
        for k, s in enumerate(structures):  # each structure alone must give the stored rows
            sym = np.array([["Cu", "Au"].index(x) for x in s.symbols], dtype=np.int32)
            ref = featurize_batch(s.positions, s.cell[None], np.ones((1, 3), bool),
                                  np.array([0, s.n_atoms]), sym, ["Cu", "Au"], setups)
            for name in ("Cu", "Au"):
                g = f["features"][name]
                rows = np.flatnonzero(g["structure_index"][()] == k)
                np.testing.assert_array_equal(g["atom_index"][rows] - offsets[k], ref.species[name].centers)
                np.testing.assert_allclose(g["values"][rows], ref.species[name].features, rtol=1e-13)
        np.testing.assert_allclose(f["atoms/forces"][offsets[3]:offsets[4]], structures[3].forces)


def test_filters_drop_and_report(tmp_path):
    structures = _structures()
    per_atom = [(s.energy - sum(E_REF[x] for x in s.symbols)) / s.n_atoms for s in structures]
    # a 4-atom structure with the highest energy per atom but a small total: a filter on the
    # total, or per 8 atoms, would keep it
    structures[2].energy = sum(E_REF[x] for x in structures[2].symbols) + 4 * (max(per_atom) + 0.1)
    per_atom = [(s.energy - sum(E_REF[x] for x in s.symbols)) / s.n_atoms for s in structures]
    assert structures[2].n_atoms == 4 and structures[1].n_atoms == 8
    threshold = float(np.sort(per_atom)[-3])  # with the 1e-9 below: drops the three highest
    structures[0].forces[0] = [100.0, 0, 0]
    config_path = _write_inputs(tmp_path, structures, max_energy_per_atom=threshold - 1e-9, max_force=50.0)
    result = _run(config_path)
    reasons = {Path(label).name: reason for label, reason in result.dropped}
    high = {k for k, e in enumerate(per_atom) if e > threshold - 1e-9}
    assert high == set(np.argsort(per_atom)[-3:].tolist()) and 0 not in high  # the case the test is about
    expected_drop = high | {0}
    assert set(reasons) == {f"s{k:03d}.xsf" for k in expected_drop}
    assert "max_force" in reasons["s000.xsf"]
    assert all("max_energy_per_atom" in reasons[f"s{k:03d}.xsf"] for k in high)
    assert result.n_structures == 12 - len(expected_drop)
    kept = [k for k in range(12) if k not in expected_drop]
    with h5py.File(tmp_path / "out.h5") as f:
        np.testing.assert_allclose(f["structures/cohesive_energy"][()],
                                   [per_atom[k] * structures[k].n_atoms for k in kept], rtol=1e-12)


def test_missing_energy_error_or_skip(tmp_path):
    structures = _structures(4)
    structures[2].energy = None
    config_path = _write_inputs(tmp_path, structures)
    assert main(["generate", str(config_path)]) == 2
    assert not (tmp_path / "out.h5").exists() and not list(tmp_path.glob("out.h5.tmp*"))
    config_path = _write_inputs(tmp_path, structures, missing_energy="skip")
    assert _run(config_path).n_structures == 3


def test_uncovered_species_names_file_and_species(tmp_path, capsys):
    structures = _structures(3)
    structures[1].symbols[0] = "Ag"
    config_path = _write_inputs(tmp_path, structures)
    assert main(["generate", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert "s001.xsf" in err and "Ag" in err and "Traceback" not in err
    assert not list(tmp_path.glob("out.h5*"))


def test_close_atoms_name_the_pair(tmp_path, capsys):
    structures = _structures(3)
    structures[2].positions[1] = structures[2].positions[0] + [0.05, 0, 0]
    config_path = _write_inputs(tmp_path, structures)
    assert main(["generate", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert "s002.xsf" in err and "atoms 1" in err and "2 (" in err
    assert not list(tmp_path.glob("out.h5*"))


def test_existing_output_kept_unless_overwrite(tmp_path):
    config_path = _write_inputs(tmp_path, _structures(2))
    (tmp_path / "out.h5").write_text("keep")
    assert main(["generate", str(config_path)]) == 2
    assert (tmp_path / "out.h5").read_text() == "keep"
    assert main(["generate", "--overwrite", str(config_path)]) == 0
    assert h5py.is_hdf5(tmp_path / "out.h5")


def test_aenet_generate_in_gives_the_same_file(tmp_path):
    structures = _structures(4)
    config_path = _write_inputs(tmp_path, structures)
    _run(config_path)
    for sym in ("Cu", "Au"):
        (tmp_path / f"{sym}.stp").write_text(textwrap.dedent(f"""\
            DESCR
              test setup
            END DESCR
            ATOM {sym}
            ENV 2
            Cu
            Au
            RMIN 1.0
            BASIS type=Chebyshev
            radial_Rc = 5.0  radial_N = 6  angular_Rc = 3.5  angular_N = 3
            """))
    files = sorted((tmp_path / "data").glob("*.xsf"))
    (tmp_path / "generate.in").write_text(
        "OUTPUT aenet.h5\nTYPES\n2\nCu -1.5\nAu -2.5\nSETUPS\nCu Cu.stp\nAu Au.stp\n"
        f"files\n{len(files)}\n" + "\n".join(f"data/{p.name}" for p in files) + "\n"
    )
    assert main(["generate", str(tmp_path / "generate.in")]) == 0
    with h5py.File(tmp_path / "out.h5") as a, h5py.File(tmp_path / "aenet.h5") as b:
        for sym in ("Cu", "Au"):
            np.testing.assert_allclose(a["features"][sym]["values"][()], b["features"][sym]["values"][()], rtol=1e-14)
        np.testing.assert_allclose(a["structures/cohesive_energy"][()], b["structures/cohesive_energy"][()])


def test_golden_lmnto_through_the_whole_stage(tmp_path, golden):
    """Features written by generate equal Fortran ænet's (aenet-golden/chebyshev, 5 species)."""
    src = golden / "chebyshev" / "lmnto_structure001.xsf"
    s = read_xsf(src)
    s.energy = -630.63081206
    write_xsf(tmp_path / "lmnto.xsf", s)
    species = ["Li", "Mo", "Ni", "Ti", "O"]
    (tmp_path / "gen.yaml").write_text(
        "structures: [lmnto.xsf]\noutput: out.h5\n"
        "reference_energies: {Li: 0, Mo: 0, Ni: 0, Ti: 0, O: 0}\n"
        "descriptors:\n  default:\n    type: chebyshev\n"
        "    radial: {cutoff: 4.0, order: 10}\n    angular: {cutoff: 1.5, order: 3}\n"
    )
    _run(tmp_path / "gen.yaml")
    ref = np.loadtxt(golden / "chebyshev" / "lmnto_ref.csv", delimiter=",")
    got = np.zeros_like(ref)
    with h5py.File(tmp_path / "out.h5") as f:
        assert [x.decode() for x in f["species"][()]] == species
        for sym in species:
            got[f["features"][sym]["atom_index"][()]] = f["features"][sym]["values"][()]
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


def test_hartree_bohr_input_and_reference_energies_are_converted(tmp_path, shared_data):
    """Water clusters are in Hartree/Bohr; reference energies are given in the input's unit."""
    from ase.units import Bohr, Hartree

    src = sorted((shared_data / "water-clusters" / "xsf").glob("*.xsf"))[:5]
    (tmp_path / "files.list").write_text("\n".join(str(p) for p in src) + "\n")
    (tmp_path / "gen.yaml").write_text(
        "structures: ['@files.list']\noutput: w.h5\nunits: {energy: Hartree, length: Bohr}\n"
        "reference_energies: {O: -75.0, H: -0.5}\n"
        "descriptors:\n  default:\n    type: chebyshev\n"
        "    radial: {cutoff: 12.0, order: 8}\n    angular: {cutoff: 8.0, order: 4}\n"
    )
    _run(tmp_path / "gen.yaml")
    raw = [float(p.read_text().splitlines()[0].split("=")[1]) for p in src]  # Hartree
    with h5py.File(tmp_path / "w.h5") as f:
        np.testing.assert_allclose(f["structures/energy"][()], np.array(raw) * Hartree, rtol=1e-14)
        np.testing.assert_allclose(f["structures/cohesive_energy"][()],
                                   (np.array(raw) - (6 * -75.0 + 12 * -0.5)) * Hartree, rtol=1e-12)
        np.testing.assert_allclose(f["reference_energies"][()], [-75.0 * Hartree, -0.5 * Hartree])
        first = src[0].read_text().splitlines()[3].split()
        np.testing.assert_allclose(f["atoms/positions"][0], np.array(first[1:4], float) * Bohr, rtol=1e-14)


def test_atom_without_neighbours_has_zero_features_and_warns_once(tmp_path, caplog):
    lone = [Structure(["Cu", "Cu", "Cu"], [[0, 0, 0], [2.5, 0, 0], [30.0, 0, 0]], energy=-3.0) for _ in range(2)]
    config_path = _write_inputs(tmp_path, lone)
    with caplog.at_level("WARNING"):
        _run(config_path)
    warnings = [r.getMessage() for r in caplog.records if "no neighbours" in r.getMessage()]
    assert len(warnings) == 1 and "atom 3 (Cu)" in warnings[0]
    with h5py.File(tmp_path / "out.h5") as f:
        values = f["features/Cu/values"][()]
        assert np.all(values[2] == 0) and np.all(values[5] == 0) and np.any(values[0] != 0)


def test_stored_derivatives_match_finite_differences(tmp_path):
    """dG rows and neighbour indices in the file give dG_i/dR_j (checked by central differences)."""
    from anncli.descriptors.batch import featurize_batch

    structures = _structures(3, seed=5)
    config_path = _write_inputs(tmp_path, structures, derivatives=True)
    _run(config_path)
    setups = gen.build_setups(
        {"default": {"type": "chebyshev", "radial": {"cutoff": 5.0, "order": 6},
                     "angular": {"cutoff": 3.5, "order": 3}}}, ["Cu", "Au"])
    k = 1
    s = structures[k]
    sym = np.array([["Cu", "Au"].index(x) for x in s.symbols], dtype=np.int32)

    def features_of(pos):
        res = featurize_batch(pos, s.cell[None], np.ones((1, 3), bool), np.array([0, s.n_atoms]), sym,
                              ["Cu", "Au"], setups)
        out = {}
        for name in ("Cu", "Au"):
            for c, row in zip(res.species[name].centers, res.species[name].features):
                out[int(c)] = row
        return out

    with h5py.File(tmp_path / "out.h5") as f:
        a0 = int(f["structures/atom_offset"][k])
        i_global = a0  # first atom of structure k
        name = s.symbols[0]
        g = f["features"][name]
        row = int(np.flatnonzero(g["atom_index"][()] == i_global)[0])
        d = f["derivatives"][name]
        p0, p1 = d["pair_offset"][row], d["pair_offset"][row + 1]
        neighbors, dG = d["neighbor"][p0:p1], d["dG"][p0:p1]
    h = 1e-5
    for j in (0, 2):  # derivative of atom 0's features w.r.t. atom j (j = 0: itself)
        analytic = np.zeros((dG.shape[1], 3))
        analytic += dG[neighbors == a0 + j].sum(axis=0)
        if j == 0:
            analytic -= dG.sum(axis=0)
        for axis in range(3):
            plus, minus = s.positions.copy(), s.positions.copy()
            plus[j, axis] += h
            minus[j, axis] -= h
            numeric = (features_of(plus)[0] - features_of(minus)[0]) / (2 * h)
            np.testing.assert_allclose(analytic[:, axis], numeric, rtol=1e-6, atol=1e-7)


def test_aenet_setup_files_in_yaml_with_bohr_units(tmp_path, shared_data):
    """A descriptor given as ænet .stp files (lengths in Bohr) equals the same functions in Å."""
    from ase.units import Bohr

    from anncli.io.aenet_inputs import read_stp

    root = shared_data / "water-clusters"
    src = sorted((root / "xsf").glob("*.xsf"))[:3]
    (tmp_path / "files.list").write_text("\n".join(str(p) for p in src) + "\n")
    stp = {sym: root / "reference-ann" / f"{sym}.fingerprint.stp" for sym in ("H", "O")}
    (tmp_path / "gen.yaml").write_text(
        "structures: ['@files.list']\noutput: w.h5\nunits: {energy: Hartree, length: Bohr}\n"
        "reference_energies: {H: 0.0, O: 0.0}\ndescriptors:\n"
        + "".join(f"  {sym}: {{type: aenet, file: {path}}}\n" for sym, path in stp.items())
    )
    _run(tmp_path / "gen.yaml")
    setup = read_stp(stp["O"], length_unit="Bohr")
    assert setup.cutoff == pytest.approx(12.0 * Bohr)
    with h5py.File(tmp_path / "w.h5") as f:
        stored = json.loads(f["features/O"].attrs["descriptor"])
        assert stored["kind"] == "behler2011" and len(stored["functions"]) == 30
        assert max(fn["Rc"] for fn in stored["functions"]) == pytest.approx(12.0 * Bohr)
        assert f["features/O/values"].shape[1] == 30 and f["features/H/values"].shape[1] == 27


def test_aenet_setup_of_another_species_is_refused(tmp_path, shared_data, capsys):
    stp = shared_data / "water-clusters" / "reference-ann" / "H.fingerprint.stp"
    (tmp_path / "gen.yaml").write_text(
        "structures: [x.xsf]\nreference_energies: {H: 0.0, O: 0.0}\ndescriptors:\n"
        f"  H: {{type: aenet, file: {stp}}}\n  O: {{type: aenet, file: {stp}}}\n"
    )
    assert main(["generate", str(tmp_path / "gen.yaml")]) == 2
    assert "line 5: descriptors.O.file:" in capsys.readouterr().err


def _count_featurized(monkeypatch) -> list:
    """Record the structures of every batch featurised by generate (the kernel calls)."""
    calls = []
    featurize = gen._featurize

    def counting(batch, *args, **kwargs):
        calls.append(len(batch.structures))
        return featurize(batch, *args, **kwargs)

    monkeypatch.setattr(gen, "_featurize", counting)
    return calls


def test_gil_switch_interval_is_restored_after_success_and_error(tmp_path, monkeypatch):
    """generate lowers the GIL switch interval while its reader runs, and only then."""
    import sys

    from anncli.exceptions import DataError

    before = sys.getswitchinterval()
    config_path = _write_inputs(tmp_path, _structures(4))
    _run(config_path)
    assert sys.getswitchinterval() == pytest.approx(before)
    bad = _structures(6)
    bad[-1].symbols[0] = "Ag"  # not covered: the reader thread fails after earlier batches were featurised
    (tmp_path / "bad").mkdir()
    config_path = _write_inputs(tmp_path / "bad", bad)
    monkeypatch.setattr(gen, "BATCH_ATOMS", 1)  # one structure per batch
    featurized = _count_featurized(monkeypatch)
    label = str(tmp_path / "bad" / "data" / "s005.xsf")
    with pytest.raises(DataError) as info:
        _run(config_path)
    assert str(info.value) == f"{label}: species Ag not covered by any descriptor setup (reference_energies has Cu, Au)"
    assert len(featurized) >= 1  # the error came while the kernels were running on earlier batches
    assert sys.getswitchinterval() == pytest.approx(before)
    assert not list((tmp_path / "bad").glob("out.h5*"))


def _reader_threads(before: set) -> list:
    return [t for t in set(threading.enumerate()) - before if t.name == "anncli-reader"]


def test_no_reader_thread_is_left_after_a_reader_error(tmp_path, monkeypatch):
    """The reader fails on the last file; run() returns only once its thread has ended."""
    from anncli.exceptions import DataError

    bad = _structures(6)
    bad[-1].symbols[0] = "Ag"
    config_path = _write_inputs(tmp_path, bad)
    monkeypatch.setattr(gen, "BATCH_ATOMS", 1)
    featurized = _count_featurized(monkeypatch)
    body = gen._BatchReader.run

    def slow_to_finish(self):  # a thread that still cleans up after handing its error over
        body(self)
        time.sleep(0.3)

    monkeypatch.setattr(gen._BatchReader, "run", slow_to_finish)
    before = set(threading.enumerate())
    with pytest.raises(DataError, match="species Ag not covered"):
        _run(config_path)
    assert len(featurized) >= 1
    assert _reader_threads(before) == []


@pytest.mark.parametrize("where", ["kernel", "writer"])
def test_no_reader_thread_is_left_after_a_kernel_or_writer_error(tmp_path, monkeypatch, where):
    """The main thread fails on the first batch while the reader waits to hand over the next ones."""
    from anncli.io.trainset import TrainsetWriter

    config_path = _write_inputs(tmp_path, _structures(12))
    monkeypatch.setattr(gen, "BATCH_ATOMS", 1)  # 12 batches: the reader fills the queue and waits

    def fail(*args, **kwargs):
        raise RuntimeError(f"{where} failed")

    if where == "kernel":
        monkeypatch.setattr(gen, "_featurize", fail)
    else:
        monkeypatch.setattr(TrainsetWriter, "append", fail)
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match=f"^{where} failed$"):
        _run(config_path)
    assert _reader_threads(before) == []
    assert not list(tmp_path.glob("out.h5*"))

