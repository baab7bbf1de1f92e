"""NVE in LAMMPS with anncli's forces conserves energy, to second order in the timestep.

Forces that are not exactly -dE/dR (a wrong sign, a stale or misordered force, a missing
contribution) add an energy drift that does not shrink with the timestep; velocity Verlet's
own error does, as dt².  Halving dt over the same 10 fs must divide the largest deviation of
the total energy by 4.
"""

from __future__ import annotations

import numpy as np
import pytest
from lammps_helpers import MASSES, write_lammps_data

pytestmark = pytest.mark.usefixtures("lammps_ready")


def _energy_error(tmp_path, model, dt_fs: float, total_fs: float = 10.0) -> tuple[float, float]:
    from ase.build import bulk

    from anncli.lammps import LammpsSession

    rng = np.random.default_rng(11)
    atoms = bulk("Cu", "fcc", a=3.8, cubic=True).repeat((2, 2, 2))
    atoms.symbols[rng.random(len(atoms)) < 0.5] = "Au"
    atoms.cell[1] += [0.6, 0.0, 0.0]  # triclinic
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    write_lammps_data(tmp_path / "nve.data", atoms, ["Cu", "Au"])
    steps = int(round(total_fs / dt_fs))
    out = tmp_path / f"energy-{dt_fs}.txt"
    script = f"""
units metal
atom_style atomic
boundary p p p
read_data {tmp_path / 'nve.data'}
mass 1 {MASSES['Cu']}
mass 2 {MASSES['Au']}
fix ann all external pf/callback 1 1
velocity all create 900 4928459 mom yes rot no dist gaussian
fix md all nve
timestep {dt_fs / 1000}
thermo 1
variable et equal etotal
variable pe equal pe
fix out all print 1 "${{et}} ${{pe}}" file {out} screen no
run {steps}
"""
    with LammpsSession(model, ["Cu", "Au"], cmdargs=["-log", "none", "-screen", "none"],
                       extrapolation=False) as s:
        s.run_string(script, "nve.in")
    et, pe = np.loadtxt(out, comments="#", unpack=True)
    assert len(et) == steps + 1
    return float(np.abs(et - et[0]).max()), float(np.ptp(pe))


def test_nve_energy_error_is_second_order_in_the_timestep(tmp_path, cuau_model):
    err, swing = _energy_error(tmp_path, cuau_model, 0.5)
    err_half, swing_half = _energy_error(tmp_path, cuau_model, 0.25)
    assert err_half / err == pytest.approx(0.25, abs=0.05)
    assert err < 0.02 * swing  # conserved through far larger potential-energy changes
