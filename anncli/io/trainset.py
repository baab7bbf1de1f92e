"""The training-set HDF5 file: writer, opener and layout constants.

The layout is documented in docs/trainset-format.md; the writer streams batches of
structures into resizable, chunked, compressed datasets so that peak memory does not
depend on the number of structures.  The file is written under a temporary name and
renamed when complete (anncli.io.atomic); its root attribute ``complete`` is set last.

The root attribute ``content_id`` (:func:`content_id`) is a SHA-256 digest over every
dataset of the file, computed by the writer while it writes (one pass, no re-reading) and
recomputable from the file; ``anncli train`` stores it in checkpoints so that ``--resume``
notices a changed training set.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from pathlib import Path

import h5py
import numpy as np

from anncli import __version__
from anncli.exceptions import DataError, FileFormatError
from anncli.io.atomic import AtomicFile, temporary_name

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
    "parent": ((), "i8"),
}
_ATOM_COLUMNS = {
    "species": ((), "i4"),
    "positions": ((3,), "f8"),
    "forces": ((3,), "f8"),
}
# columns of a training set with a Δ-learning baseline (the root attribute ``baseline``)
_BASELINE_STRUCTURE_COLUMNS = {"baseline_energy": ((), "f8")}
_BASELINE_ATOM_COLUMNS = {"baseline_forces": ((3,), "f8")}


STRUCTURE_BUFFER_ROWS = 65536  # per-structure rows kept in memory before they are written


def temporary_path(path: Path) -> Path:
    """Name under which ``path`` is written until it is complete."""
    return temporary_name(path)


# ----------------------------------------------------------------------------- content id
CONTENT_ID_ROWS = 65536  # rows per read when the id is recomputed from a file


def _dtype_label(dtype) -> str:
    return "str" if h5py.check_string_dtype(np.dtype(dtype)) is not None else np.dtype(dtype).str


def _digest_rows(hasher, rows: np.ndarray, dtype) -> None:
    """Feed ``rows`` (as stored with ``dtype``) to ``hasher``: the raw C-order bytes, or for
    strings the UTF-8 bytes of every element, each preceded by its length (8 bytes, LE)."""
    if h5py.check_string_dtype(np.dtype(dtype)) is not None:
        for v in np.asarray(rows, dtype=object).ravel():
            b = v if isinstance(v, bytes) else str(v).encode("utf-8")
            hasher.update(len(b).to_bytes(8, "little"))
            hasher.update(b)
    else:
        hasher.update(np.ascontiguousarray(rows, dtype=np.dtype(dtype).newbyteorder("<")).data)


def _combine(digests: dict[str, tuple[str, tuple, bytes]]) -> str:
    """The content id from per-dataset (dtype label, shape, SHA-256 digest), by sorted name."""
    h = hashlib.sha256()
    for name in sorted(digests):
        label, shape, digest = digests[name]
        h.update(f"{name}\0{label}\0{','.join(map(str, shape))}\0".encode())
        h.update(digest)
    return h.hexdigest()


def content_id(f: h5py.File) -> str:
    """Recompute the content id of an open training-set file (reads every dataset once).

    Definition (docs/trainset-format.md): for every dataset, in sorted order of its path
    (without the leading ``/``), SHA-256 of ``path NUL dtype NUL shape NUL`` followed by the
    SHA-256 digest of its rows (little-endian C-order bytes; strings: length-prefixed
    UTF-8); the id is the hex digest.  Attributes (dates, input text, statistics) are not
    part of it.
    """
    digests: dict[str, tuple[str, tuple, bytes]] = {}

    def visit(name: str, item) -> None:
        if not isinstance(item, h5py.Dataset):
            return
        h = hashlib.sha256()
        if item.ndim == 0:
            _digest_rows(h, np.asarray(item[()]), item.dtype)
        else:
            for start in range(0, item.shape[0], CONTENT_ID_ROWS):
                _digest_rows(h, item[start:start + CONTENT_ID_ROWS], item.dtype)
        digests[name] = (_dtype_label(item.dtype), item.shape, h.digest())

    f.visititems(visit)
    return _combine(digests)


def trainset_content_id(f: h5py.File) -> str:
    """The ``content_id`` attribute of an open training set, or (files written before it
    existed) the same id recomputed from the file, with an info message."""
    stored = f.attrs.get("content_id")
    if stored is not None:
        return stored.decode() if isinstance(stored, bytes) else str(stored)
    logger.info("%s has no content_id (written by an older anncli); computing it from the "
                "file (reads it once)", f.filename)
    return content_id(f)


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
    baseline : dict or None
        Δ-learning baseline specification (:mod:`anncli.potential.baseline`), stored as the
        root attribute ``baseline`` (JSON); the batches then also hold the columns
        ``baseline_energy`` (structures) and ``baseline_forces`` (atoms).

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
        baseline: dict | None = None,
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
        self._structure_columns = {**_STRUCTURE_COLUMNS, **(_BASELINE_STRUCTURE_COLUMNS if baseline else {})}
        self._atom_columns = {**_ATOM_COLUMNS, **(_BASELINE_ATOM_COLUMNS if baseline else {})}
        self._out = AtomicFile(self.path)
        self._tmp = self._out.tmp
        self._file = h5py.File(self._tmp, "w")
        self._hashers: dict[str, "hashlib._Hash"] = {}
        self._n_structures = 0
        self._pending: dict[str, list[np.ndarray]] = {
            name: [] for name in (*self._structure_columns, "species_count", "atom_offset")
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
        if baseline:
            f.attrs["baseline"] = json.dumps(baseline)
        self._record(f.create_dataset("species", data=np.array(self.species, dtype=object),
                                      dtype=_STR), np.array(self.species, dtype=object))
        ref = np.asarray(reference_energies, dtype=float)
        self._record(f.create_dataset("reference_energies", data=ref), ref)
        n_sp = len(self.species)
        structures = f.create_group("structures")
        for name, (shape, dtype) in self._structure_columns.items():
            self._create(structures, name, shape, dtype)
        self._create(structures, "species_count", (n_sp,), "i4")
        self._offsets(structures, "atom_offset")
        atoms = f.create_group("atoms")
        for name, (shape, dtype) in self._atom_columns.items():
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
                self._offsets(dgroup, "pair_offset")
                self._create(dgroup, "neighbor", (), "i8")
                self._create(dgroup, "dG", (setups[sym].n_features, 3), "f8")

    def _record(self, dataset: h5py.Dataset, rows: np.ndarray) -> None:
        """Add ``rows`` (just written to ``dataset``) to its content-id digest."""
        h = self._hashers.get(dataset.name)
        if h is None:
            h = self._hashers[dataset.name] = hashlib.sha256()
        _digest_rows(h, rows, dataset.dtype)

    def _offsets(self, group: h5py.Group, name: str) -> None:
        """An offset column starting with its first row 0."""
        ds = group.create_dataset(name, shape=(1,), maxshape=(None,), dtype="i8",
                                  chunks=(4096,))
        self._record(ds, np.zeros(1, dtype=np.int64))

    def _create(self, group: h5py.Group, name: str, shape: tuple, dtype) -> None:
        row_bytes = 8 * int(np.prod(shape)) if shape else 8
        chunk_rows = max(256, min(16384, (1 << 20) // row_bytes))
        compression = None if dtype is _STR else self._compression
        ds = group.create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=dtype,
            chunks=(chunk_rows, *shape),
            compression=compression,
            shuffle=compression is not None,
        )
        self._hashers[ds.name] = hashlib.sha256()

    def _append(self, dataset: h5py.Dataset, rows: np.ndarray) -> None:
        start = dataset.shape[0]
        dataset.resize(start + len(rows), axis=0)
        dataset[start:] = rows
        self._record(dataset, rows)

    def append(self, structures: dict, atoms: dict, features: dict, derivatives: dict | None = None) -> None:
        """Append one batch.

        Parameters
        ----------
        structures : dict of str to ndarray
            One row per structure for every column of ``/structures`` except
            ``atom_offset`` and ``species_count`` (derived here); ``parent`` (file rows)
            may be left out: every structure is then its own parent.
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
        if "parent" not in structures:  # no augmentation: every structure is its own parent
            structures = {**structures, "parent": self._n_structures + np.arange(n_new, dtype=np.int64)}
        for name in self._structure_columns:
            self._pending[name].append(np.asarray(structures[name]))
        self._pending["species_count"].append(species_count)
        self._pending["atom_offset"].append(self._n_atoms + batch_offsets[1:])
        self._pending_rows += n_new
        if self._pending_rows >= STRUCTURE_BUFFER_ROWS:
            self._flush_structures()
        for name in self._atom_columns:
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

    def set_attributes(self, **attrs) -> None:
        """Set root attributes of the file (e.g. ``energy_choice``; see docs/trainset-format.md)."""
        self._file.attrs.update(attrs)

    def set_reference_energies(self, values: np.ndarray, fitted: np.ndarray) -> np.ndarray:
        """Replace the free-atom energies after the structures are written (``reference_energies: fit``).

        ``/reference_energies`` becomes ``values`` and ``/structures/cohesive_energy`` is
        recomputed as ``energy - species_count @ values`` (in chunks); the root attribute
        ``reference_energies_fitted`` marks the fitted species.  The content-id digests of
        both datasets are recomputed from the new values.

        Parameters
        ----------
        values : ndarray of shape (n_species,), eV
            Free-atom energies in the file's species order.
        fitted : ndarray of shape (n_species,), bool
            True for the species whose energy was fitted.

        Returns
        -------
        ndarray of shape (n_structures,), eV
            The new cohesive energies.
        """
        values = np.asarray(values, dtype=float)
        self._flush_structures()
        st = self._file["structures"]
        cohesive = st["cohesive_energy"]
        self._hashers[cohesive.name] = hashlib.sha256()
        out = np.empty(self._n_structures)
        chunk = STRUCTURE_BUFFER_ROWS
        for start in range(0, self._n_structures, chunk):
            stop = min(start + chunk, self._n_structures)
            counts = st["species_count"][start:stop]
            out[start:stop] = st["energy"][start:stop] - counts @ values
            cohesive[start:stop] = out[start:stop]
            self._record(cohesive, out[start:stop])
        ref = self._file["reference_energies"]
        ref[...] = values
        self._hashers[ref.name] = hashlib.sha256()
        self._record(ref, values)
        self._file.attrs["reference_energies_fitted"] = np.asarray(fitted, dtype=bool)
        return out

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
        self._file.attrs["content_id"] = self.content_id()
        self._file.attrs["complete"] = True
        self._file.close()
        self._out.commit()
        return self.path

    def content_id(self) -> str:
        """The content id (:func:`content_id`) of what was appended so far."""
        self._flush_structures()
        f = self._file
        return _combine({name.lstrip("/"): (_dtype_label(f[name].dtype), f[name].shape,
                                            h.digest())
                         for name, h in self._hashers.items()})

    def abort(self) -> None:
        """Close and delete the temporary file (nothing that looks complete remains)."""
        try:
            self._file.close()
        finally:
            self._out.discard()

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


def read_parents(f: h5py.File) -> np.ndarray:
    """``/structures/parent`` of an open training set: the row of every structure's parent.

    A parent is an original structure (its own parent); Taylor copies point to the structure
    they were displaced from.  Files written before the column existed have no copies: every
    structure is its own parent.

    Returns
    -------
    ndarray of shape (n_structures,), int64

    Raises
    ------
    FileFormatError
        A column of the wrong length, or a parent that is out of range or not an original.
    """
    st = f["structures"]
    n = int(st["n_atoms"].shape[0])
    if "parent" not in st:
        return np.arange(n, dtype=np.int64)
    parents = np.asarray(st["parent"][()], dtype=np.int64)
    if parents.shape != (n,):
        raise FileFormatError(f"{f.filename}: /structures/parent has {parents.shape[0]} rows, "
                              f"expected {n} (one per structure)")
    bad = np.flatnonzero((parents < 0) | (parents >= n))
    if len(bad) == 0:
        bad = np.flatnonzero(parents[parents] != parents)
    if len(bad):
        i = int(bad[0])
        raise FileFormatError(f"{f.filename}: /structures/parent[{i}] = {int(parents[i])} is not "
                              f"the row of an original structure (0..{n - 1}, its own parent)")
    return parents


def read_baseline(f: h5py.File) -> dict | None:
    """The Δ-learning baseline specification of an open training set (root attribute
    ``baseline``, JSON), or None when it has none."""
    text = f.attrs.get("baseline")
    if text is None:
        return None
    try:
        return json.loads(text.decode() if isinstance(text, bytes) else str(text))
    except ValueError:
        raise FileFormatError(f"{f.filename}: the 'baseline' attribute is not valid JSON") from None


def read_species(f: h5py.File) -> list[str]:
    """Species symbols of an open training-set file, in global order."""
    return [s.decode() if isinstance(s, bytes) else str(s) for s in f["species"][()]]
