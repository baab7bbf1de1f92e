"""Checkpoint files: the whole training state in one HDF5 file, written atomically.

This module owns the (de)serialisation of a nested state dictionary: dicts become groups,
numpy arrays datasets (exact float64), scalars, strings and None attributes.  The trainer
decides what goes in (see anncli.training.trainer.TrainState).  Files carry the attributes
``format = "anncli-checkpoint"`` and ``format_version = 1``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np

from anncli import __version__

logger = logging.getLogger(__name__)

FORMAT = "anncli-checkpoint"
FORMAT_VERSION = 1
_NONE = "__none__"


def _write(group: h5py.Group, state: dict) -> None:
    for key, value in state.items():
        key = str(key)
        if isinstance(value, dict):
            _write(group.create_group(key), value)
        elif isinstance(value, np.ndarray):
            if value.dtype.kind in "US":
                group.create_dataset(key, data=value.astype(object), dtype=h5py.string_dtype())
            else:
                group.create_dataset(key, data=value)
        elif value is None:
            group.attrs[key] = _NONE
        elif isinstance(value, (bool, np.bool_)):
            group.attrs[key] = np.bool_(value)
        elif isinstance(value, (int, float, str, np.integer, np.floating)):
            group.attrs[key] = value
        else:
            raise TypeError(f"cannot store {key}={type(value).__name__} in a checkpoint")


def _read(group: h5py.Group) -> dict:
    out: dict = {}
    for key, value in group.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str) and value == _NONE:
            value = None
        elif isinstance(value, np.bool_):
            value = bool(value)
        elif isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
        out[key] = value
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read(item)
        else:
            data = item[()]
            if item.dtype.kind == "O":
                data = np.array([v.decode() if isinstance(v, bytes) else v for v in data])
            out[key] = data
    return out


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically (:func:`anncli.io.atomic.atomic_path`)."""
    from anncli.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["anncli_version"] = __version__
            _write(f, state)
    logger.debug("checkpoint written: %s", path)


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    FileFormatError
        Missing, not a checkpoint, or of another format version.
    """
    from anncli.io.h5files import open_checked

    with open_checked(path, FORMAT, FORMAT_VERSION, "checkpoint") as f:
        state = _read(f)
    for key in ("format", "format_version", "anncli_version"):
        state.pop(key, None)
    return state


def rng_state_json(rng: np.random.Generator) -> str:
    """The generator's bit-generator state as JSON text."""
    return json.dumps(rng.bit_generator.state)


def rng_from_json(text: str) -> np.random.Generator:
    """A generator restored from :func:`rng_state_json` output."""
    state = json.loads(text)
    bitgen = getattr(np.random, state["bit_generator"])()
    bitgen.state = state
    return np.random.Generator(bitgen)
