"""The training-set HDF5 file: writer, opener and layout constants.

The layout is documented in docs/trainset-format.md; the writer streams batches of
structures into resizable, chunked, compressed datasets so that peak memory does not
depend on the number of structures.  The file is written under a temporary name and
renamed when complete; its root attribute ``complete`` is set last.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from pathlib import Path

import h5py
import numpy as np

from anncli import __version__
from anncli.exceptions import DataError, FileFormatError

logger = logging.getLogger(__name__)

FORMAT = "anncli-trainset"
FORMAT_VERSION = 1
_STR = h5py.string_dtype()

# (name, per-row shape, dtype) of the /structures and /atoms tables
_STRUCTURE_COLUMNS = {
    "energy": ((), "f8"),
    "cohesive_energy": ((), "f8"),
    "n_atoms": ((), "i8"),
    "cell": ((3, 3), "f8"),
    "pbc": ((3,), "bool"),
    "source": ((), _STR),
    "frame": ((), "i8"),
    "has_forces": ((), "bool"),
}
_ATOM_COLUMNS = {
    "species": ((), "i4"),
    "positions": ((3,), "f8"),
    "forces": ((3,), "f8"),
}


STRUCTURE_BUFFER_ROWS = 65536  # per-structure rows kept in memory before they are written


def temporary_path(path: Path) -> Path:
    """Name under which ``path`` is written until it is complete."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


class _RunningStats:
    """Per-feature min, max, mean and population std accumulated batch by batch."""

    def __init__(self, n_features: int) -> None:
        self.count = 0
        self.sum = np.zeros(n_features)
        self.sumsq = np.zeros(n_features)
        self.min = np.full(n_features, np.inf)
        self.max = np.full(n_features, -np.inf)

    def update(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        self.count += len(values)
        self.sum += values.sum(axis=0)
        self.sumsq += np.einsum("ij,ij->j", values, values)
        np.minimum(self.min, values.min(axis=0), out=self.min)
        np.maximum(self.max, values.max(axis=0), out=self.max)

    def result(self) -> dict[str, np.ndarray]:
        n = max(self.count, 1)
        mean = self.sum / n
        var = np.maximum(self.sumsq / n - mean**2, 0.0)
        empty = self.count == 0
        return {
            "min": np.zeros_like(mean) if empty else self.min,
            "max": np.zeros_like(mean) if empty else self.max,
            "mean": mean,
            "std": np.sqrt(var),
        }


class TrainsetWriter:
    """Write a training-set file batch by batch.

    Parameters
    ----------
    path : Path
        Final file name.  Written as :func:`temporary_path` and renamed by :meth:`close`.
    species : list of str
        Global species order.
    reference_energies : ndarray of shape (n_species,), eV
    setups : dict of str to Descriptor
        Descriptor setup of every species (``to_dict()`` is stored).
    input_text, input_path : str
        The generate input file as given, for provenance.
    overwrite : bool
        Replace an existing ``path``; otherwise an existing file is a :class:`DataError`.
    derivatives : bool
        Also store per-pair feature derivatives (``/derivatives``).
    compression : str or None
        HDF5 filter of the datasets: None (default), ``"lzf"`` or ``"gzip"``.  Features
        compress by only ~20 % at several times the write time, so the default leaves the
        file uncompressed (it stays chunked, so readers can stream it).

    Use as a context manager: an exception inside the block removes the temporary file.
    """

    def __init__(
        self,
        path: Path,
        species: list[str],
        reference_energies: np.ndarray,
        setups: dict,
        *,
        input_text: str = "",
        input_path: str = "",
        overwrite: bool = False,
        derivatives: bool = False,
        compression: str | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise DataError(
                f"{self.path}: the output file exists; remove it or set 'overwrite: true'"
            )
        if not self.path.parent.is_dir():
            raise DataError(f"{self.path}: the output directory {self.path.parent} does not exist")
        self.species = list(species)
        self.setups = setups
        self.derivatives = derivatives
        self._compression = compression
        self._tmp = temporary_path(self.path)
        self._file = h5py.File(self._tmp, "w")
        self._n_structures = 0
        self._pending: dict[str, list[np.ndarray]] = {
            name: [] for name in (*_STRUCTURE_COLUMNS, "species_count", "atom_offset")
        }
        self._pending_rows = 0
        self._n_atoms = 0
        self._n_pairs = {sym: 0 for sym in self.species}
        self._stats = {sym: _RunningStats(setups[sym].n_features) for sym in self.species}
        f = self._file
        f.attrs.update(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            anncli_version=__version__,
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            complete=False,
            input_file=input_text,
            input_path=input_path,
            energy_unit="eV",
            length_unit="Angstrom",
        )
        f.create_dataset("species", data=np.array(self.species, dtype=object), dtype=_STR)
        f.create_dataset("reference_energies", data=np.asarray(reference_energies, dtype=float))
        n_sp = len(self.species)
        structures = f.create_group("structures")
        for name, (shape, dtype) in _STRUCTURE_COLUMNS.items():
            self._create(structures, name, shape, dtype)
        self._create(structures, "species_count", (n_sp,), "i4")
        structures.create_dataset("atom_offset", shape=(1,), maxshape=(None,), dtype="i8",
                                  chunks=(4096,))
        atoms = f.create_group("atoms")
        for name, (shape, dtype) in _ATOM_COLUMNS.items():
            self._create(atoms, name, shape, dtype)
        features = f.create_group("features")
        for sym in self.species:
            group = features.create_group(sym)
            group.attrs["descriptor"] = json.dumps(setups[sym].to_dict())
            self._create(group, "values", (setups[sym].n_features,), "f8")
            self._create(group, "atom_index", (), "i8")
            self._create(group, "structure_index", (), "i8")
            if derivatives:
                dgroup = f.require_group("derivatives").create_group(sym)
                dgroup.create_dataset("pair_offset", shape=(1,), maxshape=(None,), dtype="i8",
                                      chunks=(4096,))
                self._create(dgroup, "neighbor", (), "i8")
                self._create(dgroup, "dG", (setups[sym].n_features, 3), "f8")

    def _create(self, group: h5py.Group, name: str, shape: tuple, dtype) -> None:
        row_bytes = 8 * int(np.prod(shape)) if shape else 8
        chunk_rows = max(256, min(16384, (1 << 20) // row_bytes))
        compression = None if dtype is _STR else self._compression
        group.create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=dtype,
            chunks=(chunk_rows, *shape),
            compression=compression,
            shuffle=compression is not None,
        )

    @staticmethod
    def _append(dataset: h5py.Dataset, rows: np.ndarray) -> None:
        start = dataset.shape[0]
        dataset.resize(start + len(rows), axis=0)
        dataset[start:] = rows

    def append(self, structures: dict, atoms: dict, features: dict, derivatives: dict | None = None) -> None:
        """Append one batch.

        Parameters
        ----------
        structures : dict of str to ndarray
            One row per structure for every column of ``/structures`` except
            ``atom_offset`` and ``species_count`` (derived here).
        atoms : dict of str to ndarray
            One row per atom (batch order) for ``species``, ``positions``, ``forces``.
        features : dict of str to (ndarray, ndarray)
            Per species: (batch atom indices of its atoms, ascending; raw features).
        derivatives : dict of str to (ndarray, ndarray, ndarray), optional
            Per species: (pair offsets of its centres, neighbour batch indices, dG).
        """
        f = self._file
        n_new = len(structures["n_atoms"])
        n_atoms = np.asarray(structures["n_atoms"], dtype=np.int64)
        batch_offsets = np.concatenate([[0], np.cumsum(n_atoms)])
        atom_structure = np.repeat(np.arange(n_new), n_atoms)
        species_count = np.zeros((n_new, len(self.species)), dtype=np.int32)
        np.add.at(species_count, (atom_structure, atoms["species"]), 1)
        # the per-structure columns are small: buffered, and written in few large pieces
        for name in _STRUCTURE_COLUMNS:
            self._pending[name].append(np.asarray(structures[name]))
        self._pending["species_count"].append(species_count)
        self._pending["atom_offset"].append(self._n_atoms + batch_offsets[1:])
        self._pending_rows += n_new
        if self._pending_rows >= STRUCTURE_BUFFER_ROWS:
            self._flush_structures()
        for name in _ATOM_COLUMNS:
            self._append(f["atoms"][name], np.asarray(atoms[name]))
        for sym, (centers, values) in features.items():
            group = f["features"][sym]
            self._append(group["values"], values)
            self._append(group["atom_index"], self._n_atoms + centers)
            self._append(group["structure_index"], self._n_structures + atom_structure[centers])
            self._stats[sym].update(values)
        if self.derivatives and derivatives:
            for sym, (pair_offsets, neighbors, dG) in derivatives.items():
                group = f["derivatives"][sym]
                self._append(group["pair_offset"], self._n_pairs[sym] + pair_offsets[1:])
                self._append(group["neighbor"], self._n_atoms + neighbors)
                self._append(group["dG"], dG)
                self._n_pairs[sym] += int(pair_offsets[-1])
        self._n_structures += n_new
        self._n_atoms += int(batch_offsets[-1])

    @property
    def n_structures(self) -> int:
        """Structures written so far."""
        return self._n_structures

    @property
    def n_atoms(self) -> int:
        """Atoms written so far."""
        return self._n_atoms

    def feature_statistics(self) -> dict[str, dict[str, np.ndarray]]:
        """Per species: min, max, mean, std of every feature over the atoms written."""
        return {sym: stats.result() for sym, stats in self._stats.items()}

    def _flush_structures(self) -> None:
        for name, parts in self._pending.items():
            if parts:
                self._append(self._file["structures"][name], np.concatenate(parts))
                parts.clear()
        self._pending_rows = 0

    def close(self) -> Path:
        """Write the statistics, mark the file complete and rename it to its final name."""
        self._flush_structures()
        for sym, stats in self.feature_statistics().items():
            self._file["features"][sym].attrs.update(stats)
            self._file["features"][sym].attrs["count"] = self._stats[sym].count
        self._file.attrs["n_structures"] = self._n_structures
        self._file.attrs["n_atoms"] = self._n_atoms
        self._file.attrs["complete"] = True
        self._file.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file (nothing that looks complete remains)."""
        try:
            self._file.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "TrainsetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def open_trainset(path: str | Path) -> h5py.File:
    """Open a training-set file for reading after checking that it is one.

    Raises
    ------
    FileFormatError
        Missing, not an HDF5 file, not an anncli training set, another format version, or
        incomplete (an interrupted ``generate``).
    """
    from anncli.io.h5files import open_checked

    f = open_checked(path, FORMAT, FORMAT_VERSION, "training-set file")
    if not bool(f.attrs.get("complete", False)):
        f.close()
        raise FileFormatError(f"{Path(path)}: the training-set file is incomplete (generate was interrupted)")
    return f


def read_species(f: h5py.File) -> list[str]:
    """Species symbols of an open training-set file, in global order."""
    return [s.decode() if isinstance(s, bytes) else str(s) for s in f["species"][()]]
