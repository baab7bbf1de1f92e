"""``anncli train``: from a training-set file and a TrainConfig to a model file.

This module owns the assembly of a training run: reading the data, the split, the
normalisation, the networks and their initialisation, the optimiser, the output files
(model, learning_curve.csv/.png, checkpoint.h5, split.csv, results.csv) and ``--resume``.
The epoch loop itself is anncli.training.trainer.

Resume: the checkpoint holds the parameters, the optimiser state, the random generator,
the split, the normalisation and the best model; a resumed run continues exactly as an
uninterrupted run would (same numbers), up to the ``epochs`` of the (possibly edited) input.
It also holds the training set's content id and the settings that change the optimisation
(:func:`optimisation_settings`); ``--resume`` refuses a changed training set or setting.

Fine-tuning: ``initial_model`` starts the networks from a trained model's
(:mod:`anncli.training.warm_start`: checks, and the exact change of normalisation) instead
of random weights, without the output-layer matching of a fresh run.

Every output file is written atomically (anncli.io.atomic); the learning curve, which grows
by one row per epoch, is appended one whole row per write.

MPI (``mpiexec -n N anncli train``): every rank runs this function; each holds the data of its
blocks of structures only (anncli.training.shards), the sums are gathered and added in block
order on every rank (anncli.training.context), and rank 0 alone writes files.  Every write
on rank 0 is a checkpoint of the failure protocol (anncli.parallel.mpi).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from anncli import __version__
from anncli.config.train import TrainConfig
from anncli.exceptions import ConfigError, DataError
from anncli.io.atomic import atomic_open, atomic_path
from anncli.io.trainset import open_trainset, read_parents, trainset_content_id
from anncli.network.species import SpeciesNetworks
from anncli.parallel.mpi import Comm, world
from anncli.potential.model_file import Model, save_model
from anncli.training.blas import blas_threads
from anncli.training.checkpoint import (load_checkpoint, rng_from_json, rng_state_json,
                                        save_checkpoint)
from anncli.training.context import EpochContext
from anncli.training.data import (MemorySource, Normalization, StreamSource, TrainingData,
                                  descriptor_json, load_rows, load_training_data)
from anncli.training.normalization import compute_normalization
from anncli.training.optimizers import (AdamMethod, EKFMethod, LBFGSMethod, Schedule,
                                        SGDMethod)
from anncli.training.shards import make_shards
from anncli.training.split import explicit_split, random_split, read_validation_file, write_split
from anncli.training.trainer import CURVE_COLUMNS, FORCE_COLUMNS, SignalGuard, Trainer, TrainState

logger = logging.getLogger(__name__)

CURVE_FILE = "learning_curve.csv"
CURVE_PLOT = "learning_curve.png"
CHECKPOINT_FILE = "checkpoint.h5"
SPLIT_FILE = "split.csv"
RESULTS_FILE = "results.csv"


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    model_path, output_dir : Path
    epochs : int
        Last epoch run.
    best_epoch : int
    best_val_rmse : float, meV/atom
    train_rmse, val_rmse : float, meV/atom
        Errors of the saved (best) model.
    stop_reason : str
    exit_code : int
        0.
    """

    model_path: Path
    output_dir: Path
    epochs: int
    best_epoch: int
    best_val_rmse: float
    train_rmse: float
    val_rmse: float
    stop_reason: str
    exit_code: int = 0


# ----------------------------------------------------------------------------- helpers
def _paths(config: TrainConfig) -> tuple[Path, Path]:
    model_path = Path(config.output)
    out_dir = Path(config.output_dir) if config.output_dir is not None else model_path.parent
    return model_path, out_dir


def _optimizer(config: TrainConfig, n_params: int):
    opt = config.optimizer
    if opt.method == "lbfgs":
        return LBFGSMethod(memory=opt.memory)
    if opt.method in ("adam", "sgd"):
        s = opt.schedule
        schedule = Schedule(opt.learning_rate, s.kind, s.decay, s.factor, s.patience,
                            s.threshold, s.min_lr)
        if opt.method == "adam":
            return AdamMethod(n_params, opt.learning_rate, opt.beta1, opt.beta2, opt.eps,
                              schedule)
        return SGDMethod(n_params, opt.learning_rate, opt.momentum, schedule)
    return EKFMethod(n_params, opt.lambda_, opt.lambda0, opt.p0, opt.process_noise,
                     opt.block_size)


def _structure_weights(config: TrainConfig, n_structures: int) -> np.ndarray:
    weights = np.ones(n_structures)
    if config.structure_weights is None:
        return weights
    path = Path(config.structure_weights)
    if not path.is_file():
        raise ConfigError(f"structure_weights: no such file {path}")
    with path.open(newline="") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), start=2):
            try:
                i, w = int(row["index"]), float(row["weight"])
            except (KeyError, TypeError, ValueError):
                raise ConfigError(f"{path}, line {lineno}: expected 'index,weight' with an "
                                  f"integer index and a number, got {row}") from None
            if not 0 <= i < n_structures or not (w >= 0 and math.isfinite(w)):
                raise ConfigError(f"{path}, line {lineno}: index {i} out of range "
                                  f"(0..{n_structures - 1}) or negative weight {w}")
            weights[i] = w
    return weights


def _eligible(config: TrainConfig, data: TrainingData) -> np.ndarray:
    ids = np.arange(data.n_structures)
    if config.max_energy_per_atom is None:
        return ids
    keep = data.energies / data.n_atoms <= config.max_energy_per_atom
    logger.info("max_energy_per_atom %.4g eV: %d of %d structures left out",
                config.max_energy_per_atom, int((~keep).sum()), len(ids))
    return ids[keep]


def _split(config: TrainConfig, data: TrainingData, eligible: np.ndarray,
           rng: np.random.Generator):
    with open_trainset(data.path) as f:  # split by family: no copy of a validation structure is trained on
        parents = read_parents(f)
    vs = config.validation_set
    if vs is None:
        train_ids, val_ids = random_split(eligible, config.validation_fraction, rng, parents)
    elif isinstance(vs, list):
        train_ids, val_ids = explicit_split(eligible, np.array(vs, dtype=np.int64), data.n_structures,
                                            parents=parents)
    else:
        train_ids, val_ids = explicit_split(eligible, read_validation_file(Path(vs)), data.n_structures,
                                            where=f"validation_set ({vs})", parents=parents)
    copies = parents[val_ids] != val_ids
    if copies.any():  # their labels are first-order approximations: validate on the originals only
        logger.info("split: %d Taylor copies of validation structures are in neither set", int(copies.sum()))
        val_ids = val_ids[~copies]
    return train_ids, val_ids


def match_output_layer(nets: SpeciesNetworks, predictions) -> None:
    """Scale and shift the output layers so the initial predictions have the mean and the
    spread of the targets (method.md §4).  ``predictions()``: the training set's normalised
    predictions and targets (:meth:`EpochContext.predictions`, gathered over the ranks)."""
    for net in nets.nets.values():
        net.biases[-1][...] = 0.0
    p0, t = predictions()
    sd = float(p0.std())
    a = float(t.std()) / sd if sd > 1e-12 else 1.0
    shift = float(t.mean()) - a * float(p0.mean())
    for net in nets.nets.values():
        net.weights[-1][...] *= a
        net.biases[-1][...] = shift


def _norm_to_state(norm: Normalization) -> dict:
    return {"feature_mean": norm.feature_mean, "feature_std": norm.feature_std,
            "feature_min": norm.feature_min, "feature_max": norm.feature_max,
            "energy_shift": norm.energy_shift, "energy_scale": norm.energy_scale}


def _norm_from_state(d: dict) -> Normalization:
    return Normalization(d["feature_mean"], d["feature_std"], d["feature_min"],
                         d["feature_max"], float(d["energy_shift"]), float(d["energy_scale"]))


class _Curve:
    """learning_curve.csv, one row per epoch, flushed at once.

    The header (and, on resume, the rows up to the checkpoint's epoch) are written
    atomically; every row is then appended with a single ``write`` call, so a killed process
    leaves whole rows only.
    """

    def __init__(self, path: Path, resume_epoch: int | None, forces: bool = False) -> None:
        self.path = path
        self.columns = CURVE_COLUMNS + (FORCE_COLUMNS if forces else [])
        keep = [self.columns]
        if resume_epoch is not None and path.is_file():  # drop rows after the checkpoint
            with path.open(newline="") as fh:
                rows = list(csv.reader(fh))
            if rows:
                keep = [rows[0]] + [r for r in rows[1:] if len(r) == len(rows[0])
                                    and r[0].isdigit() and int(r[0]) <= resume_epoch]
        with atomic_open(path, "w", newline="") as fh:
            csv.writer(fh).writerows(keep)

    def __call__(self, row: dict) -> None:
        line = io.StringIO()
        csv.writer(line).writerow([row["epoch"]] + [f"{row[c]:.6f}" for c in self.columns[1:]])
        with self.path.open("a", newline="") as fh:
            fh.write(line.getvalue())


def plot_learning_curve(csv_path: Path, png_path: Path) -> None:
    """Draw training and validation RMSE against the epoch (matplotlib, Agg backend).

    The figure is a :class:`matplotlib.figure.Figure` on its own Agg canvas, not a pyplot
    figure: pyplot's global backend (a notebook user's inline or Qt backend) is not touched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    epoch = [int(r["epoch"]) for r in rows]
    panels = [("", "energy RMSE (meV/atom)")]
    if "val_force_rmse" in rows[0]:
        panels.append(("force_", "force RMSE (meV/Å)"))
    fig = Figure(figsize=(6 * len(panels), 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (prefix, label) in zip(axes[0], panels):
        ax.plot(epoch, [float(r[f"train_{prefix}rmse"]) for r in rows], label="training")
        ax.plot(epoch, [float(r[f"val_{prefix}rmse"]) for r in rows], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def _write_results(path: Path, data: TrainingData, ctx: EpochContext, scale: float,
                   shift: float) -> tuple[float, float]:
    """Per-structure results of both sets at the current parameters; returns the RMSEs.

    Every rank computes (the residuals are gathered); rank 0 writes the file.
    """
    rmse = []
    rows = []
    sets = []
    for which, ids in (("train", ctx.train_ids), ("validation", ctx.val_ids)):
        sets.append((which, ids, ctx.residuals(which),
                     ctx.structure_force_rmse(which) if ctx.has_forces else None))
    for which, ids, r, f_err in sets:
        err = r / scale  # eV/atom
        rmse.append(float(np.sqrt(np.mean(err ** 2))) * 1000.0)
        n = data.n_atoms[ids]
        e_ref = data.energies[ids]
        e_pred = e_ref + err * n
        for i, k in enumerate(ids):
            extra = () if f_err is None else (f"{f_err[i]:.6f}",)
            rows.append((int(k), data.sources[k], which, int(n[i]), f"{e_ref[i]:.8f}",
                         f"{e_pred[i]:.8f}", f"{err[i]:.8f}", *extra))
    rows.sort()
    header = ["index", "source", "set", "n_atoms", "E_ref", "E_pred", "error_per_atom"]
    if ctx.has_forces:
        header.append("force_rmse")  # eV/Å, over the structure's force components
    with ctx.comm.checkpoint():
        if ctx.comm.root:
            with atomic_open(path, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(header)
                w.writerows(rows)
    return rmse[0], rmse[1]


def bootstrap_weights(weights: np.ndarray, train_ids: np.ndarray, seed: int, member: int) -> np.ndarray:
    """Loss weights of a bootstrap resample of the training split.

    ``len(train_ids)`` draws with replacement (seeded by ``seed`` and ``member``); every
    training structure's weight is multiplied by the number of times it was drawn (0 for
    about a third of them).

    Returns
    -------
    ndarray of shape (n_structures,)
    """
    rng = np.random.default_rng([seed, member, 1])
    counts = rng.multinomial(len(train_ids), np.full(len(train_ids), 1.0 / len(train_ids)))
    out = np.array(weights, dtype=float)
    out[train_ids] *= counts
    return out


def _note_unused_forces(path) -> None:
    """Say so when the training set has reference forces that energy-only training ignores."""
    with h5py.File(path, "r") as f:
        st = f.get("structures")
        n = int(np.count_nonzero(st["has_forces"][()])) if st is not None and "has_forces" in st else 0
    if n:
        logger.info("%s: %d structures have reference forces, which are not used (force_weight: 0); "
                    "force_weight: 0.1 trains on them too, usually with better energies", path, n)


def optimisation_settings(config: TrainConfig, weights: np.ndarray) -> dict:
    """The settings a resumed run must share with its checkpoint, flattened to dotted keys.

    They change the loss or the optimiser's steps, and the checkpoint's optimiser state was
    built with them: ``force_weight``, ``l2``, ``sampling`` (and ``temperature`` for
    ``energy`` sampling), ``batch_size``, ``energy_scaling``, the per-structure weights of
    ``structure_weights`` (a SHA-256 of the weights, so that an edited file counts), every
    key of ``optimizer``, and ``force_fraction`` < 1 with the ``seed`` that draws its subsets.  Others (``epochs``, outputs, ``log_every``, ``checkpoint_every``,
    early stopping, ``memory``) may change; the split keys and ``seed`` are not used on resume.

    Parameters
    ----------
    config : TrainConfig
    weights : ndarray of shape (n_structures,)
        The loss weight of every structure.

    Returns
    -------
    dict of str to JSON value
    """
    out = {"force_weight": float(config.force_weight), "l2": float(config.l2),
           "selection": config.selection_criterion,
           "sampling": config.sampling, "batch_size": int(config.batch_size),
           "energy_scaling": config.energy_scaling,
           "structure_weights": hashlib.sha256(
               np.ascontiguousarray(weights, dtype="<f8").data).hexdigest()[:16]}
    if config.sampling == "energy":
        out["temperature"] = float(config.temperature)
    if config.force_fraction < 1.0:  # the per-epoch draw depends on the seed
        out["force_fraction"] = float(config.force_fraction)
        out["seed"] = int(config.seed)

    def flatten(prefix: str, d: dict) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                flatten(f"{prefix}{k}.", v)
            else:
                out[prefix + k] = v

    flatten("optimizer.", config.optimizer.model_dump(mode="json", by_alias=True))
    return out


def check_resume(ck_path: Path, ck: dict, content_id: str, settings: dict) -> None:
    """Refuse a checkpoint made with another training set or other optimisation settings.

    Raises
    ------
    ConfigError
        Naming every difference: ``the training set changed (content id X, checkpoint has Y)``
        and/or ``key: old → new``.
    """
    old_id = ck.get("trainset_content_id")
    old_settings = ck.get("settings")
    if old_id is None or old_settings is None:
        logger.warning("%s was written by an older anncli without the training-set content id "
                       "and settings: cannot check that they are unchanged", ck_path)
        return
    changes = []
    if old_id != content_id:
        changes.append(f"the training set changed (content id {content_id[:16]}, checkpoint "
                       f"has {old_id[:16]})")
    old_settings = json.loads(old_settings)
    for key in [*settings, *(k for k in old_settings if k not in settings)]:
        a, b = old_settings.get(key), settings.get(key)
        if a != b:
            if key == "structure_weights":
                changes.append("the per-structure weights (structure_weights) changed")
            else:
                changes.append(f"{key}: {json.dumps(a)} → {json.dumps(b)}")
    if changes:
        raise ConfigError(f"{ck_path}: cannot resume, " + "; ".join(changes) + "; use the "
                          "checkpoint's training set and settings, or start a new run without "
                          "--resume")


def _trainset_id(path: str | Path) -> str:
    with open_trainset(path) as f:
        return trainset_content_id(f)


def build_model(data: TrainingData, nets: SpeciesNetworks, params: np.ndarray,
                norm: Normalization, metadata: dict) -> Model:
    """A :class:`Model` holding a copy of ``params``."""
    arch = nets.architecture()
    copy = SpeciesNetworks(nets.species, {s: a["sizes"] for s, a in arch.items()},
                           {s: a["activations"] for s, a in arch.items()})
    copy.set_params(params)
    return Model(species=list(data.species), reference_energies=data.reference_energies,
                 descriptors={s: descriptor_json(data, s) for s in data.species},
                 feature_mean=norm.feature_mean, feature_std=norm.feature_std,
                 feature_min=norm.feature_min, feature_max=norm.feature_max,
                 networks=copy.nets, energy_shift=norm.energy_shift,
                 energy_scale=norm.energy_scale, metadata=metadata,
                 baseline=_trainset_baseline(data.path))


def _initial_model(config: TrainConfig):
    """The model of ``initial_model`` (None without one)."""
    if config.initial_model is None:
        return None
    from anncli.training.warm_start import load_initial_model

    return load_initial_model(config.initial_model)


def _trainset_baseline(path: str | Path) -> dict | None:
    """The training set's Δ-learning baseline (copied into the model), or None."""
    from anncli.io.trainset import read_baseline

    with open_trainset(path) as f:
        return read_baseline(f)


# ----------------------------------------------------------------------------- run
def run(config: TrainConfig, *, config_path: str | Path | None = None,
        resume: bool = False, plot: bool = True) -> TrainResult:
    """Train a potential (one model, or a committee of them).

    Parameters
    ----------
    config : TrainConfig
    config_path : str or Path, optional
        The input file (its text is stored in the model).
    resume : bool
        Continue from ``<output_dir>/checkpoint.h5`` (a committee: from every member's
        checkpoint in ``<output_dir>/member_<k>/``; finished members are not trained again).
    plot : bool
        Draw learning_curve.png (``anncli scan`` leaves it out: ~0.3 s per training).

    Returns
    -------
    TrainResult

    Raises
    ------
    ConfigError, DataError, FileFormatError
        Bad input (exit status 2).
    TrainingError
        NaN loss.
    TrainingInterrupted
        SIGINT/SIGTERM (checkpoint written; exit status 130/143).
    """
    if config.initial_model is not None:  # too few members: said before any member is trained
        from anncli.training.warm_start import check_members, load_initial_model

        check_members(load_initial_model(config.initial_model), config.initial_model,
                      config.committee.members if config.committee is not None else 1)
    if config.committee is not None:
        from anncli.training.committee import train_committee

        import functools

        return train_committee(config, functools.partial(_train_one, plot=plot), config_path=config_path,
                               resume=resume)
    return _train_one(config, config_path=config_path, resume=resume, plot=plot)


def _train_one(config: TrainConfig, *, config_path: str | Path | None = None, resume: bool = False,
               member: int = 0, bootstrap: bool = False, plot: bool = True) -> TrainResult:
    """Train one network set; ``member`` > 0 draws other initial weights (same split), and
    ``bootstrap`` resamples the training split as loss weights (committee members)."""
    comm = world()
    model_path, out_dir = _paths(config)
    ck_path = out_dir / CHECKPOINT_FILE
    with comm.checkpoint():  # before rank 0 writes anything, every rank has checked
        if not model_path.parent.is_dir():
            raise ConfigError(f"output: the directory {model_path.parent} does not exist")
        out_dir.mkdir(parents=True, exist_ok=True)
        if not resume and not config.overwrite:
            for p in (model_path, ck_path):
                if p.exists():
                    raise ConfigError(f"output: {p} exists from a previous run; set "
                                      "'overwrite: true', choose another output, or use --resume")
        if comm.parallel and config.optimizer.method == "ekf":
            raise ConfigError("optimizer: method 'ekf' (Kalman updates one mini-batch after the "
                              f"other) does not run on several MPI ranks (started with {comm.size}); "
                              "use lbfgs, adam or sgd, or run as one process")
    with comm.checkpoint():  # a rank that cannot read the training set is named on rank 0
        return _train_on_ranks(comm, config, config_path=config_path, resume=resume, member=member,
                               bootstrap=bootstrap, model_path=model_path, out_dir=out_dir,
                               ck_path=ck_path, plot=plot)


def _train_on_ranks(comm: Comm, config: TrainConfig, *, config_path, resume: bool, member: int,
                    bootstrap: bool, model_path: Path, out_dir: Path, ck_path: Path,
                    plot: bool = True) -> TrainResult:
    """The body of :func:`_train_one` on every rank (serial: the one)."""
    input_text = ""
    if config_path is not None and Path(config_path).is_file():
        input_text = Path(config_path).read_text(errors="replace")

    # MPI: the structure tables only; the feature rows of this rank's blocks after the split
    data = load_training_data(config.trainset,
                              features=(config.memory == "load" and not comm.parallel))
    init = _initial_model(config)
    sizes, acts = {}, {}
    for sym in data.species:
        if init is not None and "networks" not in config.model_fields_set:  # the model's architecture
            sizes[sym], acts[sym] = list(init.networks[sym].sizes), list(init.networks[sym].activations)
            continue
        hidden, hidden_acts = config.network_for(sym)
        sizes[sym] = [data.n_features[sym], *hidden, 1]
        acts[sym] = [*hidden_acts, "linear"]
    if init is not None:
        from anncli.training.warm_start import check_initial_model

        check_initial_model(init, config.initial_model, data, sizes, acts)
    nets = SpeciesNetworks(data.species, sizes, acts)
    weights = _structure_weights(config, data.n_structures)
    optimizer = _optimizer(config, nets.n_params)
    content_id = _trainset_id(config.trainset)
    if config.force_weight == 0 and not member:
        _note_unused_forces(config.trainset)

    if resume:
        ck = load_checkpoint(ck_path)
        if json.loads(ck["architecture"]) != nets.architecture():
            raise ConfigError(f"{ck_path}: the networks of the checkpoint differ from the input "
                              "file's; resume needs the same networks")
        if int(ck["n_structures"]) != data.n_structures:
            raise DataError(f"{ck_path}: the checkpoint was made with another training set")
        if ck["optimizer"]["method"] != config.optimizer.method:
            raise ConfigError(f"{ck_path}: the checkpoint used optimizer "
                              f"{ck['optimizer']['method']!r}, the input file says "
                              f"{config.optimizer.method!r}")
        train_ids, val_ids = ck["train_ids"].astype(np.int64), ck["val_ids"].astype(np.int64)
        if bootstrap:
            weights = bootstrap_weights(weights, train_ids, config.seed, member)
        settings = optimisation_settings(config, weights)
        check_resume(ck_path, ck, content_id, settings)
        rng = rng_from_json(ck["rng"])
        norm = _norm_from_state(ck["normalization"])
        nets.set_params(ck["params"])
        optimizer.load_state_dict(ck["optimizer"]["state"])
        te = ck.get("train_errors")
        state = TrainState(epoch=int(ck["epoch"]), params=nets.params,
                           best_params=np.array(ck["best_params"]),
                           best_val_rmse=float(ck["best_val_rmse"]),
                           best_val_energy_rmse=float(ck.get("best_val_energy_rmse", ck["best_val_rmse"])),
                           best_epoch=int(ck["best_epoch"]), bad_epochs=int(ck["bad_epochs"]),
                           stop_reason=ck.get("stop_reason") or "",
                           train_errors=None if te is None else np.array(te))
        logger.info("resuming from %s at epoch %d", ck_path, state.epoch)
    else:
        rng = np.random.default_rng(config.seed)
        train_ids, val_ids = _split(config, data, _eligible(config, data), rng)
        norm = _normalization(comm, data, train_ids, config.energy_scaling)
        if member:  # committee members: the same split, other initial weights and sampling
            rng = np.random.default_rng([config.seed, member])
        if bootstrap:
            weights = bootstrap_weights(weights, train_ids, config.seed, member)
        settings = optimisation_settings(config, weights)
        nets.initialize(rng)  # also with initial_model: the generator then continues as in a fresh run
        if init is not None:
            from anncli.training.warm_start import initial_params

            nets.set_params(initial_params(init, member, nets, data, norm))
            logger.info("initial networks: member %d of %s (normalisation converted to this split's)",
                        member, config.initial_model)
        state = TrainState(epoch=0, params=nets.params, best_params=nets.params.copy())
    logger.info("split: %d training, %d validation structures", len(train_ids), len(val_ids))
    shards = make_shards(train_ids, val_ids, data.n_structures, comm.rank, comm.size, n_atoms=data.n_atoms)
    if comm.parallel:
        n_blocks = len(shards.blocks["train"])
        logger.info("MPI: %d training blocks of about %d atoms, %d-%d per rank; each rank holds the "
                    "data of its blocks only", n_blocks, int(data.n_atoms[train_ids].sum()) // n_blocks,
                    n_blocks // comm.size, -(-n_blocks // comm.size))
        if config.memory == "load":
            load_rows(data, shards.owned)
    with comm.checkpoint():
        if comm.root:
            write_split(out_dir / SPLIT_FILE, train_ids, val_ids, data.sources)

    source = None
    try:
        with comm.checkpoint():  # every rank has its data (or the first failure is named)
            forces, chunk = None, {}  # the sources' default chunk without forces
            if config.force_weight > 0:
                from anncli.training.forces import ForceData, stream_chunk_structures

                forces = ForceData(data, norm, weights, config.force_weight, memory=config.memory,
                                   fraction=config.force_fraction, seed=(config.seed, member or 0),
                                   owned=shards.owned if comm.parallel else None)
                # load uses it too: the same sums
                chunk = {"chunk_structures": stream_chunk_structures(data.n_atoms)}
            src_cls = MemorySource if config.memory == "load" else StreamSource
            source = src_cls(data, norm, weights, forces=forces, **chunk)
            data.features.clear()  # the source holds the normalised copy; raw rows are re-read if needed
            ctx = EpochContext(nets, source, train_ids, val_ids, rng, batch_size=config.batch_size,
                               sampling=config.sampling, l2=config.l2,
                               cache_full=(config.memory == "load"),
                               temperature=config.temperature, energy_scale=norm.energy_scale,
                               comm=comm, shards=shards)
        if not resume and init is None:
            match_output_layer(nets, lambda: ctx.predictions("train"))
        logger.info("networks: %s; %d parameters; optimizer %s",
                    ", ".join(f"{s} {'-'.join(map(str, sizes[s]))} {'/'.join(acts[s][:-1])}"
                              for s in data.species), nets.n_params, config.optimizer.method)

        def metadata(st: TrainState) -> dict:
            return {
                "epochs": st.epoch, "best_epoch": st.best_epoch,
                "best_val_rmse_meV": st.best_val_energy_rmse,
                "selection": config.selection_criterion, "best_val_score": st.best_val_rmse,
                "final_errors_meV": st.last_errors, "seed": config.seed,
                "optimizer": config.optimizer.method, "n_train": int(len(train_ids)),
                "n_validation": int(len(val_ids)), "split_file": SPLIT_FILE,
                "trainset": str(config.trainset), "trainset_content_id": content_id,
                "train_input": input_text,
                "force_weight": config.force_weight,
                "initial_model": None if config.initial_model is None else str(config.initial_model),
                "anncli_version": __version__,
            }

        def checkpoint(st: TrainState) -> Path:
            with comm.checkpoint():  # rank 0 writes; a failure there stops every rank
                if comm.root:
                    _save(st)
            return ck_path

        def _save(st: TrainState) -> None:
            save_checkpoint(ck_path, {
                "epoch": st.epoch, "params": st.params.copy(), "best_params": st.best_params,
                "best_val_rmse": st.best_val_rmse, "best_val_energy_rmse": st.best_val_energy_rmse,
                "best_epoch": st.best_epoch,
                "bad_epochs": st.bad_epochs, "stop_reason": st.stop_reason,
                "train_errors": st.train_errors, "rng": rng_state_json(rng),
                "train_ids": train_ids, "val_ids": val_ids,
                "normalization": _norm_to_state(norm),
                "architecture": json.dumps(nets.architecture()),
                "optimizer": {"method": config.optimizer.method,
                              "state": optimizer.state_dict()},
                "n_structures": data.n_structures,
                "trainset_content_id": content_id,
                "settings": json.dumps(settings),
            })
            save_model(model_path, build_model(data, nets, st.best_params, norm, metadata(st)))

        with comm.checkpoint():
            curve = _Curve(out_dir / CURVE_FILE, state.epoch if resume else None,
                           forces=ctx.has_forces) if comm.root else None

        def curve_row(row: dict) -> None:
            with comm.checkpoint():
                if curve is not None:
                    curve(row)
        trainer = Trainer(ctx, optimizer, state, energy_scale=norm.energy_scale,
                          epochs=config.epochs, patience=config.early_stopping.patience,
                          min_delta=config.early_stopping.min_delta,
                          checkpoint_every=config.checkpoint_every, log_every=config.log_every,
                          curve_writer=curve_row, save_checkpoint=checkpoint,
                          stop_file=Path("STOP"), selection=config.selection_criterion,
                          force_weight=config.force_weight, agree_stop=_stop_agreement(comm))
        if not resume:
            trainer.initial()
            checkpoint(state)
        with SignalGuard() as guard, blas_threads(1):
            reason = trainer.run(guard)
        checkpoint(state)
        final = nets.params.copy()
        nets.set_params(state.best_params)
        train_rmse, val_rmse = _write_results(out_dir / RESULTS_FILE, data, ctx,
                                              norm.energy_scale, norm.energy_shift)
        nets.set_params(final)
    finally:
        if source is not None:
            source.close()
    try:
        if plot and comm.root:
            plot_learning_curve(out_dir / CURVE_FILE, out_dir / CURVE_PLOT)
    except Exception as exc:  # noqa: BLE001 - a missing plot must not lose a trained model
        logger.warning("learning-curve plot not written: %s", exc)
    logger.info("model %s: best epoch %d, validation RMSE %.3f meV/atom, training RMSE %.3f",
                model_path, state.best_epoch, val_rmse, train_rmse)
    return TrainResult(model_path=model_path, output_dir=out_dir, epochs=state.epoch,
                       best_epoch=state.best_epoch, best_val_rmse=state.best_val_energy_rmse,
                       train_rmse=train_rmse, val_rmse=val_rmse, stop_reason=reason)


def _normalization(comm: Comm, data: TrainingData, train_ids: np.ndarray,
                   energy_scaling: str) -> Normalization:
    """The training split's normalisation; under MPI rank 0 computes it (reading the training
    rows chunk by chunk from the file, the same numbers as from memory) and sends it out."""
    if not comm.parallel:
        return compute_normalization(data, train_ids, energy_scaling)
    norm = None
    with comm.checkpoint():
        if comm.root:
            norm = compute_normalization(data, train_ids, energy_scaling)
    return comm.bcast(norm)


def _stop_agreement(comm: Comm):
    """After every epoch: rank 0's STOP file and a signal of any rank, the same on every rank."""
    if not comm.parallel:
        return None

    def agree(found: bool, signum: int | None) -> tuple[bool, int | None]:
        mine = np.array([float(found and comm.root), float(signum or 0)])
        parts = comm.gather_arrays(lambda: [mine])
        got = int(max(p[1] for p in parts))
        return bool(parts[0][0]), (got or None)

    return agree
