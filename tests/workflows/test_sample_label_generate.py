"""EMT end to end on the command line: anncli sample -> anncli label -> anncli generate."""

from __future__ import annotations

import h5py
import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read, write

from anncli.cli import main


def test_sample_label_generate_with_emt(tmp_path):
    write(tmp_path / "ideal.extxyz", [bulk("Cu", "fcc", a=3.61, cubic=True), bulk("CuAu", "rocksalt", a=5.2)])
    (tmp_path / "sample.yaml").write_text(
        "structures: [ideal.extxyz]\nn: 10\nmin_atoms: 8\nplot: false\n"
        "rattle: {sigma: [0.05], copies: 4}\nstrain: {copies: 2}\nvacancies: {copies: 2}\n"
        "substitutions: {replace: {Cu: [Au]}, copies: 2}\n"
        "descriptors: {default: {type: chebyshev, radial: {cutoff: 4.5, order: 4}, angular: {cutoff: 3.5, order: 2}}}\n")
    (tmp_path / "label.yaml").write_text(
        "structures: [sample/candidates.extxyz]\ncalculator: {name: emt}\nworkers: 2\n")
    (tmp_path / "generate.yaml").write_text(
        "structures: [labelled.extxyz]\noutput: trainset.h5\nreference_energies: {Cu: 0.0, Au: 0.0}\n"
        "descriptors: {default: {type: chebyshev, radial: {cutoff: 4.5, order: 4}, angular: {cutoff: 3.5, order: 2}}}\n")
    assert main(["-q", "sample", str(tmp_path / "sample.yaml")]) == 0
    assert main(["-q", "label", str(tmp_path / "label.yaml")]) == 0
    assert main(["-q", "generate", str(tmp_path / "generate.yaml")]) == 0
    candidates = read(tmp_path / "sample" / "candidates.extxyz", ":")
    assert len(candidates) == 10
    expected = []
    for a in candidates:
        a.calc = EMT()
        expected.append(a.get_potential_energy())
    with h5py.File(tmp_path / "trainset.h5") as f:
        e = f["structures/cohesive_energy"][()]  # reference energies 0: the EMT energies
        np.testing.assert_allclose(e, expected, rtol=1e-9, atol=1e-9)
        offsets = f["structures/atom_offset"][()]
        a = candidates[3]
        np.testing.assert_allclose(f["atoms/forces"][offsets[3]:offsets[4]], a.get_forces(), atol=1e-7)
