"""Small random Cu-Au models for the engine tests."""

from __future__ import annotations

import pytest
from pot_helpers import cluster_structure, small_setups, triclinic_structure

from synthetic_model import random_model


@pytest.fixture(scope="session")
def small_model():
    """Random 2x8 tanh model with feature statistics from the test structures."""
    return random_model(small_setups(), (8, 8), structures=[triclinic_structure(), cluster_structure()],
                        seed=3, reference_energies={"Cu": -1.5, "Au": -2.5}, energy_scale=0.7,
                        energy_shift=-0.2)


@pytest.fixture(scope="session")
def small_potential(small_model):
    from anncli.potential.evaluate import Potential

    return Potential(small_model)
