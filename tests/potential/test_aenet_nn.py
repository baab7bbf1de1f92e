"""ænet .nn potentials: golden energies of predict.x, the ASCII twins, forces, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from anncli.exceptions import FileFormatError
from anncli.potential.aenet_nn import read_aenet_nn
from anncli.potential.evaluate import Potential

# predict.x output (predict.out) for xsf-TiO2/structure-001..003
GOLDEN = {
    "structure-001.xsf": (-19517.16578343, -192.78242329),
    "structure-002.xsf": (-39038.49118938, -389.72446909),
    "structure-003.xsf": (-19517.81272714, -193.42936699),
}


@pytest.fixture(scope="module")
def tio2(golden):
    d = golden / "predict-TiO2"
    return d, read_aenet_nn({"Ti": d / "Ti.nn", "O": d / "O.nn"})


def test_golden_energies(tio2):
    from anncli.io import read_structures

    d, model = tio2
    pot = Potential(model)
    structures = [read_structures(d / "xsf-TiO2" / name)[0] for name in GOLDEN]
    preds, ex = pot.evaluate(structures)
    for name, p in zip(GOLDEN, preds):
        total, cohesive = GOLDEN[name]
        assert abs(p.energy - total) <= 1e-6, name
        assert abs(p.cohesive_energy - cohesive) <= 1e-6, name
    assert len(ex) == 0  # the test structures come from the training set


def test_golden_predict_out_parsed(tio2):
    """The values above are the ones in predict.out."""
    d, _ = tio2
    text = (d / "predict.out").read_text()
    totals = [float(line.split(":")[1].split()[0]) for line in text.splitlines() if "Total energy" in line]
    assert totals == [v[0] for v in GOLDEN.values()]


def test_binary_equals_ascii_twin(tio2):
    """Weights, statistics and scale/shift decoded from the binary equal the *.nn.ascii dump."""
    d, model = tio2
    for sym in ("Ti", "O"):
        lines = (d / f"{sym}.nn.ascii").read_text().splitlines()
        nnodes = [int(x) for x in lines[4].split()]
        w = np.array(lines[8].split(), dtype=float)
        net = model.networks[sym]
        assert net.sizes == nnodes
        pos = 0
        for l in range(len(nnodes) - 1):
            n_in, n_out = nnodes[l], nnodes[l + 1]
            mat = w[pos:pos + n_out * (n_in + 1)].reshape((n_out, n_in + 1), order="F")
            pos += n_out * (n_in + 1)
            np.testing.assert_allclose(net.weights[l], mat[:, :n_in], rtol=1e-15)
            np.testing.assert_allclose(net.biases[l], mat[:, n_in], rtol=1e-15)
        avg = np.array(lines[24].split(), dtype=float)
        cov = np.array(lines[25].split(), dtype=float)
        np.testing.assert_allclose(model.feature_mean[sym], avg, rtol=1e-15)
        np.testing.assert_allclose(model.feature_std[sym], np.sqrt(cov - avg**2), rtol=1e-12)
        assert model.energy_scale == pytest.approx(float(lines[28]), rel=1e-14)
        assert model.energy_shift == pytest.approx(float(lines[29]), rel=1e-14)
    assert model.reference_energy("Ti") == -1604.604515075
    assert model.reference_energy("O") == -432.503149303


def test_golden_forces_by_finite_differences(tio2):
    """predict.out has no force table: check the analytic forces of the ænet model against -dE/dR."""
    from anncli.io import read_structures

    d, model = tio2
    pot = Potential(model)
    s = read_structures(d / "xsf-TiO2" / "structure-001.xsf")[0]
    (p,), _ = pot.evaluate([s])
    h = 1e-4
    for i in (0, 9, 22):
        for a in range(3):
            e = []
            for sign in (1, -1):
                t = s.positions.copy()
                t[i, a] += sign * h
                s2 = type(s)(s.symbols, t, s.cell, s.pbc)
                e.append(pot.evaluate([s2], forces=False)[0][0].energy)
            assert p.forces[i, a] == pytest.approx(-(e[0] - e[1]) / (2 * h), abs=2e-6)


def test_not_a_potential(tmp_path):
    bad = tmp_path / "Ti.nn"
    bad.write_text("this is not a Fortran file\n")
    with pytest.raises(FileFormatError, match="not an ænet binary potential"):
        read_aenet_nn({"Ti": bad})
    with pytest.raises(FileFormatError, match="no such"):
        read_aenet_nn({"Ti": tmp_path / "missing.nn"})


def test_wrong_species(tio2):
    d, _ = tio2
    with pytest.raises(FileFormatError, match="is for O, not for Ti"):
        read_aenet_nn({"Ti": d / "O.nn"})


# ------------------------------------------------------------------ damaged files (found by tests/fuzz)


def _damaged(tmp_path, kind: str, record: str, payload: bytes):
    from aenet_nn_writer import RECORD, nn_records, write_nn

    records = nn_records("Ti", kind=kind)
    records[RECORD[record]] = payload
    return write_nn(tmp_path / "Ti.nn", records)


def _with(kind: str, record: str, index: int, value) -> bytes:
    from aenet_nn_writer import RECORD, nn_records

    rec = nn_records("Ti", kind=kind)[RECORD[record]]
    a = np.frombuffer(rec, dtype="<f8" if isinstance(value, float) else "<i4").copy()
    a[index] = value
    return a.tobytes()


def test_small_written_potential_reads(tmp_path):
    """The files the tests below damage are valid to begin with."""
    from aenet_nn_writer import write_nn

    for kind in ("chebyshev", "behler2011"):
        pot = Potential(read_aenet_nn({"Ti": write_nn(tmp_path / "Ti.nn", kind=kind)}))
        assert pot.setups["Ti"].n_features == pot.model.networks["Ti"].n_inputs


@pytest.mark.parametrize("kind,record,payload,match", [
    # crashes before: ValueError (int of nan), IndexError (env index), MemoryError (layer sizes)
    ("chebyshev", "sfparam", _with("chebyshev", "sfparam", 1, float("nan")), "Chebyshev orders radial_N=nan"),
    ("chebyshev", "sfparam", _with("chebyshev", "sfparam", 3, 1e300), "Chebyshev orders .* not whole numbers"),
    ("behler2011", "sfenv", _with("behler2011", "sfenv", 0, 99), "function 1 .* environment species 99"),
    ("chebyshev", "nsfparam", _with("chebyshev", "nsfparam", 0, 0), "0 parameters each"),
    ("chebyshev", "nnodes", _with("chebyshev", "nnodes", 0, 2**31 - 1), "need .* weights, the file holds 37"),
    # silently wrong before: env index 0 read env[-1]; nan/zero scale and energies
    ("behler2011", "sfenv", _with("behler2011", "sfenv", 0, 0), "function 1 .* environment species 0"),
    ("chebyshev", "scale", _with("chebyshev", "scale", 0, 0.0), r"energy scale \(0.0\)"),
    ("chebyshev", "E_atom", _with("chebyshev", "E_atom", 1, float("inf")), r"atomic energies \(.*inf\)"),
    ("chebyshev", "W", _with("chebyshev", "W", 5, float("nan")), "weights hold non-finite"),
    ("chebyshev", "sfval_cov", _with("chebyshev", "sfval_cov", 2, float("nan")), "sfval_cov hold non-finite"),
    ("chebyshev", "sfparam", _with("chebyshev", "sfparam", 2, -1.0), "angular_cutoff"),
    # a record of floats whose size is no multiple of 8 (was numpy's ValueError)
    ("chebyshev", "Rc_min", bytes(4), "record 'Rc_min' has 4 bytes, expected 8"),
    ("behler2011", "nsf", bytes(6), "record 'nsf' has 6 bytes, expected 4"),
])
def test_damaged_potential_is_a_file_format_error(tmp_path, kind, record, payload, match):
    path = _damaged(tmp_path, kind, record, payload)
    with pytest.raises(FileFormatError, match=match) as info:
        Potential(read_aenet_nn({"Ti": path}))
    assert str(path) in str(info.value)


def test_statistics_that_overflow_are_a_file_format_error(tmp_path):
    """avg**2 of 1e300 overflows: the variance (and so the feature scaling) would be inf/nan."""
    path = _damaged(tmp_path, "chebyshev", "sfval_avg", _with("chebyshev", "sfval_avg", 0, 1e300))
    with pytest.raises(FileFormatError, match="non-finite variance"):
        read_aenet_nn({"Ti": path})


def test_chebyshev_order_above_the_limit_is_refused(tmp_path):
    """A consistent file with angular_N = 300 took 70 s to set up (tables grow as N**3); the
    limit is the generate schema's."""
    from aenet_nn_writer import write_nn

    from anncli.config.generate import MAX_CHEBYSHEV_ORDER

    n_a = MAX_CHEBYSHEV_ORDER["angular"]
    path = write_nn(tmp_path / "Ti.nn", kind="chebyshev", orders=(2, n_a + 1))
    with pytest.raises(FileFormatError, match=rf"angular_N={float(n_a + 1)!r} are not whole numbers between 0 and"):
        read_aenet_nn({"Ti": path})
    path = write_nn(tmp_path / "Ti.nn", kind="chebyshev", orders=(2, 8))
    assert Potential(read_aenet_nn({"Ti": path})).setups["Ti"].angular_order == 8


# ------------------------------------------------------------------ files that do not belong together


def test_files_from_different_trainings_are_refused(tmp_path):
    """Ti.nn and O.nn of two trainings: other free-atom energies (same scale and shift), or
    another species list; ænet's predict.x would take the first file's numbers silently."""
    from aenet_nn_writer import write_nn

    ti = write_nn(tmp_path / "Ti.nn", central="Ti", seed=0)
    o_other = write_nn(tmp_path / "O.nn", central="O", seed=1)
    with pytest.raises(FileFormatError, match=r"O\.nn: the free-atom energy of Ti is .* in .*Ti\.nn .*not from "
                                              r"one training"):
        read_aenet_nn({"Ti": ti, "O": o_other})
    o_three = write_nn(tmp_path / "O3.nn", central="O", env=("O", "Ti", "H"), seed=0)
    with pytest.raises(FileFormatError, match=r"O3\.nn: written for a training set of species O, Ti, H, but "
                                              r".*Ti\.nn for Ti, O"):
        read_aenet_nn({"Ti": ti, "O": o_three})
    read_aenet_nn({"Ti": ti, "O": write_nn(tmp_path / "O0.nn", central="O", seed=0)})  # one training: fine


def test_descriptor_without_a_species_of_the_others_is_refused(tmp_path):
    from aenet_nn_writer import join_records, nn_records

    ti = nn_records("Ti", env=("Ti", "O"), seed=0)
    o_alone = nn_records("O", env=("O",), seed=0)
    o_alone[26:] = ti[26:]  # the same training-set record as Ti.nn: only the descriptor differs
    (tmp_path / "Ti.nn").write_bytes(join_records(ti))
    (tmp_path / "O.nn").write_bytes(join_records(o_alone))
    with pytest.raises(FileFormatError, match=r"O\.nn: the descriptor of O has the environment species O, not Ti "
                                              r"\(whose potential is .*Ti\.nn\)"):
        read_aenet_nn({"Ti": tmp_path / "Ti.nn", "O": tmp_path / "O.nn"})
