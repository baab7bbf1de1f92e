"""The epoch loop: errors, learning curve, best model, early stopping, checkpoints, signals.

This module owns the training state (:class:`TrainState`, everything a checkpoint holds) and
:class:`Trainer`, which runs epochs ``state.epoch + 1 .. epochs``.  After every epoch the
training and validation RMSE/MAE (meV/atom) are computed, logged and appended to the learning
curve; the best parameters by validation RMSE are kept.

Stopping: ``epochs`` reached, early stopping, L-BFGS convergence, a file named ``STOP`` in
the working directory (after the current epoch), or SIGINT/SIGTERM: the current epoch is
finished, a checkpoint written and :class:`TrainingInterrupted` raised (exit status
128 + signal number: 130 for SIGINT, 143 for SIGTERM).  A NaN loss raises
:class:`~anncli.exceptions.TrainingError` without overwriting the last good checkpoint.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from anncli.exceptions import AnncliError, TrainingError

logger = logging.getLogger(__name__)

CURVE_COLUMNS = ["epoch", "train_rmse", "train_mae", "val_rmse", "val_mae", "learning_rate",
                 "seconds"]
FORCE_COLUMNS = ["train_force_rmse", "val_force_rmse"]  # meV/Å, with force training only


class TrainingInterrupted(AnncliError):
    """Training stopped by SIGINT/SIGTERM after writing a checkpoint.

    ``exit_code`` is 128 + the signal number (130 for SIGINT, 143 for SIGTERM); resume with
    ``anncli train --resume``.
    """

    def __init__(self, signum: int, checkpoint: Path | None) -> None:
        name = signal.Signals(signum).name
        where = f"; checkpoint {checkpoint} written, continue with --resume" if checkpoint else ""
        super().__init__(f"training interrupted by {name}{where}")
        self.signum = signum
        self.exit_code = 128 + signum


class SignalGuard:
    """Turn SIGINT/SIGTERM into a flag checked after each epoch (main thread only).

    A second SIGINT while the flag is set raises KeyboardInterrupt at once.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict = {}

    def _handler(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        logger.warning("%s received: stopping after the current epoch",
                       signal.Signals(signum).name)
        self.signum = signum

    def __enter__(self) -> "SignalGuard":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclass
class TrainState:
    """Everything needed to continue a run exactly (saved in checkpoints)."""

    epoch: int
    params: np.ndarray
    best_params: np.ndarray
    best_val_rmse: float = math.inf  # the best value of the selection criterion (Trainer.selection)
    best_val_energy_rmse: float = math.inf  # meV/atom, at the best epoch
    best_epoch: int = 0
    bad_epochs: int = 0
    stop_reason: str = ""
    train_errors: np.ndarray | None = None
    last_errors: dict = field(default_factory=dict)


#: Unit of each model-selection criterion (see :class:`Trainer`).
SELECTION_UNITS = {"energy": "meV/atom", "forces": "meV/Å", "loss": "meV"}


def error_stats(residuals: np.ndarray, scale: float) -> tuple[float, float]:
    """RMSE and MAE (meV/atom) of normalised per-atom residuals."""
    if len(residuals) == 0:
        return math.nan, math.nan
    r = residuals / scale * 1000.0
    return float(np.sqrt(np.mean(r * r))), float(np.mean(np.abs(r)))


class Trainer:
    """Runs the epochs of one training.

    Parameters
    ----------
    ctx : EpochContext
    optimizer : LBFGSMethod, AdamMethod, SGDMethod or EKFMethod
    state : TrainState
    energy_scale : float
        1/eV, to report errors in meV/atom.
    epochs : int
        Last epoch to run.
    patience, min_delta : early stopping (None: off; min_delta in the criterion's unit).
    selection : {"energy", "forces", "loss"}
        What "better" means for the best model, early stopping and plateau schedules: the
        validation energy RMSE (meV/atom), force RMSE (meV/Å), or the validation loss that
        training minimises, ``sqrt(E_rmse**2 + force_weight * F_rmse**2)`` (meV).
    force_weight : float, Å²
        The force weight of the loss (for ``selection="loss"``).
    checkpoint_every : int
    log_every : int
    curve_writer : callable(row: dict)
        Appends one learning-curve row.
    save_checkpoint : callable(state) -> Path
        Writes the whole state (and the best model).
    stop_file : Path
    agree_stop : callable(found: bool, signum: int or None) -> (bool, int or None), optional
        Under MPI: makes every rank take the same decision after an epoch (rank 0's STOP
        file, a signal received by any rank).  Default: unchanged.
    """

    def __init__(self, ctx, optimizer, state: TrainState, *, energy_scale: float, epochs: int,
                 patience: int | None, min_delta: float, checkpoint_every: int, log_every: int,
                 curve_writer: Callable[[dict], None], save_checkpoint: Callable[..., Path],
                 stop_file: Path = Path("STOP"), selection: str = "energy", force_weight: float = 0.0,
                 agree_stop: Callable[[bool, int | None], tuple[bool, int | None]] | None = None) -> None:
        if selection not in SELECTION_UNITS:
            raise ValueError(f"selection must be one of {', '.join(SELECTION_UNITS)}; got {selection!r}")
        if selection != "energy" and not ctx.has_forces:
            raise ValueError(f"selection {selection!r} needs force training")
        self.selection, self.force_weight = selection, float(force_weight)
        self.ctx, self.opt, self.state = ctx, optimizer, state
        self.scale = energy_scale
        self.epochs = epochs
        self.patience, self.min_delta = patience, min_delta
        self.checkpoint_every, self.log_every = checkpoint_every, log_every
        self.curve_writer = curve_writer
        self.save_checkpoint = save_checkpoint
        self.stop_file = stop_file
        self.agree_stop = agree_stop or (lambda found, signum: (found, signum))

    def evaluate(self) -> dict:
        """RMSE/MAE (meV/atom) of both sets at the current parameters."""
        r_train = self.ctx.residuals("train")
        r_val = self.ctx.residuals("validation")
        tr, ta = error_stats(r_train, self.scale)
        vr, va = error_stats(r_val, self.scale)
        self.state.train_errors = r_train
        err = {"train_rmse": tr, "train_mae": ta, "val_rmse": vr, "val_mae": va}
        if self.ctx.has_forces:
            err["train_force_rmse"] = self.ctx.force_rmse("train")
            err["val_force_rmse"] = self.ctx.force_rmse("validation")
        return err

    def score(self, err: dict) -> float:
        """The selection criterion of one epoch's errors (smaller is better)."""
        if self.selection == "energy":
            return err["val_rmse"]
        if self.selection == "forces":
            return err["val_force_rmse"]
        return math.sqrt(err["val_rmse"] ** 2 + self.force_weight * err["val_force_rmse"] ** 2)

    def _learning_rate(self) -> float:
        sched = getattr(self.opt, "schedule", None)
        return sched.lr if sched is not None else math.nan

    def _log(self, epoch: int, err: dict, seconds: float) -> None:
        forces = ""
        if "val_force_rmse" in err:
            forces = (f"  forces RMSE {err['train_force_rmse']:.1f} / "
                      f"{err['val_force_rmse']:.1f} meV/Å")
        logger.info("epoch %5d  train RMSE %9.3f MAE %9.3f  validation RMSE %9.3f MAE %9.3f "
                    "meV/atom%s  (%.3f s)", epoch, err["train_rmse"], err["train_mae"],
                    err["val_rmse"], err["val_mae"], forces, seconds)

    def initial(self) -> dict:
        """Evaluate and record epoch 0 (before training)."""
        err = self.evaluate()
        self._check_finite(0, err)
        self._log(0, err, 0.0)
        self.curve_writer({"epoch": 0, **err, "learning_rate": self._learning_rate(),
                           "seconds": 0.0})
        self._track_best(0, err)
        self.state.last_errors = err
        return err

    def _check_finite(self, epoch: int, err: dict) -> None:
        if not (math.isfinite(err["train_rmse"]) and math.isfinite(err["val_rmse"])):
            raise TrainingError(
                f"the loss became NaN or infinite in epoch {epoch}; training stopped, the last "
                "good checkpoint and model are kept (try a smaller learning rate, or l2)")

    def _track_best(self, epoch: int, err: dict) -> bool:
        st = self.state
        score = self.score(err)
        if score < st.best_val_rmse - self.min_delta:
            st.best_val_rmse = score
            st.best_val_energy_rmse = err["val_rmse"]
            st.best_epoch = epoch
            st.best_params = st.params.copy()
            st.bad_epochs = 0
            return True
        if score < st.best_val_rmse:  # better, but below min_delta: keep it
            st.best_val_rmse = score
            st.best_val_energy_rmse = err["val_rmse"]
            st.best_epoch = epoch
            st.best_params = st.params.copy()
        st.bad_epochs += 1
        return False

    def run(self, guard: SignalGuard | None = None) -> str:
        """Run the remaining epochs; return why training stopped."""
        st = self.state
        if st.stop_reason:
            logger.info("training already finished (%s)", st.stop_reason)
            return st.stop_reason
        reason = ""
        epoch = st.epoch
        while epoch < self.epochs:
            epoch += 1
            t0 = time.perf_counter()
            self.ctx.train_errors = st.train_errors
            self.ctx.start_epoch(epoch)
            self.opt.run_epoch(st.params, self.ctx)
            err = self.evaluate()
            self._check_finite(epoch, err)
            self.opt.end_epoch(epoch, self.score(err))
            seconds = time.perf_counter() - t0
            st.epoch = epoch
            st.last_errors = err
            self.curve_writer({"epoch": epoch, **err, "learning_rate": self._learning_rate(),
                               "seconds": seconds})
            self._track_best(epoch, err)
            if epoch % self.log_every == 0 or epoch == self.epochs:
                self._log(epoch, err, seconds)
            if self.patience is not None and st.bad_epochs >= self.patience:
                reason = (f"early stopping: no validation improvement for {self.patience} "
                          f"epochs (best {self.selection} {st.best_val_rmse:.3f} "
                          f"{SELECTION_UNITS[self.selection]} at epoch {st.best_epoch})")
            elif getattr(self.opt, "converged", False):
                reason = "the optimiser converged"
            found, signum = self.agree_stop(not reason and self.stop_file.exists(),
                                            None if guard is None else guard.signum)
            if found:
                # removed so that the next run (or --resume) does not stop at once
                self.stop_file.unlink(missing_ok=True)
                reason = f"{self.stop_file} file found (and removed)"
            if reason:
                break
            if signum is not None:
                path = self.save_checkpoint(st)
                raise TrainingInterrupted(signum, path)
            if self.checkpoint_every and epoch % self.checkpoint_every == 0:
                self.save_checkpoint(st)
        if not reason:
            reason = f"{self.epochs} epochs done"
        # early stopping and convergence are final; STOP files and epoch limits can be resumed
        permanent = reason.startswith(("early stopping", "the optimiser converged"))
        st.stop_reason = reason if permanent else ""
        logger.info("training stopped: %s", reason)
        return reason
