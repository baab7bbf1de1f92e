"""Randomly initialised models of a given shape: a test and benchmark fixture.

This module owns :func:`random_model`: a complete :class:`Model` (descriptor setups,
feature statistics taken from sample structures when given, seeded random weights) that
the engine evaluates like a trained one.  It is not a fit to anything, so it lives with the
tests, not in the package (it was ``anncli.potential.synthetic``).  Tests import it as
``from synthetic_model import random_model`` (tests/ is on the path through
tests/conftest.py); benchmarks/bench_predict.py adds tests/ to ``sys.path``.
"""

from __future__ import annotations

import json
import logging
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["random_model"]


def random_model(
    setups: dict,
    hidden: Sequence[int] = (15, 15),
    activation: str = "tanh",
    *,
    reference_energies: dict[str, float] | None = None,
    structures: Sequence | None = None,
    seed: int = 0,
    energy_scale: float = 1.0,
    energy_shift: float = 0.0,
):
    """A Model with seeded random weights.

    Parameters
    ----------
    setups : dict of str to descriptor setup
        One setup per species (their ``env`` lists use the same species); the dict order
        is the model's species order.
    hidden : sequence of int
        Hidden layer sizes.
    activation : str
        Activation of the hidden layers.
    reference_energies : dict of str to float, optional
        Free-atom energies (eV); default 0.
    structures : sequence of Structure, optional
        Used to set the feature mean/std/min/max (default: mean 0, std 1, range ±inf).
    seed : int
    energy_scale, energy_shift : float

    Returns
    -------
    Model
    """
    from anncli.network.mlp import Network, init_network_params
    from anncli.potential.model_file import Model

    rng = np.random.default_rng(seed)
    species = list(setups)
    nets = {}
    mean, std, lo, hi = {}, {}, {}, {}
    for sym in species:
        n_f = setups[sym].n_features
        net = Network([n_f, *hidden, 1], [activation] * len(hidden) + ["linear"])
        init_network_params(net, rng)
        nets[sym] = net
        mean[sym], std[sym] = np.zeros(n_f), np.ones(n_f)
        lo[sym], hi[sym] = np.full(n_f, -np.inf), np.full(n_f, np.inf)
    model = Model(
        species=species,
        reference_energies=np.array([float((reference_energies or {}).get(s, 0.0)) for s in species]),
        descriptors={s: json.dumps(setups[s].to_dict()) for s in species},
        feature_mean=mean, feature_std=std, feature_min=lo, feature_max=hi, networks=nets,
        energy_shift=float(energy_shift), energy_scale=float(energy_scale),
        metadata={"source": "random_model", "seed": seed},
    )
    if structures:
        from anncli.potential.evaluate import Potential, pack_structures
        from anncli.descriptors.batch import featurize_batch

        pot = Potential(model)
        pos, cells, pbcs, offsets, sym_idx = pack_structures(list(structures), pot)
        bf = featurize_batch(pos, cells, pbcs, offsets, sym_idx, species, pot.setups)
        for sym in species:
            x = bf.species[sym].features
            if len(x):
                model.feature_mean[sym] = x.mean(axis=0)
                model.feature_std[sym] = x.std(axis=0)
                model.feature_min[sym] = x.min(axis=0)
                model.feature_max[sym] = x.max(axis=0)
    return model
