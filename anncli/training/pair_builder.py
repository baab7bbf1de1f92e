"""Compact feature derivatives recomputed from positions, for force training.

Force training needs, for every pair of atoms within the cutoff, the derivative of the centre's
features with respect to the pair vector.  Instead of reading them from the training-set file
(``derivatives: true`` makes files ~100 times larger), train recomputes them from the stored
positions with the descriptor setups of the file, once, and keeps them in the compact form of
:class:`~anncli.network.pair_data.PairData` (``memory: load``), or recomputes them for every
chunk (``memory: stream``).  The features computed on the way are compared with the stored ones,
so a file whose features do not belong to its positions is refused.

This module owns :func:`radial_structure` (which features of a descriptor are radial) and
:func:`compute_pair_data` (a batch of structures to compact pair data).
"""

from __future__ import annotations

import numpy as np

from anncli.descriptors.batch import env_lookup, featurize_batch
from anncli.exceptions import DataError
from anncli.network.pair_data import PairData, RadialStructure

#: Largest relative error (to the largest derivative of the batch) of the compact radial form;
#: above it the radial structure is wrong and every feature is stored as a 3-vector.
COMPRESSION_TOLERANCE = 1e-9


def radial_structure(setup) -> RadialStructure:
    """Radial features of a descriptor setup and the basis functions they share.

    Chebyshev: R_n and its species-weighted copy R~_n share basis n (channel weights 1 and the
    species weight).  Behler2011: G1-G3 functions with the same parameters but another
    ``type2`` share a basis (channel = env species, weight 1 for that species only).  Other
    descriptors: every feature is stored as a full 3-vector.
    """
    from anncli.descriptors.chebyshev import ChebyshevSetup

    n_env = len(setup.env)
    if isinstance(setup, ChebyshevSetup):
        nr, na = setup.radial_order + 1, setup.angular_order + 1
        block_basis = np.concatenate([np.arange(nr), np.full(na, -1)])
        if setup.typed:
            basis = np.concatenate([block_basis, block_basis])
            channel = np.concatenate([np.zeros(nr + na, dtype=np.int64), np.where(block_basis >= 0, 1, 0)])
            weights = np.stack([np.ones(n_env), setup.species_weights], axis=1)
        else:
            basis, channel, weights = block_basis, np.zeros(nr + na, dtype=np.int64), np.ones((n_env, 1))
        return RadialStructure(basis=basis.astype(np.int64), channel=channel.astype(np.int64),
                               weights=weights.astype(float))
    if getattr(setup, "kind", None) == "behler2011":
        keys: dict = {}
        basis = np.full(setup.n_features, -1, dtype=np.int64)
        channel = np.zeros(setup.n_features, dtype=np.int64)
        for k, n in enumerate(setup.order):
            d = setup.functions[n].to_dict()
            if d["G"] in (1, 2, 3):
                key = tuple(sorted((name, v) for name, v in d.items() if name != "type2"))
                basis[k] = keys.setdefault(key, len(keys))
                channel[k] = setup.env.index(d["type2"])
        return RadialStructure(basis=basis, channel=channel, weights=np.eye(n_env))
    return RadialStructure.general(setup.n_features, n_env)


def compress(dG: np.ndarray, vectors: np.ndarray, ptype: np.ndarray, structure: RadialStructure,
             pair_offset: np.ndarray, center_atom: np.ndarray, neighbor: np.ndarray) -> PairData:
    """:class:`PairData` of dense derivatives ``dG`` (n_pairs, n_features, 3) of one species.

    Falls back to storing every feature as a 3-vector when the compact radial form does not
    reproduce ``dG`` (a descriptor whose "radial" features are not).
    """
    from anncli.network import _force_kernels as _k

    n_pairs = len(dG)
    ang_features = structure.angular_features
    unit = np.empty((n_pairs, 3), dtype=np.float32)
    radial = np.empty((n_pairs, structure.n_basis), dtype=np.float32)
    is_angular = np.empty(n_pairs, dtype=np.bool_)
    error = np.empty(n_pairs)
    largest = np.empty(n_pairs)
    dG = np.ascontiguousarray(dG, dtype=np.float64)
    _k.compress_pairs_nb(dG, np.ascontiguousarray(vectors, dtype=float), ptype.astype(np.int64),
                         structure.basis, structure.channel, structure.weights, ang_features,
                         structure.n_basis, unit, radial, is_angular, error, largest)
    if n_pairs and error.max() > COMPRESSION_TOLERANCE * max(float(largest.max()), 1e-300):
        general = RadialStructure.general(dG.shape[1], structure.weights.shape[0])
        return compress(dG, vectors, ptype, general, pair_offset, center_atom, neighbor)
    ang_pair = np.flatnonzero(is_angular).astype(np.int64)
    counted = np.concatenate([[0], np.cumsum(is_angular, dtype=np.int64)])
    ang_offset = counted[np.asarray(pair_offset, dtype=np.int64)]  # angular pairs keep pair order
    ang = np.empty((len(ang_pair), len(ang_features), 3), dtype=np.float32)
    _k.gather_angular_nb(dG, ang_pair, ang_features, ang)
    return PairData(structure=structure, center_atom=np.asarray(center_atom, dtype=np.int64),
                    pair_offset=np.asarray(pair_offset, dtype=np.int64),
                    neighbor=np.asarray(neighbor, dtype=np.int32), ptype=ptype.astype(np.int8),
                    unit=unit, radial=radial,
                    ang_offset=ang_offset, ang_pair=ang_pair, ang=ang)


def compute_pair_data(positions: np.ndarray, cells: np.ndarray, pbcs: np.ndarray,
                      structure_offsets: np.ndarray, species_index: np.ndarray, species: list[str],
                      setups: dict, *, labels: list[str] | None = None,
                      structures: dict | None = None) -> tuple[dict, dict]:
    """Features and compact derivatives of every species of a batch of structures.

    Parameters
    ----------
    positions, cells, pbcs, structure_offsets, species_index, species, setups
        As for :func:`anncli.descriptors.batch.featurize_batch`.
    labels : list of str, optional
        Structure names for error messages.
    structures : dict of str to RadialStructure, optional
        Radial structure of every species' setup (computed when not given).

    Returns
    -------
    pairs : dict of str to PairData
        Rows are the batch's atoms of the species in ascending order; atoms are batch atoms.
    features : dict of str to ndarray of shape (n_rows, n_features)
    """
    bf = featurize_batch(positions, cells, pbcs, structure_offsets, species_index, species, setups,
                         derivatives=True, labels=labels)
    pairs, features = {}, {}
    sym_idx = np.asarray(species_index)
    for name, sf in bf.species.items():
        setup = setups.get(name)
        if setup is None:
            continue
        st = (structures or {}).get(name) or radial_structure(setup)
        lookup = env_lookup(setup, species)
        ptype = lookup[sym_idx[sf.neighbors]] if len(sf.neighbors) else np.zeros(0, dtype=np.int32)
        vectors = bf.nl.vectors[sf.pair_index] if len(sf.pair_index) else np.zeros((0, 3))
        pairs[name] = compress(sf.dG, vectors, ptype, st, sf.pair_offsets, sf.centers, sf.neighbors)
        features[name] = sf.features
    return pairs, features


def check_features(stored: np.ndarray, recomputed: np.ndarray, where: str) -> None:
    """DataError unless features recomputed from the positions equal the stored ones.

    The tolerance (1e-8 of each feature's scale) allows the rounding of a different batch
    composition, not a different structure or setup.
    """
    if stored.shape != recomputed.shape:
        raise DataError(f"{where}: {recomputed.shape[0]} atoms recomputed, {stored.shape[0]} stored")
    if not len(stored):
        return
    scale = np.maximum(np.abs(stored).max(axis=0), 1.0)
    diff = np.abs(stored - recomputed) / scale
    if not np.all(diff <= 1e-8):
        row, col = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(diff), diff, np.inf))), diff.shape)
        raise DataError(
            f"{where}: the stored features do not match the positions (feature {col + 1} of atom row "
            f"{row + 1}: stored {stored[row, col]:.10g}, recomputed {recomputed[row, col]:.10g}); "
            "the training-set file is inconsistent (regenerate it)")
