"""Normalisation statistics of the training split (features and energies).

This module owns how the normalisation is computed: features are z-scored per species with
the mean and population standard deviation over the atoms of the *training* structures only
(features with std <= 1e-10 become 0, as in ænet); min/max of the raw training features are
kept for extrapolation warnings.  Energies are per-atom cohesive energies mapped to
normalised targets ``scale * (E_coh/N - shift)``:

* ``minmax`` (default, ænet's ``ts_normalize``): shift = (E_max + E_min)/2,
  scale = 2/(E_max - E_min) over the training structures, so targets span [-1, 1];
* ``std``: shift = mean, scale = 1/std of the training per-atom energies.
"""

from __future__ import annotations

import logging

import numpy as np

from anncli.exceptions import DataError
from anncli.training.data import Normalization, TrainingData, raw_feature_chunks

logger = logging.getLogger(__name__)


def compute_normalization(data: TrainingData, train_ids: np.ndarray,
                          energy_scaling: str = "minmax") -> Normalization:
    """Statistics of the training structures ``train_ids``.

    Parameters
    ----------
    data : TrainingData
        Features in memory or (streamed) read chunk by chunk from the file.
    train_ids : ndarray of shape (n_train,), int64
        Sorted structure indices of the training split.
    energy_scaling : {"minmax", "std"}

    Raises
    ------
    DataError
        A species has no atom in the training split.
    """
    train_ids = np.sort(np.asarray(train_ids, dtype=np.int64))
    mean, std, fmin, fmax = {}, {}, {}, {}
    for sym in data.species:
        n_f = data.n_features[sym]
        count = 0
        total = np.zeros(n_f)
        lo = np.full(n_f, np.inf)
        hi = np.full(n_f, -np.inf)
        for x in raw_feature_chunks(data, sym, train_ids):
            if len(x) == 0:
                continue
            count += len(x)
            total += x.sum(axis=0)
            np.minimum(lo, x.min(axis=0), out=lo)
            np.maximum(hi, x.max(axis=0), out=hi)
        if count == 0:
            raise DataError(
                f"{data.path}: species {sym} has no atom in the training split; "
                "a network cannot be trained for it (add structures with it or change the split)"
            )
        m = total / count
        sq = np.zeros(n_f)
        for x in raw_feature_chunks(data, sym, train_ids):  # two passes: exact variance
            if len(x):
                d = x - m
                sq += np.einsum("ij,ij->j", d, d)
        mean[sym], std[sym] = m, np.sqrt(sq / count)
        fmin[sym], fmax[sym] = lo, hi
        n_const = int(np.sum(std[sym] <= 1e-10))
        if n_const:
            logger.warning("species %s: %d feature(s) constant over the training split; "
                           "they are set to 0", sym, n_const)
    e = data.energies[train_ids] / data.n_atoms[train_ids]
    if energy_scaling == "minmax":
        e_min, e_max = float(e.min()), float(e.max())
        shift = 0.5 * (e_max + e_min)
        scale = 2.0 / (e_max - e_min) if e_max > e_min else 1.0
    elif energy_scaling == "std":
        shift = float(e.mean())
        sd = float(e.std())
        scale = 1.0 / sd if sd > 0 else 1.0
    else:
        raise ValueError(f"unknown energy scaling {energy_scaling!r}")
    logger.info("energy normalisation (%s): shift %.6f eV/atom, scale %.6g 1/eV",
                energy_scaling, shift, scale)
    return Normalization(mean, std, fmin, fmax, shift, scale)
