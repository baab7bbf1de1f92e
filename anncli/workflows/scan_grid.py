"""Expansion of an ``anncli scan`` grid into descriptor points, architectures and folds.

This module owns the rules that turn a :class:`~anncli.config.scan.ScanConfig` into complete,
validated generate and train inputs (one per descriptor point and one per architecture),
the input fingerprint a resumed scan is compared with, and the split (one fixed split or k
folds) shared by every point.  Nothing here generates or trains.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anncli.exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["DescriptorPoint", "NetworkPoint", "expand_grid", "fingerprint", "make_splits", "settings_text"]

#: keys of a NetworkSpec: a grid.networks path starting with one of them applies to 'default'
NETWORK_KEYS = ("hidden", "activation")


@dataclass
class DescriptorPoint:
    """One combination of ``grid.descriptors`` values: one training set.

    Attributes
    ----------
    index : int
    name : str
        ``d<index>``.
    settings : dict
        Grid key -> value of this point.
    generate : dict
        The complete generate input (without ``output``).
    n_features : dict of str to int
        Descriptor length of every species.
    """

    index: int
    name: str
    settings: dict
    generate: dict
    n_features: dict


@dataclass
class NetworkPoint:
    """One combination of ``grid.networks`` values: one architecture.

    Attributes
    ----------
    index : int
    name : str
        ``n<index>``.
    settings : dict
        Grid key -> value of this point.
    train : dict
        The complete train input (without training set, outputs and split).
    """

    index: int
    name: str
    settings: dict
    train: dict


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def settings_text(settings: dict) -> str:
    """``radial.cutoff=4 hidden=[10,10]`` (``-`` for no settings)."""
    return " ".join(f"{k}={_value_text(v)}" for k, v in settings.items()) or "-"


def _combinations(grid: dict[str, list]) -> list[dict]:
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))] or [{}]


def _set_path(data: dict, path: list[str], value: Any, where: str) -> None:
    cur = data
    for i, key in enumerate(path[:-1]):
        nxt = cur.get(key)
        if nxt is None:
            nxt = cur[key] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"{where}: {'.'.join(path)}: {'.'.join(path[:i + 1])} is a value, not a section "
                              "with keys")
        cur = nxt
    cur[path[-1]] = copy.deepcopy(value)


def _apply_descriptor(gen: dict, key: str, value: Any, where: str) -> None:
    """Set ``key`` (a dotted path inside ``descriptors``) to ``value`` in ``gen``."""
    parts = key.split(".")
    descriptors = gen["descriptors"]
    species = gen["reference_energies"]
    if parts[0] in descriptors:
        targets = [parts]
    elif parts[0] in species and "default" in descriptors:  # a species of its own: from the default
        descriptors[parts[0]] = copy.deepcopy(descriptors["default"])
        targets = [parts]
    else:
        targets = [[entry, *parts] for entry in list(descriptors)]
    for path in targets:
        if len(path) == 1:
            descriptors[path[0]] = copy.deepcopy(value)
        else:
            _set_path(descriptors, path, value, where)


def _apply_network(train: dict, key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    if parts[0] in NETWORK_KEYS:
        parts = ["default", *parts]
    networks = train.setdefault("networks", {})
    if len(parts) == 1:
        networks[parts[0]] = copy.deepcopy(value)
    else:
        _set_path(networks, parts, value, where)


def _validate(data: dict, schema: type, where: str):
    from anncli.config.loader import validate_config

    return validate_config(data, schema, source=where)


def expand_grid(config, *, source: str | Path = "<input>") -> tuple[list[DescriptorPoint], list[NetworkPoint]]:
    """Every descriptor point and architecture of the grid, each validated as a whole input.

    Parameters
    ----------
    config : ScanConfig
    source : str or Path
        The input file, named in messages.

    Returns
    -------
    descriptor_points, network_points : lists

    Raises
    ------
    ConfigError
        A value invalid for one point (naming the point and its settings), or a grid key
        that is not a section of the generate or train input.
    """
    from anncli.config.generate import GenerateConfig, read_setup_files
    from anncli.config.train import TrainConfig
    from anncli.workflows.generate import build_setups

    base_gen = read_setup_files(config.generate, source=source)  # ænet .stp entries become sections
    gen0 = base_gen.model_dump(by_alias=True, exclude_none=True, exclude={"output", "overwrite"})
    train0 = config.train.model_dump(by_alias=True, exclude_none=True,
                                     exclude={"trainset", "output", "output_dir", "overwrite"})
    dpoints: list[DescriptorPoint] = []
    for i, settings in enumerate(_combinations(config.grid.descriptors)):
        name = f"d{i}"
        where = f"{source}: grid point {name} ({settings_text(settings)})"
        gen = copy.deepcopy(gen0)
        for key, value in settings.items():
            _apply_descriptor(gen, key, value, f"{where}: grid.descriptors")
        cfg = _validate(gen, GenerateConfig, where)
        species = list(cfg.reference_energies)
        try:
            setups = build_setups(dict(cfg.descriptors), species)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        dpoints.append(DescriptorPoint(i, name, settings, cfg.model_dump(
            by_alias=True, exclude_none=True, exclude={"output", "overwrite"}),
            {sym: int(s.n_features) for sym, s in setups.items()}))
    npoints: list[NetworkPoint] = []
    for j, settings in enumerate(_combinations(config.grid.networks)):
        name = f"n{j}"
        where = f"{source}: grid point {name} ({settings_text(settings)})"
        train = copy.deepcopy(train0)
        for key, value in settings.items():
            _apply_network(train, key, value, f"{where}: grid.networks")
        cfg = _validate(dict(train, trainset="trainset.h5"), TrainConfig, where)  # the scan sets the training set
        for sym in cfg.networks:
            if sym != "default" and sym not in base_gen.reference_energies:
                raise ConfigError(f"{where}: networks.{sym}: {sym} is not a species of generate.reference_energies "
                                  f"({', '.join(base_gen.reference_energies)})")
        npoints.append(NetworkPoint(j, name, settings, cfg.model_dump(
            by_alias=True, exclude_none=True, exclude={"trainset", "output", "output_dir", "overwrite"})))
    return dpoints, npoints


def fingerprint(config, dpoints: list[DescriptorPoint], npoints: list[NetworkPoint]) -> str:
    """SHA-256 (hex) of everything that changes a point's numbers: every point's generate and
    train input, and the folds.  ``n_workers``, ``recommend``, ``plots`` and ``timing_repeats``
    are left out, so changing them reuses the finished points."""
    data = {"generate": [p.generate for p in dpoints], "train": [p.train for p in npoints],
            "folds": config.folds}
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def make_splits(parents: np.ndarray, folds: int, validation_fraction: float, seed: int) -> list[np.ndarray]:
    """Validation structure indices of every fold (one fixed split for ``folds`` = 1).

    Families (a structure and its Taylor copies, ``parents``) stay together.  ``folds`` = 1:
    the split ``anncli train`` would draw (:func:`anncli.training.split.random_split` with
    ``default_rng(seed)``); k >= 2: the families are permuted with ``default_rng(seed)`` and
    cut into k nearly equal folds.

    Parameters
    ----------
    parents : ndarray of shape (n_structures,), int64
        Parent row of every structure of the training set.
    folds : int
    validation_fraction : float
    seed : int

    Returns
    -------
    list of ndarray
        ``folds`` sorted int64 arrays; with k >= 2 every structure is in exactly one.

    Raises
    ------
    ConfigError
        More folds than families.
    """
    from anncli.training.split import random_split

    parents = np.asarray(parents, dtype=np.int64)
    n = len(parents)
    if folds == 1:
        _, val = random_split(np.arange(n, dtype=np.int64), validation_fraction, np.random.default_rng(seed), parents)
        return [val]
    families = np.unique(parents)
    if len(families) < folds:
        raise ConfigError(f"folds: {folds} folds need at least {folds} structures (with their Taylor copies), "
                          f"the training set has {len(families)}")
    perm = np.random.default_rng(seed).permutation(families)
    return [np.sort(np.flatnonzero(np.isin(parents, part))).astype(np.int64)
            for part in np.array_split(perm, folds)]


def check_same_structures(first: dict, other: dict, name: str) -> None:
    """Every descriptor point must hold the same structures (one split for all)."""
    if first["n_structures"] != other["n_structures"] or first.get("content") != other.get("content"):
        raise DataError(f"grid point {name}: its training set has {other['n_structures']} structures, d0's has "
                        f"{first['n_structures']} (or other ones); the descriptor settings must not change which "
                        "structures are kept")
