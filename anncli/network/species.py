"""The set of per-species networks that makes a potential: E = sum_i ANN_{t_i}(G_i).

This module owns the flat parameter vector shared by all species, the scatter-add of atomic
outputs into structures (one ``np.bincount`` per species) and the energy loss with its
gradient.  Everything here works in *normalised* units: inputs are z-scored features and the
output of a network is a normalised atomic energy (see anncli.training.normalization).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from anncli.network.mlp import Network, init_network_params

logger = logging.getLogger(__name__)


@dataclass
class Batch:
    """Structures prepared for the networks (normalised units).

    Attributes
    ----------
    ids : ndarray of shape (k,), int64
        Structure indices in the training-set file.
    n_atoms : ndarray of shape (k,), float64
    targets : ndarray of shape (k,)
        Normalised per-atom targets ``scale * (E_coh / N - shift)``.
    weights : ndarray of shape (k,)
        Per-structure loss weights.
    x : dict of str to ndarray of shape (n_a, n_features)
        Normalised features of the atoms of each species.
    sidx : dict of str to ndarray of shape (n_a,), int64
        Position (0..k-1) in this batch of the structure of each atom.
    """

    ids: np.ndarray
    n_atoms: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    x: dict
    sidx: dict

    @property
    def size(self) -> int:
        return len(self.ids)


class SpeciesNetworks:
    """One :class:`Network` per species, parameters in one flat vector.

    Parameters
    ----------
    species : list of str
    sizes : dict of str to list of int
        Layer sizes of each species' network (input ... 1).
    activations : dict of str to list of str
        Activations of each species' network (last is ``linear``).
    """

    def __init__(self, species: list[str], sizes: dict, activations: dict) -> None:
        self.species = list(species)
        self.nets: dict[str, Network] = {}
        self.offsets: dict[str, slice] = {}
        pos = 0
        for sym in self.species:
            n = Network.count_params(sizes[sym])
            self.offsets[sym] = slice(pos, pos + n)
            pos += n
        self.n_params = pos
        self.params = np.zeros(pos)
        for sym in self.species:
            self.nets[sym] = Network(list(sizes[sym]), list(activations[sym]),
                                     self.params[self.offsets[sym]])
        # mask of weights (not biases) for L2 regularisation
        self.weight_mask = np.zeros(pos, dtype=bool)
        for sym in self.species:
            base = self.offsets[sym].start
            for ws, _ in self.nets[sym].slices:
                self.weight_mask[base + ws.start:base + ws.stop] = True

    def set_params(self, params: np.ndarray) -> None:
        """Copy ``params`` (shape (n_params,)) into the networks."""
        self.params[...] = params

    def initialize(self, rng: np.random.Generator) -> None:
        """Random initial weights of every network (see :func:`init_network_params`)."""
        for sym in self.species:
            init_network_params(self.nets[sym], rng)

    def architecture(self) -> dict:
        """Layer sizes and activations per species (JSON-serialisable)."""
        return {sym: {"sizes": net.sizes, "activations": net.activations}
                for sym, net in self.nets.items()}

    # ------------------------------------------------------------------ evaluation
    def predict(self, batch: Batch) -> np.ndarray:
        """Normalised per-atom energy of every structure of ``batch``, shape (k,)."""
        total = np.zeros(batch.size)
        for sym, x in batch.x.items():
            if len(x):
                total += np.bincount(batch.sidx[sym], self.nets[sym].forward(x),
                                     minlength=batch.size)
        return total / batch.n_atoms

    def loss_grad(self, batch: Batch, grad: np.ndarray | None = None):
        """Weighted energy loss of ``batch`` and its gradient (sums, not means).

        ``loss = sum_s w_s * r_s**2 / 2`` with ``r_s = p_s - t_s`` (per-atom, normalised).

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,)
            Added to ``grad`` when given.
        residuals : ndarray of shape (k,)
        """
        if grad is None:
            grad = np.zeros(self.n_params)
        total = np.zeros(batch.size)
        caches = {}
        for sym, x in batch.x.items():
            if len(x):
                y, caches[sym] = self.nets[sym].forward(x, keep=True)
                total += np.bincount(batch.sidx[sym], y, minlength=batch.size)
        r = total / batch.n_atoms - batch.targets
        loss = 0.5 * float(np.dot(batch.weights * r, r))
        dp = batch.weights * r / batch.n_atoms
        for sym, cache in caches.items():
            self.nets[sym].backward(cache, dp[batch.sidx[sym]], grad[self.offsets[sym]])
        return loss, grad, r

    def jacobian(self, batch: Batch):
        """Predictions and their parameter Jacobian, for Kalman filters.

        Returns
        -------
        p : ndarray of shape (k,)
            Normalised per-atom energies.
        jac : ndarray of shape (k, n_params)
            d p_s / d params.
        """
        k = batch.size
        total = np.zeros(k)
        jac = np.zeros((k, self.n_params))
        for sym, x in batch.x.items():
            if not len(x):
                continue
            net = self.nets[sym]
            y, cache = net.forward(x, keep=True)
            sidx = batch.sidx[sym]
            total += np.bincount(sidx, y, minlength=k)
            per_atom = net.per_sample_jacobian(cache)
            onehot = (sidx[None, :] == np.arange(k)[:, None]).astype(float)
            jac[:, self.offsets[sym]] = onehot @ per_atom
        jac /= batch.n_atoms[:, None]
        return total / batch.n_atoms, jac
