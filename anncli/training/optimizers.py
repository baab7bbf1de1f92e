"""Training methods: L-BFGS (batch), Adam and SGD (mini-batch), extended Kalman filter.

This module owns the optimiser interface used by the trainer: ``run_epoch(params, ctx)``
updates the flat parameter vector in place for one epoch, ``end_epoch(epoch, metric)``
advances learning-rate schedules, ``state_dict()``/``load_state_dict()`` hold everything
needed for an exact restart (moments, L-BFGS pairs, Kalman P, schedule counters).

``ctx`` (an :class:`anncli.training.trainer.EpochContext`) provides ``full_loss_grad(x)``
(training-set loss incl. L2, averaged over the structure weights), ``batches()`` (the epoch's
mini-batches, in the order drawn by the sampling mode), ``batch_loss_grad(x, batch)`` and
``nets`` (for Kalman Jacobians).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from anncli.training.lbfgs import LBFGS

logger = logging.getLogger(__name__)


class Schedule:
    """Learning-rate schedule: ``none``, ``exponential`` (lr0·decay^epoch) or ``plateau``
    (lr·factor after ``patience`` epochs without a relative improvement of the validation
    RMSE by ``threshold``), never below ``min_lr``."""

    def __init__(self, lr: float, kind: str = "none", decay: float = 0.99, factor: float = 0.5,
                 patience: int = 10, threshold: float = 1e-3, min_lr: float = 0.0) -> None:
        self.lr0 = self.lr = float(lr)
        self.kind, self.decay, self.factor = kind, decay, factor
        self.patience, self.threshold, self.min_lr = patience, threshold, min_lr
        self.best = math.inf
        self.bad = 0

    def end_epoch(self, epoch: int, metric: float) -> None:
        if self.kind == "exponential":
            self.lr = max(self.lr0 * self.decay ** epoch, self.min_lr)
        elif self.kind == "plateau":
            if metric < self.best * (1.0 - self.threshold):
                self.best, self.bad = metric, 0
            else:
                self.bad += 1
                if self.bad > self.patience:
                    new = max(self.lr * self.factor, self.min_lr)
                    if new < self.lr:
                        logger.info("learning rate reduced to %.3g", new)
                    self.lr, self.bad = new, 0

    def state_dict(self) -> dict:
        return {"lr": self.lr, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.best, self.bad = float(state["lr"]), float(state["best"]), int(state["bad"])


class LBFGSMethod:
    """Batch L-BFGS, one iteration per epoch (see :mod:`anncli.training.lbfgs`)."""

    online = False

    def __init__(self, memory: int = 20) -> None:
        self.opt = LBFGS(memory=memory)
        self.n_eval = 0

    def run_epoch(self, params: np.ndarray, ctx) -> None:
        self.n_eval = self.opt.step(params, ctx.full_loss_grad)

    def end_epoch(self, epoch: int, metric: float) -> None:
        pass

    @property
    def converged(self) -> bool:
        return self.opt.converged

    def state_dict(self) -> dict:
        return self.opt.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state)


class AdamMethod:
    """Adam on mini-batches; the gradient is the weighted mean over the batch."""

    online = True
    converged = False

    def __init__(self, n_params: int, learning_rate: float = 1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, schedule: Schedule | None = None):
        self.b1, self.b2, self.eps = beta1, beta2, eps
        self.schedule = schedule or Schedule(learning_rate)
        self.m = np.zeros(n_params)
        self.v = np.zeros(n_params)
        self.t = 0

    def run_epoch(self, params: np.ndarray, ctx) -> None:
        b1, b2 = self.b1, self.b2
        for batch in ctx.batches():
            _, g = ctx.batch_loss_grad(params, batch)
            self.t += 1
            self.m *= b1
            self.m += (1.0 - b1) * g
            self.v *= b2
            self.v += (1.0 - b2) * g * g
            lr_t = self.schedule.lr * math.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
            params -= lr_t * self.m / (np.sqrt(self.v) + self.eps)

    def end_epoch(self, epoch: int, metric: float) -> None:
        self.schedule.end_epoch(epoch, metric)

    def state_dict(self) -> dict:
        return {"m": self.m, "v": self.v, "t": self.t, "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.m = np.array(state["m"], dtype=float)
        self.v = np.array(state["v"], dtype=float)
        self.t = int(state["t"])
        self.schedule.load_state_dict(state["schedule"])


class SGDMethod:
    """Stochastic gradient descent with (heavy-ball) momentum:
    v <- momentum·v - lr·g;  w <- w + v."""

    online = True
    converged = False

    def __init__(self, n_params: int, learning_rate: float = 0.01, momentum: float = 0.9,
                 schedule: Schedule | None = None):
        self.momentum = momentum
        self.schedule = schedule or Schedule(learning_rate)
        self.velocity = np.zeros(n_params)

    def run_epoch(self, params: np.ndarray, ctx) -> None:
        for batch in ctx.batches():
            _, g = ctx.batch_loss_grad(params, batch)
            self.velocity *= self.momentum
            self.velocity -= self.schedule.lr * g
            params += self.velocity

    def end_epoch(self, epoch: int, metric: float) -> None:
        self.schedule.end_epoch(epoch, metric)

    def state_dict(self) -> dict:
        return {"velocity": self.velocity, "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.velocity = np.array(state["velocity"], dtype=float)
        self.schedule.load_state_dict(state["schedule"])


class EKFMethod:
    """Extended Kalman filter (decoupled / block-diagonal P as an option).

    Every mini-batch (``batch_size`` structures; 1 = per-structure updates as in ænet) is one
    measurement vector e = t - p of normalised per-atom energies with Jacobian H (k × n_w).
    With blocks b of the parameter vector:
    A = (λ I + Σ_b H_b P_b H_bᵀ)⁻¹,  K_b = P_b H_bᵀ A,  w_b += K_b e,
    P_b <- (P_b - K_b H_b P_b)/λ + q I,  and the forgetting factor λ <- λ0·λ + 1 - λ0.
    Structure weights and L2 are not used by this method.

    Parameters
    ----------
    n_params : int
    lambda_, lambda0 : float
        Initial forgetting factor and its relaxation constant.
    p0 : float
        Initial P = p0·I.
    process_noise : float
        q.
    block_size : int or None
        Size of the diagonal blocks of P (None: one full matrix).
    """

    online = True
    converged = False

    def __init__(self, n_params: int, lambda_: float = 0.99, lambda0: float = 0.999,
                 p0: float = 100.0, process_noise: float = 0.0,
                 block_size: int | None = None) -> None:
        self.lam, self.lam0, self.q = float(lambda_), float(lambda0), float(process_noise)
        size = n_params if not block_size else int(block_size)
        self.bounds = [(a, min(a + size, n_params)) for a in range(0, n_params, size)]
        self.P = [p0 * np.eye(b - a) for a, b in self.bounds]

    def run_epoch(self, params: np.ndarray, ctx) -> None:
        for batch in ctx.batches():
            p, jac = ctx.nets.jacobian(batch)
            e = batch.targets - p
            k = len(e)
            ph = [P @ jac[:, a:b].T for P, (a, b) in zip(self.P, self.bounds)]
            hph = self.lam * np.eye(k)
            for (a, b), phb in zip(self.bounds, ph):
                hph += jac[:, a:b] @ phb
            amat = np.linalg.inv(hph)
            for j, ((a, b), phb) in enumerate(zip(self.bounds, ph)):
                gain = phb @ amat
                params[a:b] += gain @ e
                P = self.P[j]
                P -= gain @ phb.T
                P /= self.lam
                if self.q:
                    P[np.diag_indices_from(P)] += self.q
            self.lam = self.lam0 * self.lam + 1.0 - self.lam0
        for P in self.P:  # keep P symmetric against round-off drift
            P += P.T
            P *= 0.5

    def end_epoch(self, epoch: int, metric: float) -> None:
        pass

    def state_dict(self) -> dict:
        return {"lambda": self.lam, "P": {str(i): P for i, P in enumerate(self.P)}}

    def load_state_dict(self, state: dict) -> None:
        self.lam = float(state["lambda"])
        self.P = [np.array(state["P"][str(i)], dtype=float) for i in range(len(self.P))]
