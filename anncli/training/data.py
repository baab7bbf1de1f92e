"""Training data: reading the training-set HDF5 file, in memory or streamed.

This module owns :class:`TrainingData` (structures table + raw features per species, all in
memory), :func:`load_training_data`, and the two *feature sources* that turn a list of
structure indices into a normalised :class:`~anncli.network.Batch`:
:class:`MemorySource` (features held in memory, normalised once) and :class:`StreamSource`
(features read from the file per request, ``memory: stream``).  The file layout is
docs/trainset-format.md.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from anncli.exceptions import FileFormatError
from anncli.io.trainset import open_trainset, read_species
from anncli.network.species import Batch

logger = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """A training set in memory.

    Attributes
    ----------
    path : Path
        The training-set file.
    species : list of str
        Global species order.
    reference_energies : ndarray of shape (n_species,), eV
    n_atoms : ndarray of shape (n_s,), int64
    energies : ndarray of shape (n_s,), eV
        Cohesive energies (the targets).
    sources : list of str
        Source file of every structure (with ``@frame`` when the frame is not 0).
    descriptors : dict of str to str
        Descriptor setup (JSON text) of every species.
    features : dict of str to ndarray of shape (n_a_sp, n_features)
        Raw features of every species (empty dict for a streamed set).
    structure_index : dict of str to ndarray of shape (n_a_sp,), int64
        Structure of every atom, non-decreasing.
    n_features : dict of str to int
    loaded : ndarray of shape (n_s,), bool, or None
        Structures whose rows ``features`` holds (MPI: this rank's share); None: all of them.
    """

    path: Path
    species: list[str]
    reference_energies: np.ndarray
    n_atoms: np.ndarray
    energies: np.ndarray
    sources: list[str]
    descriptors: dict[str, str]
    features: dict[str, np.ndarray] = field(default_factory=dict)
    structure_index: dict[str, np.ndarray] = field(default_factory=dict)
    n_features: dict[str, int] = field(default_factory=dict)
    loaded: np.ndarray | None = None

    @property
    def n_structures(self) -> int:
        return len(self.n_atoms)

    def species_offsets(self, sym: str) -> np.ndarray:
        """Rows of species ``sym`` owned by each structure: ``off[s]:off[s+1]``, shape (n_s+1,)."""
        return np.searchsorted(self.structure_index[sym], np.arange(self.n_structures + 1))

    def feature_offsets(self, sym: str) -> np.ndarray:
        """Rows of ``features[sym]`` owned by each structure (0 rows for a structure not loaded)."""
        off = self.species_offsets(sym)
        if self.loaded is None:
            return off
        counts = np.diff(off) * self.loaded
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _strings(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def load_training_data(path: str | Path, *, features: bool = True,
                       only: np.ndarray | None = None) -> TrainingData:
    """Read a training-set file.

    Parameters
    ----------
    path : str or Path
    features : bool
        Load the feature arrays; with False only the structure index arrays are read
        (``memory: stream``).
    only : ndarray of shape (n_s,), bool, optional
        Load the feature rows of these structures only (an MPI rank's share); see
        :meth:`TrainingData.feature_offsets`.

    Raises
    ------
    DataError, FileFormatError
        Missing, foreign, truncated (``complete`` not True) or other-version file, or an
        inconsistent layout.
    """
    path = Path(path)
    with open_trainset(path) as f:
        try:
            species = read_species(f)
            ref = np.asarray(f["reference_energies"][()], dtype=float)
            st = f["structures"]
            n_atoms = np.asarray(st["n_atoms"][()], dtype=np.int64)
            energies = np.asarray(st["cohesive_energy"][()], dtype=float)
            sources = _strings(st["source"][()])
            frames = np.asarray(st["frame"][()]) if "frame" in st else np.zeros(len(n_atoms), int)
            sources = [s if fr == 0 else f"{s}@{fr}" for s, fr in zip(sources, frames)]
            data = TrainingData(path=path, species=species, reference_energies=ref,
                                n_atoms=n_atoms, energies=energies, sources=sources,
                                descriptors={})
            counted = np.zeros(len(n_atoms), dtype=np.int64)
            for sym in species:
                g = f["features"][sym]
                data.descriptors[sym] = str(g.attrs.get("descriptor", ""))
                data.n_features[sym] = int(g["values"].shape[1])
                sidx = np.asarray(g["structure_index"][()], dtype=np.int64)
                data.structure_index[sym] = sidx
                counted += np.bincount(sidx, minlength=len(n_atoms))
                if features and only is None:
                    data.features[sym] = np.asarray(g["values"][()], dtype=float)
        except KeyError as exc:
            raise FileFormatError(f"{path}: the training-set file lacks {exc}") from None
    if len(counted) != len(n_atoms) or not np.array_equal(counted, n_atoms):
        raise FileFormatError(f"{path}: the feature rows do not match /structures/n_atoms")
    for sym in species:
        if np.any(np.diff(data.structure_index[sym]) < 0):
            raise FileFormatError(f"{path}: /features/{sym}/structure_index is not sorted")
    if features and only is not None:
        load_rows(data, only)
    logger.info("training set %s: %d structures, %d atoms, species %s", path,
                len(n_atoms), int(n_atoms.sum()), " ".join(species))
    return data


def load_rows(data: TrainingData, only: np.ndarray) -> None:
    """Read the feature rows of the structures ``only`` (bool mask) into ``data.features``."""
    ids = np.flatnonzero(only)
    data.loaded = np.asarray(only, dtype=bool)
    with open_trainset(data.path) as f:
        for sym in data.species:
            rows, _ = _ranges_rows(data.species_offsets(sym), ids)
            data.features[sym] = np.asarray(read_rows(f["features"][sym]["values"], rows), dtype=float)


@dataclass
class Normalization:
    """Feature and energy normalisation (statistics of the training split only).

    Attributes
    ----------
    feature_mean, feature_std : dict of str to ndarray of shape (n_features,)
        ``x' = (x - mean) / std``; features with std <= 1e-10 are set to 0.
    feature_min, feature_max : dict of str to ndarray of shape (n_features,)
        Range of the raw training features (for extrapolation warnings).
    energy_shift : float, eV/atom
    energy_scale : float, 1/eV
        Normalised per-atom target ``scale * (E_coh / N - shift)``.
    """

    feature_mean: dict
    feature_std: dict
    feature_min: dict
    feature_max: dict
    energy_shift: float
    energy_scale: float

    def inv_std(self, sym: str) -> np.ndarray:
        std = self.feature_std[sym]
        return np.where(std > 1e-10, 1.0 / np.where(std > 1e-10, std, 1.0), 0.0)

    def apply(self, sym: str, x: np.ndarray) -> np.ndarray:
        """Normalised copy of raw features ``x`` (n, n_features) of species ``sym``."""
        return (x - self.feature_mean[sym]) * self.inv_std(sym)

    def targets(self, energies: np.ndarray, n_atoms: np.ndarray) -> np.ndarray:
        """Normalised per-atom targets of cohesive ``energies`` (eV) with ``n_atoms``."""
        return self.energy_scale * (energies / n_atoms - self.energy_shift)

    def to_dict(self) -> dict:
        return {"feature_mean": self.feature_mean, "feature_std": self.feature_std,
                "feature_min": self.feature_min, "feature_max": self.feature_max,
                "energy_shift": self.energy_shift, "energy_scale": self.energy_scale}


def _ranges_rows(offsets: np.ndarray, ids: np.ndarray):
    """Rows of the structures ``ids`` (in that order) given per-structure row offsets."""
    starts = offsets[ids]
    counts = offsets[ids + 1] - starts
    total = int(counts.sum())
    local = np.repeat(np.arange(len(ids)), counts)
    first = np.cumsum(counts) - counts
    rows = np.arange(total) - np.repeat(first - starts, counts)
    return rows, local


def read_rows(dataset: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (any order, repeats allowed) of a 2-D dataset, with few HDF5 reads."""
    if len(rows) == 0:
        return np.zeros((0, dataset.shape[1]))
    lo, hi = int(rows.min()), int(rows.max()) + 1
    if hi - lo <= 4 * len(rows):  # one contiguous read, then select
        return dataset[lo:hi][rows - lo]
    order = np.unique(rows)
    block = dataset[order]  # h5py point selection needs increasing indices
    return block[np.searchsorted(order, rows)]


class MemorySource:
    """Batches from features held in memory (normalised once, at construction).

    Parameters
    ----------
    data : TrainingData
    norm : Normalization
    weights : ndarray of shape (n_s,)
        Per-structure loss weights.
    """

    def __init__(self, data: TrainingData, norm: Normalization, weights: np.ndarray,
                 chunk_structures: int = 2000, forces=None) -> None:
        self.species = data.species
        self.forces = forces  # ForceData (force training) or None
        self.chunk = int(chunk_structures)
        self.n_atoms = data.n_atoms.astype(float)
        self.targets = norm.targets(data.energies, data.n_atoms)
        self.weights = weights
        self.x = {sym: norm.apply(sym, data.features[sym]) for sym in self.species}
        self.offsets = {sym: data.feature_offsets(sym) for sym in self.species}

    def batch(self, ids: np.ndarray) -> Batch:
        """The structures ``ids`` (in that order) as a :class:`Batch`."""
        ids = np.asarray(ids, dtype=np.int64)
        x, sidx = {}, {}
        for sym in self.species:
            rows, local = _ranges_rows(self.offsets[sym], ids)
            x[sym] = self.x[sym][rows]
            sidx[sym] = local
        return Batch(ids=ids, n_atoms=self.n_atoms[ids], targets=self.targets[ids],
                     weights=self.weights[ids], x=x, sidx=sidx,
                     forces=None if self.forces is None else self.forces.batch(ids))

    def chunks(self, ids: np.ndarray):
        """The structures ``ids`` in consecutive batches of at most ``chunk`` structures.

        The same chunking as :class:`StreamSource`, so both give identical sums.
        """
        ids = np.asarray(ids, dtype=np.int64)
        for start in range(0, len(ids), self.chunk):
            yield self.batch(ids[start:start + self.chunk])

    def close(self) -> None:
        pass


class StreamSource:
    """Batches read from the training-set file on demand (``memory: stream``).

    Features are read per species by structure range and normalised per batch; full passes
    go through the set in chunks of ``chunk_structures`` structures.
    """

    def __init__(self, data: TrainingData, norm: Normalization, weights: np.ndarray,
                 chunk_structures: int = 2000, forces=None) -> None:
        self.species = data.species
        self.forces = forces  # ForceData (force training, derivatives recomputed per batch) or None
        self.norm = norm
        self.n_atoms = data.n_atoms.astype(float)
        self.targets = norm.targets(data.energies, data.n_atoms)
        self.weights = weights
        self.offsets = {sym: data.species_offsets(sym) for sym in self.species}
        self.chunk = int(chunk_structures)
        self._file = h5py.File(data.path, "r")
        self._values = {sym: self._file["features"][sym]["values"] for sym in self.species}
        self._inv_std = {sym: norm.inv_std(sym) for sym in self.species}

    def _read_rows(self, sym: str, rows: np.ndarray) -> np.ndarray:
        return read_rows(self._values[sym], rows)

    def batch(self, ids: np.ndarray) -> Batch:
        ids = np.asarray(ids, dtype=np.int64)
        x, sidx = {}, {}
        for sym in self.species:
            rows, local = _ranges_rows(self.offsets[sym], ids)
            raw = self._read_rows(sym, rows)
            x[sym] = (raw - self.norm.feature_mean[sym]) * self._inv_std[sym]
            sidx[sym] = local
        return Batch(ids=ids, n_atoms=self.n_atoms[ids], targets=self.targets[ids],
                     weights=self.weights[ids], x=x, sidx=sidx,
                     forces=None if self.forces is None else self.forces.batch(ids))

    def chunks(self, ids: np.ndarray):
        """The structures ``ids`` in consecutive batches of at most ``chunk`` structures."""
        ids = np.asarray(ids, dtype=np.int64)
        for start in range(0, len(ids), self.chunk):
            yield self.batch(ids[start:start + self.chunk])

    def close(self) -> None:
        self._file.close()


def raw_feature_chunks(data: TrainingData, sym: str, ids: np.ndarray, chunk: int = 2000):
    """Raw features of species ``sym`` of structures ``ids`` (sorted), chunk by chunk.

    Reads from memory when ``data.features`` holds all of them, otherwise from the file.
    """
    ids = np.asarray(ids, dtype=np.int64)
    offsets = data.species_offsets(sym)
    if sym in data.features and data.loaded is None:
        for start in range(0, len(ids), chunk):
            rows, _ = _ranges_rows(offsets, ids[start:start + chunk])
            yield data.features[sym][rows]
        return
    with h5py.File(data.path, "r") as f:
        values = f["features"][sym]["values"]
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            rows, _ = _ranges_rows(offsets, part)
            if len(rows) == 0:
                continue
            lo, hi = int(rows.min()), int(rows.max()) + 1
            yield values[lo:hi][rows - lo]


def descriptor_json(data: TrainingData, sym: str) -> str:
    """Descriptor setup JSON of species ``sym`` (validated to be JSON)."""
    text = data.descriptors.get(sym, "")
    try:
        json.loads(text)
    except (TypeError, ValueError):
        raise FileFormatError(
            f"{data.path}: /features/{sym} has no valid 'descriptor' attribute") from None
    return text
