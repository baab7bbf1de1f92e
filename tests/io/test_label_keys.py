"""Reference labels stored under keys of their own (extxyz REF_energy / REF_forces, MACE style)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from anncli.cli import main
from anncli.exceptions import DataError
from anncli.io import read_structures
from anncli.log import reset_logging


def _frames(path, n=3):
    rng = np.random.default_rng(0)
    frames = []
    for k in range(n):
        atoms = Atoms("CuAuCu", positions=rng.uniform(0, 5, (3, 3)), cell=np.eye(3) * 6.0, pbc=True)
        atoms.info["REF_energy"] = -3.0 - k
        atoms.arrays["REF_forces"] = rng.normal(size=(3, 3))
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return frames


def test_custom_keys_are_the_labels(tmp_path):
    frames = _frames(tmp_path / "ref.xyz")
    plain = read_structures(tmp_path / "ref.xyz")
    assert all(s.energy is None and s.forces is None for s in plain)
    got = read_structures(tmp_path / "ref.xyz", energy_key="REF_energy", forces_key="REF_forces")
    for s, a in zip(got, frames):
        assert s.energy == a.info["REF_energy"]
        np.testing.assert_allclose(s.forces, a.arrays["REF_forces"], rtol=0, atol=1e-7)  # written with 8 decimals
    with pytest.raises(DataError, match=r"ref\.xyz: no energy under 'DFT_energy' \(energy_key\); this frame has "
                                        r"REF_energy"):
        read_structures(tmp_path / "ref.xyz", energy_key="DFT_energy")
    with pytest.raises(DataError, match=r"no per-atom forces under 'F' \(forces_key\); this frame has REF_forces"):
        read_structures(tmp_path / "ref.xyz", forces_key="F")


def test_generate_uses_the_keys(tmp_path, capsys):
    import h5py

    frames = _frames(tmp_path / "ref.xyz")
    (tmp_path / "gen.yaml").write_text(
        "structures: [ref.xyz]\noutput: set.h5\nenergy_key: REF_energy\nforces_key: REF_forces\n"
        "reference_energies: {Cu: 0.0, Au: 0.0}\n"
        "descriptors: {default: {type: chebyshev, radial: {cutoff: 4.0, order: 3}, angular: {cutoff: 3.0, order: 1}}}\n")
    try:
        assert main(["generate", str(tmp_path / "gen.yaml")]) == 0
    finally:
        reset_logging()
    with h5py.File(tmp_path / "set.h5") as f:
        np.testing.assert_allclose(f["structures/energy"][()], [a.info["REF_energy"] for a in frames])
        np.testing.assert_allclose(f["atoms/forces"][()], np.concatenate([a.arrays["REF_forces"] for a in frames]), atol=1e-7)
