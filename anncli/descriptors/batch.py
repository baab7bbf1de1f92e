"""Featurisation of a batch of structures: one neighbour list, every species' setup.

This module owns the orchestration between the neighbour list and the descriptor
setups: species-to-env mapping, the check that every neighbour's species is known to
the setup of its central atom, and the bookkeeping (per-atom neighbour counts, minimum
pair distance per structure, the pairs of each species' centres) that ``generate``,
``train`` and ``predict`` need.  Kernels downstream trust what this module checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from anncli.descriptors.base import Descriptor, NeighborList
from anncli.descriptors.neighbors import build_neighbor_list, min_distance_per_structure
from anncli.descriptors.validation import check_batch_arrays
from anncli.exceptions import DataError

logger = logging.getLogger(__name__)

__all__ = ["BatchFeatures", "SpeciesFeatures", "featurize_batch", "env_lookup", "env_types_for"]


@dataclass
class SpeciesFeatures:
    """Features of all atoms of one species in a batch.

    Attributes
    ----------
    centers : ndarray of shape (n_centers,), int64
        Batch indices of the atoms of this species, ascending.
    features : ndarray of shape (n_centers, n_features), float64
    dG : ndarray of shape (n_center_pairs, n_features, 3), float64, 1/Å, or None
        ``dG[q, f] = d G_cf / d vectors[pair_index[q]]`` (only with ``derivatives=True``).
    pair_offsets : ndarray of shape (n_centers + 1,), int64, or None
        Pairs ``pair_offsets[c]:pair_offsets[c + 1]`` of ``dG`` belong to centre ``c``.
    neighbors : ndarray of shape (n_center_pairs,), int64, or None
        Batch index of the neighbour atom of every pair (images map to the original atom).
    pair_index : ndarray of shape (n_center_pairs,), int64, or None
        Index of every pair in the batch neighbour list (``nl.vectors[pair_index]`` are the
        pair vectors, e.g. for the virial).

    Notes
    -----
    Forces from ``g_q = sum_f dE/dG_cf dG[q, f]``: ``F[neighbors[q]] -= g_q`` and
    ``F[centers[c]] += g_q`` for every pair ``q`` of centre ``c``.
    """

    centers: np.ndarray
    features: np.ndarray
    dG: np.ndarray | None = None
    pair_offsets: np.ndarray | None = None
    neighbors: np.ndarray | None = None
    pair_index: np.ndarray | None = None


@dataclass
class BatchFeatures:
    """Result of :func:`featurize_batch`.

    Attributes
    ----------
    species : dict of str to SpeciesFeatures
        One entry per symbol of ``species`` (empty arrays if the batch has none of it).
    nl : NeighborList
        The batch neighbour list (cutoff = largest cutoff of all setups).
    neighbor_counts : ndarray of shape (n_atoms,), int64
        Number of neighbours of every atom within ``nl.cutoff`` (periodic images included).
    min_distance : ndarray of shape (n_structures,), float64, Å
        Smallest pair distance in each structure (inf if no pair within ``nl.cutoff``).
    """

    species: dict[str, SpeciesFeatures] = field(default_factory=dict)
    nl: NeighborList | None = None
    neighbor_counts: np.ndarray | None = None
    min_distance: np.ndarray | None = None


def env_lookup(setup: Descriptor, species: list[str]) -> np.ndarray:
    """Position of every species in ``setup.env`` (-1 if absent), int32 of shape (n_species,)."""
    return np.array([setup.env.index(s) if s in setup.env else -1 for s in species], dtype=np.int32)


def env_types_for(setup: Descriptor, species: list[str], symbols_per_atom_index: np.ndarray) -> np.ndarray:
    """Position of every atom's species in ``setup.env`` (-1 if absent), int32 of shape (n_atoms,)."""
    return env_lookup(setup, species)[symbols_per_atom_index] if len(species) else np.zeros(0, dtype=np.int32)


def _raise_coincident(atoms, positions, cells, pbcs, structure_offsets, sym, species, labels) -> None:
    """DataError naming the first pair of atoms at the same position (periodic images included)."""
    a = int(atoms[0])
    s = int(np.searchsorted(structure_offsets, a, side="right") - 1)
    lo, hi = int(structure_offsets[s]), int(structure_offsets[s + 1])
    d = positions[lo:hi] - positions[a]
    periodic = np.flatnonzero(pbcs[s])
    if len(periodic):  # nearest periodic image along the periodic lattice vectors
        rows = cells[s][periodic]
        frac = np.linalg.lstsq(rows.T, d.T, rcond=None)[0].T
        d = d - np.rint(frac) @ rows
    dist = np.linalg.norm(d, axis=1)
    dist[a - lo] = np.inf
    b = lo + int(np.argmin(dist))
    i, j = sorted((a - lo, b - lo))
    where = labels[s] if labels else f"structure {s} of the batch"
    raise DataError(
        f"{where}: atoms {i + 1} ({species[sym[lo + i]]}) and {j + 1} ({species[sym[lo + j]]}) are at the same "
        f"position ({dist[b - lo]:.2g} Å apart; a duplicated atom line?)"
    )


def _center_pairs(nl: NeighborList, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = nl.offsets[centers + 1] - nl.offsets[centers]
    cp = np.zeros(len(centers) + 1, dtype=np.int64)
    np.cumsum(counts, out=cp[1:])
    pair_index = np.arange(cp[-1], dtype=np.int64) - np.repeat(cp[:-1] - nl.offsets[centers], counts)
    return cp, pair_index


def featurize_batch(
    positions: np.ndarray,
    cells: np.ndarray,
    pbcs: np.ndarray,
    structure_offsets: np.ndarray,
    symbols_per_atom_index: np.ndarray,
    species: list[str],
    setups: dict[str, Descriptor],
    derivatives: bool = False,
    labels: list[str] | None = None,
) -> BatchFeatures:
    """Features (and optionally per-pair derivatives) of every atom of a batch.

    Parameters
    ----------
    positions : ndarray of shape (n_atoms, 3), Å
    cells : ndarray of shape (n_structures, 3, 3), Å
        Lattice vectors as rows (ignored along non-periodic directions).
    pbcs : ndarray of shape (n_structures, 3), bool
    structure_offsets : ndarray of shape (n_structures + 1,), int64
    symbols_per_atom_index : ndarray of shape (n_atoms,), int32
        Index of every atom's species in ``species``.
    species : list of str
        Species symbols.
    setups : dict of str to Descriptor
        Descriptor setup of every species that occurs in the batch.
    derivatives : bool
        Also compute ``dG`` and the pair bookkeeping.
    labels : list of str, optional
        Name of every structure (e.g. its file), used in error messages.

    Returns
    -------
    BatchFeatures

    Raises
    ------
    DataError
        If a species of the batch has no setup, a neighbour (within a setup's cutoff) has a
        species missing from that setup's ``env``, or two atoms sit at the same position.
    ValueError, TypeError
        If the arrays do not fit together (shapes, offsets, species indices).
    """
    return _featurize(positions, cells, pbcs, structure_offsets, symbols_per_atom_index, species, setups,
                      derivatives, labels)


def _featurize(positions, cells, pbcs, structure_offsets, symbols_per_atom_index, species, setups,
               derivatives=False, labels=None, nl: NeighborList | None = None,
               env_out: dict | None = None) -> BatchFeatures:
    """:func:`featurize_batch`, optionally with a prebuilt neighbour list ``nl`` (all pairs within
    the largest cutoff, e.g. refreshed from a Verlet list) and, with ``env_out`` (a dict), without
    the features: every species' ``env_types`` go to ``env_out[symbol]`` and its
    ``SpeciesFeatures.features`` is None (the potential engine's fused force pass computes them).
    """
    from anncli.descriptors import _neighbor_kernels as _nk  # Numba on first use only

    positions, cells, pbcs, structure_offsets, sym = check_batch_arrays(
        positions, cells, pbcs, structure_offsets, symbols_per_atom_index, len(species))
    if labels is not None and len(labels) != len(structure_offsets) - 1:
        raise ValueError(f"labels must name every structure ({len(structure_offsets) - 1}); got {len(labels)}")
    present = np.unique(sym)
    for t in present:
        if species[t] not in setups:
            raise DataError(
                f"The batch contains {species[t]} atoms but no descriptor setup was given for {species[t]} "
                f"(setups for: {', '.join(setups) or 'none'})."
            )
    used = [species[t] for t in present]
    cutoff = max((setups[s].cutoff for s in used), default=max((s.cutoff for s in setups.values()), default=1.0))
    if nl is None:
        nl = build_neighbor_list(positions, cells, pbcs, structure_offsets, cutoff)
    elif nl.cutoff < cutoff * (1 - 1e-12) or nl.n_atoms != len(positions):
        raise ValueError(f"the neighbour list given (cutoff {nl.cutoff} Å, {nl.n_atoms} atoms) does not fit the "
                         f"batch (cutoff {cutoff} Å, {len(positions)} atoms)")
    if len(nl.coincident):
        _raise_coincident(nl.coincident, positions, cells, pbcs, structure_offsets, sym, species, labels)
    result = BatchFeatures(
        nl=nl, neighbor_counts=nl.counts(), min_distance=min_distance_per_structure(nl, structure_offsets)
    )
    for t, name in enumerate(species):
        centers = np.flatnonzero(sym == t).astype(np.int64)
        setup = setups.get(name)
        if setup is None or len(centers) == 0:
            n_f = setup.n_features if setup is not None else 0
            empty = SpeciesFeatures(centers=centers, features=np.zeros((0, n_f)))
            if derivatives:
                empty.dG = np.zeros((0, n_f, 3))
                empty.pair_offsets = np.zeros(1, dtype=np.int64)
                empty.neighbors = np.zeros(0, dtype=np.int64)
                empty.pair_index = np.zeros(0, dtype=np.int64)
            result.species[name] = empty
            continue
        lookup = env_lookup(setup, species)
        env_types = lookup[sym]
        if (lookup[present] < 0).any():  # a species of the batch is not in this setup's env
            c, p = _nk.first_missing_neighbor_nb(
                nl.offsets, nl.index, nl.distances, centers, env_types, float(setup.cutoff)
            )
            if c >= 0:
                j = int(nl.index[p])
                s_idx = int(np.searchsorted(structure_offsets, centers[c], side="right") - 1)
                where = labels[s_idx] if labels else f"structure {s_idx} of the batch"
                raise DataError(
                    f"{where}: a {species[sym[j]]} atom is a neighbour of {name} atom "
                    f"{int(centers[c] - structure_offsets[s_idx]) + 1} (at {nl.distances[p]:.4f} Å), but "
                    f"{species[sym[j]]} is not in the env list of the {name} descriptor ({', '.join(setup.env)})"
                )
        if env_out is not None:  # the caller computes the features
            env_out[name] = env_types
            result.species[name] = SpeciesFeatures(centers=centers, features=None)
        elif derivatives:
            feats, dG = setup.features_and_derivatives(nl, centers, env_types)
            cp, pair_index = _center_pairs(nl, centers)
            result.species[name] = SpeciesFeatures(
                centers=centers, features=feats, dG=dG, pair_offsets=cp,
                neighbors=nl.index[pair_index], pair_index=pair_index,
            )
        else:
            result.species[name] = SpeciesFeatures(centers=centers, features=setup.features(nl, centers, env_types))
    return result
