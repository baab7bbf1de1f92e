"""``--debug`` shows the whole chain of an error, also the library error behind an input error."""

from __future__ import annotations

from pathlib import Path

# two atoms announced, the second atom line lacks its z coordinate: ASE's extxyz reader fails
BAD_EXTXYZ = "2\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0\n"


def test_debug_keeps_the_ase_reader_error_behind_a_data_error(invoke, tmp_path: Path):
    (tmp_path / "bad.extxyz").write_text(BAD_EXTXYZ)

    plain = invoke("info", "bad.extxyz")
    assert plain.exit_code == 2
    assert "Traceback" not in plain.stderr
    assert "could not read bad.extxyz as extxyz" in plain.stderr

    debug = invoke("--debug", "info", "bad.extxyz")
    assert debug.exit_code == 2
    # the reader's own traceback (frames inside ase.io), then the DataError anncli made of it
    ase_frames = [line for line in debug.stderr.splitlines()
                  if line.strip().startswith("File ") and "/ase/io/" in line.replace("\\", "/")]
    assert ase_frames, debug.stderr
    assert debug.stderr.index("/ase/io/") < debug.stderr.index("anncli.exceptions.DataError")
    assert debug.stderr.rstrip().splitlines()[-1].startswith("anncli: error: could not read bad.extxyz")
