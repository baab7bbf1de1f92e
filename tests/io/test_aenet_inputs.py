"""Readers of ænet's setup files (.stp) and generate.in: shipped examples and ænet's traps."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from anncli.descriptors.behler import BehlerSetup
from anncli.exceptions import ConfigError
from anncli.io.aenet_inputs import read_generate_in, read_stp

DATA = Path(__file__).resolve().parents[1] / "descriptors" / "data"


def _file_functions(path: Path) -> list[dict]:
    """The G= lines of a setup file, read independently (whitespace split, 'key= value' joined)."""
    out = []
    for line in path.read_text().splitlines():
        if not line.startswith("G="):
            continue
        items = re.sub(r"=\s+", "=", line).split()
        d = dict(item.split("=") for item in items)
        f = {"G": int(d.pop("G"))}
        for k, v in d.items():
            f[k] = v if k.startswith("type") else float(v)
        out.append(f)
    return out


@pytest.fixture()
def water(shared_data: Path) -> Path:
    return shared_data / "water-clusters" / "reference-ann"


@pytest.mark.parametrize("species,n", [("H", 27), ("O", 30)])
def test_water_setups(water, species, n):
    path = water / f"{species}.fingerprint.stp"
    setup = read_stp(path)
    assert isinstance(setup, BehlerSetup)
    assert setup.central == species and setup.env == ["H", "O"]
    assert setup.n_features == n and setup.cutoff == 12.0
    expected = _file_functions(path)
    assert len(expected) == n
    got = [f.to_dict() for f in setup.functions]
    for e, g in zip(expected, got):
        assert g == {**e, "lambda": e["lambda"]} if "lambda" in e else g == e
    # a few values straight from the file text
    if species == "H":
        assert got[9] == {"G": 2, "type2": "O", "eta": 0.15, "Rs": 1.9, "Rc": 12.0}
        assert got[16] == {"G": 4, "type2": "O", "type3": "O", "eta": 0.001, "lambda": -1.0,
                           "zeta": 4.0, "Rc": 12.0}
    else:
        assert got[9] == {"G": 2, "type2": "O", "eta": 0.15, "Rs": 4.0, "Rc": 12.0}


def test_water_setup_in_bohr_is_converted_to_angstrom(water):
    setup = read_stp(water / "H.fingerprint.stp", length_unit="Bohr")
    bohr = 0.52917721
    assert setup.cutoff == pytest.approx(12.0 * bohr, rel=1e-8)
    f = setup.functions[9]
    assert f.Rs == pytest.approx(1.9 * bohr, rel=1e-8)
    assert f.eta == pytest.approx(0.15 / bohr**2, rel=1e-8)


def test_tio2_manual_set_has_70_functions_in_sf_build_index_order():
    setup = read_stp(DATA / "Ti.fingerprint.stp")
    assert setup.central == "Ti" and setup.env == ["Ti", "O"] and setup.n_features == 70
    kinds = [setup.functions[n].G for n in setup.order]
    assert kinds.count(2) == 16 and kinds.count(4) == 54
    f = [setup.functions[n] for n in setup.order]
    # Ti: 8 G2, (Ti,Ti) 18 G4, (Ti,O) 18 G4, O: 8 G2, (O,O) 18 G4
    assert all(x.G == 2 and x.type2 == "Ti" for x in f[:8])
    assert all(x.G == 4 and {x.type2, x.type3} == {"Ti"} for x in f[8:26])
    assert all(x.G == 4 and {x.type2, x.type3} == {"Ti", "O"} for x in f[26:44])
    assert all(x.G == 2 and x.type2 == "O" for x in f[44:52])
    assert all(x.G == 4 and {x.type2, x.type3} == {"O"} for x in f[52:])
    assert read_stp(DATA / "O.fingerprint.stp").central == "O"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


CHEB = """! Chebyshev setup
DESCR
  free text, even with keywords: ATOM Xx
END DESCR
atom Ti
env 2
Ti
O
RMIN 0.75d0
basis type=chebyshev
radial_Rc = 8.0  radial_N = 16 angular_Rc = 6.5d0  angular_N = 4
"""


def test_chebyshev_setup_gives_the_setup_arguments(tmp_path):
    d = read_stp(_write(tmp_path / "Ti.stp", CHEB))
    assert d == {"central": "Ti", "env": ["Ti", "O"], "radial_cutoff": 8.0, "radial_order": 16,
                 "angular_cutoff": 6.5, "angular_order": 4}


def test_key_value_parsing_is_by_exact_key(tmp_path):
    text = ("ATOM O\nENV 1\nO\nFUNCTIONS type=Behler2011\n2\n"
            "G=4 type2=O type3=O zeta=2.0 lambda=-1 eta=0.5 Rc=6.0\n"
            "G=2 Rc = 5.0 Rs= 1.5d0 type2 = O eta =0.25\n")
    setup = read_stp(_write(tmp_path / "O.stp", text))
    f4, f2 = setup.functions
    assert (f4.eta, f4.zeta, f4.lambda_) == (0.5, 2.0, -1.0)
    assert (f2.Rc, f2.Rs, f2.eta) == (5.0, 1.5, 0.25)
    bad = text.replace("lambda=-1", "lambda0=-1")
    with pytest.raises(ConfigError, match=r"O\.stp, line 6: unknown parameter 'lambda0'"):
        read_stp(_write(tmp_path / "O.stp", bad))


BAD_STP = [
    ("ATOM O\nENV 1\nO\nFUNCTON type=Behler2011\n1\nG=1 type2=O Rc=4\n", 4, "unknown keyword"),
    ("ATOM O\nENV 1\nO\nFUNCTIONS type=Behler2011\n1\nG=4 type2=O type3=O eta=0.1 lambda=2 "
     "zeta=1 Rc=4\n", 6, "'lambda' must be \\+1 or -1"),
    ("ATOM O\nENV 1\nO\nFUNCTIONS type=Behler2011\n1\nG=2 type2=H eta=0.1 Rc=4\n", 6,
     "'type2' must be one of"),
    ("ATOM O\nENV 1\nO\nFUNCTIONS type=Behler2011\n1\nG=2 type2=O eta=0.1 Rc=-4\n", 6,
     "'Rc' must be > 0"),
    ("ATOM O\nENV 1\nO\nFUNCTIONS type=Behler2011\n1\nG=2 type2=O eta=x Rc=4\n", 6,
     "'eta' must be a number"),
    ("ATOM O\nENV 1\nO\nFUNCTIONS type=Behler2011\n3\nG=2 type2=O eta=1 Rc=4\n", None,
     "ends where function 2 of 3"),
    ("ATOM O\nENV 1\nO\nFUNCTIONS type=Foo\n1\n", 4, "type must be Behler2011"),
    ("ATOM O\nENV 1\nO\nBASIS type=Chebyshev\nradial_Rc=4 radial_N=3\n", 5,
     "missing Chebyshev parameter"),
    ("DESCR\nno end\n", None, "'END DESCR'"),
    ("ATOM O\nENV 1\nO\nBASIS type=Chebyshev\nradial_Rc=4 radial_N=3 angular_Rc=3 angular_N=2\n"
     "FUNCTIONS type=Behler2011\n1\nG=1 type2=O Rc=4\n", 6, "second basis definition"),
    ("ENV 1\nO\nFUNCTIONS type=Behler2011\n1\nG=1 type2=O Rc=4\n", None, "ATOM <species> is"),
]


@pytest.mark.parametrize("text,line,match", BAD_STP)
def test_bad_setup_files_name_file_and_line(tmp_path, text, line, match):
    path = _write(tmp_path / "bad.stp", text)
    with pytest.raises(ConfigError, match=match) as err:
        read_stp(path)
    assert str(path) in str(err.value)
    if line is not None:
        assert f"line {line}:" in str(err.value)


@pytest.fixture()
def water_generate(tmp_path, water, shared_data) -> Path:
    """generate.in.head + a lower-case 'files' block; setups in a sub-folder named with '/'."""
    ref = tmp_path / "ref"
    ref.mkdir()
    for s in ("H", "O"):
        shutil.copy(water / f"{s}.fingerprint.stp", ref)
    head = (water / "generate.in.head").read_text()
    head = head.replace("H    H.fingerprint.stp", "H    ref/H.fingerprint.stp")
    head = head.replace("O    O.fingerprint.stp", "O    \"./ref/O.fingerprint.stp\"")
    xsf = sorted((shared_data / "water-clusters" / "xsf").glob("*.xsf"))[:3]
    assert head.rstrip().endswith("FILES")
    body = head.rstrip()[: -len("FILES")] + "files\n3\n" + "\n".join(map(str, xsf)) + "\n"
    return _write(tmp_path / "generate.in", body)


def test_water_generate_in(water_generate, water):
    d = read_generate_in(water_generate, energy_unit="Hartree", length_unit="Bohr")
    assert d["reference_energies"] == {"H": 0.0, "O": 0.0}
    assert d["output"] == str(water_generate.parent / "H2O.h5") and d["overwrite"] is False
    assert d["format"] == "xsf" and len(d["structures"]) == 3
    assert all(Path(p).is_file() for p in d["structures"])
    assert d["units"] == {"energy": "Hartree", "length": "Bohr"}
    h = d["descriptors"]["H"]
    assert h["type"] == "behler2011" and h["env"] == ["H", "O"] and len(h["functions"]) == 27
    assert len(d["descriptors"]["O"]["functions"]) == 30
    assert h["functions"][0]["Rc"] == pytest.approx(12 * 0.52917721, rel=1e-8)
    from anncli.config.generate import GenerateConfig
    from anncli.config.loader import validate_config

    cfg = validate_config(d, GenerateConfig, source=water_generate)
    assert set(cfg.descriptors) == {"H", "O"}


def test_generate_in_chebyshev_and_fortran_details(tmp_path):
    (tmp_path / "setups").mkdir()
    _write(tmp_path / "setups" / "Ti.stp", CHEB)
    _write(tmp_path / "setups" / "O.stp", CHEB.replace("atom Ti", "ATOM O"))
    (tmp_path / "xsf dir").mkdir()
    text = """# generate.in written by hand
output ../out/refdata.train   ! comment
Types
2
Ti  -1604.604515075  ! eV
O   -432.503149303d0

SETUPS
Ti setups/Ti.stp
O  'setups/O.stp'
TIMING
FORCES
Files
2
xsf dir/a.xsf
"/abs/b.xsf"
"""
    d = read_generate_in(_write(tmp_path / "generate.in", text))
    assert d["reference_energies"] == {"Ti": -1604.604515075, "O": -432.503149303}
    assert d["output"] == str(tmp_path / "../out/refdata.h5")
    assert d["structures"] == [str(tmp_path / "xsf dir" / "a.xsf"), "/abs/b.xsf"]
    assert d["derivatives"] is True
    assert d["descriptors"]["O"] == {
        "type": "chebyshev", "env": ["Ti", "O"],
        "radial": {"cutoff": 8.0, "order": 16}, "angular": {"cutoff": 6.5, "order": 4},
    }


BAD_GENERATE = [
    ("TYPES\n1\nTi 0.0\nSETUPS\nTi Ti.stp\nFILES\n2\na.xsf\n", None, "ends where structure file 2"),
    ("TYPES\n1\nTi 0.0\nSETUPS\nTi O.stp\nFILES\n1\na.xsf\n", 5, "is for 'O'"),
    ("TYPES\n1\nTi zero\nSETUPS\nTi Ti.stp\nFILES\n1\na.xsf\n", 3, "must be a number"),
    ("TYPES\n1\nTi 0.0\nSETUPS\nTi Ti.stp\nFILES\n1\na.xsf\nMAXENERGY 3\n", 9, "unknown keyword"),
    ("TYPES\n1\nTi 0.0\nSETUPS\nTi Ti.stp\n", None, "FILES with at least one"),
    ("TYPES\n2\nTi 0.0\nO 0.0\nSETUPS\nTi Ti.stp\nTi Ti.stp\nFILES\n1\na.xsf\n", 7,
     "second SETUPS line"),
    ("TYPES\n2\nTi 0.0\nO 0.0\nSETUPS\nTi Ti.stp\nFILES\n1\na.xsf\n", 5,
     "SETUPS has 1 line\\(s\\) but TYPES lists 2"),
    ("SETUPS\nTi Ti.stp\nTYPES\n2\nTi 0.0\nO 0.0\nFILES\n1\na.xsf\n", None,
     "no SETUPS line for species O"),
]


def test_keywords_in_any_order(tmp_path):
    _write(tmp_path / "Ti.stp", CHEB)
    path = _write(tmp_path / "generate.in",
                  "FILES\n1\na.xsf\nSETUPS\nTi Ti.stp\nTYPES\n1\nTi -3.5\n")
    d = read_generate_in(path)
    assert d["reference_energies"] == {"Ti": -3.5} and d["descriptors"]["Ti"]["type"] == "chebyshev"


@pytest.mark.parametrize("text,line,match", BAD_GENERATE)
def test_bad_generate_in_names_file_and_line(tmp_path, text, line, match):
    _write(tmp_path / "Ti.stp", CHEB)
    _write(tmp_path / "O.stp", CHEB.replace("atom Ti", "ATOM O"))
    path = _write(tmp_path / "generate.in", text)
    with pytest.raises(ConfigError, match=match) as err:
        read_generate_in(path)
    assert str(path) in str(err.value)
    if line is not None:
        assert f"line {line}:" in str(err.value)


def test_setup_error_inside_generate_in_names_the_setup_file(tmp_path):
    _write(tmp_path / "Ti.stp", CHEB.replace("radial_N = 16", "radial_N = x"))
    path = _write(tmp_path / "generate.in", "TYPES\n1\nTi 0\nSETUPS\nTi Ti.stp\nFILES\n1\na.xsf\n")
    with pytest.raises(ConfigError, match=r"Ti\.stp, line 11: radial_N must be an integer"):
        read_generate_in(path)


def test_read_behler_setup_evaluates(tmp_path):
    """A parsed setup is directly usable: the features of a tiny isolated cluster equal the
    plain-numpy reference evaluated with the G= lines of the file read independently."""
    import sys

    sys.path.insert(0, str(DATA.parent))
    from reference_behler import brute_force_neighbor_list, expected_order, reference_features

    path = DATA / "Ti.fingerprint.stp"
    setup = read_stp(path)
    pos = np.array([[0.0, 0, 0], [1.9, 0, 0], [0, 1.9, 0], [0, 0, 2.0]])
    nl, _ = brute_force_neighbor_list([(pos, None)], setup.cutoff)
    G = setup.features(nl, np.arange(4), np.array([0, 1, 1, 1]))  # env ["Ti", "O"]: Ti O O O
    functions = _file_functions(path)
    ref = reference_features(nl, np.arange(4), ["Ti", "O", "O", "O"], functions)
    ref = ref[:, expected_order(functions, ["Ti", "O"])]
    assert G.shape == (4, 70) and np.abs(ref).max() > 0.1
    np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("text,line,what", [
    ("TYPES\n1\nTi 0\nSETUPS\nTi T\0i.stp\nFILES\n1\na.xsf\n", 5, "the setup file"),
    ("TYPES\n1\nTi 0\nSETUPS\nTi Ti.stp\nFILES\n1\na\0.xsf\n", 8, "a structure file"),
    ("OUTPUT out\0.train\nTYPES\n1\nTi 0\nSETUPS\nTi Ti.stp\nFILES\n1\na.xsf\n", 1, "OUTPUT <file>"),
])
def test_nul_character_in_a_path_is_a_config_error(tmp_path, text, line, what):
    """A NUL byte (a damaged file) in a path names the line, instead of os's ValueError."""
    _write(tmp_path / "Ti.stp", CHEB)
    path = _write(tmp_path / "generate.in", text)
    with pytest.raises(ConfigError, match=rf"generate\.in, line {line}: {re.escape(what)} must be a file name "
                                          "without NUL characters"):
        read_generate_in(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "1d400"])
def test_non_finite_numbers_are_refused(tmp_path, value):
    """A nan or infinite energy or cutoff passed the number check (and every bound after it)."""
    path = _write(tmp_path / "generate.in", f"TYPES\n1\nTi {value}\nSETUPS\nTi Ti.stp\nFILES\n1\na.xsf\n")
    with pytest.raises(ConfigError, match=rf"generate\.in, line 3: the atomic energy of Ti must be a finite "
                                          rf"number\. Got '{value}'"):
        read_generate_in(path)
    stp = _write(tmp_path / "Ti.stp", CHEB.replace("radial_Rc = 8.0", f"radial_Rc = {value}"))
    with pytest.raises(ConfigError, match=r"Ti\.stp, line 11: radial_Rc must be a finite number"):
        read_stp(stp)
