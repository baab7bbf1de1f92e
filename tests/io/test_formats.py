"""read_structures / write_structures: XSF via anncli, other formats via ASE."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units as ase_units

from anncli.exceptions import ConfigError, DataError
from anncli.io import read_structures, read_xsf, write_structures
from anncli.io.formats import parse_index
from anncli.structure import Structure
from anncli.units import Units


def _structures(n=3, periodic=True, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        m = 4 + k
        out.append(Structure(
            symbols=list(rng.choice(["Cu", "Au"], size=m)),
            positions=rng.uniform(0, 6, size=(m, 3)),
            cell=np.diag([6.0, 6.5, 7.0]) + rng.normal(scale=0.1, size=(3, 3)) if periodic else None,
            pbc=(periodic,) * 3,
            energy=float(rng.normal() * 10),
            forces=rng.normal(size=(m, 3)),
        ))
    return out


@pytest.fixture(scope="module")
def vasprun_frames(golden):
    # 32 MB of XML once bunzip2'ed: read it once for the module (~3 s)
    path = golden / "parsers" / "vasprun.xml.bz2"
    return path, read_structures(path)


def test_vasprun_frame0_equals_periodic_xsf(vasprun_frames, golden):
    path, frames = vasprun_frames
    assert [s.frame for s in frames] == [0, 1, 2]
    assert all(s.source == str(path) for s in frames)
    ref = read_xsf(golden / "parsers" / "periodic.xsf")
    v = frames[0]
    assert v.symbols == ref.symbols
    assert v.pbc == ref.pbc
    np.testing.assert_allclose(v.positions, ref.positions, atol=1e-6, rtol=0)
    np.testing.assert_allclose(v.cell, ref.cell, atol=1e-6, rtol=0)
    np.testing.assert_allclose(v.forces, ref.forces, atol=1e-6, rtol=0)
    assert v.energy == pytest.approx(ref.energy, abs=1e-8)
    assert frames[2].energy == pytest.approx(-244.68269353, abs=1e-8)  # README: last ionic step


def test_isolated_xsf_through_read_structures(golden):
    (s,) = read_structures(golden / "parsers" / "isolated.xsf")
    assert s.cell is None and s.pbc == (False, False, False)


def test_index_selection(tmp_path):
    structures = _structures(5)
    f = tmp_path / "five.extxyz"
    write_structures(f, structures)
    for index, frames in [("-1", [4]), (1, [1]), ("0:5:2", [0, 2, 4]), ("::-1", [4, 3, 2, 1, 0]),
                          (slice(3, None), [3, 4]), ("3:", [3, 4]), (":2", [0, 1]), ("-2:", [3, 4]),
                          ("1:100", [1, 2, 3, 4])]:
        got = read_structures(f, index=index)
        assert [s.frame for s in got] == frames, index
        for s in got:
            assert s.symbols == structures[s.frame].symbols
            assert s.energy == structures[s.frame].energy
    with pytest.raises(DataError, match=r"five\.extxyz: frame 7 requested"):
        read_structures(f, index="7")
    with pytest.raises(DataError, match=r"five\.extxyz: frame -9 requested but the file holds 5"):
        read_structures(f, index=-9)


def test_parse_index():
    assert parse_index(":") == slice(None)
    assert parse_index("-1") == -1
    assert parse_index("0:10:2") == slice(0, 10, 2)
    with pytest.raises(ConfigError, match="'a:b'"):
        parse_index("a:b")


def test_xsf_index(tmp_path):
    s = _structures(1)[0]
    write_structures(tmp_path / "a.xsf", [s])
    assert len(read_structures(tmp_path / "a.xsf", index="-1")) == 1
    assert len(read_structures(tmp_path / "a.xsf", index="1:")) == 0
    with pytest.raises(DataError, match="holds 1 structure"):
        read_structures(tmp_path / "a.xsf", index=3)


def test_extxyz_round_trip(tmp_path):
    structures = _structures(3)
    path = tmp_path / "set.extxyz"
    write_structures(path, structures)
    text = path.read_text()
    assert "Lattice=" in text and "energy=" in text and "forces" in text
    back = read_structures(path)
    assert [s.frame for s in back] == [0, 1, 2]
    for a, b in zip(structures, back):
        assert a.symbols == b.symbols
        # ASE writes per-atom columns with 8 decimals; the cell and energy exactly
        np.testing.assert_allclose(b.positions, a.positions, rtol=0, atol=5.1e-9)
        np.testing.assert_allclose(b.forces, a.forces, rtol=0, atol=5.1e-9)
        np.testing.assert_allclose(b.cell, a.cell, rtol=0, atol=1e-14)
        assert b.energy == a.energy


def test_extxyz_isolated_and_units(tmp_path):
    structures = _structures(2, periodic=False)
    path = tmp_path / "mol.xyz"
    write_structures(path, structures)
    back = read_structures(path, units=Units("Hartree", "Bohr"))
    for a, b in zip(structures, back):
        assert b.cell is None and not b.is_periodic
        np.testing.assert_allclose(b.positions, a.positions * ase_units.Bohr, rtol=0, atol=5.1e-9 * ase_units.Bohr)
        np.testing.assert_allclose(b.forces, a.forces * ase_units.Hartree / ase_units.Bohr, rtol=0,
                                   atol=5.1e-9 * ase_units.Hartree / ase_units.Bohr)
        assert b.energy == pytest.approx(a.energy * ase_units.Hartree, rel=1e-12)


def test_xsf_never_goes_through_ase(tmp_path):
    s = _structures(1)[0]
    for name, fmt in [("a.xsf", None), ("b.dat", "xsf"), ("c.dat", "aenet-xsf")]:
        path = tmp_path / name
        write_structures(path, [s], format=fmt)
        (r,) = read_structures(path, format=fmt)
        assert r.energy == s.energy  # ASE's XSF reader would drop it
        assert np.array_equal(r.forces, s.forces)  # ... and rescale these


def test_write_several_xsf_is_an_error(tmp_path):
    with pytest.raises(DataError, match="exactly one structure, got 2"):
        write_structures(tmp_path / "x.xsf", _structures(2))


def test_errors_name_file_and_format(tmp_path, golden):
    with pytest.raises(DataError, match=r"could not read .*periodic\.xsf as vasp-xml: "):
        read_structures(golden / "parsers" / "periodic.xsf", format="vasp-xml")
    with pytest.raises(DataError, match="unknown structure file format 'vasprun'.*xsf.*extxyz.*Did you mean"):
        read_structures(golden / "parsers" / "vasprun.xml.bz2", format="vasprun")
    junk = tmp_path / "junk.what"
    junk.write_text("hello\n")
    with pytest.raises(DataError, match=r"junk\.what: cannot tell the file format.*give the format"):
        read_structures(junk)
    with pytest.raises(DataError, match=r"missing\.extxyz: structure file not found"):
        read_structures(tmp_path / "missing.extxyz")
    (tmp_path / "empty.extxyz").write_text("")
    with pytest.raises(DataError, match=r"empty\.extxyz: the file is empty"):
        read_structures(tmp_path / "empty.extxyz")
    bad = tmp_path / "bad.extxyz"
    bad.write_text("2\nLattice=\"1 0 0 0 1 0 0 0 1\" Properties=species:S:1:pos:R:3\nH 0 0\n")
    with pytest.raises(DataError, match=r"could not read .*bad\.extxyz as extxyz: "):
        read_structures(bad)


def test_non_finite_from_ase_is_rejected(tmp_path):
    s = _structures(1)[0]
    s.forces[2, 1] = np.nan
    path = tmp_path / "nan.extxyz"
    write_structures(path, [s])
    with pytest.raises(DataError, match=r"nan\.extxyz.*atom 3 .*non-finite force"):
        read_structures(path)


@pytest.mark.parametrize("suffix", [".xsf.gz", ".xsf.bz2", ""])
def test_compressed_or_unnamed_xsf_uses_aenet_reader(tmp_path, suffix):
    import bz2
    import gzip

    s = _structures(1)[0]
    plain = tmp_path / "plain.xsf"
    write_structures(plain, [s])
    path = tmp_path / f"structure{suffix}"
    opener = {".xsf.gz": gzip.open, ".xsf.bz2": bz2.open}.get(suffix, open)
    with opener(path, "wb") as fh:
        fh.write(plain.read_bytes())
    (r,) = read_structures(path)
    assert r.energy == s.energy and np.array_equal(r.forces, s.forces)
    assert np.array_equal(r.positions, s.positions)
