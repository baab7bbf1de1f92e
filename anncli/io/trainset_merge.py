"""Merging training-set files: the rows of several files, in order, in one new file.

The active-learning loop (``anncli active``) generates only the structures it has just
labelled and appends them to the training set of the previous iteration with
:func:`merge_trainsets`.  The files must agree on everything the features depend on: the
species (in the same order), the free-atom energies, every species' descriptor setup and
the Δ-learning baseline (if any; its columns are carried over).
The result is written by :class:`anncli.io.trainset.TrainsetWriter` (temporary name, renamed
when complete), so it has the layout of docs/trainset-format.md, fresh feature statistics
and a content id equal to that of a file generated from all structures in one run.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from anncli.exceptions import DataError

logger = logging.getLogger(__name__)

__all__ = ["merge_trainsets"]

_STRUCTURE_COLUMNS = ("energy", "cohesive_energy", "n_atoms", "cell", "pbc", "source", "frame", "has_forces")


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _header(f) -> tuple[list[str], np.ndarray, dict[str, str], dict | None]:
    from anncli.io.trainset import read_species

    species = read_species(f)
    ref = np.asarray(f["reference_energies"][()], dtype=float)
    desc = {s: _text(f["features"][s].attrs["descriptor"]) for s in species}
    baseline = f.attrs.get("baseline")
    return species, ref, desc, None if baseline is None else json.loads(_text(baseline))


def merge_trainsets(paths: Sequence[str | Path], output: str | Path, *, overwrite: bool = False) -> Path:
    """Write the structures of ``paths`` (in this order) into one training-set file.

    Parameters
    ----------
    paths : sequence of path
        Complete training-set files with the same species, free-atom energies and descriptors.
    output : path
        The merged file (written under a temporary name and renamed when complete).
    overwrite : bool
        Replace an existing ``output``.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    DataError
        No input, or files that differ in species, free-atom energies or descriptor setups
        (the first difference is named); ``output`` exists without ``overwrite``.
    """
    from anncli.descriptors import descriptor_from_dict
    from anncli.io.trainset import TrainsetWriter, open_trainset, read_parents

    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("merge: no training-set files given")
    with open_trainset(paths[0]) as f:
        species, ref, desc, baseline = _header(f)
        energy_choice = f.attrs.get("energy_choice", "auto")
        input_text = f.attrs.get("input_file", "")
    for p in paths[1:]:
        with open_trainset(p) as f:
            sp, r, d, b = _header(f)
        if sp != species:
            raise DataError(f"merge: {p} has species {' '.join(sp)}, {paths[0]} has {' '.join(species)}")
        if not np.array_equal(r, ref):
            raise DataError(f"merge: {p} has other free-atom energies ({r.tolist()}) than {paths[0]} ({ref.tolist()})")
        if b != baseline:
            raise DataError(f"merge: the Δ-learning baseline of {p} ({b}) differs from that of {paths[0]} ({baseline})")
        for s in species:
            if json.loads(d[s]) != json.loads(desc[s]):
                raise DataError(f"merge: the descriptor of {s} in {p} differs from the one in {paths[0]}")
    setups = {s: descriptor_from_dict(json.loads(desc[s])) for s in species}
    kinds: list[str] = []
    n_before = 0
    with TrainsetWriter(Path(output), species, ref, setups, input_text=str(input_text),
                        input_path="merged: " + ", ".join(map(str, paths)), overwrite=overwrite,
                        baseline=baseline) as writer:
        for p in paths:
            with open_trainset(p) as f:
                st = f["structures"]
                structures = {c: st[c][()] for c in _STRUCTURE_COLUMNS + (("baseline_energy",) if baseline else ())}
                structures["source"] = np.array([v.decode() if isinstance(v, bytes) else str(v)
                                                 for v in structures["source"]], dtype=object)
                structures["parent"] = read_parents(f) + writer.n_structures
                atoms = {c: f["atoms"][c][()] for c in ("species", "positions", "forces")
                         + (("baseline_forces",) if baseline else ())}
                features = {}
                for s in species:
                    g = f["features"][s]
                    features[s] = (np.asarray(g["atom_index"][()], dtype=np.int64), g["values"][()])
                for k in str(f.attrs.get("energy_kinds", "")).split(","):
                    if k and k not in kinds:
                        kinds.append(k)
            if len(structures["n_atoms"]):
                writer.append(structures, atoms, features)
            logger.debug("merge: %s: %d structures", p, writer.n_structures - n_before)
            n_before = writer.n_structures
        writer.set_attributes(energy_choice=energy_choice, energy_kinds=",".join(kinds),
                              reference_energies_fitted=np.zeros(len(species), dtype=bool))
        out = writer.close()
    logger.info("merge: %d files, %d structures written to %s", len(paths), n_before, out)
    return out
