"""Training a committee: N members on one split, assembled into one model file.

This module owns the loop over the members of ``committee`` in a train input: member ``k``
is an ordinary training run (its own learning curve, checkpoint, split and results in
``<output_dir>/member_<k>/``) that differs from member 0 only in its initial weights and
sampling order (seeded by ``(seed, k)``) and, with ``bootstrap``, in the loss weights of a
bootstrap resample of the training split.  The split and the normalisation come from
``seed`` and are the same for every member, so the members' networks share one descriptor
and normalisation block of the committee model file (docs/model-format.md).

Resume: every member resumes from its own checkpoint; a member whose run had finished
resumes to the same end at once, so a committee interrupted in member 3 trains only
members 3 and later again.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Callable

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["train_committee", "member_dir"]


def member_dir(out_dir: Path, k: int) -> Path:
    """``<out_dir>/member_<k>``: the outputs of member ``k``."""
    return Path(out_dir) / f"member_{k}"


def train_committee(config, train_one: Callable, *, config_path=None, resume: bool = False):
    """Train every member of ``config.committee`` and write the committee model file.

    Parameters
    ----------
    config : TrainConfig
        With ``committee`` set.
    train_one : callable
        ``train_one(config, config_path=, resume=, member=, bootstrap=) -> TrainResult``
        (:func:`anncli.workflows.train._train_one`).
    config_path : path, optional
    resume : bool

    Returns
    -------
    TrainResult
        Of the committee: ``model_path`` is the committee file; errors are the mean of the
        members' (each member's are in its metadata and its ``results.csv``).
    """
    from anncli.exceptions import ConfigError
    from anncli.potential.model_file import load_model, save_model
    from anncli.workflows.train import CHECKPOINT_FILE, TrainResult, _paths

    model_path, out_dir = _paths(config)
    if not model_path.parent.is_dir():
        raise ConfigError(f"output: the directory {model_path.parent} does not exist")
    if not resume and not config.overwrite and model_path.exists():
        raise ConfigError(f"output: {model_path} exists from a previous run; set 'overwrite: true', "
                          "choose another output, or use --resume")
    n = config.committee.members
    results = []
    for k in range(n):
        d = member_dir(out_dir, k)
        d.mkdir(parents=True, exist_ok=True)
        member_cfg = config.model_copy(update={"output": d / "model.h5", "output_dir": d, "committee": None})
        member_resume = resume and (d / CHECKPOINT_FILE).is_file()
        logger.info("committee member %d of %d%s", k + 1, n, " (resumed)" if member_resume else "")
        results.append(train_one(member_cfg, config_path=config_path, resume=member_resume, member=k,
                                 bootstrap=config.committee.bootstrap))

    from anncli.parallel.mpi import world

    comm = world()  # MPI: every rank trained the members; rank 0 writes the committee file
    with comm.checkpoint():
        if comm.root:
            _write_committee(config, results, model_path, out_dir, load_model, save_model)
    val = np.array([r.val_rmse for r in results])
    return TrainResult(
        model_path=model_path, output_dir=out_dir, epochs=max(r.epochs for r in results),
        best_epoch=results[0].best_epoch, best_val_rmse=float(np.mean([r.best_val_rmse for r in results])),
        train_rmse=float(np.mean([r.train_rmse for r in results])), val_rmse=float(val.mean()),
        stop_reason=results[-1].stop_reason,
    )


def _write_committee(config, results, model_path, out_dir, load_model, save_model) -> None:
    """The committee model file from the members' model files."""
    n = config.committee.members
    models = [load_model(r.model_path) for r in results]
    committee = copy.deepcopy(models[0])
    committee.committee = [m.networks for m in models[1:]]
    val = np.array([r.val_rmse for r in results])
    committee.metadata = {
        **models[0].metadata,
        "committee": {
            "members": n, "bootstrap": config.committee.bootstrap,
            "member_dirs": [member_dir(out_dir, k).name for k in range(n)],
            "member_val_rmse_meV": val.tolist(),
            "member_train_rmse_meV": [r.train_rmse for r in results],
            "member_best_epoch": [r.best_epoch for r in results],
        },
    }
    save_model(model_path, committee)
    logger.info("committee of %d written to %s: member validation RMSE %.3f-%.3f meV/atom (mean %.3f)",
                n, model_path, val.min(), val.max(), val.mean())
