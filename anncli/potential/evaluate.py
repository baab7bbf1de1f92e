"""The potential engine: energies, analytic forces and stress of batches of structures.

This module owns the fused evaluation of a :class:`~anncli.potential.model_file.Model`:

1. one neighbour list and the raw features of every atom of the batch
   (:func:`anncli.descriptors.batch.featurize_batch`, no stored derivatives);
2. per species, one batched network pass giving the atomic energies ``E_i`` and
   ``dE_i/dG_i`` (normalisation and energy scale included);
3. per species, ``setup.pair_gradients`` turns ``dE/dG`` into one vector per pair,
   which a Numba kernel scatters into forces (``F_j -= g``, ``F_i += g``) and the
   virial (``W -= outer(r, g)``) of the pair's structure.

With a descriptor that offers it (Chebyshev), steps 1-3 run as one sweep over the centres
(``setup.fused_forces_into``: features, the network(s) of the centre, its pair gradients and
their forces and virial while its neighbours are in cache; one force copy per thread, no
per-pair array).  A committee evaluates every member's network there and needs one gradient
column for the mean's forces, or one per member for their spread.

No per-pair feature derivative array is ever stored, so memory is linear in the number
of pairs.  Many small structures go through one call (``batch_atoms`` atoms at a time);
a big structure is one call.

Conventions: energies in eV, forces in eV/Å, ``stress = -W / V`` in eV/Å³ with ASE's sign
(``stress = (1/V) dE/dε``; positive under tension), given for cells periodic in all three
directions only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numba
import numpy as np

from anncli.descriptors.validation import check_batch_arrays
from anncli.exceptions import DataError
from anncli.potential._kernels import features_out_of_range_nb, scatter_columns_nb
from anncli.potential.folded import FoldedNetwork
from anncli.potential.results import BatchPrediction, Extrapolation, Prediction, force_spread
from anncli.potential.threads import ThreadChooser

logger = logging.getLogger(__name__)

__all__ = ["Potential", "BatchPrediction", "Prediction", "Extrapolation", "load_potential", "BATCH_ATOMS",
           "EXTRAPOLATION_TOLERANCE", "FORCE_CHUNKS", "FORCE_CHUNK_MIN_ATOMS", "check_committee_compatible", "force_chunks"]

#: Atoms per engine call when evaluating many structures.
BATCH_ATOMS = 32768
#: Default allowed excess of a feature beyond its training range, as a fraction of the range.
#: Far below any physical extrapolation, far above floating-point noise (~1e-13).
EXTRAPOLATION_TOLERANCE = 1e-6
#: Chunks of atoms whose centres the fused force pass runs in parallel, each adding to its own copy
#: of the forces (a fixed number: the sums do not depend on the number of threads) ...
FORCE_CHUNKS = 8
#: ... of at least this many atoms: only structures larger than this are split between chunks.
FORCE_CHUNK_MIN_ATOMS = 512
#: Calls with fewer atoms run on one thread or on all, whichever :class:`ThreadChooser` has
#: timed faster (on a busy machine a parallel region waits for its slowest thread).
SERIAL_BELOW = 2000


class Potential:
    """A model ready for evaluation: descriptor setups built, species indexed.

    Parameters
    ----------
    model : Model or list of Model
        The potential (:func:`anncli.potential.model_file.load_model` or
        :func:`anncli.potential.aenet_nn.read_aenet_nn`); a list forms one committee of all
        their members (the first model's feature ranges are used for extrapolation).
    extrapolation_tolerance : float
        Features more than this fraction of the training range outside
        ``[feature_min, feature_max]`` count as extrapolation.  The default,
        :data:`EXTRAPOLATION_TOLERANCE`, ignores the rounding noise of features recomputed on
        the boundary of the range (a training structure evaluated again, or a range stored by
        ænet's Fortran code).
    baseline : dict, str or ase Calculator, optional
        For a Δ-learning model (``Model.baseline``): a calculator to use as its baseline instead
        of the recorded one; required when the model's baseline was stored in the structure
        files (:func:`anncli.potential.baseline.make_baseline`).  Every result includes the
        baseline (:attr:`baseline`, None for a model without one).
    """

    def __init__(self, model, *, extrapolation_tolerance: float | None = None, baseline=None) -> None:
        if extrapolation_tolerance is None:
            extrapolation_tolerance = EXTRAPOLATION_TOLERANCE
        from anncli.descriptors import descriptor_from_dict

        models = list(model) if isinstance(model, (list, tuple)) else [model]
        if not models:
            raise ValueError("no model given")
        check_committee_compatible(models)
        model = models[0]
        self.model = model
        from anncli.potential.baseline import make_baseline

        self.baseline = make_baseline(getattr(model, "baseline", None), baseline)
        self.species: list[str] = list(model.species)
        self.index = {s: k for k, s in enumerate(self.species)}
        self.setups = {}
        for sym in self.species:
            d = model.descriptors[sym]
            d = json.loads(d) if isinstance(d, str) else dict(d)
            self.setups[sym] = descriptor_from_dict(d, where=f"the descriptor of {sym} in the model")
        self.cutoff = max(s.cutoff for s in self.setups.values())
        # every member folds its own model's normalisation: members trained separately may differ there
        self._members = [{sym: FoldedNetwork(m, sym, nets[sym]) for sym in self.species}
                         for m in models for nets in m.member_networks()]
        # a descriptor with a fused force pass: features, every member's network and the pair gradients
        # of every centre in one sweep (None where an activation has no kernel code: the batched path)
        self._packed = {}
        from anncli.network._atomic_nb import pack_networks

        for sym in self.species:
            if hasattr(self.setups[sym], "fused_forces_into"):
                self._packed[sym] = pack_networks([m[sym] for m in self._members])
        self._threads = ThreadChooser()
        self._ref = {sym: model.reference_energy(sym) for sym in self.species}
        self._range = {}
        for sym in self.species:
            lo = np.asarray(model.feature_min[sym], dtype=float)
            hi = np.asarray(model.feature_max[sym], dtype=float)
            with np.errstate(invalid="ignore"):
                tol = extrapolation_tolerance * np.abs(hi - lo) + 1e-12 * np.maximum(np.abs(lo), np.abs(hi))
            tol = np.where(np.isfinite(tol), tol, 0.0)
            span = hi - lo
            with np.errstate(divide="ignore", invalid="ignore"):
                inv_span = np.where(np.isfinite(span) & (span > 0), 1.0 / span, 1.0)
            self._range[sym] = (np.ascontiguousarray(lo), np.ascontiguousarray(hi), np.ascontiguousarray(tol),
                                np.ascontiguousarray(inv_span))

    # ------------------------------------------------------------------ helpers
    def species_index(self, symbols: Sequence[str], label: str = "") -> np.ndarray:
        """Index of every symbol in :attr:`species`, int32 of shape (n_atoms,).

        Raises
        ------
        DataError
            Naming the species the model does not have (and ``label``).
        """
        try:
            return np.fromiter((self.index[x] for x in symbols), dtype=np.int32, count=len(symbols))
        except KeyError:
            missing = sorted(set(symbols) - set(self.index))
            where = f"{label}: " if label else ""
            raise DataError(
                f"{where}species {', '.join(missing)} not in the model (it has {', '.join(self.species)})"
            ) from None

    def feature_label(self, sym: str, f: int) -> str:
        """``"7 (R6)"``: 1-based feature number and its short name when the setup has names."""
        names = getattr(self.setups[sym], "feature_names", None)
        try:
            name = names()[f] if callable(names) else None
        except (IndexError, TypeError):
            name = None
        return f"{f + 1} ({name})" if name else str(f + 1)

    # ------------------------------------------------------------------ evaluation
    def evaluate_arrays(
        self,
        positions: np.ndarray,
        cells: np.ndarray,
        pbcs: np.ndarray,
        structure_offsets: np.ndarray,
        species_index: np.ndarray,
        *,
        forces: bool = True,
        stress: bool = True,
        extrapolation: bool = True,
        labels: list[str] | None = None,
        committee_forces: bool = False,
        neighbor_list=None,
    ) -> BatchPrediction:
        """Evaluate one batch of structures in one call.

        Parameters
        ----------
        positions : ndarray of shape (n_atoms, 3), Å
        cells : ndarray of shape (n_s, 3, 3), Å
            Lattice vectors as rows.
        pbcs : ndarray of shape (n_s, 3), bool
        structure_offsets : ndarray of shape (n_s + 1,), int64
        species_index : ndarray of shape (n_atoms,), int32
            Index of every atom's species in :attr:`species`.
        forces : bool
            Compute forces (and, with ``stress``, the virial).
        stress : bool
            Compute the virial and stress (needs ``forces``).
        extrapolation : bool
            Flag atoms with features outside the model's training range.
        labels : list of str, optional
            Structure names for error messages.
        committee_forces : bool
            For a committee, also the forces of every member (``forces_members``; one more
            pair pass per member).  Energies of every member, and the forces of the committee
            mean, come at almost no extra cost without it.
        neighbor_list : anncli.descriptors.base.NeighborList, optional
            All pairs of the batch within the potential's cutoff (e.g. refreshed from a Verlet
            list, :mod:`anncli.potential.verlet`); built here if None.

        Returns
        -------
        BatchPrediction

        Raises
        ------
        DataError
            Atoms at the same position, or a neighbour whose species a descriptor lacks.
        ValueError, TypeError
            If the arrays do not fit together (shapes, offsets, species indices).
        """
        positions, cells, pbcs, structure_offsets, species_index = check_batch_arrays(
            positions, cells, pbcs, structure_offsets, species_index, len(self.species))
        n_atoms = int(structure_offsets[-1])
        if n_atoms < SERIAL_BELOW:
            with self._threads.run(n_atoms):
                res = self._evaluate_arrays(positions, cells, pbcs, structure_offsets, species_index,
                                            forces=forces, stress=stress, extrapolation=extrapolation,
                                            labels=labels, committee_forces=committee_forces, nl=neighbor_list)
        else:
            res = self._evaluate_arrays(positions, cells, pbcs, structure_offsets, species_index,
                                        forces=forces, stress=stress, extrapolation=extrapolation, labels=labels,
                                        committee_forces=committee_forces, nl=neighbor_list)
        if self.baseline is not None:  # Δ-learning: the networks correct this baseline
            self.baseline.add_to(res, positions, cells, pbcs, structure_offsets, species_index, self.species,
                                 forces=forces, stress=stress, labels=labels)
        return res

    @property
    def n_members(self) -> int:
        """Committee size (1 for a single model)."""
        return len(self._members)

    def _evaluate_arrays(self, positions, cells, pbcs, structure_offsets, species_index, *, forces: bool,
                         stress: bool, extrapolation: bool, labels: list[str] | None,
                         committee_forces: bool = False, nl=None) -> BatchPrediction:
        from anncli.descriptors.batch import _featurize, env_types_for

        positions = np.ascontiguousarray(positions, dtype=np.float64)
        offsets = np.ascontiguousarray(structure_offsets, dtype=np.int64)
        sym_idx = np.ascontiguousarray(species_index, dtype=np.int32)
        n_s = len(offsets) - 1
        n_atoms = int(offsets[-1])
        fused = bool(forces and self._packed and all(self._packed.get(s) is not None for s in self.species))
        env = {} if fused else None
        bf = _featurize(positions, cells, pbcs, offsets, sym_idx, self.species, self.setups,
                        derivatives=False, labels=labels, nl=nl, env_out=env)
        nl = bf.nl
        n_m = len(self._members)
        atomic = np.zeros(n_atoms)
        member_atomic = np.zeros((n_m, n_atoms)) if n_m > 1 else None
        want_virial = bool(forces and stress)
        per_member = bool(forces and committee_forces and n_m > 1)
        n_f = n_m if per_member else 1  # force/virial accumulators: one per member, or the mean's
        # the fused pass and the scatter run chunks of centres in parallel, each chunk into its own copy
        if fused:
            atom_chunks = force_chunks(offsets, FORCE_CHUNKS)
            n_chunks = len(atom_chunks) - 1
        else:
            n_chunks = max(1, numba.get_num_threads() // n_f) if forces and n_atoms >= SERIAL_BELOW else 1
        f_acc = np.zeros((n_chunks, n_f, n_atoms, 3)) if forces else None
        v_acc = np.zeros((n_chunks, n_f, n_s if want_virial else 1, 3, 3))
        atom_structure = np.repeat(np.arange(n_s, dtype=np.int64), np.diff(offsets)) if forces else None
        extra = []
        for sym in self.species:
            sf = bf.species[sym]
            if len(sf.centers) == 0:
                continue
            setup = self.setups[sym]
            if fused:  # features, energies, forces and virials in one sweep over the centres
                sf.features, es = setup.fused_forces_into(nl, sf.centers, env[sym], self._packed[sym], atom_structure,
                                                          atom_chunks, f_acc, v_acc, mean_column=n_f == 1 and n_m > 1,
                                                          virial=want_virial)
            elif not forces:
                es = [m[sym].energies(sf.features) for m in self._members]
            else:
                es, grads = zip(*(m[sym].energies_and_gradients(sf.features) for m in self._members))
            if extrapolation:
                extra.append(self._extrapolation(sym, sf.centers, sf.features, offsets))
            atomic[sf.centers] = es[0] if n_m == 1 else np.mean(es, axis=0)
            if n_m > 1:
                member_atomic[:, sf.centers] = es
            if not forces or fused:
                continue
            env_types = env_types_for(setup, self.species, sym_idx)
            # forces are linear in dE/dG: the committee mean's forces need one pair pass; every
            # member's come from one pass with a column per member
            if per_member:
                g_cols = setup.pair_gradients(nl, sf.centers, env_types, np.stack(grads, axis=1))
            else:
                g_cols = setup.pair_gradients(nl, sf.centers, env_types,
                                              grads[0] if n_m == 1 else np.mean(grads, axis=0))[None]
            counts = nl.offsets[sf.centers + 1] - nl.offsets[sf.centers]
            center_pairs = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=center_pairs[1:])
            scatter_columns_nb(nl.offsets, nl.index, nl.vectors, sf.centers, center_pairs, g_cols, atom_structure,
                               want_virial, f_acc, v_acc)
        if n_chunks > 1:
            f_acc = f_acc.sum(axis=0)
            v_acc = v_acc.sum(axis=0)
        else:
            f_acc = None if f_acc is None else f_acc[0]
            v_acc = v_acc[0]
        f_out = None if f_acc is None else (f_acc[0] if n_f == 1 else f_acc.mean(axis=0))
        virial = None if not want_virial else (v_acc[0] if n_f == 1 else v_acc.mean(axis=0))
        ref = np.array([self._ref[s] for s in self.species])[sym_idx] if n_atoms else np.zeros(0)
        seg = np.repeat(np.arange(n_s), np.diff(offsets))
        energy = np.bincount(seg, atomic, minlength=n_s)
        cohesive = energy - np.bincount(seg, ref, minlength=n_s)
        energy_members = None
        if member_atomic is not None:
            energy_members = np.stack([np.bincount(seg, e, minlength=n_s) for e in member_atomic])
        stress_out = None
        if want_virial:
            stress_out = np.full((n_s, 3, 3), np.nan)
            cells = np.asarray(cells, dtype=float)
            full = np.asarray(pbcs, dtype=bool).all(axis=1)
            if full.any():
                vol = np.abs(np.linalg.det(cells[full]))
                w = virial[full]
                stress_out[full] = -0.5 * (w + w.transpose(0, 2, 1)) / vol[:, None, None]
        return BatchPrediction(
            energy=energy, cohesive_energy=cohesive, atomic_energies=atomic, forces=f_out,
            virial=virial, stress=stress_out,
            extrapolation=Extrapolation.concatenate(extra), min_distance=bf.min_distance,
            energy_members=energy_members, forces_members=f_acc if per_member else None,
        )

    def _extrapolation(self, sym: str, centers: np.ndarray, x: np.ndarray, offsets: np.ndarray) -> Extrapolation:
        lo, hi, tol, inv_span = self._range[sym]
        count, worst, grade = features_out_of_range_nb(np.ascontiguousarray(x), lo, hi, tol, inv_span)
        rows = np.flatnonzero(count)
        if len(rows) == 0:
            return Extrapolation.empty()
        atoms = centers[rows]
        s_idx = np.searchsorted(offsets, atoms, side="right") - 1
        f = worst[rows]
        return Extrapolation(
            structure=s_idx.astype(np.int64), atom=(atoms - offsets[s_idx]).astype(np.int64),
            species=[sym] * len(rows), feature=f, value=x[rows, f], low=lo[f], high=hi[f],
            n_features=count[rows], grade=grade[rows],
        )

    def evaluate(
        self,
        structures: Sequence,
        *,
        forces: bool = True,
        stress: bool = True,
        extrapolation: bool = True,
        batch_atoms: int = BATCH_ATOMS,
        committee_forces: bool = False,
    ) -> tuple[list[Prediction], Extrapolation]:
        """Evaluate a list of :class:`~anncli.structure.Structure` (batched internally).

        Parameters
        ----------
        structures : sequence of Structure or ase.Atoms
            ``ase.Atoms`` are converted with :meth:`Structure.from_ase`.
        forces, stress, extrapolation : bool
            As in :meth:`evaluate_arrays`.
        batch_atoms : int
            Structures are evaluated together up to this many atoms per engine call.
        committee_forces : bool
            For a committee, also every member's forces (``forces_std`` of each prediction).

        Returns
        -------
        predictions : list of Prediction
            One per structure, in order.
        extrapolation : Extrapolation
            Flagged atoms; ``structure`` indexes ``structures``.

        Raises
        ------
        TypeError
            If an item is neither a Structure nor an ase.Atoms.
        """
        structures = _as_structures(structures)
        if not isinstance(batch_atoms, (int, np.integer)) or isinstance(batch_atoms, bool) or batch_atoms < 1:
            raise ValueError(f"batch_atoms must be a positive integer; got {batch_atoms!r}")
        out: list[Prediction] = []
        extra: list[Extrapolation] = []
        start = 0
        while start < len(structures):
            stop, n = start, 0
            while stop < len(structures) and (n == 0 or n + structures[stop].n_atoms <= batch_atoms):
                n += structures[stop].n_atoms
                stop += 1
            chunk = structures[start:stop]
            arrays = pack_structures(chunk, self)
            res = self.evaluate_arrays(*arrays, forces=forces, stress=stress, extrapolation=extrapolation,
                                       labels=[s.label for s in chunk], committee_forces=committee_forces)
            offsets = arrays[3]
            ex = res.extrapolation
            n_flagged = np.bincount(ex.structure, minlength=len(chunk))
            grade = np.zeros(len(chunk))
            np.maximum.at(grade, ex.structure, ex.grade)
            for k in range(len(chunk)):
                a, b = offsets[k], offsets[k + 1]
                out.append(Prediction(
                    energy=float(res.energy[k]), cohesive_energy=float(res.cohesive_energy[k]),
                    atomic_energies=res.atomic_energies[a:b].copy(),
                    forces=None if res.forces is None else res.forces[a:b].copy(),
                    stress=None if res.stress is None or np.isnan(res.stress[k]).any() else res.stress[k].copy(),
                    virial=None if res.virial is None else res.virial[k].copy(),
                    n_extrapolating=int(n_flagged[k]), extrapolation_grade=float(grade[k]),
                    min_distance=float(res.min_distance[k]),
                    **_committee_fields(res, k, a, b),
                ))
            if len(ex):
                ex.structure = ex.structure + start
                extra.append(ex)
            start = stop
        return out, Extrapolation.concatenate(extra)


def force_chunks(structure_offsets: np.ndarray, n_chunks: int, min_atoms: int = FORCE_CHUNK_MIN_ATOMS) -> np.ndarray:
    """Atom boundaries of at most about ``n_chunks`` chunks of similar size, at structure boundaries.

    Chunks hold at least ``min_atoms`` atoms (where the batch has them).  A structure larger than
    a chunk is split into equal pieces; every other structure lies within one chunk, so its
    forces are summed in the same order whatever else the batch holds (a structure evaluated
    alone or with others, on one MPI rank or another, gets the same bits).

    Returns
    -------
    ndarray of shape (n + 1,), int64
        Increasing from 0 to the number of atoms.
    """
    offsets = np.asarray(structure_offsets, dtype=np.int64)
    n_atoms = int(offsets[-1])
    if n_atoms == 0:
        return np.zeros(2, dtype=np.int64)
    target = max(1, min_atoms, -(-n_atoms // max(1, n_chunks)))
    bounds = [0]
    for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
        if b - a > target:  # a big structure: its own equal pieces
            if a > bounds[-1]:
                bounds.append(a)
            pieces = -(-(b - a) // target)
            bounds.extend(a + ((b - a) * k) // pieces for k in range(1, pieces))
            bounds.append(b)
        elif b - bounds[-1] >= target:
            bounds.append(b)
    if bounds[-1] != n_atoms:
        bounds.append(n_atoms)
    return np.array(bounds, dtype=np.int64)


def check_committee_compatible(models: Sequence, names: Sequence[str] | None = None) -> None:
    """Refuse models that cannot form one committee: other species or other descriptors.

    Members share one feature computation, so their species (in order) and descriptor setups
    must be identical; their normalisation and networks may differ.

    Raises
    ------
    DataError
        Naming the member and what differs.
    """
    first = models[0]
    names = list(names) if names is not None else [f"member {k + 1}" for k in range(len(models))]
    for name, m in zip(names[1:], models[1:]):
        if list(m.species) != list(first.species):
            raise DataError(f"{name}: species {' '.join(m.species)} differ from {names[0]}'s "
                            f"({' '.join(first.species)}); committee members need the same species in the same order")
        for sym in first.species:
            a, b = m.descriptors[sym], first.descriptors[sym]
            a = json.loads(a) if isinstance(a, str) else a
            b = json.loads(b) if isinstance(b, str) else b
            if a != b:
                raise DataError(f"{name}: the {sym} descriptor differs from {names[0]}'s; committee members "
                                "must use the same descriptors (features are computed once for all)")
        if getattr(m, "baseline", None) != getattr(first, "baseline", None):
            raise DataError(f"{name}: its Δ-learning baseline differs from {names[0]}'s; committee members "
                            "must correct the same baseline")


def _committee_fields(res: BatchPrediction, k: int, a: int, b: int) -> dict:
    """energy_members, energy_std and forces_std of structure ``k`` (atoms ``a:b``)."""
    if res.energy_members is None:
        return {}
    members = res.energy_members[:, k].copy()
    out = {"energy_members": members, "energy_std": float(members.std())}
    if res.forces_members is not None:
        out["forces_std"] = force_spread(res.forces_members[:, a:b], res.forces[a:b])
    return out


def _as_structures(items) -> list:
    from anncli.structure import Structure

    if isinstance(items, Structure) or type(items).__name__ == "Atoms":
        items = [items]
    out = []
    for k, item in enumerate(items):
        if isinstance(item, Structure):
            out.append(item)
        elif type(item).__name__ == "Atoms" and hasattr(item, "get_chemical_symbols"):
            out.append(Structure.from_ase(item, frame=k))
        else:
            raise TypeError(f"structures[{k}] is a {type(item).__name__}; expected anncli.Structure or ase.Atoms")
    return out


def pack_structures(structures: Sequence, potential: Potential):
    """Batch arrays ``(positions, cells, pbcs, offsets, species_index)`` of structures.

    Raises
    ------
    DataError
        If a structure holds a species the model lacks.
    """
    n = np.array([s.n_atoms for s in structures], dtype=np.int64)
    offsets = np.zeros(len(structures) + 1, dtype=np.int64)
    np.cumsum(n, out=offsets[1:])
    positions = np.concatenate([s.positions for s in structures]) if structures else np.zeros((0, 3))
    cells = np.zeros((len(structures), 3, 3))
    pbcs = np.zeros((len(structures), 3), dtype=bool)
    idx = []
    for k, s in enumerate(structures):
        if s.cell is not None:
            cells[k] = s.cell
        pbcs[k] = s.pbc
        idx.append(potential.species_index(s.symbols, s.label))
    sym = np.concatenate(idx) if idx else np.zeros(0, dtype=np.int32)
    return positions, cells, pbcs, offsets, sym


def load_potential(path_or_model, **kwargs) -> Potential:
    """A :class:`Potential` from a Model, an anncli model file, or ænet ``.nn`` files.

    Parameters
    ----------
    path_or_model : Model, Potential, str, Path, dict of str to path, or list
        A model object; the path of an anncli model file (HDF5); ``{species: path}`` of ænet
        ``.nn`` files; or a list of model files (or Models) used together as one committee
        (same species and descriptors; trained separately, e.g. as parallel jobs).
    **kwargs
        Passed to :class:`Potential`.

    Raises
    ------
    FileFormatError
        If the file is not an anncli model (or not a valid ænet potential).
    """
    if isinstance(path_or_model, Potential):
        return path_or_model
    if isinstance(path_or_model, dict):
        from anncli.potential.aenet_nn import read_aenet_nn

        return Potential(read_aenet_nn(path_or_model), **kwargs)
    if isinstance(path_or_model, (list, tuple)):  # a committee assembled from separate models
        from anncli.potential.model_file import load_model

        models = [load_model(p) if isinstance(p, (str, Path)) else p for p in path_or_model]
        check_committee_compatible(models, [str(p) if isinstance(p, (str, Path)) else f"member {k + 1}"
                                            for k, p in enumerate(path_or_model)])
        return Potential(models, **kwargs)
    if isinstance(path_or_model, (str, Path)):
        from anncli.exceptions import FileFormatError
        from anncli.potential.model_file import load_model

        path = Path(path_or_model)
        try:
            model = load_model(path)
        except FileFormatError as exc:
            if path.suffix.lower() in (".nn", ".ascii") and path.is_file():
                raise FileFormatError(f"{exc}; for ænet potential files give them by species "
                                      f"(aenet_networks: {{X: {path.name}, ...}})") from None
            raise
        return Potential(model, **kwargs)
    return Potential(path_or_model, **kwargs)
