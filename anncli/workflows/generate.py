"""``anncli generate``: reference structures -> fingerprints -> one HDF5 training-set file.

Data flow: structure files (:mod:`anncli.io`) are read and checked one by one, gathered
into batches of a few ten thousand atoms, featurised in one parallel kernel call per batch
and species (:mod:`anncli.descriptors`), and appended to the training-set file
(:mod:`anncli.io.trainset`).  Memory is bounded by the batch size, not by the number of
structures.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError, DataError
from anncli.structure import ENERGY_KINDS, Structure
from anncli.workflows.reference_fit import ReferenceEnergyFit, apply_fit, fit_report
from anncli.workflows.taylor import TaylorCounts, taylor_copies

logger = logging.getLogger(__name__)

BATCH_ATOMS = 8192  # atoms featurised per kernel call (neighbour lists: ~40 B per pair)
MPI_BATCH_ATOMS = 2048  # under MPI: smaller batches (more of them) balance the ranks
MPI_BATCH_ATOMS_DERIVATIVES = 256  # ... with derivatives, ~50x the cost and size per atom
WARM_UP_ATOMS = 8  # under MPI every rank first featurises this many atoms of the first structure
SWITCH_INTERVAL_S = 0.0005  # GIL hand-over interval while the reader thread runs


@dataclass
class GenerateResult:
    """What :func:`run` did.

    Attributes
    ----------
    output : Path
        The training-set file written.
    n_structures, n_atoms : int
        Structures and atoms written.
    dropped : list of (str, str)
        (structure label, reason) of every structure left out.
    seconds : float
        Wall time of the run.
    summary : str
        The energy-distribution and neighbour report printed at the end.
    fitted_reference_energies : dict of str to float
        Free-atom energies (eV) fitted for ``reference_energies: fit`` species (empty if none).
    """

    output: Path
    n_structures: int
    n_atoms: int
    dropped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    summary: str = ""
    fitted_reference_energies: dict[str, float] = field(default_factory=dict)


def build_setups(descriptors: dict, species: list[str]) -> dict:
    """Descriptor setup objects of every species from the ``descriptors`` input section.

    Parameters
    ----------
    descriptors : dict
        ``{"default": {...}, "<symbol>": {...}}`` as in the generate input (plain dicts or
        pydantic models); a species' own entry replaces the default.
    species : list of str
        All species (the keys of ``reference_energies``); the default environment.
    """
    from anncli.descriptors import descriptor_from_dict

    setups = {}
    for sym in species:
        entry = descriptors.get(sym, descriptors.get("default"))
        key = sym if sym in descriptors else "default"
        if entry is None:
            raise ConfigError(f"descriptors: no setup for species {sym} and no 'default' setup")
        params = entry.model_dump(by_alias=True, exclude_none=True) if hasattr(entry, "model_dump") else dict(entry)
        params = {k: v for k, v in params.items() if v is not None}
        params.setdefault("env", list(species))
        params["central"] = sym
        try:
            setup = descriptor_from_dict(_setup_dict(params))
        except ConfigError as exc:
            raise ConfigError(f"descriptors.{key} (species {sym}): {exc}") from None
        setups[sym] = setup
    return setups


def _setup_dict(params: dict) -> dict:
    """Translate the input-file form of a setup into the descriptor's ``from_dict`` form."""
    kind = params.pop("type")
    out = {"kind": kind, "central": params.pop("central"), "env": list(params.pop("env"))}
    if kind == "chebyshev":
        radial, angular = params.pop("radial"), params.pop("angular")
        out.update(
            radial_cutoff=float(radial["cutoff"]),
            radial_order=int(radial["order"]),
            angular_cutoff=float(angular["cutoff"]),
            angular_order=int(angular["order"]),
        )
        if params.get("weights") is not None:
            out["weights"] = list(params.pop("weights"))
    else:
        out["functions"] = [dict(fn) for fn in params.pop("functions")]
    return out


def _cohesive_energy(s: Structure, e_ref: dict[str, float]) -> float:
    if s.cohesive_energy:  # ænet: a non-zero cohesive-energy line is used as given
        return float(s.cohesive_energy)
    return float(s.energy) - sum(e_ref[sym] for sym in s.symbols)


class _Batch:
    """Structures gathered for one kernel call."""

    def __init__(self) -> None:
        self.structures: list[Structure] = []
        self.cohesive: list[float] = []
        self.parents: list[int] = []  # training-set row of each structure's parent (itself)
        self.baseline_energy: list[float] = []  # Δ-learning: the baseline subtracted (eV)
        self.baseline_forces: list[np.ndarray] = []  # (n_atoms, 3) eV/Å, NaN where unknown
        self.n_atoms = 0
        self.files_done = 0  # files completely read when the batch was handed over

    def add(self, s: Structure, e_coh: float, parent: int, baseline: tuple | None = None) -> None:
        self.structures.append(s)
        self.cohesive.append(e_coh)
        self.parents.append(parent)
        if baseline is not None:
            self.baseline_energy.append(baseline[0])
            self.baseline_forces.append(baseline[1])
        self.n_atoms += s.n_atoms


def _accept(s: Structure, cfg, e_ref: dict[str, float], dropped: list, fit: bool = False) -> float | None:
    """Filter one structure; return its cohesive energy, or None if it is left out.

    The readers have already checked the data (finite numbers, forces on all atoms, cell).
    With ``fit`` (some reference energies are fitted) the total energy is required; the
    cohesive energy is provisional until the fit rewrites it from the total energy.
    """
    unknown = sorted(set(s.symbols) - set(e_ref))
    if unknown:
        raise DataError(
            f"{s.label}: species {', '.join(unknown)} not covered by any descriptor setup "
            f"(reference_energies has {', '.join(e_ref)})"
        )
    if fit and s.energy is None and s.cohesive_energy:
        raise DataError(
            f"{s.label}: the structure gives a cohesive energy but no total energy; "
            "'reference_energies: fit' fits free-atom energies to total energies: give numbers instead"
        )
    if s.energy is None and not s.cohesive_energy:
        if cfg.missing_energy == "skip":
            dropped.append((s.label, "no energy"))
            return None
        raise DataError(f"{s.label}: the structure has no energy (set 'missing_energy: skip' to leave such structures out)")
    e_coh = _cohesive_energy(s, e_ref)
    if cfg.max_energy_per_atom is not None and e_coh / s.n_atoms > cfg.max_energy_per_atom:
        dropped.append((s.label, f"energy {e_coh / s.n_atoms:.4f} eV/atom > max_energy_per_atom"))
        return None
    if cfg.max_force is not None and s.forces is not None:
        fmax = float(np.sqrt((s.forces**2).sum(axis=1)).max())
        if fmax > cfg.max_force:
            dropped.append((s.label, f"force {fmax:.3f} eV/Å > max_force"))
            return None
    return e_coh


def _batch_arrays(batch: _Batch, species: list[str]):
    index = {sym: k for k, sym in enumerate(species)}
    structs = batch.structures
    n_atoms = np.array([s.n_atoms for s in structs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
    positions = np.concatenate([s.positions for s in structs])
    cells = np.zeros((len(structs), 3, 3))
    pbcs = np.zeros((len(structs), 3), dtype=bool)
    forces = np.full((offsets[-1], 3), np.nan)
    for k, s in enumerate(structs):
        if s.cell is not None:
            cells[k] = s.cell
        pbcs[k] = s.pbc
        if s.forces is not None:
            forces[offsets[k]:offsets[k + 1]] = s.forces
    atom_species = np.fromiter((index[x] for s in structs for x in s.symbols), dtype=np.int32, count=offsets[-1])
    return n_atoms, offsets, positions, cells, pbcs, forces, atom_species


def _featurize(batch: _Batch, species, setups, cfg, stats, warned: dict):
    """Neighbour list and features of one batch; returns the arrays for the writer."""
    from anncli.descriptors.batch import featurize_batch
    from anncli.io import check_min_distance

    n_atoms, offsets, positions, cells, pbcs, forces, atom_species = _batch_arrays(batch, species)
    result = featurize_batch(
        positions, cells, pbcs, offsets, atom_species, species, setups,
        derivatives=cfg.derivatives, labels=[s.label for s in batch.structures],
    )
    if cfg.min_distance:
        for k in np.flatnonzero(result.min_distance < cfg.min_distance):
            check_min_distance(batch.structures[k], cfg.min_distance)  # names the pair
    nl = result.nl
    features, derivatives = {}, {}
    for sym in species:
        sf = result.species[sym]
        counts = stats.update(sym, nl.offsets, nl.distances, sf.centers)
        if len(sf.centers) and not warned.get(sym) and (counts == 0).any():
            i = int(sf.centers[np.flatnonzero(counts == 0)[0]])
            s_idx = int(np.searchsorted(offsets, i, side="right") - 1)
            logger.warning(
                "%s: atom %d (%s) has no neighbours within %.3g Å: its features are zero "
                "(reported once per species)", batch.structures[s_idx].label,
                i - offsets[s_idx] + 1, sym, setups[sym].cutoff)
            warned[sym] = True
        features[sym] = (sf.centers, sf.features)
        if cfg.derivatives:
            derivatives[sym] = (sf.pair_offsets, sf.neighbors, sf.dG)
    structures = {
        "energy": np.array([np.nan if s.energy is None else s.energy for s in batch.structures]),
        "cohesive_energy": np.array(batch.cohesive),
        "n_atoms": n_atoms,
        "cell": cells,
        "pbc": pbcs,
        "source": np.array([s.source for s in batch.structures], dtype=object),
        "frame": np.array([s.frame for s in batch.structures], dtype=np.int64),
        "has_forces": np.array([s.forces is not None for s in batch.structures]),
        "parent": np.array(batch.parents, dtype=np.int64),
    }
    atoms = {"species": atom_species, "positions": positions, "forces": forces}
    if batch.baseline_energy:
        structures["baseline_energy"] = np.array(batch.baseline_energy)
        atoms["baseline_forces"] = np.concatenate(batch.baseline_forces)
    return structures, atoms, features, derivatives


def _iter_structures(files: list[Path], cfg):
    from anncli.io import iter_structures
    from anncli.units import Units

    units = Units(energy=cfg.units.energy, length=cfg.units.length)
    stored = {}
    if cfg.baseline is not None and cfg.baseline.energy_key is not None:
        stored = {"baseline_energy_key": cfg.baseline.energy_key, "baseline_forces_key": cfg.baseline.forces_key}
    for k, path in enumerate(files):
        for s in iter_structures(path, format=cfg.format, units=units, energy=cfg.energy,
                                 energy_key=cfg.energy_key, forces_key=cfg.forces_key, **stored):
            yield k, s


class _Intake:
    """Accepts, augments and labels structures one at a time, and keeps what the log and the
    reference-energy fit need.

    Rows (the ``parent`` of a Taylor copy, the seed of its draws) count from the first
    structure this intake accepted: from the training set's first row for the reader of a
    whole run, from the group's first structure for a group of files read by an MPI rank
    (rank 0 adds the group's first row when it writes; groups are made only without Taylor
    copies, whose draws are seeded by the row in the file).
    """

    def __init__(self, cfg, e_ref: dict[str, float], fit=None, baseline=None) -> None:
        self.cfg, self.e_ref = cfg, e_ref
        self.fit = fit  # ReferenceEnergyFit (or a _FitRows recorder) or None
        self.baseline = baseline  # LabelBaseline (Δ-learning) or None
        self.taylor = TaylorCounts() if cfg.taylor is not None else None
        self.dropped: list[tuple[str, str]] = []
        self.per_atom: list[float] = []
        self.sizes: list[int] = []  # atoms of every structure written
        self.energy_kinds: set[str] = set()  # kinds of the energies written

    def take(self, s: Structure, batch: _Batch) -> None:
        """Add ``s`` (and its Taylor copies) to ``batch``, or record why it is left out."""
        e_coh = _accept(s, self.cfg, self.e_ref, self.dropped, fit=self.fit is not None)
        if e_coh is None:
            return
        row = len(self.sizes)  # the structure's row (see the class docstring)
        family = [(s, e_coh)]
        if self.taylor is not None:  # displaced copies right after their parent
            family += taylor_copies(s, e_coh, row, self.cfg.taylor, self.taylor)
        baselines = [None] * len(family)
        if self.baseline is not None:  # Δ-learning: labels minus the baseline's
            done = [self.baseline.apply(member, e, s) for member, e in family]
            family = [(d[0], d[1]) for d in done]
            baselines = [(d[2], d[3]) for d in done]
        for (member, e), b in zip(family, baselines):
            batch.add(member, e, row, b)
            self.per_atom.append(e / s.n_atoms)
            self.sizes.append(s.n_atoms)
        if s.energy_kind is not None:
            self.energy_kinds.add(s.energy_kind)
        if self.fit is not None:
            counts = Counter(s.symbols)
            self.fit.add([counts.get(sym, 0) for sym in self.fit.species], family[0][0].energy)

    def record(self) -> dict:
        """What :meth:`absorb` needs of this intake (picklable: sent between MPI ranks)."""
        return {"dropped": self.dropped, "per_atom": self.per_atom, "sizes": self.sizes,
                "energy_kinds": self.energy_kinds,
                "fit_rows": self.fit.rows if isinstance(self.fit, _FitRows) else []}

    def absorb(self, record: dict) -> None:
        """Append another intake's :meth:`record` (the structures read after this one's)."""
        self.dropped.extend(record["dropped"])
        self.per_atom.extend(record["per_atom"])
        self.sizes.extend(record["sizes"])
        self.energy_kinds |= record["energy_kinds"]
        for counts, energy in record["fit_rows"]:  # in file order: the serial fit's bits
            self.fit.add(counts, energy)


class _FitRows:
    """Stands in for the :class:`ReferenceEnergyFit` on a rank that reads a group of files:
    records the rows, which rank 0 adds to the real fit in file order."""

    def __init__(self, species: list[str]) -> None:
        self.species = species
        self.rows: list[tuple[list[int], float]] = []

    def add(self, counts: list[int], energy: float) -> None:
        self.rows.append((counts, energy))


class _BatchReader(threading.Thread):
    """Reads, filters and batches structures in a background thread.

    File parsing is Python work; the kernels release the GIL, so reading the next batch
    overlaps with featurising the current one.  Iterating over the reader yields the
    batches in file order and re-raises any error of the reading thread.  :func:`run` halts
    and joins it on every exit path, so no thread outlives a call (also after an error).
    """

    def __init__(self, files: list[Path], intake: _Intake, batch_atoms: int) -> None:
        super().__init__(name="anncli-reader", daemon=True)
        self.files, self.intake, self.batch_atoms = files, intake, batch_atoms
        self._queue: queue.Queue = queue.Queue(maxsize=2)  # bounds memory to ~3 batches
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            batch = _Batch()
            for k, s in _iter_structures(self.files, self.intake.cfg):
                if self._halt.is_set():
                    return
                batch.files_done = k
                self.intake.take(s, batch)
                if batch.n_atoms >= self.batch_atoms:
                    self._put(batch)
                    batch = _Batch()
            batch.files_done = len(self.files)
            self._put(batch)
            self._put(None)
        except BaseException as exc:  # handed to the main thread
            self._put(exc)

    def _put(self, item) -> None:
        while not self._halt.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def halt(self) -> None:
        """Ask the thread to stop (after an error or interruption in the main thread)."""
        self._halt.set()


def run(config, *, config_path: str | Path | None = None, input_text: str | None = None) -> GenerateResult:
    """Run the generate stage.

    Parameters
    ----------
    config : GenerateConfig
        The validated input (:mod:`anncli.config.generate`); paths already resolved.
    config_path : path, optional
        The input file, recorded in the output for provenance.
    input_text : str, optional
        The input file's text (read from ``config_path`` if not given).

    Returns
    -------
    GenerateResult
    """
    import numba

    from anncli.config.generate import read_setup_files
    from anncli.io import expand_sources
    from anncli.io.trainset import TrainsetWriter
    from anncli.log import Progress, compile_seconds
    from anncli.workflows.summaries import NeighborStatistics, energy_distribution

    t0, c0 = time.perf_counter(), compile_seconds()
    config = read_setup_files(config, source=config_path)  # ænet .stp files named by 'type: aenet'
    species = list(config.reference_energies)
    from anncli.units import Units

    energy_factor = Units(energy=config.units.energy, length=config.units.length).energy_factor
    given = {sym: float(v) * energy_factor for sym, v in config.reference_energies.items() if v != "fit"}  # eV
    fit = ReferenceEnergyFit(species, given) if len(given) < len(species) else None
    e_ref = {sym: given.get(sym, 0.0) for sym in species}  # fitted species: 0 until the fit
    setups = build_setups(dict(config.descriptors), species)
    baseline = None
    if config.baseline is not None:  # before any file is read: a missing package fails at once
        from anncli.workflows.delta import LabelBaseline, in_input_file

        try:
            baseline = LabelBaseline(config.baseline)
        except ConfigError as exc:  # not installed, not found, cannot be created
            raise in_input_file(exc, config_path) from None
        logger.info("  Δ-learning: baseline %s subtracted from the reference energies and forces",
                    baseline.describe())
    base_dir = Path(config_path).parent if config_path else Path.cwd()
    files = expand_sources(list(config.structures), base_dir)
    logger.info("generate: %d structure files, species %s, output %s", len(files), " ".join(species), config.output)
    for sym, setup in setups.items():
        logger.info("  %s: %s descriptor, %d features, cutoff %.3g Å", sym, setup.kind, setup.n_features, setup.cutoff)
    if input_text is None and config_path is not None:
        input_text = Path(config_path).read_text(errors="replace")
    stats = NeighborStatistics({sym: _named_cutoffs(setup) for sym, setup in setups.items()})
    warned: dict = {}
    old_threads = numba.get_num_threads()
    if config.n_threads:
        numba.set_num_threads(min(config.n_threads, numba.config.NUMBA_NUM_THREADS))
    from anncli.parallel import ordered_map, world
    from anncli.parallel.files import FileGroup, group_files

    comm = world()  # MPI: see anncli.parallel.pipeline and anncli.parallel.files
    batch_atoms = BATCH_ATOMS if not comm.parallel else (
        MPI_BATCH_ATOMS_DERIVATIVES if config.derivatives else MPI_BATCH_ATOMS)
    # Under MPI every rank reads its own groups of files when there are enough of them; with
    # few (large) files, or Taylor copies (their draws are seeded by the row in the training
    # set, which only rank 0 knows), rank 0 reads and hands out batches of structures.
    intake = _Intake(config, e_ref, fit, baseline)
    reader = _BatchReader(files, intake, batch_atoms)
    old_switch = sys.getswitchinterval()

    def featurize(batch: _Batch):
        return _featurize(batch, species, setups, config, stats, warned) if batch.structures else None

    def read_group(group: FileGroup):
        """One rank's share: read ``files[start:stop]`` and featurise them batch by batch."""
        own = _Intake(config, e_ref, None if fit is None else _FitRows(fit.species), baseline)
        results, batch = [], _Batch()
        for _, s in _iter_structures(files[group.start:group.stop], config):
            own.take(s, batch)
            if batch.n_atoms >= batch_atoms:
                results.append(featurize(batch))
                batch = _Batch()
        if batch.structures:
            results.append(featurize(batch))
        return results, own.record()

    def compute(item):
        return read_group(item) if isinstance(item, FileGroup) else featurize(item)

    try:
        if comm.parallel:  # every rank loads its kernels now, side by side (see _warm_up)
            _warm_up(files, config, species, setups)
        if not comm.root:
            comm.sync()
            ordered_map(comm, None, compute, None, final=lambda: stats)
            return GenerateResult(Path(config.output), 0, 0)
        with TrainsetWriter(
            Path(config.output), species, np.array([e_ref[s] for s in species]), setups,
            input_text=input_text or "", input_path=str(config_path or ""),
            overwrite=config.overwrite, derivatives=config.derivatives,
            compression=None if config.compression == "none" else config.compression,
            baseline=None if baseline is None else baseline.spec,
        ) as writer, Progress(total=len(files), desc="generate", unit="files", rate_unit="atoms") as progress:
            groups = None if config.taylor is not None else group_files(
                files, comm.size, batch_atoms, lambda f: sum(s.n_atoms for _, s in _iter_structures([f], config)))
            if groups is not None:
                items = groups
                logger.info("  MPI: every rank reads its own files (%d groups of consecutive files)", len(items))
            else:
                # The reader thread holds the GIL nearly all the time; with Python's default 5 ms
                # switch interval the main thread waits up to 5 ms each time it needs the GIL back
                # between kernels.  Started only now so that it does not slow the writer's set-up.
                sys.setswitchinterval(SWITCH_INTERVAL_S)
                reader.start()
                items = reader
            files_done = 0

            def write(item, result) -> None:
                nonlocal files_done
                if isinstance(item, FileGroup):
                    batches, record = result
                    first_row = writer.n_structures  # the group's rows counted from 0
                    for arrays in batches:
                        arrays[0]["parent"] += first_row
                        writer.append(*arrays)
                    intake.absorb(record)
                    progress.update(item.stop - files_done, work=sum(len(a[1]["species"]) for a in batches))
                    files_done = item.stop
                    return
                if result is not None:
                    writer.append(*result)
                progress.update(item.files_done - files_done, work=item.n_atoms)
                files_done = item.files_done

            comm.sync()
            for other in ordered_map(comm, items, compute, write, final=lambda: stats)[1:]:
                stats.merge(other)  # the other ranks' neighbour counts
            if writer.n_structures == 0:
                raise DataError("no structures left to write (all were dropped or none were read)")
            writer.set_attributes(energy_choice=config.energy or "auto", energy_kinds=",".join(
                k for k in ENERGY_KINDS if k in intake.energy_kinds))
            fitted = {}
            if fit is not None:
                fitted, cohesive = apply_fit(writer, fit, e_ref, species)
                intake.per_atom = list(cohesive / np.asarray(intake.sizes, dtype=float))
            else:
                writer.set_attributes(reference_energies_fitted=np.zeros(len(species), dtype=bool))
            n_structures, n_atoms = writer.n_structures, writer.n_atoms
            output = writer.close()
    finally:
        reader.halt()
        sys.setswitchinterval(old_switch)
        numba.set_num_threads(old_threads)
        if reader.ident is not None:  # started: wait until it stops (next structure or hand-over)
            reader.join()
    dropped, per_atom = intake.dropped, intake.per_atom
    if intake.taylor is not None:
        intake.taylor.report()
    if dropped:
        logger.warning("left out %d structures:", len(dropped))
        for label, reason in dropped[:20]:
            logger.warning("  %s: %s", label, reason)
        if len(dropped) > 20:
            logger.warning("  ... and %d more", len(dropped) - 20)
    summary = energy_distribution(np.array(per_atom)) + "\n" + stats.report()
    if baseline is not None:
        summary = baseline.report() + "\n" + summary
    if fitted:
        summary = fit_report(fitted, fit) + "\n" + summary
    seconds = time.perf_counter() - t0
    logger.info("%s", summary)
    compiling = compile_seconds() - c0  # a first run's Numba compilation is not throughput
    logger.info(
        "generate: wrote %s: %d structures, %d atoms in %.2f s (%.0f atoms/s%s)",
        output, n_structures, n_atoms, seconds, n_atoms / max(seconds - compiling, 1e-9),
        f"; {compiling:.0f} s compiling kernels not counted" if compiling >= 0.5 else "",
    )
    return GenerateResult(output, n_structures, n_atoms, dropped, seconds, summary, fitted)


def _warm_up(files: list[Path], cfg, species: list[str], setups: dict) -> None:
    """Read the first structure, featurise its first ``WARM_UP_ATOMS`` atoms, forget the result.

    Under MPI: a process's first kernel call starts Numba's JIT and loads the cached kernels
    (~0.4 s).  Left to the first item, a worker's start would follow rank 0's set-up (its
    writer, the first file it reads to size the file groups) instead of running beside it,
    and rank 0, which writes in input order, would wait for it.  Errors are left to the run.
    """
    from anncli.descriptors.batch import featurize_batch

    try:
        s = next(s for _, s in _iter_structures(files[:1], cfg))
        n = min(s.n_atoms, WARM_UP_ATOMS)  # the same kernels as the whole structure
        index = {sym: k for k, sym in enumerate(species)}
        featurize_batch(s.positions[:n], np.asarray(s.cell if s.cell is not None else np.zeros((3, 3)))[None],
                        np.asarray(s.pbc, dtype=bool)[None], np.array([0, n], dtype=np.int64),
                        np.array([index[x] for x in s.symbols[:n]], dtype=np.int32), species, setups,
                        derivatives=cfg.derivatives)
    except Exception:  # noqa: BLE001 - the run itself reports what is wrong with the input
        pass


def _named_cutoffs(setup) -> dict[str, float]:
    d = setup.to_dict()
    if d.get("kind") == "chebyshev":
        return {"radial": float(d["radial_cutoff"]), "angular": float(d["angular_cutoff"])}
    return {"cutoff": float(setup.cutoff)}
