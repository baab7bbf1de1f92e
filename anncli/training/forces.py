"""Force training data: reference forces and compact feature derivatives.

This module owns :class:`ForceData`, which reads ``/atoms/forces`` of a training-set file,
recomputes the feature derivatives of the structures with forces from their positions
(:mod:`anncli.training.pair_builder`; nothing of that is stored in the file), and cuts
:class:`~anncli.network.ForceBatch` objects for any list of structures.  With
``memory: load`` the derivatives of the whole set are computed once and kept in memory in
compact form; with ``memory: stream`` they are recomputed for every batch, so memory stays
bounded by the chunk size.  The loss it feeds (:meth:`anncli.network.SpeciesNetworks.loss_grad`)
is, per structure s with weight w_s,

    w_s * [ r_s^2 + force_weight * sum_j |F_j - F_ref_j|^2 / (3 N_s) ] / 2

in normalised units (energies and forces times the energy scale), so ``force_weight`` (Å²)
weighs a force error of 1 eV/Å like a per-atom energy error of 1 eV.  With ``force_fraction``
< 1, every epoch draws that fraction of the training structures with forces (seeded by the
seed and the epoch), and their force terms count 1/fraction times, so that the loss is an
unbiased estimate of the full one.
"""

from __future__ import annotations

import json
import logging
import time

import h5py
import numpy as np

from anncli.exceptions import ConfigError, DataError, FileFormatError
from anncli.network.pair_data import PairData
from anncli.network.species import ForceBatch
from anncli.training.data import Normalization, TrainingData, _ranges_rows, read_rows
from anncli.training.pair_builder import check_features, compute_pair_data, radial_structure

logger = logging.getLogger(__name__)

#: Atoms per chunk when derivatives are computed: the dense float64 derivatives of one chunk
#: are held while it is compressed.
CHUNK_ATOMS = 2000
#: Atoms per full-pass chunk of force training: with ``memory: stream`` the compact pair data of
#: one chunk is held at once (TiO2, 56 features: ~17 kB per atom).
STREAM_CHUNK_ATOMS = 20000


def stream_chunk_structures(n_atoms: np.ndarray, limit: int = 2000) -> int:
    """Structures per full-pass chunk with forces: at most ``limit``, ~STREAM_CHUNK_ATOMS atoms."""
    mean = float(np.mean(n_atoms)) if len(n_atoms) else 1.0
    return max(1, min(int(limit), int(STREAM_CHUNK_ATOMS / max(mean, 1.0))))


def _atom_chunks(ids: np.ndarray, n_atoms: np.ndarray):
    """(start, stop) of consecutive groups of ``ids`` with at most CHUNK_ATOMS atoms (or one
    structure)."""
    start = 0
    while start < len(ids):
        stop = start + 1
        total = int(n_atoms[ids[start]])
        while stop < len(ids) and total + n_atoms[ids[stop]] <= CHUNK_ATOMS:
            total += int(n_atoms[ids[stop]])
            stop += 1
        yield start, stop
        start = stop


def _setups(data: TrainingData) -> dict:
    from anncli.descriptors import descriptor_from_dict
    from anncli.training.data import descriptor_json

    out = {}
    for sym in data.species:
        try:
            out[sym] = descriptor_from_dict(json.loads(descriptor_json(data, sym)))
        except FileFormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - any reason the setup cannot be rebuilt
            raise FileFormatError(
                f"{data.path}: the descriptor of {sym} cannot be rebuilt to compute the feature "
                f"derivatives for force training ({exc})") from None
    return out


def _assemble(parts: list[tuple[np.ndarray, PairData]], n_rows: int, center_atom: np.ndarray,
              structure, n_angular: int) -> PairData:
    """One :class:`PairData` over ``n_rows`` rows from parts covering some of them (ascending)."""
    counts = np.zeros(n_rows, dtype=np.int64)
    ang_counts = np.zeros(n_rows, dtype=np.int64)
    for rows, pd in parts:
        counts[rows] = np.diff(pd.pair_offset)
        ang_counts[rows] = np.diff(pd.ang_offset)
    joined = PairData.concatenate([pd for _, pd in parts], structure, n_angular)
    joined.pair_offset = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    joined.ang_offset = np.concatenate([[0], np.cumsum(ang_counts)]).astype(np.int64)
    joined.center_atom = np.asarray(center_atom, dtype=np.int64)
    return joined


def _local_offsets(offsets: np.ndarray, owned: np.ndarray) -> np.ndarray:
    """Per-structure offsets counting the rows of the ``owned`` structures only."""
    return np.concatenate([[0], np.cumsum(np.diff(offsets) * owned)]).astype(np.int64)


def _read_1d_or_2d(dataset: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (ascending) of a 1-D or 2-D dataset, in one contiguous read when dense."""
    if len(rows) == 0:
        return np.zeros((0, *dataset.shape[1:]), dtype=dataset.dtype)
    if len(rows) == dataset.shape[0]:
        return np.asarray(dataset[()])
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    if hi - lo <= 4 * len(rows):
        return np.asarray(dataset[lo:hi])[rows - lo]
    return np.asarray(dataset[np.unique(rows)])[np.searchsorted(np.unique(rows), rows)]


class ForceData:
    """Reference forces and feature derivatives of a whole training set.

    Parameters
    ----------
    data : TrainingData
        With ``features`` loaded (``memory: load``) the recomputed features are checked against
        them; a streamed set is checked batch by batch against the file.
    norm : Normalization
        Feature std and energy scale of the training split.
    weights : ndarray of shape (n_s,)
        Per-structure loss weights.
    force_weight : float
        Weight of the force term (Å²), see the module docstring.
    memory : {"load", "stream"}
        Compute all derivatives once (load) or per batch (stream).
    fraction : float
        ``force_fraction``: the share of the training structures whose forces count in an epoch.
    seed : int or tuple of int
        Seed of the per-epoch draw (with the committee member: ``(seed, member)``).
    owned : ndarray of shape (n_s,), bool, optional
        Hold the forces and derivatives of these structures only (an MPI rank's share,
        :mod:`anncli.training.shards`); atoms and feature rows are then numbered among the
        owned structures (``atom_offset``, ``species_offsets``), the file's numbering is kept
        in ``file_atom_offset``, ``file_species_offsets``.

    Raises
    ------
    ConfigError
        No structure of the file has forces, or ``fraction`` is outside (0, 1].
    DataError
        The stored features do not match the positions.
    """

    def __init__(self, data: TrainingData, norm: Normalization, weights: np.ndarray,
                 force_weight: float, *, memory: str = "load", fraction: float = 1.0,
                 seed: int | tuple = 0, owned: np.ndarray | None = None) -> None:
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(f"force_fraction: expected a number in (0, 1], got {fraction:g}")
        self.path = data.path
        self.species = data.species
        self.fraction = float(fraction)
        self.seed = tuple(int(v) for v in np.atleast_1d(seed))
        self.streamed = memory == "stream"
        self.setups = _setups(data)
        self.structures = {sym: radial_structure(self.setups[sym]) for sym in self.species}
        self.scale = {sym: norm.inv_std(sym) for sym in self.species}
        self.owned = (np.ones(data.n_structures, dtype=bool) if owned is None
                      else np.asarray(owned, dtype=bool))
        owned_ids = np.flatnonzero(self.owned)
        with h5py.File(data.path, "r") as f:
            st = f["structures"]
            self.file_atom_offset = np.asarray(st["atom_offset"][()], dtype=np.int64)
            self.has_forces = np.asarray(st["has_forces"][()], dtype=bool)
            n_atoms = np.diff(self.file_atom_offset)
            if len(n_atoms) != data.n_structures or not np.array_equal(n_atoms, data.n_atoms):
                raise DataError(f"{data.path}: /structures/atom_offset does not match n_atoms")
            self.atom_offset = _local_offsets(self.file_atom_offset, self.owned)
            self.file_species_offsets = {sym: data.species_offsets(sym) for sym in self.species}
            self.species_offsets = {sym: _local_offsets(off, self.owned)
                                    for sym, off in self.file_species_offsets.items()}
            atom_rows, _ = _ranges_rows(self.file_atom_offset, owned_ids)
            forces = _read_1d_or_2d(f["atoms"]["forces"], atom_rows)
            self.center_atom = {}
            for sym in self.species:  # the atom of every owned feature row, in owned numbering
                rows, _ = _ranges_rows(self.file_species_offsets[sym], owned_ids)
                atom = _read_1d_or_2d(f["features"][sym]["atom_index"], rows).astype(np.int64)
                s_of_row = data.structure_index[sym][rows]
                self.center_atom[sym] = atom - self.file_atom_offset[s_of_row] + self.atom_offset[s_of_row]
        if not self.has_forces.any():
            raise ConfigError(f"force_weight: no structure of {data.path} has forces")
        if (~self.has_forces).any():
            logger.info("force training: %d of %d structures have forces; the others count with "
                        "their energies only", int(self.has_forces.sum()), len(self.has_forces))
        if self.file_atom_offset[-1] >= 2**31:
            raise DataError(f"{data.path}: force training handles up to 2^31 atoms per training set")
        per_structure = force_weight * weights * self.has_forces / (3.0 * np.maximum(n_atoms, 1))
        self.coef = np.repeat(per_structure, n_atoms * self.owned)
        self.reference = norm.energy_scale * np.where(np.isfinite(forces), forces, 0.0)
        #: force-loss factor of every structure in the current epoch (see :meth:`draw`)
        self.factor = np.ones(data.n_structures)
        self.pairs: dict[str, PairData] | None = None
        if not self.streamed:
            t0 = time.perf_counter()
            self.pairs = self._compute_all(data)
            n_pairs = sum(p.n_pairs for p in self.pairs.values())
            logger.info("force training: weight %g Å²; derivatives of %d pairs recomputed in %.1f s, "
                        "%.0f MB in memory", force_weight, n_pairs, time.perf_counter() - t0,
                        sum(p.nbytes for p in self.pairs.values()) / 2**20)

    # ------------------------------------------------------------------ computing derivatives
    def _read_atoms(self, f: h5py.File, ids: np.ndarray):
        """Positions, species, cells, pbc and atom offsets of structures ``ids`` (in that order)."""
        atom_rows, _ = _ranges_rows(self.file_atom_offset, ids)
        lo, hi = (int(atom_rows.min()), int(atom_rows.max()) + 1) if len(atom_rows) else (0, 0)
        positions = np.asarray(f["atoms"]["positions"][lo:hi], dtype=float)[atom_rows - lo]
        species = np.asarray(f["atoms"]["species"][lo:hi], dtype=np.int32)[atom_rows - lo]
        order = np.argsort(ids)
        sorted_ids = ids[order]
        cells = np.empty((len(ids), 3, 3))
        pbcs = np.empty((len(ids), 3), dtype=bool)
        if len(ids):
            cells[order] = np.asarray(f["structures"]["cell"][sorted_ids], dtype=float)
            pbcs[order] = np.asarray(f["structures"]["pbc"][sorted_ids], dtype=bool)
        counts = self.file_atom_offset[ids + 1] - self.file_atom_offset[ids]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return atom_rows, positions, species, cells, pbcs, offsets

    def _pairs_of(self, f: h5py.File, ids: np.ndarray, stored: dict | None):
        """Pair data (batch atoms of ``ids``) of the structures ``ids`` (the features checked
        against ``stored``, this rank's rows, or the file)."""
        atom_rows, positions, species, cells, pbcs, offsets = self._read_atoms(f, ids)
        labels = [f"{self.path}: structure {int(s) + 1}" for s in ids]
        pairs, features = compute_pair_data(positions, cells, pbcs, offsets, species, self.species,
                                            self.setups, labels=labels, structures=self.structures)
        for sym in self.species:
            if stored is not None:
                have = stored[sym][_ranges_rows(self.species_offsets[sym], ids)[0]]
            else:
                rows, _ = _ranges_rows(self.file_species_offsets[sym], ids)
                have = np.asarray(read_rows(f["features"][sym]["values"], rows), dtype=float)
            where = f"{self.path}: /features/{sym} of structures {int(ids[0]) + 1}-{int(ids[-1]) + 1}"
            check_features(have, features[sym], where)
        return pairs

    def _compute_all(self, data: TrainingData) -> dict[str, PairData]:
        stored = data.features if data.features else None
        with_forces = np.flatnonzero(self.has_forces & self.owned)
        parts: dict[str, list] = {sym: [] for sym in self.species}
        n_atoms = np.diff(self.file_atom_offset)
        with h5py.File(self.path, "r") as f:
            for start, stop in _atom_chunks(with_forces, n_atoms):
                ids = with_forces[start:stop]
                pairs = self._pairs_of(f, ids, stored)
                atom_rows, _ = _ranges_rows(self.atom_offset, ids)  # owned numbering
                for sym, pd in pairs.items():
                    pd.center_atom = atom_rows[pd.center_atom]
                    pd.neighbor = atom_rows[pd.neighbor].astype(np.int32)
                    rows, _ = _ranges_rows(self.species_offsets[sym], ids)
                    parts[sym].append((rows, pd))
        out = {}
        for sym in self.species:
            st = self.structures[sym]
            out[sym] = _assemble(parts[sym], len(self.center_atom[sym]), self.center_atom[sym], st,
                                 len(st.angular_features))
        return out

    # ------------------------------------------------------------------ force_fraction
    def draw(self, epoch: int, train_ids: np.ndarray) -> None:
        """Choose the structures whose forces count in ``epoch`` (``force_fraction`` < 1).

        The draw depends only on the seed and the epoch, so a resumed run draws the same.
        """
        if self.fraction >= 1.0:
            return
        candidates = np.asarray(train_ids, dtype=np.int64)
        candidates = candidates[self.has_forces[candidates]]
        n = max(1, int(round(self.fraction * len(candidates))))
        rng = np.random.default_rng([*self.seed, int(epoch), 0x46])
        chosen = rng.choice(candidates, size=n, replace=False) if len(candidates) else candidates
        self.factor[:] = 0.0
        self.factor[chosen] = len(candidates) / max(n, 1)

    # ------------------------------------------------------------------ batches
    def batch(self, ids: np.ndarray) -> ForceBatch:
        """The force data of structures ``ids`` (in that order), atoms renumbered for the batch."""
        ids = np.asarray(ids, dtype=np.int64)
        first = self.atom_offset[ids]
        n_atoms = self.atom_offset[ids + 1] - first
        batch_first = np.cumsum(n_atoms) - n_atoms
        atom_rows, atom_structure = _ranges_rows(self.atom_offset, ids)
        rows, row_start = {}, {}
        for sym in self.species:
            off = self.species_offsets[sym]
            counts = off[ids + 1] - off[ids]
            row_start[sym] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            rows[sym], _ = _ranges_rows(off, ids)
        if self.streamed:
            pairs = self._stream_pairs(ids, rows, row_start)
            rows = {sym: np.arange(len(r), dtype=np.int64) for sym, r in rows.items()}
            shift = np.zeros(len(ids), dtype=np.int64)
        else:
            pairs = self.pairs
            shift = batch_first - first
        return ForceBatch(reference=self.reference[atom_rows], coef=self.coef[atom_rows],
                          atom_structure=atom_structure, ids=ids, factor=self.factor, pairs=pairs,
                          rows=rows, row_start=row_start, shift=shift, scale=self.scale)

    def _stream_pairs(self, ids: np.ndarray, rows: dict, row_start: dict) -> dict:
        """Pair data of a batch computed now, rows and atoms numbered in the batch."""
        pos = np.flatnonzero(self.has_forces[ids])  # batch structures with forces
        n_atoms = self.atom_offset[ids + 1] - self.atom_offset[ids]
        batch_offsets = np.concatenate([[0], np.cumsum(n_atoms)])
        parts: dict[str, list] = {sym: [] for sym in self.species}
        with h5py.File(self.path, "r") as f:
            for start, stop in _atom_chunks(pos, n_atoms):  # bounds the dense derivatives held
                part = pos[start:stop]
                pairs = self._pairs_of(f, ids[part], None)
                part_atoms, _ = _ranges_rows(batch_offsets, part)  # subset atoms -> batch atoms
                for sym, pd in pairs.items():
                    pd.center_atom = part_atoms[pd.center_atom]
                    pd.neighbor = part_atoms[pd.neighbor].astype(np.int32)
                    part_rows, _ = _ranges_rows(row_start[sym], part)
                    parts[sym].append((part_rows, pd))
        out = {}
        for sym in self.species:
            st = self.structures[sym]
            centers = np.zeros(len(rows[sym]), dtype=np.int64)  # rows without pairs: never read
            for part_rows, pd in parts[sym]:
                centers[part_rows] = pd.center_atom
            out[sym] = _assemble(parts[sym], len(rows[sym]), centers, st, len(st.angular_features))
        return out
