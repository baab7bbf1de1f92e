"""Order in which online methods (Adam, SGD, EKF) visit the training structures each epoch.

Modes: ``sequential`` (file order every epoch), ``random`` (a fresh permutation each epoch,
i.e. without replacement; ænet draws with replacement), ``error`` (n_train draws with
replacement, probability proportional to the structure's |error| of the previous epoch;
ænet biases by rank instead) and ``energy`` (n_train draws with replacement, Boltzmann
weights exp(-(e_s - e_min)/k_B T) of the per-atom cohesive energy e_s at ``temperature`` K).
All draws come from the run's seeded generator, whose state is checkpointed.
"""

from __future__ import annotations

import numpy as np

K_BOLTZMANN_EV = 8.617333262e-5  # eV/K

MODES = ("sequential", "random", "error", "energy")


def epoch_order(mode: str, train_ids: np.ndarray, rng: np.random.Generator, *,
                errors: np.ndarray | None = None, energy_per_atom: np.ndarray | None = None,
                temperature: float = 300.0) -> np.ndarray:
    """Structure indices to visit in one epoch.

    Parameters
    ----------
    mode : {"sequential", "random", "error", "energy"}
    train_ids : ndarray of shape (n,), int64
    rng : numpy Generator
    errors : ndarray of shape (n,), optional
        Last per-structure errors aligned with ``train_ids`` (mode ``error``; uniform if None).
    energy_per_atom : ndarray of shape (n,), eV/atom
        Cohesive energy per atom aligned with ``train_ids`` (mode ``energy``).
    temperature : float, K

    Returns
    -------
    ndarray of shape (n,), int64
    """
    n = len(train_ids)
    if mode == "sequential":
        return train_ids.copy()
    if mode == "random":
        return train_ids[rng.permutation(n)]
    if mode == "error":
        if errors is None:
            return train_ids[rng.permutation(n)]
        w = np.abs(errors) + 1e-12
    elif mode == "energy":
        e = np.asarray(energy_per_atom, dtype=float)
        w = np.exp(-(e - e.min()) / (K_BOLTZMANN_EV * temperature))
    else:
        raise ValueError(f"unknown sampling mode {mode!r}")
    return train_ids[rng.choice(n, size=n, replace=True, p=w / w.sum())]
