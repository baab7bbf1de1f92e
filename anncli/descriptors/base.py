"""Contracts shared by all descriptor families: the neighbour list and the descriptor protocol.

Data layout (all kernels follow it)
-----------------------------------
A *batch* is many structures concatenated: atom ``a`` of the batch has a global index;
``structure_offsets[s]:structure_offsets[s+1]`` are the atoms of structure ``s``.

The neighbour list is CSR over the batch atoms: the neighbours of atom ``i`` are the *pairs*
``p`` in ``offsets[i]:offsets[i+1]``; ``index[p]`` is the batch index of the neighbour atom
(periodic images map to the original atom, including images of ``i`` itself) and
``vectors[p] = R_j + T - R_i`` (Å) its displacement; ``distances[p] = |vectors[p]|``.
Pairs with ``1e-12 < d <= cutoff`` are listed (ænet's convention).

Every feature of a central atom ``i`` depends only on the displacement vectors of its pairs, so
its derivatives are stored per pair: ``dG[q, f, :] = dG_if / d vectors[p]`` where ``q`` runs over
the pairs of the selected centres, centre by centre, in neighbour-list order.  Then
``dG_i/dR_j = sum over pairs p of i with index[p] == j of dG[p]`` and ``dG_i/dR_i = -sum_p dG[p]``.
Forces and the virial follow from per-pair vectors ``g_p = sum_f dE/dG_if * dG_if/d vectors[p]``:
``F_j -= g_p``, ``F_i += g_p``, ``virial -= outer(vectors[p], g_p)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class NeighborList:
    """CSR neighbour list of a batch of atoms (see the module docstring).

    Attributes
    ----------
    offsets : ndarray of shape (n_atoms + 1,), int64
    index : ndarray of shape (n_pairs,), int64
        Batch index of the neighbour atom of each pair.
    vectors : ndarray of shape (n_pairs, 3), float64, Å
        ``R_j + T - R_i``.
    distances : ndarray of shape (n_pairs,), float64, Å
    cutoff : float, Å
    coincident : ndarray of shape (n,), int64, or None
        Batch indices of the atoms that sit within 1e-12 Å of another atom (a duplicated
        atom line); those pairs are not listed.  None if unknown.
    """

    offsets: np.ndarray
    index: np.ndarray
    vectors: np.ndarray
    distances: np.ndarray
    cutoff: float
    coincident: np.ndarray | None = None

    @property
    def n_atoms(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_pairs(self) -> int:
        return len(self.index)

    def counts(self) -> np.ndarray:
        """Number of neighbours of every atom, int64 array of shape (n_atoms,)."""
        return np.diff(self.offsets)


class Descriptor(Protocol):
    """What every descriptor setup (one per central species) provides.

    Attributes
    ----------
    kind : str
        Registry name, e.g. ``"chebyshev"`` or ``"behler2011"``.
    central : str
        Central species symbol.
    env : list of str
        Environment species; ``env_types`` arrays index into this list.
    n_features : int
    cutoff : float
        Largest cutoff of the setup, Å.
    """

    kind: str
    central: str
    env: list[str]
    n_features: int
    cutoff: float

    def to_dict(self) -> dict:
        """JSON-serialisable parameters; ``from_dict`` of the family rebuilds the setup."""

    def features(self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray) -> np.ndarray:
        """Features of the atoms ``centers`` (int64 batch indices).

        ``env_types[a]`` is the position of atom ``a``'s species in ``env`` (int32, -1 if
        absent).  Returns an array of shape (len(centers), n_features).
        """

    def features_and_derivatives(
        self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features and per-pair derivatives ``dG`` of shape (n_center_pairs, n_features, 3)."""

    def pair_gradients(
        self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray, dE_dG: np.ndarray
    ) -> np.ndarray:
        """Per-pair vectors ``g_q = sum_f dE_dG[c, f] * dG_cf/d vectors[p]``, shape (n_center_pairs, 3).

        Computed without storing the full derivative array (used for forces and stress).
        ``dE_dG`` of shape (n_centers, n_columns, n_features) gives one vector per column,
        shape (n_columns, n_center_pairs, 3) (committee members).
        """
