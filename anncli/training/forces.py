"""Force training data: reference forces and per-pair feature derivatives in memory.

This module owns :class:`ForceData`, which reads ``/atoms/forces`` and
``/derivatives/<symbol>`` of a training-set file written with ``derivatives: true``,
normalises the derivatives with the feature statistics of the training split, and cuts
:class:`~anncli.network.ForceBatch` objects for any list of structures.  The loss it feeds
(:meth:`anncli.network.SpeciesNetworks.loss_grad`) is, per structure s with weight w_s,

    w_s * [ r_s^2 + force_weight * sum_j |F_j - F_ref_j|^2 / (3 N_s) ] / 2

in normalised units (energies and forces times the energy scale), so ``force_weight`` (Å²)
weighs a force error of 1 eV/Å like a per-atom energy error of 1 eV.
"""

from __future__ import annotations

import logging

import h5py
import numpy as np

from anncli.exceptions import ConfigError, DataError
from anncli.network.species import ForceBatch
from anncli.training.data import Normalization, TrainingData, _ranges_rows

logger = logging.getLogger(__name__)

#: float64 bytes of ``dG`` read (and scaled) at a time when loading the derivatives
READ_CHUNK_BYTES = 32 * 2**20


def read_scaled_float32(dataset: h5py.Dataset, scale: np.ndarray) -> np.ndarray:
    """``dataset * scale[None, :, None]`` as float32, read in chunks of ``READ_CHUNK_BYTES``.

    Each chunk is scaled in float64 and then rounded, so the result is bit-identical to
    converting the whole array at once, without holding a float64 copy of it (the peak is
    the float32 result plus one chunk instead of 1.5 times the float64 array).

    Parameters
    ----------
    dataset : h5py.Dataset of shape (n_pairs, n_features, 3)
        Feature derivatives dG (1/Å) as stored by ``generate``.
    scale : ndarray of shape (n_features,)
        Factor of every feature (the inverse feature standard deviations).

    Returns
    -------
    ndarray of shape (n_pairs, n_features, 3), float32
    """
    out = np.empty(dataset.shape, dtype=np.float32)
    row_bytes = 8 * max(int(np.prod(dataset.shape[1:])), 1)
    step = max(1, READ_CHUNK_BYTES // row_bytes)
    if dataset.chunks:  # whole HDF5 chunks per read: each one is read (decompressed) once
        step = max(dataset.chunks[0], step - step % dataset.chunks[0])
    factor = np.asarray(scale, dtype=float)[None, :, None]
    for start in range(0, dataset.shape[0], step):
        block = np.asarray(dataset[start:start + step], dtype=float)
        block *= factor
        out[start:start + len(block)] = block
    return out


class ForceData:
    """Reference forces and normalised feature derivatives of a whole training set.

    Parameters
    ----------
    data : TrainingData
    norm : Normalization
        Feature std and energy scale of the training split.
    weights : ndarray of shape (n_s,)
        Per-structure loss weights.
    force_weight : float
        Weight of the force term (Å²), see the module docstring.

    Raises
    ------
    ConfigError
        The training-set file has no derivatives (``generate`` without ``derivatives: true``)
        or no structure with forces.
    """

    def __init__(self, data: TrainingData, norm: Normalization, weights: np.ndarray,
                 force_weight: float) -> None:
        self.species = data.species
        with h5py.File(data.path, "r") as f:
            if "derivatives" not in f:
                raise ConfigError(
                    f"force_weight: {data.path} has no feature derivatives; generate it with "
                    "'derivatives: true' to train on forces")
            st = f["structures"]
            self.atom_offset = np.asarray(st["atom_offset"][()], dtype=np.int64)
            has_forces = np.asarray(st["has_forces"][()], dtype=bool)
            forces = np.asarray(f["atoms"]["forces"][()], dtype=float)
            self.center_atom, self.pair_offset, self.neighbor, self.dx = {}, {}, {}, {}
            for sym in self.species:
                g = f["derivatives"][sym]
                self.center_atom[sym] = np.asarray(f["features"][sym]["atom_index"][()], dtype=np.int64)
                self.pair_offset[sym] = np.asarray(g["pair_offset"][()], dtype=np.int64)
                self.neighbor[sym] = np.asarray(g["neighbor"][()], dtype=np.int64)
                # float32: half the memory and half the memory traffic of the two pair passes
                # of every loss evaluation, which are bound by it; sums stay in float64
                self.dx[sym] = read_scaled_float32(g["dG"], norm.inv_std(sym))
        if not has_forces.any():
            raise ConfigError(f"force_weight: no structure of {data.path} has forces")
        if (~has_forces).any():
            logger.info("force training: %d of %d structures have no forces (energy only)",
                        int((~has_forces).sum()), len(has_forces))
        n_atoms = np.diff(self.atom_offset)
        if len(n_atoms) != data.n_structures or not np.array_equal(n_atoms, data.n_atoms):
            raise DataError(f"{data.path}: /structures/atom_offset does not match n_atoms")
        per_structure = force_weight * weights * has_forces / (3.0 * np.maximum(n_atoms, 1))
        self.coef = np.repeat(per_structure, n_atoms)
        self.reference = norm.energy_scale * np.where(np.isfinite(forces), forces, 0.0)
        self.species_offsets = {sym: data.species_offsets(sym) for sym in self.species}
        nbytes = sum(a.nbytes for a in self.dx.values())
        logger.info("force training: weight %g Å², feature derivatives %.0f MB in memory",
                    force_weight, nbytes / 2**20)

    def batch(self, ids: np.ndarray) -> ForceBatch:
        """The force data of structures ``ids`` (in that order), atoms renumbered for the batch.

        Raises
        ------
        DataError
            A pair's neighbour lies outside the structure of its centre (corrupt file).
        """
        ids = np.asarray(ids, dtype=np.int64)
        first = self.atom_offset[ids]
        n_atoms = self.atom_offset[ids + 1] - first
        shift = np.cumsum(n_atoms) - n_atoms - first  # global atom -> batch atom, per structure
        atom_rows, _ = _ranges_rows(self.atom_offset, ids)
        centers, pair_offset, neighbor, dx = {}, {}, {}, {}
        for sym in self.species:
            rows, local = _ranges_rows(self.species_offsets[sym], ids)
            centers[sym] = self.center_atom[sym][rows] + shift[local]
            po = self.pair_offset[sym]
            pair_rows, pair_center = _ranges_rows(po, rows)
            owner = local[pair_center]  # batch structure of every pair
            atoms = self.neighbor[sym][pair_rows]
            inside = (atoms >= first[owner]) & (atoms < first[owner] + n_atoms[owner])
            if not inside.all():
                raise DataError(f"force data: a neighbour atom lies outside its structure "
                                f"(corrupt /derivatives/{sym})")
            neighbor[sym] = atoms + shift[owner]
            counts = po[rows + 1] - po[rows]
            pair_offset[sym] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            dx[sym] = self.dx[sym][pair_rows]
        return ForceBatch(reference=self.reference[atom_rows], coef=self.coef[atom_rows],
                          centers=centers, pair_offset=pair_offset, neighbor=neighbor, dx=dx)
