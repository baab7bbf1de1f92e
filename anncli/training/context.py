"""What an optimiser sees during an epoch: losses, gradients and mini-batches.

This module owns the definition of the training loss

    L(w) = sum_s c_s (p_s - t_s)^2 / 2 / sum_s c_s  +  l2/2 * |W|^2

(p_s, t_s: normalised per-atom energies; c_s: structure weights; W: weights, not biases) and
the evaluation of per-structure residuals on the training and validation sets.
"""

from __future__ import annotations

import logging

import numpy as np

from anncli.network.species import Batch, SpeciesNetworks
from anncli.training.sampling import epoch_order

logger = logging.getLogger(__name__)


class EpochContext:
    """Losses and batches of one training run.

    Parameters
    ----------
    nets : SpeciesNetworks
        Its ``params`` are the live parameters.
    source : MemorySource or StreamSource
    train_ids, val_ids : ndarray of int64
    rng : numpy Generator
        Draws the sampling order.
    batch_size : int
        Structures per mini-batch (online methods).
    sampling : str
        See :mod:`anncli.training.sampling`.
    l2 : float
    cache_full : bool
        Keep the full-set batches in memory (``memory: load``).
    temperature : float
        Energy-weighted sampling temperature (K).
    energy_scale : float
        Energy normalisation scale (1/eV), to turn targets back into eV/atom.
    """

    def __init__(self, nets: SpeciesNetworks, source, train_ids: np.ndarray,
                 val_ids: np.ndarray, rng: np.random.Generator, *, batch_size: int = 32,
                 sampling: str = "random", l2: float = 0.0, cache_full: bool = True,
                 temperature: float = 300.0, energy_scale: float = 1.0) -> None:
        self.nets = nets
        self.energy_scale = float(energy_scale)
        self.source = source
        self.train_ids = np.asarray(train_ids, dtype=np.int64)
        self.val_ids = np.asarray(val_ids, dtype=np.int64)
        self.rng = rng
        self.batch_size = int(batch_size)
        self.sampling = sampling
        self.l2 = float(l2)
        self.temperature = temperature
        self.weight_total = float(source.weights[self.train_ids].sum())
        self._full = {}
        if cache_full:
            self._full["train"] = list(source.chunks(self.train_ids))
            self._full["validation"] = list(source.chunks(self.val_ids))
        self.train_errors: np.ndarray | None = None  # last per-structure residuals (train)
        self._last: tuple | None = None  # (params, train residuals, [force sq-sum, count])
        self._batch_force_stats = [0.0, 0]  # force residuals of this epoch's mini-batches
        self.n_loss_evals = 0

    def start_epoch(self, epoch: int) -> None:
        """Draw the structures whose forces count in ``epoch`` (``force_fraction`` < 1)."""
        forces = getattr(self.source, "forces", None)
        if forces is not None:
            forces.draw(epoch, self.train_ids)
            self._last = None  # the loss of the previous draw is not this epoch's
        self._batch_force_stats = [0.0, 0]

    def _chunks(self, which: str):
        if which in self._full:
            return self._full[which]
        return self.source.chunks(self.train_ids if which == "train" else self.val_ids)

    def _set(self, x: np.ndarray) -> None:
        if x is not self.nets.params:
            self.nets.params[...] = x

    def _l2(self, x: np.ndarray, grad: np.ndarray) -> float:
        if not self.l2:
            return 0.0
        w = np.where(self.nets.weight_mask, x, 0.0)
        grad += self.l2 * w
        return 0.5 * self.l2 * float(w @ w)

    def full_loss_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Training loss and gradient at parameters ``x`` (the networks are set to ``x``)."""
        self._set(x)
        self.n_loss_evals += 1
        loss = 0.0
        grad = np.zeros(self.nets.n_params)
        res = []
        force_stats = [0.0, 0]
        for batch in self._chunks("train"):
            part, grad, r = self.nets.loss_grad(batch, grad, force_stats)
            loss += part
            res.append(r)
        loss /= self.weight_total
        grad /= self.weight_total
        loss += self._l2(x, grad)
        self._last = (np.array(x, copy=True), np.concatenate(res) if res else np.zeros(0),
                      force_stats)
        return loss, grad

    def batch_loss_grad(self, x: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """Loss and gradient of one mini-batch (weighted mean over its structures + L2)."""
        self._set(x)
        loss, grad, _ = self.nets.loss_grad(batch, force_stats=self._batch_force_stats)
        wsum = float(batch.weights.sum())
        loss /= wsum
        grad /= wsum
        loss += self._l2(x, grad)
        return loss, grad

    def batches(self):
        """Mini-batches of this epoch, in the order drawn by the sampling mode."""
        energy = None
        if self.sampling == "energy":  # E_coh/N - shift (eV/atom); only differences matter
            energy = self.source.targets[self.train_ids] / self.energy_scale
        order = epoch_order(self.sampling, self.train_ids, self.rng, errors=self.train_errors,
                            energy_per_atom=energy, temperature=self.temperature)
        for start in range(0, len(order), self.batch_size):
            yield self.source.batch(order[start:start + self.batch_size])

    def _is_current(self) -> bool:
        """True if the last full training-loss evaluation was at the current parameters."""
        return self._last is not None and np.array_equal(self._last[0], self.nets.params)

    @property
    def has_forces(self) -> bool:
        """True when the loss includes forces (force training)."""
        return getattr(self.source, "forces", None) is not None

    def force_rmse(self, which: str) -> float:
        """RMSE (meV/Å) of the force components of ``train``/``validation`` atoms with forces.

        With ``force_fraction`` < 1 the training RMSE is that of the structures drawn for the
        current epoch (what the loss saw; a full pass would cost what the draw saves).  After an
        epoch of mini-batches (Adam, SGD) it is the RMSE over the epoch's batches, each at the
        parameters of its step, as PyTorch trainers report it: a second force pass over the
        training set would cost about half an epoch.
        """
        partial = which == "train" and getattr(self.source.forces, "fraction", 1.0) < 1.0
        if which == "train" and self._is_current():  # from the last loss evaluation
            sq, n = self._last[2]
        elif which == "train" and self._batch_force_stats[1]:
            sq, n = self._batch_force_stats
        else:
            sq, n = 0.0, 0
            for b in self._chunks(which):
                fb = b.forces
                active = fb.factor[fb.ids] > 0 if partial else None
                keep = fb.coef > 0
                if partial:
                    keep &= active[fb.atom_structure]
                r = self.nets.force_residuals(b, active)[keep]
                sq += float(np.einsum("ij,ij->", r, r))
                n += r.size
        return float(np.sqrt(sq / n)) / self.energy_scale * 1000.0 if n else float("nan")

    def structure_force_rmse(self, which: str) -> np.ndarray:
        """RMS force-component error (eV/Å) of every structure of ``train``/``validation``
        (NaN for structures without reference forces), in the order of the set's ids."""
        out = []
        for b in self._chunks(which):
            r = self.nets.force_residuals(b)
            n = b.n_atoms.astype(np.int64)
            starts = np.concatenate([[0], np.cumsum(n)[:-1]])
            sq = np.add.reduceat(np.einsum("ij,ij->i", r, r), starts) / (3 * n)
            has = np.add.reduceat((b.forces.coef > 0).astype(np.int64), starts) > 0
            out.append(np.where(has, np.sqrt(sq) / self.energy_scale, np.nan))
        return np.concatenate(out) if out else np.zeros(0)

    def residuals(self, which: str) -> np.ndarray:
        """Per-structure residuals p - t (normalised per-atom units) of ``train``/``validation``.

        For the training set, the residuals of the last loss evaluation are reused when it was
        at the current parameters.
        """
        if which == "train" and self._is_current():
            return self._last[1]
        out = [self.nets.predict(b) - b.targets for b in self._chunks(which)]
        return np.concatenate(out) if out else np.zeros(0)
