"""ænet XSF reader/writer: round trips, reference files, unit conversion, every error path."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from ase import units as ase_units

from anncli.exceptions import DataError
from anncli.io.xsf import read_xsf, write_xsf
from anncli.structure import Structure
from anncli.units import Units


def _random_structure(periodic: bool, forces: bool, n: int = 7, seed: int = 0) -> Structure:
    rng = np.random.default_rng(seed)
    symbols = list(rng.choice(["Ti", "O", "H", "Au"], size=n))
    cell = np.diag([5.1, 6.2, 7.3]) + rng.normal(scale=0.3, size=(3, 3)) if periodic else None
    return Structure(
        symbols=symbols,
        positions=rng.normal(scale=3.0, size=(n, 3)) * np.pi,  # digits that do not round nicely
        cell=cell,
        pbc=(periodic,) * 3,
        energy=float(rng.normal() * 1e4 / 3.0),
        forces=rng.normal(size=(n, 3)) / 7.0 if forces else None,
        cohesive_energy=-1.0 / 3.0 if periodic else None,
    )


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("forces", [True, False])
def test_round_trip_exact(tmp_path, periodic, forces):
    s = _random_structure(periodic, forces)
    path = tmp_path / "s.xsf"
    write_xsf(path, s)
    r = read_xsf(path)
    assert r.symbols == s.symbols
    assert np.array_equal(r.positions, s.positions)
    assert r.pbc == s.pbc
    if periodic:
        assert np.array_equal(r.cell, s.cell)
    else:
        assert r.cell is None
    if forces:
        assert np.array_equal(r.forces, s.forces)
    else:
        assert r.forces is None
    assert r.energy == s.energy
    assert r.cohesive_energy == s.cohesive_energy
    assert r.source == str(path) and r.frame == 0


def test_write_layout_is_aenet_readable():
    s = _random_structure(True, True, n=3)
    buf = io.StringIO()
    write_xsf(buf, s)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("# total energy = ") and lines[0].endswith(" eV")
    assert float(lines[0].split("=")[1].split()[0]) == s.energy
    i = lines.index("PRIMVEC")
    assert lines[i + 4] == "PRIMCOORD"
    assert lines[i + 5].split()[0] == "3"
    atom_lines = lines[i + 6:]
    assert len(atom_lines) == 3 and all(len(line.split()) == 7 for line in atom_lines)


def test_golden_periodic_and_isolated(golden):
    per = read_xsf(golden / "parsers" / "periodic.xsf")
    assert per.n_atoms == 36 and per.pbc == (True, True, True)
    assert per.energy == -244.67763362
    assert per.cell[1].tolist() == [4.21591443, 7.66837724, 0.0]
    assert per.positions[0].tolist() == [10.38253222, 7.62293086, 0.06667127]
    assert per.forces[0].tolist() == [0.01063518, -0.00915973, -0.00177883]
    assert per.species == ["Li", "Mo", "O"]
    iso = read_xsf(golden / "parsers" / "isolated.xsf")
    assert iso.cell is None and iso.pbc == (False, False, False) and not iso.is_periodic
    assert iso.n_atoms == 36 and iso.forces is None and iso.energy is None
    assert np.array_equal(iso.positions, per.positions)  # same coordinates, no forces


def test_water_clusters_hartree_bohr(shared_data):
    folder = shared_data / "water-clusters" / "xsf"
    files = sorted(folder.glob("*.xsf"))[:20]
    for f in files:
        raw = read_xsf(f)
        s = read_xsf(f, units=Units("Hartree", "Bohr"))
        assert s.energy == pytest.approx(raw.energy * ase_units.Hartree, rel=1e-15)
        assert np.allclose(s.forces, raw.forces * ase_units.Hartree / ase_units.Bohr, rtol=1e-15, atol=0)
        assert np.allclose(s.positions, raw.positions * ase_units.Bohr, rtol=1e-15, atol=0)
        o = [k for k, x in enumerate(s.symbols) if x == "O"]
        h = [k for k, x in enumerate(s.symbols) if x == "H"]
        d = np.linalg.norm(s.positions[o][:, None] - s.positions[h][None], axis=-1)
        oh = np.sort(d.min(axis=0))  # each H to its nearest O
        assert np.all((oh > 0.9) & (oh < 1.1)), oh  # ≈ 0.97 Å: lengths were Bohr
        assert s.energy / 18 == pytest.approx(-458.7 * ase_units.Hartree / 18, rel=1e-3)


def _plain_parse(path):
    """Independent reference for the TiO2 files: energy line, PRIMVEC, PRIMCOORD with forces."""
    lines = path.read_text().splitlines()
    energy = float(lines[0].split("=")[1].split()[0])
    k = lines.index("PRIMVEC")
    cell = np.array([[float(x) for x in line.split()] for line in lines[k + 1:k + 4]])
    k = lines.index("PRIMCOORD")
    n = int(lines[k + 1].split()[0])
    rows = [line.split() for line in lines[k + 2:k + 2 + n]]
    values = np.array([[float(x) for x in row[1:7]] for row in rows])
    return [row[0] for row in rows], cell, values[:, :3], values[:, 3:], energy


def test_tio2_1000_files_match_a_plain_parse(shared_data):
    """All 1000 TiO2 files (the kernel fast path) give exactly the numbers of float()."""
    files = sorted((shared_data / "TiO2-1000" / "xsf").glob("*.xsf"))
    assert len(files) == 1000
    for f in files:
        s = read_xsf(f)
        symbols, cell, positions, forces, energy = _plain_parse(f)
        assert s.symbols == symbols and s.pbc == (True, True, True)
        assert s.energy == energy
        np.testing.assert_array_equal(s.cell, cell)
        np.testing.assert_array_equal(s.positions, positions)
        np.testing.assert_array_equal(s.forces, forces)


def test_energy_line_rules(tmp_path):
    p = tmp_path / "e.xsf"
    p.write_text(
        "some text with total energy and more = -1.5D+01 Ry\n"
        "  cohesive energy   =   -2.25  eV\n"
        "# a comment mentioning PRIMVEC\n"
        "CRYSTAL\nCONVVEC\n 9 0 0\n 0 9 0\n 0 0 9\n"
        "PRIMVEC\n\n 4 0 0\n 0 4 0\n 0 0 4\n"
        "PRIMCOORD\n 99 1\n Ti 0 0 0\n O 1 1 1\n\nignored trailing text\n"
    )
    s = read_xsf(p)
    assert s.energy == -15.0  # Fortran D exponent accepted
    assert s.cohesive_energy == -2.25
    assert np.array_equal(s.cell, 4 * np.eye(3))  # CONVVEC ignored, blank line after PRIMVEC skipped
    assert s.n_atoms == 2  # atom count from the lines, not the header


# ---------------------------------------------------------------- error cases

GOOD_PERIODIC = """# total energy = -10.0 eV
CRYSTAL
PRIMVEC
 4.0 0.0 0.0
 0.0 4.0 0.0
 0.0 0.0 4.0
PRIMCOORD
2 1
Ti 0.0 0.0 0.0 0.1 0.2 0.3
O  1.0 1.0 1.0 -0.1 -0.2 -0.3
"""


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _replace_line(text: str, lineno: int, new: str) -> str:
    lines = _lines(text)
    lines[lineno - 1] = new
    return "\n".join(lines) + "\n"


BAD_CASES = {
    "primvec_two_rows": ("\n".join(_lines(GOOD_PERIODIC)[:5] + _lines(GOOD_PERIODIC)[6:]) + "\n", 6,
                         "lattice vector"),
    "primvec_not_numbers": (_replace_line(GOOD_PERIODIC, 5, " x y"), 5, "expected 3 numbers"),
    "bad_coordinate": (_replace_line(GOOD_PERIODIC, 10, "O 1.0 abc 1.0 -0.1 -0.2 -0.3"), 10, "O 1.0 abc"),
    "unknown_symbol": (_replace_line(GOOD_PERIODIC, 10, "Xx 1.0 1.0 1.0 -0.1 -0.2 -0.3"), 10, "'Xx'"),
    "lowercase_symbol": (_replace_line(GOOD_PERIODIC, 9, "ti 0.0 0.0 0.0 0.1 0.2 0.3"), 9, "did you mean 'Ti'"),
    "atomic_number": (_replace_line(GOOD_PERIODIC, 9, "22 0.0 0.0 0.0 0.1 0.2 0.3"), 9, "(Ti)"),
    "forces_partial": (_replace_line(GOOD_PERIODIC, 10, "O 1.0 1.0 1.0"), 10, "lacks forces"),
    "forces_partial_first": (_replace_line(GOOD_PERIODIC, 9, "Ti 0.0 0.0 0.0"), 9, "lacks forces"),
    "forces_incomplete": (_replace_line(GOOD_PERIODIC, 10, "O 1.0 1.0 1.0 0.5"), 10, "lacks forces"),
    "nan_energy": (_replace_line(GOOD_PERIODIC, 1, "# total energy = nan eV"), 1, "finite"),
    "energy_not_number": (_replace_line(GOOD_PERIODIC, 1, "# total energy = unknown"), 1, "'unknown'"),
    "energy_no_equals": (_replace_line(GOOD_PERIODIC, 1, "# total energy: -3.0"), 1, "total energy = <number>"),
    "inf_coordinate": (_replace_line(GOOD_PERIODIC, 10, "O 1.0 inf 1.0 -0.1 -0.2 -0.3"), 10, "coordinate"),
    "nan_force": (_replace_line(GOOD_PERIODIC, 9, "Ti 0.0 0.0 0.0 0.1 NaN 0.3"), 9, "force"),
    "singular_cell": (_replace_line(GOOD_PERIODIC, 6, " 8.0 0.0 0.0"), 3, "linearly dependent"),
    "zero_lattice_row": (_replace_line(GOOD_PERIODIC, 5, " 0 0 0"), 3, "linearly dependent"),
    "inf_lattice": (_replace_line(GOOD_PERIODIC, 6, " 0.0 0.0 inf"), 6, "not finite"),
    "count_line_missing": ("\n".join(_lines(GOOD_PERIODIC)[:7] + _lines(GOOD_PERIODIC)[8:]) + "\n", 8,
                           "atom count"),
    "primcoord_without_primvec": ("PRIMCOORD\n1 1\nTi 0 0 0\n", 1, "without PRIMVEC"),
    "atoms_with_primvec": ("PRIMVEC\n1 0 0\n0 1 0\n0 0 1\nATOMS\nH 0 0 0\n", 5, "PRIMVEC (line 1)"),
    "two_blocks": ("ATOMS\nH 0 0 0\n\nATOMS\nH 1 0 0\n", 4, "second ATOMS"),
    "empty_block": ("# total energy = 1.0\nATOMS\n\nH 0 0 0\n", 3, "found none"),
    "too_few_columns": ("ATOMS\nH 0 0 0\nH 1 0\n", 3, "'H 1 0'"),
    "no_atoms_at_all": ("# total energy = 1.0\nCRYSTAL\n", 3, "no atoms"),
    "empty_file": ("", 1, "no atoms"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_and_line(tmp_path, case):
    text, lineno, fragment = BAD_CASES[case]
    path = tmp_path / f"{case}.xsf"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        read_xsf(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}, line {lineno}: "), msg
    assert fragment in msg, msg


def test_missing_file_and_binary(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nope.xsf")) + ".*not found"):
        read_xsf(tmp_path / "nope.xsf")
    p = tmp_path / "bin.xsf"
    p.write_bytes(b"ATOMS\nH 0 0 0\n\xff\xfe\x00")
    with pytest.raises(DataError, match=r"bin\.xsf, line 3: not a text file"):
        read_xsf(p)


def test_count_mismatch_warns_and_uses_lines(tmp_path, caplog):
    p = tmp_path / "c.xsf"
    p.write_text(GOOD_PERIODIC.replace("\n2 1\n", "\n5 1\n"))
    with caplog.at_level("WARNING"):
        s = read_xsf(p)
    assert s.n_atoms == 2
    assert "says 5 atoms but 2" in caplog.text


def test_unit_conversion_periodic(tmp_path):
    p = tmp_path / "u.xsf"
    p.write_text(GOOD_PERIODIC)
    raw = read_xsf(p)
    s = read_xsf(p, units=Units("Ry", "nm"))
    assert s.energy == pytest.approx(-10.0 * ase_units.Rydberg, rel=1e-15)
    assert np.allclose(s.cell, raw.cell * ase_units.nm, rtol=1e-15)
    assert np.allclose(s.positions, raw.positions * ase_units.nm, rtol=1e-15)
    assert np.allclose(s.forces, raw.forces * ase_units.Rydberg / ase_units.nm, rtol=1e-15)


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
@pytest.mark.parametrize("damage", ["flip_first_byte", "truncate", "flip_middle", "flip_stream_start"])
def test_damaged_compressed_file_is_a_data_error(tmp_path, suffix, damage):
    """A corrupt .gz/.bz2/.xz (lzma and zlib raise their own errors) names the file."""
    import bz2
    import gzip
    import lzma

    compress = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix]
    raw = bytearray(compress((GOOD_PERIODIC * 20).encode()))
    if damage == "flip_first_byte":
        raw[0] = 0
    elif damage == "truncate":
        del raw[len(raw) // 2:]
    elif damage == "flip_stream_start":  # the first bytes after the header (zlib.error for .gz)
        raw[10:14] = b"\xff" * 4
    else:
        k = len(raw) // 2
        raw[k:k + 8] = bytes(8)
    path = tmp_path / f"s.xsf{suffix}"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=re.escape(str(path)) + ": cannot read the file"):
        read_xsf(path)
