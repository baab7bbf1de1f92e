"""Issue 2's bad-input list, end to end through ``anncli generate``: exit 2, one clear
message naming the file and the line (or key), no traceback, and nothing written."""

from __future__ import annotations

import pytest

from anncli.cli import main

GOOD_XSF = """# total energy = -10.0 eV
CRYSTAL
PRIMVEC
 4.0 0.0 0.0
 0.0 4.0 0.0
 0.0 0.0 4.0
PRIMCOORD
2 1
Cu 0.0 0.0 0.0  0.1 0.0 0.0
Au 2.0 2.0 2.0 -0.1 0.0 0.0
"""

YAML = """structures: [bad.xsf, good.xsf]
output: out.h5
reference_energies: {Cu: -1.0, Au: -2.0}
descriptors:
  default:
    type: chebyshev
    radial: {cutoff: 3.5, order: 4}
    angular: {cutoff: 3.0, order: 2}
"""

BAD_XSF = {
    "empty file": ("", r"bad\.xsf, line 1"),
    "two lattice rows": (GOOD_XSF.replace(" 0.0 0.0 4.0\n", ""), r"bad\.xsf, line 6: expected 3 numbers for a lattice vector"),
    "non-numeric coordinate": (GOOD_XSF.replace("Au 2.0 2.0", "Au 2.0 x.0"), r"bad\.xsf, line 10"),
    "unknown element": (GOOD_XSF.replace("Au 2.0", "Qq 2.0"), r"bad\.xsf, line 10: unknown element symbol 'Qq'"),
    "forces on some atoms": (GOOD_XSF.replace(" -0.1 0.0 0.0", ""), r"bad\.xsf, line 10: atom line lacks forces"),
    "NaN energy": (GOOD_XSF.replace("-10.0 eV", "nan eV"), r"bad\.xsf, line 1: .*total energy"),
    "inf coordinate": (GOOD_XSF.replace("Au 2.0 2.0 2.0", "Au 2.0 inf 2.0"), r"bad\.xsf, line 10"),
    "NaN force": (GOOD_XSF.replace(" 0.1 0.0 0.0", " nan 0.0 0.0"), r"bad\.xsf, line 9"),
    "atoms closer than 0.1 Å": (GOOD_XSF.replace("Au 2.0 2.0 2.0", "Au 0.05 0.0 0.0"),
                                r"bad\.xsf: atoms 1 \(Cu\) and 2 \(Au\) are 0\.05\d* Å apart"),
    "duplicated atom line": (GOOD_XSF.replace("2 1\n", "3 1\n") + "Cu 0.0 0.0 0.0  0.1 0.0 0.0\n",
                             r"bad\.xsf: atoms 1 \(Cu\) and 3 \(Cu\) are at the same position"),
    "atom on a periodic image of another": (
        GOOD_XSF.replace("2 1\n", "3 1\n") + "Cu 4.0 0.0 4.0  0.1 0.0 0.0\n",
        r"bad\.xsf: atoms 1 \(Cu\) and 3 \(Cu\) are at the same position"),
}


@pytest.mark.parametrize("case", sorted(BAD_XSF))
def test_bad_structure_file(tmp_path, capsys, case):
    text, pattern = BAD_XSF[case]
    (tmp_path / "bad.xsf").write_text(text)
    (tmp_path / "good.xsf").write_text(GOOD_XSF)
    (tmp_path / "gen.yaml").write_text(YAML)
    assert main(["generate", str(tmp_path / "gen.yaml")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "anncli: error:" in line]
    assert "Traceback" not in err and len(errors) == 1
    import re

    assert re.search(pattern, err), err
    assert not list(tmp_path.glob("out.h5*")), "a partial output was left behind"


def test_missing_structure_file(tmp_path, capsys):
    (tmp_path / "good.xsf").write_text(GOOD_XSF)
    (tmp_path / "gen.yaml").write_text(YAML)
    assert main(["generate", str(tmp_path / "gen.yaml")]) == 2
    err = capsys.readouterr().err
    assert "bad.xsf" in err and "Traceback" not in err
    assert not list(tmp_path.glob("out.h5*"))


BAD_YAML = {
    "duplicate key": (YAML + "output: other.h5\n", r"gen\.yaml, line 9: duplicate key 'output'; it is first given on line 2"),
    "tab indentation": (YAML.replace("  default:", "\tdefault:"), r"gen\.yaml, line 5: tab character"),
    "wrong type": (YAML.replace("order: 4", "order: [4]"), r"gen\.yaml, line 7: descriptors\.default\.radial\.order: expected an integer"),
    "negative cutoff": (YAML.replace("cutoff: 3.5", "cutoff: -3.5"), r"gen\.yaml, line 7: descriptors\.default\.radial\.cutoff: expected a number > 0, got -3\.5"),
}


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_bad_input_file(tmp_path, capsys, case):
    text, pattern = BAD_YAML[case]
    (tmp_path / "bad.xsf").write_text(GOOD_XSF)
    (tmp_path / "good.xsf").write_text(GOOD_XSF)
    (tmp_path / "gen.yaml").write_text(text)
    assert main(["generate", str(tmp_path / "gen.yaml")]) == 2
    err = capsys.readouterr().err
    import re

    assert re.search(pattern, err), err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*.h5*"))
