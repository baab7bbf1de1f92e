"""``anncli convert file.train``: an ænet training set as an anncli HDF5 training set.

This module owns the conversion of what :mod:`anncli.io.aenet_trainset` reads into the layout
of docs/trainset-format.md (written by :class:`~anncli.io.trainset.TrainsetWriter`, atomically),
so that ``anncli train`` trains on features computed by ænet.  What it keeps and what it cannot:

* features, positions, forces, species and cohesive energies are copied bit for bit from a raw
  file (``normalized`` F); the total energy is E_coh + Σ E_atom.  A normalised file (train.x's
  ``*.scaled``, flag T) is un-normalised (E_coh = E'/scale + N·shift, F = F'/scale,
  G = G'·std + mean with ænet's statistics): equal to the raw values to rounding, with a warning;
* ænet has no units: ``energy_unit``/``length_unit`` convert energies, coordinates, forces and
  the setups' lengths to eV and Å (the features are dimensionless and stay as they are);
* ænet stores no cells: the cell and periodicity of a structure are taken from its source XSF
  file when that file is found (relative to the training-set file's directory) and holds the
  same atoms, else they are zeros / non-periodic (training does not need them);
* the descriptor setups in the binary footer are recorded so that ``anncli predict`` can use a
  model trained on the converted set.  A setup anncli cannot compute the same features for is
  recorded as ``kind: unavailable`` with the reason (:class:`UnavailableDescriptor`): a text file
  without setups (unless setup files are given), or Behler2011 setups whose features ænet 2.0.4
  evaluated with another species' function table (aenet-reference §1b).  Training works;
  predicting with such a model stops with that reason.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anncli.exceptions import DataError, FileFormatError
from anncli.io.aenet_trainset import AenetStructure, AenetTrainsetHeader, read_aenet_trainset

logger = logging.getLogger(__name__)

__all__ = ["convert_aenet_trainset", "ConversionResult", "UnavailableDescriptor"]

_BATCH_STRUCTURES = 2000
#: Largest position difference between the training set and its source XSF for the XSF's cell to
#: be used (ænet converts coordinates Cartesian -> fractional -> Cartesian), in the file's unit.
_CELL_MATCH = 1e-6
#: Largest magnitude of a stored number (energy, coordinate, force, feature): beyond it a value is
#: damage, not data (and its square would overflow the feature statistics).
_LARGEST = 1e100


class UnavailableDescriptor:
    """A descriptor setup anncli cannot compute: only the feature count and the reason are known.

    Stored as ``{"kind": "unavailable", "central", "n_features", "reason"}``; training on its
    features works, computing them (predict, validate) stops with ``reason``.
    """

    kind = "unavailable"

    def __init__(self, central: str, n_features: int, reason: str) -> None:
        self.central, self.n_features, self.reason = central, int(n_features), reason

    def to_dict(self) -> dict:
        return {"kind": self.kind, "central": self.central, "n_features": self.n_features,
                "reason": self.reason}


@dataclass
class ConversionResult:
    """What :func:`convert_aenet_trainset` wrote."""

    output: Path
    n_structures: int
    n_atoms: int
    species: list[str]
    descriptors: dict[str, str]  #: per species: the descriptor kind, or "unavailable: <reason>"
    cells_found: int


def _behler_misindexed(species: list[str], setups: dict[str, dict]) -> list[str]:
    """Species whose Behler2011 features ænet 2.0.4 evaluated with another species' table."""
    out = []
    for k, sym in enumerate(species):
        desc = setups.get(sym, {}).get("descriptor", {})
        if desc.get("kind") == "behler2011" and (sym not in desc["env"] or desc["env"].index(sym) != k):
            out.append(sym)
    return out


def _known_setups(header: AenetTrainsetHeader, stp: dict[str, object]) -> tuple[dict, dict[str, str]]:
    """Descriptor objects known before the structures are read, and reasons for the others."""
    from anncli.descriptors import descriptor_from_dict
    from anncli.exceptions import ConfigError

    setups: dict = {}
    reasons: dict[str, str] = {}
    if header.setups is not None:
        if stp:
            logger.warning("%s holds its own descriptor setups; the setup files given are not used",
                           header.path)
        bad = _behler_misindexed(header.species, header.setups)
        for sym in header.species:
            if sym not in header.setups:
                reasons[sym] = f"the file holds no descriptor setup for {sym}"
            elif sym in bad:
                env = header.setups[sym]["descriptor"]["env"]
                reasons[sym] = (f"ænet 2.0.4 computed the Behler2011 features of {sym} with the function "
                                f"table of another species ({sym} is type {header.species.index(sym) + 1} "
                                f"in the training set but at position "
                                f"{env.index(sym) + 1 if sym in env else '-'} of its ENV list), so they "
                                "are not the features its setup defines; regenerate the training set with "
                                "'anncli generate generate.in' to predict with it")
            else:
                desc = header.setups[sym]["descriptor"]
                try:
                    setups[sym] = descriptor_from_dict(desc, where=f"the {desc['kind']} setup of {sym}")
                except ConfigError as exc:
                    reasons[sym] = f"anncli cannot compute its descriptor setup ({exc})"
        return setups, reasons
    for sym in header.species:
        if sym in stp:
            setups[sym] = stp[sym]
        else:
            reasons[sym] = ("the training-set file holds no descriptor setup (trnset2ASCII's text "
                            "omits them); convert the binary file, or give the .stp setup files "
                            "(anncli convert FILE --stp Ti.stp --stp O.stp), to predict with it")
    return setups, reasons


def _stp_setups(paths: list[Path]) -> dict[str, object]:
    """Descriptor objects from ænet setup files, by central species."""
    from anncli.descriptors import descriptor_from_dict
    from anncli.descriptors.behler import BehlerSetup
    from anncli.io.aenet_inputs import read_stp

    out = {}
    for p in paths:
        setup = read_stp(p)
        if isinstance(setup, BehlerSetup):
            out[setup.central] = setup
        else:
            out[setup["central"]] = descriptor_from_dict({"kind": "chebyshev", **setup, "weights": None},
                                                         where=str(p))
    return out


def _scaled(setup, factor: float):
    """``setup`` with its lengths multiplied by ``factor`` (the features do not change)."""
    from anncli.descriptors import descriptor_from_dict

    if isinstance(setup, UnavailableDescriptor):
        return setup
    if hasattr(setup, "scaled"):
        return setup.scaled(factor)
    d = setup.to_dict()
    d["radial_cutoff"] *= factor
    d["angular_cutoff"] *= factor
    return descriptor_from_dict(d)


def _cell_from_source(base: Path, s: AenetStructure, cache: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Cell and pbc of the structure's source XSF when it is found and holds the same atoms."""
    from anncli.io.xsf import read_xsf

    if s.source in cache:  # known to be missing or unreadable (found files are not kept: memory)
        return None
    cand = Path(s.source)
    cand = cand if cand.is_absolute() else base / cand
    try:
        x = read_xsf(cand) if cand.is_file() else None
    except Exception:  # noqa: BLE001 - an unreadable source only means: no cell
        x = None
    if x is None:
        cache[s.source] = None
    if x is None or len(x.positions) != len(s.positions) or x.cell is None:
        return None
    if np.max(np.abs(np.asarray(x.positions) - s.positions)) > _CELL_MATCH:
        return None
    return np.asarray(x.cell, dtype=float), np.asarray(x.pbc, dtype=bool)


def convert_aenet_trainset(
    path: str | Path, output: str | Path | None = None, *, overwrite: bool = False,
    stp: list[str | Path] | None = None, energy_unit: str = "eV", length_unit: str = "Angstrom",
) -> ConversionResult:
    """Convert an ænet training-set file into an anncli HDF5 training set.

    Parameters
    ----------
    path : path
        generate.x's binary file or trnset2ASCII's text.
    output : path, optional
        The HDF5 file; default: ``path`` with suffix ``.h5``.
    overwrite : bool
        Replace an existing output file.
    stp : list of path, optional
        ænet setup files (.stp) for a file that holds no setups (text), in ``length_unit``.
    energy_unit, length_unit : str
        Units of the ænet file (ænet has none: those of the structure files it was made from);
        energies, coordinates, forces and the setups' lengths are converted to eV and Å.  The
        features are dimensionless and stay as they are.

    Returns
    -------
    ConversionResult

    Raises
    ------
    FileFormatError, DataError
        An unreadable file, an atom of an unknown type, a feature count that differs from its
        species' setup or from the other atoms of its species, an existing output.
    """
    from anncli.io.trainset import TrainsetWriter

    path = Path(path)
    output = Path(output) if output is not None else path.with_suffix(".h5")
    if output.resolve() == path.resolve():
        raise DataError(f"{output}: the output would replace the input file; give another name with -o")
    if output.exists() and not overwrite:
        raise DataError(f"{output}: the output file exists; remove it or use --overwrite")
    from anncli.units import energy_factor, length_factor

    ef, lf = energy_factor(energy_unit), length_factor(length_unit)
    header, structures = read_aenet_trainset(path)
    species, nt = header.species, len(header.species)
    setups, reasons = _known_setups(header, _stp_setups([Path(p) for p in stp or []]))
    if lf != 1.0:
        setups = {sym: _scaled(setup, lf) for sym, setup in setups.items()}
    n_features: dict[str, int] = {s: setups[s].n_features for s in setups}
    for sym in reasons:  # the footer knows the size even where anncli cannot compute the setup
        if header.setups and sym in header.setups and sym not in _behler_misindexed(species, header.setups):
            n_features[sym] = len(header.setups[sym]["stats"]["sfval_avg"])
    if header.normalized:
        if not header.setups:
            raise DataError(f"{path}: the training set is normalised (train.x's .scaled file, or "
                            "trnset2ASCII without --raw) and holds no feature statistics to undo it; convert "
                            "the raw file")
        logger.warning("%s is normalised (train.x's .scaled file): energies, forces and features are "
                       "un-normalised with its scale, shift and feature statistics (equal to the raw "
                       "values to rounding); the raw file gives them exactly", path)
        if not (math.isfinite(header.scale) and header.scale != 0.0):
            raise DataError(f"{path}: the energy scale {header.scale!r} must be finite and non-zero")
    norm = {}
    if header.normalized:
        for sym, st in header.setups.items():
            mean = st["stats"]["sfval_avg"]
            with np.errstate(all="ignore"):
                std = np.sqrt(np.maximum(st["stats"]["sfval_cov"] - mean ** 2, 0.0))
            norm[sym] = (mean, np.where(std > 1e-10, std, 0.0))
    writer = None
    pending: list[AenetStructure] = []
    counts = {"structures": 0, "atoms": 0, "cells": 0}
    cache: dict = {}
    base = path.resolve().parent

    def open_writer() -> TrainsetWriter:
        descs = dict(setups)
        for sym in species:
            if sym not in descs:
                if sym not in n_features:
                    raise DataError(f"{path}: species {sym} has no atoms and no descriptor setup: its number "
                                    "of features is unknown; give its .stp file with --stp")
                descs[sym] = UnavailableDescriptor(sym, n_features[sym], reasons[sym])
        w = TrainsetWriter(output, species, header.e_atom * ef, descs, input_path=str(path.resolve()),
                           overwrite=overwrite)
        w.set_attributes(converted_from=str(path.resolve()),
                         converted_format="aenet-binary" if header.binary else "aenet-text",
                         energy_choice="total", energy_kinds="total")
        return w

    def flush() -> None:
        nonlocal writer
        if writer is None:
            writer = open_writer()
        batch = pending[:]
        pending.clear()
        if not batch:
            return
        n = np.array([len(s.species) for s in batch], dtype=np.int64)
        cells = np.zeros((len(batch), 3, 3))
        pbc = np.zeros((len(batch), 3), dtype=bool)
        for k, s in enumerate(batch):
            found = _cell_from_source(base, s, cache)
            if found is not None:
                cells[k], pbc[k] = found
                counts["cells"] += 1
        z = np.concatenate([s.species for s in batch])
        feats = [v for s in batch for v in s.features]
        features = {}
        for t, sym in enumerate(species):
            idx = np.flatnonzero(z == t)
            values = np.array([feats[i] for i in idx]).reshape(len(idx), writer.setups[sym].n_features)
            if sym in norm:
                mean, std = norm[sym]
                with np.errstate(all="ignore"):
                    values = np.where(std > 0.0, values * std + mean, mean)
            features[sym] = (idx, values)
        cohesive = np.array([s.energy for s in batch])
        forces = np.concatenate([s.forces for s in batch])
        if header.normalized:
            with np.errstate(all="ignore"):
                cohesive = cohesive / header.scale + n * header.shift
                forces = forces / header.scale
        energy = cohesive + np.array([header.e_atom[s.species].sum() for s in batch])
        positions = np.concatenate([s.positions for s in batch])
        if ef != 1.0 or lf != 1.0:
            cohesive, energy, forces, positions = cohesive * ef, energy * ef, forces * (ef / lf), positions * lf
            cells = cells * lf
        with np.errstate(all="ignore"):
            checks = [("energies", energy), ("forces", forces)] + [
                (f"{sym} features", v) for sym, (_, v) in features.items()]
        for what, values in checks:
            if not (np.abs(values) <= _LARGEST).all():
                raise DataError(f"{path}: the {what} are not finite numbers of magnitude <= {_LARGEST:g}"
                                + (" after undoing the normalisation (scale, shift, statistics)"
                                   if header.normalized else "") + "; is the file damaged?")
        writer.append(
            {"energy": energy, "cohesive_energy": cohesive, "n_atoms": n, "cell": cells, "pbc": pbc,
             "source": np.array([s.source for s in batch], dtype=object),
             "frame": np.zeros(len(batch), dtype=np.int64), "has_forces": np.ones(len(batch), dtype=bool)},
            {"species": z.astype(np.int32), "positions": positions, "forces": forces},
            features,
        )
        counts["structures"] += len(batch)
        counts["atoms"] += int(n.sum())

    try:
        for k, s in enumerate(structures):
            bad = np.flatnonzero((s.species < 0) | (s.species >= nt))
            if len(bad):
                raise FileFormatError(f"{path}: atom {bad[0] + 1} of structure {k + 1} ({s.source}) has type "
                                      f"{s.species[bad[0]] + 1}; the file has {nt} types")
            where = f"{path}: structure {k + 1} ({s.source})"
            if not abs(s.energy) <= _LARGEST:
                raise DataError(f"{where} has the energy {s.energy!r}; expected a finite number")
            for name, arr in (("coordinates", s.positions), ("forces", s.forces)):
                bad = ~(np.abs(arr) <= _LARGEST).all(axis=1)
                if bad.any():
                    raise DataError(f"{where}: atom {int(np.flatnonzero(bad)[0]) + 1} has {name} that are "
                                    f"not finite numbers of magnitude <= {_LARGEST:g}")
            flat = np.concatenate(s.features)
            if not (np.abs(flat) <= _LARGEST).all():
                i = next(i for i, f in enumerate(s.features) if not (np.abs(f) <= _LARGEST).all())
                raise DataError(f"{where}: atom {i + 1} has features that are not finite numbers of "
                                f"magnitude <= {_LARGEST:g}")
            for i, t in enumerate(s.species):
                sym = species[t]
                have = n_features.setdefault(sym, len(s.features[i]))
                if len(s.features[i]) != have:
                    raise DataError(f"{path}: atom {i + 1} of structure {k + 1} ({s.source}) has "
                                    f"{len(s.features[i])} features; {sym} has {have}"
                                    + (" in its setup" if sym in setups else " in the atoms before"))
            pending.append(s)
            if len(pending) >= _BATCH_STRUCTURES and (writer is not None or len(n_features) == nt):
                flush()  # the writer is opened once every species' feature count is known
        if counts["structures"] + len(pending) != header.n_structures:
            raise FileFormatError(f"{path}: holds {counts['structures'] + len(pending)} structures, "
                                  f"its header says {header.n_structures}")
        flush()
        assert writer is not None
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        structures.close()
    descriptors = {s: (writer.setups[s].kind if s not in reasons else f"unavailable: {reasons[s]}")
                   for s in species}
    for sym, why in reasons.items():
        logger.warning("%s: the descriptor of %s is recorded as unavailable: %s. Training works; "
                       "predicting with the model does not", output, sym, why)
    if counts["cells"] < counts["structures"]:
        logger.info("%s: ænet stores no cells; %d of %d structures have their cell from the source XSF, "
                    "the others are stored with zero cells (not needed for training)", output,
                    counts["cells"], counts["structures"])
    return ConversionResult(output, counts["structures"], counts["atoms"], species, descriptors,
                            counts["cells"])

