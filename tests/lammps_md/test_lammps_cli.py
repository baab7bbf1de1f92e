"""``anncli lammps``: runs scripts, the example input and ænet potential directories; bad input
is one clear message with exit status 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lammps_helpers import cuau_script, read_dump

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example_inputs" / "lammps" / "in.cuau-nve"
QUIET = ("--log", "none", "--screen", "none")


def test_example_input_runs(lammps_ready, invoke, tmp_path, cuau_model_file):
    r = invoke("lammps", str(EXAMPLE), str(cuau_model_file), "--types", "Cu", "Au",
               "--var", "steps", "10", *QUIET)
    assert r.exit_code == 0, r.stderr
    dump = read_dump(tmp_path / "traj.lammpstrj")
    assert len(dump["id"]) == 256 and set(dump["type"]) == {1.0, 2.0}
    f = np.stack([dump["fx"], dump["fy"], dump["fz"]], axis=1)
    assert np.abs(f).max() > 1e-3  # anncli's forces arrived
    assert abs(f.sum(axis=0)).max() < 1e-3  # and sum to zero (to the dump's 6 digits)


@pytest.mark.parametrize("types", [("Cu", "Au"), ("Cu,Au",), ("Cu Au",)])
def test_types_forms_and_log(lammps_ready, invoke, tmp_path, cuau_model, cuau_model_file, types):
    """Each form of --types maps type 1 to Cu and type 2 to Au: LAMMPS's energy is that of the
    ASE calculator on the atoms of the dump with that mapping."""
    from ase import Atoms

    from anncli.calculator import ANNCalculator

    dump = ("dump d all custom 1 f.dump id type x y z\n"
            "dump_modify d sort id format float %.17g")
    script = cuau_script(tmp_path / "in.test", steps=2, extra=dump,
                         after='print "PE $(pe:%.15g)" file pe.txt')
    r = invoke("lammps", str(script), str(cuau_model_file), "--types", *types, "--log", "run.log",
               "--screen", "none")
    assert r.exit_code == 0, r.stderr
    assert "Loop time" in (tmp_path / "run.log").read_text()
    d = read_dump(tmp_path / "f.dump")  # no integrator: the atoms stay where create_atoms put them
    atoms = Atoms([("Cu", "Au")[int(t) - 1] for t in d["type"]], positions=np.stack([d["x"], d["y"], d["z"]], 1),
                  cell=np.eye(3) * 2 * 3.8, pbc=True)  # lattice fcc 3.8, block 0 2 0 2 0 2
    assert set(atoms.get_chemical_symbols()) == {"Cu", "Au"}
    atoms.calc = ANNCalculator(cuau_model, extrapolation=False)
    pe = float((tmp_path / "pe.txt").read_text().split()[1])
    assert pe == pytest.approx(atoms.get_potential_energy(), abs=1e-9)


def test_aenet_potential_directory(lammps_ready, invoke, tmp_path, cuau_model_file, cuau_model):
    """A directory of exported .nn files gives the model's own energy."""
    assert invoke("export", str(cuau_model_file), "--format", "aenet", "--output", "nn").exit_code == 0
    energies = {}
    for name, model in (("h5", str(cuau_model_file)), ("nn", "nn")):
        script = cuau_script(tmp_path / f"in.{name}", after=f'print "PE $(pe:%.15g)" file pe-{name}.txt')
        r = invoke("lammps", str(script), model, "--types", "Cu", "Au", *QUIET)
        assert r.exit_code == 0, r.stderr
        energies[name] = float((tmp_path / f"pe-{name}.txt").read_text().split()[1])
    assert energies["nn"] == pytest.approx(energies["h5"], abs=1e-9)


# ----------------------------------------------------------------------------- bad input
def _error(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("anncli: error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_type_without_species(lammps_ready, invoke, tmp_path, cuau_model_file):
    script = cuau_script(tmp_path / "in.3types", ntypes=3)
    msg = _error(invoke("lammps", str(script), str(cuau_model_file), "--types", "Cu", "Au", *QUIET))
    assert "in.3types line 10" in msg and "atom type 3 has no species" in msg and "Cu Au" in msg


def test_species_not_in_model(lammps_ready, invoke, tmp_path, cuau_model_file):
    script = cuau_script(tmp_path / "in.test")
    msg = _error(invoke("lammps", str(script), str(cuau_model_file), "--types", "Cu", "Ni", *QUIET))
    assert "--types" in msg and "Ni" in msg and "Cu, Au" in msg


def test_units_other_than_metal(lammps_ready, invoke, tmp_path, cuau_model_file):
    script = cuau_script(tmp_path / "in.real", units="real")
    msg = _error(invoke("lammps", str(script), str(cuau_model_file), "--types", "Cu", "Au", *QUIET))
    assert "units metal" in msg and "units real" in msg and "in.real line 10" in msg


def test_atoms_at_the_same_position_stop_the_run(lammps_ready, invoke, tmp_path, cuau_model_file):
    script = cuau_script(tmp_path / "in.overlap", steps=100,
                         extra="create_atoms 2 single 0.0 0.0 0.0 units box\n"
                               "atom_modify sort 1 1.0\n"  # LAMMPS's order is no longer the IDs' order
                               'fix after all print 1 "step $(step)" file steps.txt')
    msg = _error(invoke("lammps", str(script), str(cuau_model_file), "--types", "Cu", "Au", *QUIET))
    assert "same position" in msg and "LAMMPS step 0" in msg and "atoms 1 (" in msg and "and 33 (Au)" in msg
    # the run ended at the first evaluation instead of going on with zero forces
    assert [ln for ln in (tmp_path / "steps.txt").read_text().splitlines() if ln.startswith("step")] == ["step 0"]


def test_lammps_error_is_reported_with_its_message(lammps_ready, invoke, tmp_path, cuau_model_file):
    script = cuau_script(tmp_path / "in.bad", extra="fix md all nvee")
    msg = _error(invoke("lammps", str(script), str(cuau_model_file), "--types", "Cu", "Au", *QUIET))
    assert "in.bad" in msg and "LAMMPS stopped" in msg and "nvee" in msg


def test_script_without_external_fix(invoke, tmp_path, cuau_model_file):
    script = tmp_path / "in.nofix"
    script.write_text("units metal\npair_style zero 3.0\nrun 0\n")
    msg = _error(invoke("lammps", str(script), str(cuau_model_file), "--types", "Cu", *QUIET))
    assert "in.nofix" in msg and "fix ID all external pf/callback 1 1" in msg


def test_missing_files(invoke, tmp_path, cuau_model_file):
    msg = _error(invoke("lammps", "nope.in", str(cuau_model_file), "--types", "Cu", *QUIET))
    assert "nope.in" in msg
    script = cuau_script(tmp_path / "in.test")
    msg = _error(invoke("lammps", str(script), "nope.h5", "--types", "Cu", *QUIET))
    assert "nope.h5" in msg
    (tmp_path / "nn").mkdir()
    msg = _error(invoke("lammps", str(script), "nn", "--types", "Cu", "Au", *QUIET))
    assert "Cu.nn" in msg and "Au.nn" in msg


def test_lammps_not_installed(invoke, tmp_path, cuau_model_file, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "lammps", None)  # import lammps -> ImportError
    script = cuau_script(tmp_path / "in.test")
    r = invoke("lammps", str(script), str(cuau_model_file), "--types", "Cu", "Au", *QUIET)
    assert r.exit_code == 1 and "anncli[lammps]" in r.stderr and "Traceback" not in r.stderr


def test_python_m_anncli_lammps(tmp_path, cuau_model_file):
    """``python -m anncli.lammps`` is the same command (exit status and message)."""
    import subprocess
    import sys

    script = tmp_path / "in.nofix"
    script.write_text("units metal\nrun 0\n")
    proc = subprocess.run([sys.executable, "-m", "anncli.lammps", str(script), str(cuau_model_file),
                           "--types", "Cu", "Au", "--log", "none"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "in.nofix" in proc.stderr and "external pf/callback" in proc.stderr and "Traceback" not in proc.stderr
