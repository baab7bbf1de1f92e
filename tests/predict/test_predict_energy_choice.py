"""predict reads its reference labels with the ``energy`` choice, frame by frame."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from anncli.config.generate import Units
from anncli.workflows import predict


def _cfg(energy=None, frames=":"):
    return SimpleNamespace(units=Units(), format=None, frames=frames, energy=energy, energy_key=None, forces_key=None)


def _file(tmp_path, n=6):
    images = []
    for k in range(n):
        a = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.4]], cell=[5, 5, 5], pbc=True)
        a.calc = SinglePointCalculator(a, energy=-1.0 - k, free_energy=-1.25 - k, forces=np.zeros((2, 3)))
        images.append(a)
    path = tmp_path / "frames.extxyz"
    write(path, images)
    return path


def test_reference_labels_follow_the_energy_key(tmp_path):
    path = _file(tmp_path)
    default = [s for _, s in predict.iter_config_structures([path], _cfg())]
    assert [s.energy for s in default] == [-1.25 - k for k in range(6)]
    zk = [s for _, s in predict.iter_config_structures([path], _cfg("zero_kelvin", frames="1::2"))]
    assert [(s.frame, s.energy) for s in zk] == [(1, -2.0), (3, -4.0), (5, -6.0)]


def test_predict_iterates_lazily(tmp_path, monkeypatch):
    path = _file(tmp_path, n=50)
    built = [0]
    init = Atoms.__init__

    def counting(self, *args, **kwargs):
        built[0] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(Atoms, "__init__", counting)
    it = predict.iter_config_structures([path, path], _cfg())
    k, first = next(it)
    assert (k, first.frame) == (0, 0) and built[0] <= 2
