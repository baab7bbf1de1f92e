"""What an optimiser sees during an epoch: losses, gradients and mini-batches.

This module owns the definition of the training loss

    L(w) = sum_s c_s (p_s - t_s)^2 / 2 / sum_s c_s  +  l2/2 * |W|^2

(p_s, t_s: normalised per-atom energies; c_s: structure weights; W: weights, not biases) and
the evaluation of per-structure residuals on the training and validation sets.

Sums over a set are sums of per-block partials added in block order
(:mod:`anncli.training.shards`): under MPI every rank computes the partials of its own blocks,
and :meth:`~anncli.parallel.mpi.Comm.gather_arrays` hands all of them to every rank, so each
rank (and a serial run) adds the same numbers in the same order.  Mini-batches (Adam, SGD) are
split by owner: every rank computes the part of the batch it holds, and the ranks' partials
are added in rank order (the same on every rank; equal to the serial sum up to rounding).
"""

from __future__ import annotations

import logging

import numpy as np

from anncli.network.species import Batch, SpeciesNetworks
from anncli.parallel.mpi import Comm
from anncli.training.sampling import epoch_order
from anncli.training.shards import Shards, make_shards, ordered_sum

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
    comm : Comm, optional
        The MPI ranks (default: serial).
    shards : Shards, optional
        The blocks and this rank's share (default: :func:`make_shards` for ``comm``); the
        source must hold the data of ``shards.owned``.
    """

    def __init__(self, nets: SpeciesNetworks, source, train_ids: np.ndarray,
                 val_ids: np.ndarray, rng: np.random.Generator, *, batch_size: int = 32,
                 sampling: str = "random", l2: float = 0.0, cache_full: bool = True,
                 temperature: float = 300.0, energy_scale: float = 1.0,
                 comm: Comm | None = None, shards: Shards | None = None) -> None:
        self.nets = nets
        self.comm = comm if comm is not None else Comm(None)
        self.shards = shards if shards is not None else make_shards(
            train_ids, val_ids, len(source.weights), self.comm.rank, self.comm.size)
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
            for which in ("train", "validation"):
                self._full[which] = [source.batch(b) for b in self._units(which)]
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

    def _units(self, which: str) -> list[np.ndarray]:
        """This rank's blocks of ``which``, each cut into pieces of at most the source's
        ``chunk`` structures (a fixed size too: the pieces do not depend on the ranks)."""
        chunk = int(getattr(self.source, "chunk", 0) or 0) or None
        return [b[a:a + chunk] if chunk else b
                for b in self.shards.my_blocks(which) for a in range(0, len(b), chunk or len(b))]

    def _chunks(self, which: str):
        """This rank's pieces of ``which`` as batches (held, or read now)."""
        if which in self._full:
            return self._full[which]
        return (self.source.batch(b) for b in self._units(which))

    def _gather(self, which: str, per_block) -> list[np.ndarray]:
        """``per_block(batch)`` (a list of arrays) of every block of ``which``, in block order."""
        def local() -> list[np.ndarray]:
            out = []
            for batch in self._chunks(which):
                out.extend(per_block(batch))
                del batch  # streamed: let it go before the next one is made
            return out

        return self.comm.gather_arrays(local)

    def predictions(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Normalised per-atom predictions and targets of ``train``/``validation``, in set order."""
        parts = self._gather(which, lambda b: [self.nets.predict(b), b.targets])
        if not parts:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(parts[0::2]), np.concatenate(parts[1::2])

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

        def block(batch: Batch) -> list[np.ndarray]:
            stats = [0.0, 0]
            part, grad, r = self.nets.loss_grad(batch, None, stats)
            return [np.concatenate([[part, stats[0], stats[1]], grad]), r]

        parts = self._gather("train", block)
        total = ordered_sum(parts[0::2])
        loss = float(total[0])
        grad = total[3:].copy()
        loss /= self.weight_total
        grad /= self.weight_total
        loss += self._l2(x, grad)
        self._last = (np.array(x, copy=True), np.concatenate(parts[1::2]),
                      [float(total[1]), int(total[2])])
        return loss, grad

    def batch_loss_grad(self, x: np.ndarray, batch) -> tuple[float, np.ndarray]:
        """Loss and gradient of one mini-batch (weighted mean over its structures + L2).

        ``batch``: a :class:`Batch` (one rank), or under MPI the batch's structure ids, of
        which every rank computes those it holds.
        """
        self._set(x)
        if isinstance(batch, Batch):
            loss, grad, _ = self.nets.loss_grad(batch, force_stats=self._batch_force_stats)
            wsum = float(batch.weights.sum())
        else:
            ids = np.asarray(batch, dtype=np.int64)

            def local() -> list[np.ndarray]:
                mine = ids[self.shards.owned[ids]]
                if len(mine) == 0:
                    return []
                stats = [0.0, 0]
                part, g, _ = self.nets.loss_grad(self.source.batch(mine), force_stats=stats)
                return [np.concatenate([[part, stats[0], stats[1]], g])]

            parts = self.comm.gather_arrays(local)
            total = ordered_sum(parts)
            loss, grad = float(total[0]), total[3:].copy()
            self._batch_force_stats[0] += float(total[1])
            self._batch_force_stats[1] += int(total[2])
            wsum = float(self.source.weights[ids].sum())
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
            ids = order[start:start + self.batch_size]
            yield ids if self.comm.parallel else self.source.batch(ids)

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
            def block(b: Batch) -> list[np.ndarray]:
                fb = b.forces
                active = fb.factor[fb.ids] > 0 if partial else None
                keep = fb.coef > 0
                if partial:
                    keep &= active[fb.atom_structure]
                r = self.nets.force_residuals(b, active)[keep]
                return [np.array([float(np.einsum("ij,ij->", r, r)), r.size])]

            parts = self._gather(which, block)
            total = ordered_sum(parts) if parts else np.zeros(2)
            sq, n = float(total[0]), int(total[1])
        return float(np.sqrt(sq / n)) / self.energy_scale * 1000.0 if n else float("nan")

    def structure_force_rmse(self, which: str) -> np.ndarray:
        """RMS force-component error (eV/Å) of every structure of ``train``/``validation``
        (NaN for structures without reference forces), in the order of the set's ids."""
        def block(b: Batch) -> list[np.ndarray]:
            r = self.nets.force_residuals(b)
            n = b.n_atoms.astype(np.int64)
            starts = np.concatenate([[0], np.cumsum(n)[:-1]])
            sq = np.add.reduceat(np.einsum("ij,ij->i", r, r), starts) / (3 * n)
            has = np.add.reduceat((b.forces.coef > 0).astype(np.int64), starts) > 0
            return [np.where(has, np.sqrt(sq) / self.energy_scale, np.nan)]

        out = self._gather(which, block)
        return np.concatenate(out) if out else np.zeros(0)

    def residuals(self, which: str) -> np.ndarray:
        """Per-structure residuals p - t (normalised per-atom units) of ``train``/``validation``.

        For the training set, the residuals of the last loss evaluation are reused when it was
        at the current parameters.
        """
        if which == "train" and self._is_current():
            return self._last[1]
        out = self._gather(which, lambda b: [self.nets.predict(b) - b.targets])
        return np.concatenate(out) if out else np.zeros(0)
