"""Behler2011 features + networks against Fortran ænet: the water-cluster reference networks.

ænet's train.x reported, for the shipped networks (epoch 4419, 10 % test split of the 1886
clusters), MAE/RMSE per atom of 2.877180e-5/3.656931e-5 Ha (train, 1698 structures) and
4.037174e-5/5.330537e-5 Ha (test, 188). Whatever the split was, the error over all 1886
structures follows from these numbers alone; anncli must reproduce it to ænet's printed
precision. This checks the Behler2011 functions (27 for H, 30 for O, Rc 12 Bohr, ænet's
output order), the .nn reader and the energy assembly at once.
"""

from __future__ import annotations

import math

import numpy as np

from anncli.io import read_xsf
from anncli.potential.aenet_nn import read_aenet_nn
from anncli.potential.evaluate import Potential

TRAIN = (2.877180e-05, 3.656931e-05)  # MAE, RMSE (Ha/atom), min_err
TEST = (4.037174e-05, 5.330537e-05)


def test_water_reference_networks_reproduce_aenet_errors(shared_data):
    root = shared_data / "water-clusters"
    nets = root / "reference-ann"
    model = read_aenet_nn({"H": nets / "H.10t-10t.nn-04419", "O": nets / "O.10t-10t.nn-04419"})
    assert all('"behler2011"' in text for text in model.descriptors.values())
    # the networks were trained in the files' own units (Hartree, Bohr): read them unconverted
    structures = [read_xsf(p) for p in sorted((root / "xsf").glob("*.xsf"))]
    assert len(structures) == 1886
    predictions, _ = Potential(model).evaluate(structures, forces=False, stress=False)
    err = np.array([(p.energy - s.energy) / s.n_atoms for p, s in zip(predictions, structures)])
    n_train = math.ceil(0.9 * 1886)  # ænet: nTrain = ceil((1 - TESTPERCENT/100) N)
    n_test = 1886 - n_train
    mae = (n_train * TRAIN[0] + n_test * TEST[0]) / 1886
    rmse = math.sqrt((n_train * TRAIN[1] ** 2 + n_test * TEST[1] ** 2) / 1886)
    np.testing.assert_allclose(np.abs(err).mean(), mae, rtol=2e-6)
    np.testing.assert_allclose(np.sqrt(np.mean(err**2)), rmse, rtol=2e-6)
