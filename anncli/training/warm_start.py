"""Starting a training run from the networks of a trained model (``initial_model``: fine-tuning,
the warm start of ``anncli active``).

This module owns the checks that a model can start a run on a training set (same species,
same descriptor setup, same Δ-learning baseline, same architecture, enough committee members)
and the exact change of normalisation.  The run computes its normalisation from its own
training split as usual; the model's networks were trained under another one.  Both are
affine maps, so they are absorbed into the first and the last layer:

* features: the old network saw ``x_old = (x - m) / s``, the new one sees
  ``x_new = (x - m') / s'``, hence ``x_old = A x_new + c`` with ``A = diag(s' / s)`` and
  ``c = (m' - m) / s``: ``W1 <- W1 A``, ``b1 <- b1 + W1 c``;
* energies: the atomic energy ``y / scale + shift + E_atom`` must not change, hence
  ``y' = r y + scale' (shift - shift' + E_atom - E_atom')`` with ``r = scale' / scale``:
  ``W_L <- r W_L``, ``b_L <- r b_L + scale' (...)``.

The transformed networks compute the same atomic energies as the model for every input.
(Features that are constant over one of the two training splits are set to 0 by the
normalisation: a feature constant over the old split was ignored by the old networks and
stays ignored; one constant over the new split is taken at its constant value.)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["load_initial_model", "check_initial_model", "check_members", "transform_networks",
           "initial_params"]

_STD_MIN = 1e-10


def load_initial_model(path: str | Path):
    """The model named by ``initial_model`` (DataError naming the key when it does not exist)."""
    from anncli.potential.model_file import load_model

    path = Path(path)
    if not path.is_file():
        raise DataError(f"initial_model: no such model file {path}")
    return load_model(path)


def check_members(model, path: str | Path, members: int) -> None:
    """Refuse a model with fewer network sets than the run trains (``committee.members``).

    Raises
    ------
    ConfigError
        Naming the file, its number of members and the number needed.
    """
    if model.n_members < members:
        raise ConfigError(f"initial_model: {path} has {model.n_members} network set(s), the run trains "
                          f"{members} (committee.members); give a committee of at least {members} members "
                          f"or train fewer")
    if model.n_members > members:
        logger.info("initial_model %s: members 0-%d of %d start the run", path, members - 1, model.n_members)


def _descriptor(text: str):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def check_initial_model(model, path: str | Path, data, sizes: dict, activations: dict) -> None:
    """Refuse a model whose networks cannot start a run on the training set ``data``.

    Parameters
    ----------
    model : anncli.potential.model_file.Model
    path : path
        The model file (named in the messages).
    data : anncli.training.data.TrainingData
    sizes, activations : dict of str to list
        The architecture of the run (layer sizes and activations by species).

    Raises
    ------
    DataError
        Other species, another descriptor setup of a species, another Δ-learning baseline.
    ConfigError
        Other layer sizes or activations than the run's ``networks``.
    """
    if sorted(model.species) != sorted(data.species):
        raise DataError(f"initial_model: {path} has species {', '.join(model.species)}, the training set "
                        f"{data.path} has {', '.join(data.species)}; the model must have the same species")
    for sym in data.species:
        if _descriptor(model.descriptors[sym]) != _descriptor(data.descriptors.get(sym, "")):
            raise DataError(f"initial_model: {path} computes the {sym} features with another descriptor setup "
                            f"than the training set {data.path}; generate the training set with the model's "
                            f"descriptors")
    from anncli.workflows.train import _trainset_baseline

    base = _trainset_baseline(data.path)
    if (model.baseline or None) != (base or None):
        from anncli.potential.baseline import describe

        raise DataError(f"initial_model: {path} corrects the Δ-learning baseline {describe(model.baseline)}, "
                        f"the training set {data.path} has {describe(base)}; they must be the same")
    for sym in data.species:
        net = model.networks[sym]
        if list(net.sizes) != list(sizes[sym]) or list(net.activations) != list(activations[sym]):
            raise ConfigError(
                f"initial_model: the {sym} network of {path} has layers {net.sizes} "
                f"({'/'.join(net.activations[:-1]) or 'linear'}), the input file's networks give {sizes[sym]} "
                f"({'/'.join(activations[sym][:-1]) or 'linear'}); leave 'networks' out to use the model's")


def transform_networks(networks: dict, old, new, old_ref: dict[str, float], new_ref: dict[str, float]) -> None:
    """Absorb the change of normalisation ``old`` -> ``new`` into ``networks`` (in place).

    Parameters
    ----------
    networks : dict of str to anncli.network.mlp.Network
        One member's networks by species, trained under ``old``.
    old, new : Normalization-like
        ``feature_mean``, ``feature_std`` (dicts by species), ``energy_shift`` (eV/atom) and
        ``energy_scale`` (1/eV) of the model and of the run.
    old_ref, new_ref : dict of str to float, eV
        Free-atom energies of the model and of the training set by species.

    Notes
    -----
    Afterwards ``net(norm_new(x)) / scale' + shift' + E_atom'`` equals
    ``net_old(norm_old(x)) / scale + shift + E_atom`` for every feature vector ``x`` (module
    docstring; features constant over the new split at their constant value).
    """
    r = float(new.energy_scale) / float(old.energy_scale)
    for sym, net in networks.items():
        m, s = np.asarray(old.feature_mean[sym], float), np.asarray(old.feature_std[sym], float)
        m2, s2 = np.asarray(new.feature_mean[sym], float), np.asarray(new.feature_std[sym], float)
        inv = np.where(s > _STD_MIN, 1.0 / np.where(s > _STD_MIN, s, 1.0), 0.0)
        a = np.where(s2 > _STD_MIN, s2 * inv, 0.0)
        c = (m2 - m) * inv
        w1 = net.weights[0]
        net.biases[0][...] += w1 @ c
        w1 *= a[None, :]
        net.weights[-1][...] *= r
        net.biases[-1][...] = r * net.biases[-1] + float(new.energy_scale) * (
            float(old.energy_shift) - float(new.energy_shift) + old_ref[sym] - new_ref[sym])


def initial_params(model, member: int, nets, data, norm) -> np.ndarray:
    """Flat parameters (the layout of ``nets``, a SpeciesNetworks) of member ``member`` of
    ``model``, transformed to the run's normalisation ``norm``."""
    from anncli.network.mlp import Network
    from anncli.training.data import Normalization

    src = {s: Network(list(n.sizes), list(n.activations), n.params.copy())  # weights: views of the copy
           for s, n in model.member_networks()[member].items()}
    old = Normalization(model.feature_mean, model.feature_std, model.feature_min, model.feature_max,
                        float(model.energy_shift), float(model.energy_scale))
    old_ref = {s: model.reference_energy(s) for s in model.species}
    new_ref = {s: float(e) for s, e in zip(data.species, data.reference_energies)}
    transform_networks(src, old, norm, old_ref, new_ref)
    params = nets.params.copy()
    for sym in nets.species:
        params[nets.offsets[sym]] = src[sym].params
    return params
