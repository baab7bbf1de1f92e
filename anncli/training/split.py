"""Training/validation split: random by fraction, explicit indices, or a saved split file.

This module owns the split rules: the two sets never overlap; a random split draws from the
run's seeded generator; ``split.csv`` (columns ``index,source,set`` with set ``train`` or
``validation``) records a split and can be given back as ``validation_set``.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError, DataError
from anncli.io.atomic import atomic_open

logger = logging.getLogger(__name__)


def random_split(eligible: np.ndarray, fraction: float, rng: np.random.Generator):
    """Split ``eligible`` structure indices at random.

    Parameters
    ----------
    eligible : ndarray of shape (n,), int64
    fraction : float in (0, 1)
        Validation fraction; the validation set has ``round(fraction * n)`` structures
        (at least 1, at most n - 1).
    rng : numpy Generator

    Returns
    -------
    train_ids, val_ids : sorted int64 arrays
    """
    eligible = np.asarray(eligible, dtype=np.int64)
    n = len(eligible)
    if n < 2:
        raise DataError(f"{n} usable structure(s): at least 2 are needed to split "
                        "into training and validation sets")
    n_val = min(max(1, int(round(fraction * n))), n - 1)
    perm = rng.permutation(n)
    val = np.sort(eligible[perm[:n_val]])
    train = np.sort(eligible[perm[n_val:]])
    return train, val


def explicit_split(eligible: np.ndarray, validation: np.ndarray, n_structures: int,
                   where: str = "validation_set"):
    """Split with the given validation indices; the rest of ``eligible`` is for training."""
    validation = np.asarray(validation, dtype=np.int64)
    bad = validation[(validation < 0) | (validation >= n_structures)]
    if len(bad):
        raise ConfigError(f"{where}: structure index {int(bad[0])} is out of range "
                          f"(the training set has {n_structures} structures, 0-based)")
    if len(np.unique(validation)) != len(validation):
        raise ConfigError(f"{where}: the validation indices contain duplicates")
    val = np.intersect1d(eligible, validation)
    dropped = len(validation) - len(val)
    if dropped:
        logger.warning("%s: %d validation structure(s) excluded by max_energy_per_atom", where,
                       dropped)
    train = np.setdiff1d(eligible, val)
    if len(val) == 0 or len(train) == 0:
        raise ConfigError(f"{where}: the split leaves the "
                          f"{'validation' if len(val) == 0 else 'training'} set empty")
    return train, val


def read_validation_file(path: Path) -> np.ndarray:
    """Validation indices from ``split.csv`` (rows with set == validation) or a list of ints.

    A plain file holds whitespace/comma separated 0-based structure indices; ``#`` starts a
    comment.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"validation_set: no such file {path}")
    text = path.read_text()
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if first.replace(" ", "").startswith("index,"):
        out = []
        with path.open(newline="") as fh:
            for lineno, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    if row["set"].strip() == "validation":
                        out.append(int(row["index"]))
                except (KeyError, ValueError, AttributeError):
                    raise ConfigError(f"{path}, line {lineno}: expected 'index,source,set' "
                                      f"with an integer index, got {row}") from None
        return np.array(out, dtype=np.int64)
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].replace(",", " ")
        for tok in line.split():
            try:
                out.append(int(tok))
            except ValueError:
                raise ConfigError(f"{path}, line {lineno}: expected structure indices "
                                  f"(integers), got {tok!r}") from None
    return np.array(out, dtype=np.int64)


def write_split(path: Path, train_ids: np.ndarray, val_ids: np.ndarray,
                sources: list[str]) -> None:
    """Write ``split.csv``: ``index,source,set`` for every structure of either set."""
    rows = [(int(i), "train") for i in train_ids] + [(int(i), "validation") for i in val_ids]
    rows.sort()
    with atomic_open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "source", "set"])
        for i, s in rows:
            w.writerow([i, sources[i], s])
