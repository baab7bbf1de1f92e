"""The set of per-species networks that makes a potential: E = sum_i ANN_{t_i}(G_i).

This module owns the flat parameter vector shared by all species, the scatter-add of atomic
outputs into structures (one ``np.bincount`` per species) and the energy loss with its
gradient.  Everything here works in *normalised* units: inputs are z-scored features and the
output of a network is a normalised atomic energy (see anncli.training.normalization).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from anncli.network.mlp import Network, init_network_params

logger = logging.getLogger(__name__)


class RowCache(NamedTuple):
    """A forward cache of some rows of a species' batch features (``x[rows]``)."""

    rows: np.ndarray
    cache: tuple


@dataclass
class ForceBatch:
    """Reference forces and feature derivatives of the atoms of a :class:`Batch`.

    Atoms are numbered 0..n_atoms-1 in the batch (structures in batch order, atoms in file
    order).  Forces are normalised like energies: ``energy_scale * F`` (F in eV/Å).  The
    derivatives are not copied per batch: ``rows`` select rows of the shared ``pairs`` (see
    :mod:`anncli.network._force_kernels` for the numbering).

    Attributes
    ----------
    reference : ndarray of shape (n_atoms, 3)
        Normalised reference forces (0 where a structure has none).
    coef : ndarray of shape (n_atoms,)
        Weight of each atom's squared force error, ``force_weight * w_s / (3 N_s)``
        (0 for atoms of structures without forces).
    atom_structure : ndarray of shape (n_atoms,), int64
        Batch structure of every atom.
    ids : ndarray of shape (k,), int64
        Structures of the batch (indices into ``factor``).
    factor : ndarray of shape (n_s,)
        Force-loss factor of every structure of the training set, updated in place every
        epoch (``force_fraction``; 0 = forces not counted this epoch).
    pairs : dict of str to PairData
    rows : dict of str to ndarray of shape (n_a,), int64
        Row of ``pairs[sym]`` of every row of ``Batch.x[sym]``.
    row_start : dict of str to ndarray of shape (k + 1,), int64
        Rows of batch structure s: ``row_start[s]:row_start[s + 1]``.
    shift : ndarray of shape (k,), int64
        Atom numbers of ``pairs`` plus ``shift[s]`` are batch atoms.
    scale : dict of str to ndarray of shape (n_features,)
        Inverse feature standard deviations (raw -> normalised derivatives).
    """

    reference: np.ndarray
    coef: np.ndarray
    atom_structure: np.ndarray
    ids: np.ndarray
    factor: np.ndarray
    pairs: dict
    rows: dict
    row_start: dict
    shift: np.ndarray
    scale: dict

    @property
    def n_atoms(self) -> int:
        return len(self.coef)

    def kernel_arrays(self, sym: str) -> tuple:
        """The pair-data arrays of ``sym`` in the argument order of the kernels."""
        pd = self.pairs[sym]
        return pd.kernel_arrays()


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
    forces : ForceBatch or None
        Present when the loss includes forces (force training).
    """

    ids: np.ndarray
    n_atoms: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    x: dict
    sidx: dict
    forces: ForceBatch | None = None

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

    def loss_grad(self, batch: Batch, grad: np.ndarray | None = None,
                  force_stats: list | None = None):
        """Weighted energy loss of ``batch`` and its gradient (sums, not means).

        ``loss = sum_s w_s * r_s**2 / 2`` with ``r_s = p_s - t_s`` (per-atom, normalised),
        plus the force term when ``batch.forces`` is set (see :class:`ForceBatch`).
        ``force_stats``, if given, is a list ``[sum of squared force residuals, count]``
        (normalised units, atoms with reference forces) that this call adds to.

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,)
            Added to ``grad`` when given.
        residuals : ndarray of shape (k,)
        """
        if grad is None:
            grad = np.zeros(self.n_params)
        fb = batch.forces
        active = None if fb is None else fb.factor[fb.ids] > 0
        all_forces = fb is not None and bool(active.all())
        total = np.zeros(batch.size)
        caches = {}
        for sym, x in batch.x.items():
            if len(x):
                net = self.nets[sym]
                y, caches[sym] = net.forward_curvature(x) if all_forces else net.forward(x, keep=True)
                total += np.bincount(batch.sidx[sym], y, minlength=batch.size)
        r = total / batch.n_atoms - batch.targets
        loss = 0.5 * float(np.dot(batch.weights * r, r))
        dp = batch.weights * r / batch.n_atoms
        for sym, cache in caches.items():
            self.nets[sym].backward(cache, dp[batch.sidx[sym]], grad[self.offsets[sym]])
        if fb is not None and active.any():
            if not all_forces:  # the force terms of a few structures: curvature of their rows only
                caches = self._active_caches(batch, active)
            loss += self._force_loss_grad(fb, caches, grad, force_stats, active)
        return loss, grad, r

    def _active_caches(self, batch: Batch, active: np.ndarray) -> dict:
        """Curvature caches of the rows of the ``active`` batch structures, as :class:`RowCache`."""
        out = {}
        for sym, x in batch.x.items():
            rows = np.flatnonzero(active[batch.sidx[sym]])
            if len(rows):
                out[sym] = RowCache(rows, self.nets[sym].forward_curvature(x[rows])[1])
        return out

    def _input_gradients(self, fb: ForceBatch, caches: dict) -> dict:
        """dE/d(raw feature) of every batch row (0 for rows left out of ``caches``)."""
        out = {}
        for sym, cache in caches.items():
            if isinstance(cache, RowCache):
                rows, cache = cache
                h = np.zeros((len(fb.rows[sym]), self.nets[sym].n_inputs))
                h[rows] = self.nets[sym].input_gradient_from_cache(cache) * fb.scale[sym]
            else:
                h = np.ascontiguousarray(self.nets[sym].input_gradient_from_cache(cache) * fb.scale[sym])
            out[sym] = h
        return out

    def forces(self, fb: ForceBatch, caches: dict, active: np.ndarray | None = None) -> np.ndarray:
        """Normalised forces ``-d(sum of outputs)/dR`` of the batch atoms, shape (n_atoms, 3).

        ``caches`` are the forward caches of the batch's species (``Batch.x`` order), or
        :class:`RowCache` objects for caches of some rows only; ``active`` (bool per batch
        structure, default all) limits the work to those structures (the rows of the others
        stay 0).
        """
        from anncli.network import _force_kernels as _k

        if active is None:
            active = np.ones(len(fb.ids), dtype=np.bool_)
        out = np.zeros((fb.n_atoms, 3))
        for sym, h in self._input_gradients(fb, caches).items():
            _k.pair_forces_nb(h, fb.rows[sym], fb.row_start[sym], fb.shift, active,
                              *fb.kernel_arrays(sym), out)
        return out

    def force_residuals(self, batch: Batch, active: np.ndarray | None = None) -> np.ndarray:
        """Normalised force residuals F - F_ref of every batch atom, shape (n_atoms, 3).

        Rows of atoms without reference forces (``batch.forces.coef == 0``), and with ``active``
        (bool per batch structure) those of the other structures, are meaningless.
        """
        caches = {sym: self.nets[sym].forward(x, keep=True)[1] for sym, x in batch.x.items() if len(x)}
        return self.forces(batch.forces, caches, active) - batch.forces.reference

    def _force_loss_grad(self, fb: ForceBatch, caches: dict, grad: np.ndarray,
                         stats: list | None, active: np.ndarray) -> float:
        """Add ``sum_j c_j |F_j - F_ref_j|^2 / 2`` to the gradient; return its value.

        ``c_j`` is ``coef_j`` times the structure's factor of this epoch (``force_fraction``);
        only the ``active`` batch structures (factor > 0) are computed.
        With F_j = -sum_k g_k . d x_k / d R_j (g: input gradient of the network of atom k),
        the gradient is -sum_k d/dparams (u_k . g_k) with u_k = sum_j c_j r_j . dx_k/dR_j.
        """
        from anncli.network import _force_kernels as _k

        coef = fb.coef * fb.factor[fb.ids][fb.atom_structure]
        res = self.forces(fb, caches, active) - fb.reference
        if stats is not None:
            have = res[coef > 0]
            stats[0] += float(np.einsum("ij,ij->", have, have))
            stats[1] += have.size
        adj = coef[:, None] * res
        for sym, cache in caches.items():
            u = np.empty((len(fb.rows[sym]), self.nets[sym].n_inputs))
            _k.contract_pairs_nb(adj, fb.rows[sym], fb.row_start[sym], fb.shift, active,
                                 *fb.kernel_arrays(sym), u)
            u *= fb.scale[sym]
            if isinstance(cache, RowCache):
                rows, cache = cache
                u = u[rows]
            self.nets[sym].force_backward(cache, -u, grad[self.offsets[sym]])
        return 0.5 * float(np.einsum("i,ij,ij->", coef, res, res))

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
