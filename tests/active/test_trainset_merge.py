"""merge_trainsets: merged files hold exactly the data of one generate run over all structures."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from ase.io import write

from anncli.config.generate import GenerateConfig
from anncli.exceptions import DataError
from anncli.io.trainset import open_trainset, trainset_content_id
from anncli.io.trainset_merge import merge_trainsets
from anncli.workflows import generate

from emt_data import emt_structures

DESC = {"default": {"type": "chebyshev", "radial": {"cutoff": 4.0, "order": 3}, "angular": {"cutoff": 3.0, "order": 2}}}


def _generate(tmp_path, files, out, descriptors=DESC, e_ref=None):
    cfg = GenerateConfig.model_validate({"structures": [str(f) for f in files], "output": str(tmp_path / out),
                                         "reference_energies": e_ref or {"Cu": -0.1, "Au": 0.2},
                                         "descriptors": descriptors})
    return generate.run(cfg, input_text="x").output


@pytest.fixture
def two_files(tmp_path):
    s = emt_structures(7, seed=3)
    a, b = tmp_path / "a.extxyz", tmp_path / "b.extxyz"
    write(a, [x.to_ase() for x in s[:4]])
    write(b, [x.to_ase() for x in s[4:]])
    return a, b


def test_merge_equals_one_generate_run(tmp_path, two_files):
    a, b = two_files
    whole = _generate(tmp_path, [a, b], "whole.h5")
    merged = merge_trainsets([_generate(tmp_path, [a], "a.h5"), _generate(tmp_path, [b], "b.h5")],
                             tmp_path / "merged.h5")
    with open_trainset(whole) as fw, open_trainset(merged) as fm:
        assert trainset_content_id(fm) == trainset_content_id(fw)  # every dataset, byte for byte
        assert list(fm["structures/parent"][()]) == list(range(7))
        for sym in ("Cu", "Au"):
            for key in ("min", "max", "mean", "std"):
                np.testing.assert_allclose(fm["features"][sym].attrs[key], fw["features"][sym].attrs[key],
                                           rtol=1e-12, atol=1e-12)
    # the merged file is complete and trainable input: the same feature rows by structure
    with h5py.File(merged) as f:
        assert bool(f.attrs["complete"]) and int(f.attrs["n_structures"]) == 7


def test_merge_refuses_other_descriptors_or_energies(tmp_path, two_files):
    a, b = two_files
    fa = _generate(tmp_path, [a], "a.h5")
    other = {"default": {**DESC["default"], "radial": {"cutoff": 4.5, "order": 3}}}
    fb = _generate(tmp_path, [b], "b.h5", descriptors=other)
    with pytest.raises(DataError, match="descriptor of Cu"):
        merge_trainsets([fa, fb], tmp_path / "m.h5")
    fc = _generate(tmp_path, [b], "c.h5", e_ref={"Cu": 0.0, "Au": 0.2})
    with pytest.raises(DataError, match="free-atom energies"):
        merge_trainsets([fa, fc], tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()
