"""Training/validation split: random by fraction, explicit indices, or a saved split file.

This module owns the split rules: the two sets never overlap; a random split draws from the
run's seeded generator; ``split.csv`` (columns ``index,source,set`` with set ``train`` or
``validation``) records a split and can be given back as ``validation_set``.

Families: a structure and its Taylor copies (``/structures/parent``, generate's ``taylor``)
are one family and always land in the same set, so no copy of a validation structure is
trained on.  Without copies every structure is its own family and the splits are the same as
before families existed.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError, DataError
from anncli.io.atomic import atomic_open

logger = logging.getLogger(__name__)


def random_split(eligible: np.ndarray, fraction: float, rng: np.random.Generator,
                 parents: np.ndarray | None = None):
    """Split ``eligible`` structure indices at random, by family.

    Parameters
    ----------
    eligible : ndarray of shape (n,), int64
    fraction : float in (0, 1)
        Validation fraction of the families (parents); ``round(fraction * n_families)``
        families (at least 1, at most n_families - 1) are drawn for validation.
    rng : numpy Generator
    parents : ndarray of shape (n_structures,), int64, optional
        Parent row of every structure of the training set (:func:`anncli.io.trainset.read_parents`);
        None: every structure is its own parent.

    Returns
    -------
    train_ids, val_ids : sorted int64 arrays
        Every eligible member of a drawn family is in ``val_ids``.
    """
    eligible = np.asarray(eligible, dtype=np.int64)
    family = eligible if parents is None else np.asarray(parents, dtype=np.int64)[eligible]
    families = np.unique(family)
    n = len(families)
    if n < 2:
        copies = not np.array_equal(family, eligible)
        what = "parent structure(s) (with their copies)" if copies else "structure(s)"
        raise DataError(f"{n} usable {what}: at least 2 are needed to split "
                        "into training and validation sets")
    n_val = min(max(1, int(round(fraction * n))), n - 1)
    perm = rng.permutation(n)
    in_val = np.isin(family, families[perm[:n_val]])
    return np.sort(eligible[~in_val]), np.sort(eligible[in_val])


def explicit_split(eligible: np.ndarray, validation: np.ndarray, n_structures: int,
                   where: str = "validation_set", parents: np.ndarray | None = None):
    """Split with the given validation indices; the rest of ``eligible`` is for training.

    With ``parents`` (shape (n_structures,), the parent row of every structure) the whole
    family of every given index (its parent and the parent's copies) goes to validation.
    """
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
    if parents is not None:
        parents = np.asarray(parents, dtype=np.int64)
        family = eligible[np.isin(parents[eligible], parents[validation])]
        if len(family) > len(val):
            logger.info("%s: %d Taylor copies (or parents) of the validation structures also "
                        "go to validation", where, len(family) - len(val))
        val = family
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
