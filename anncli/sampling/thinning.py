"""Thinning a candidate pool by farthest-point sampling in descriptor space, and how well it covers.

Every candidate becomes one vector (:func:`pool_fingerprints`): per species, the mean and the
spread (standard deviation) of its atoms' features, each feature z-scored over all atoms of that
species in the pool, and the species' atom fractions.  The mean places a structure (strain,
composition, surface), the spread tells a rattled or defective one from the ideal one whose mean
features it shares.  :func:`select` runs :func:`anncli.validation.selection.farthest_point_sampling`
from the structures that must be kept; :func:`covering_radius` measures the result (the largest
distance of a pool member to its nearest selected one: smaller is better).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["pool_fingerprints", "select", "covering_radius", "random_covering_radius", "pca_2d"]


def _species_order(images: Sequence) -> list[str]:
    return list(dict.fromkeys(s for a in images for s in a.get_chemical_symbols()))


def _pack(images: Sequence, species: list[str]):
    index = {s: i for i, s in enumerate(species)}
    n = np.array([len(a) for a in images], dtype=np.int64)
    offsets = np.zeros(len(images) + 1, dtype=np.int64)
    np.cumsum(n, out=offsets[1:])
    positions = np.concatenate([a.positions for a in images]).astype(float)
    cells = np.array([np.array(a.cell[:]) for a in images], dtype=float).reshape(len(images), 3, 3)
    pbcs = np.array([a.pbc for a in images], dtype=bool).reshape(len(images), 3)
    sym = np.array([index[s] for a in images for s in a.get_chemical_symbols()], dtype=np.int32)
    return positions, cells, pbcs, offsets, sym


def pool_fingerprints(images: Sequence, setups: dict, species: list[str] | None = None,
                      batch_atoms: int = 20000) -> np.ndarray:
    """One feature vector per structure (see the module docstring).

    Parameters
    ----------
    images : sequence of ase.Atoms
    setups : dict of str to Descriptor
        A descriptor setup for every species of ``images``.
    species : list of str, optional
        Species order (default: order of first appearance).
    batch_atoms : int
        Structures are featurised in batches of about this many atoms.

    Returns
    -------
    ndarray of shape (n_structures, n_species * (2 * n_features + 1))
        Dimensionless (z-scores and fractions).
    """
    from anncli.descriptors.batch import featurize_batch
    from anncli.validation.selection import structure_fingerprints

    species = species or _species_order(images)
    feats: dict[str, list] = {s: [] for s in species}
    owner: dict[str, list] = {s: [] for s in species}
    start = 0
    while start < len(images):
        stop, n_atoms = start, 0
        while stop < len(images) and (stop == start or n_atoms + len(images[stop]) <= batch_atoms):
            n_atoms += len(images[stop])
            stop += 1
        batch = images[start:stop]
        arrays = _pack(batch, species)
        labels = [f"candidate {start + k}" for k in range(len(batch))]
        bf = featurize_batch(*arrays, species, setups, labels=labels)
        for s in species:
            sf = bf.species[s]
            feats[s].append(sf.features)
            owner[s].append(start + np.searchsorted(arrays[3], sf.centers, side="right") - 1)
        start = stop
    n = len(images)
    x = {s: np.concatenate(feats[s]) if feats[s] else np.zeros((0, setups[s].n_features)) for s in species}
    idx = {s: np.concatenate(owner[s]).astype(np.int64) if owner[s] else np.zeros(0, np.int64) for s in species}
    mean = {s: x[s].mean(axis=0) if len(x[s]) else np.zeros(x[s].shape[1]) for s in species}
    std = {s: x[s].std(axis=0) if len(x[s]) else np.ones(x[s].shape[1]) for s in species}
    base = structure_fingerprints(x, idx, n, mean, std, species)
    spread = []
    for s in species:
        sd = np.where(std[s] > 1e-10, std[s], 1.0)
        z = (x[s] - mean[s]) / sd
        total = np.zeros((n, z.shape[1]))
        total2 = np.zeros((n, z.shape[1]))
        np.add.at(total, idx[s], z)
        np.add.at(total2, idx[s], z * z)
        count = np.bincount(idx[s], minlength=n)[:, None].astype(float)
        safe = np.where(count > 0, count, 1.0)
        var = np.maximum(total2 / safe - (total / safe) ** 2, 0.0)
        spread.append(np.sqrt(var))
    return np.hstack([base, *spread])


def select(x: np.ndarray, n: int, keep: Sequence[int] = ()) -> np.ndarray:
    """Farthest-point sampling of ``n`` rows of ``x``, starting from the rows ``keep`` (or row 0).

    Returns
    -------
    ndarray of int64
        Row indices in the order chosen (``keep`` first).
    """
    from anncli.validation.selection import farthest_point_sampling

    return farthest_point_sampling(x, n, first=list(keep) if len(keep) else 0)


def covering_radius(x: np.ndarray, chosen: Sequence[int]) -> float:
    """Largest distance of a row of ``x`` to its nearest chosen row (0 if all are chosen)."""
    x = np.asarray(x, dtype=float)
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen) == 0:
        return float("inf")
    d = np.full(len(x), np.inf)
    for i in chosen:
        np.minimum(d, np.linalg.norm(x - x[i], axis=1), out=d)
    return float(d.max())


def random_covering_radius(x: np.ndarray, n: int, keep: Sequence[int], seed: int, repeats: int = 20) -> float:
    """Mean covering radius of ``repeats`` random selections of ``n`` rows that include ``keep``.

    The baseline farthest-point sampling is compared with in the summary.
    """
    rng = np.random.default_rng([int(seed), 1000])
    keep = list(keep)
    rest = np.setdiff1d(np.arange(len(x)), keep)
    k = max(0, min(n - len(keep), len(rest)))
    radii = [covering_radius(x, keep + list(rng.choice(rest, size=k, replace=False))) for _ in range(repeats)]
    return float(np.mean(radii))


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Coordinates of the rows of ``x`` on its first two principal axes (signs fixed), shape (n, 2)."""
    x = np.asarray(x, dtype=float)
    c = x - x.mean(axis=0)
    if len(x) < 2 or not np.any(c):
        return np.zeros((len(x), 2))
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)])
    proj = c @ (axes * signs[:, None]).T
    if proj.shape[1] < 2:
        proj = np.hstack([proj, np.zeros((len(x), 1))])
    return proj
