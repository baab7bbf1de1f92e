"""Batched neighbour lists (CSR, see :mod:`anncli.descriptors.base`) by cell lists.

This module owns the geometry preparation (effective cells for mixed or absent
periodicity, bin sizes) and input checks; the Numba kernels live in
:mod:`anncli.descriptors._neighbor_kernels`.

Algorithm: the atoms of every structure are sorted into bins in fractional
coordinates (periodic directions wrapped into [0, 1), non-periodic ones spanning the
atoms' extent).  For every atom the bins overlapping its cutoff sphere are
enumerated with nested, exact interval bounds in a frame where the cell is lower
triangular, which also enumerates all periodic images when the cell is smaller than
the cutoff (including the images of the atom itself).  The cost per atom does not
depend on the structure size; memory is O(n_atoms + n_bins + n_pairs).  Two passes
(count, then fill) run in parallel over all atoms of the batch; the bins of one periodic
image along the first lattice direction are scanned as one contiguous segment, the count pass
tests every candidate branch-free against exact squared-distance bounds and keeps one bit per
candidate (``BIT_WORDS`` words per atom), and the fill pass writes only the candidates whose
bit is set (atoms with more candidates than fit are tested again).
"""

from __future__ import annotations

import logging

import numpy as np

from anncli.descriptors.base import NeighborList
from anncli.exceptions import DataError

logger = logging.getLogger(__name__)

__all__ = ["build_neighbor_list", "effective_cells"]

#: Bin edge as a fraction of the cutoff along the three lattice directions (measured on TiO2
#: and a 100k-atom cell).  Bins along the first direction are scanned as contiguous segments,
#: so making them finer removes candidates at no extra cost per segment.
BIN_FRACTION = (0.25, 0.5, 0.5)
#: Atoms per dynamically scheduled chunk of the parallel passes (a thread on a shared core
#: takes fewer chunks instead of stalling the batch; results do not depend on it).
CHUNK_ATOMS = 64
#: Largest number of periodic images of the cell an atom may have to visit.
MAX_IMAGES = 1e6
#: 64-bit words per atom recording which of its candidates are pairs (count pass -> fill pass);
#: atoms with more candidates are tested again in the fill pass.
BIT_WORDS = 32
#: Pairs closer than this (Å) are an atom and itself and are not listed (ænet's convention).
MIN_DISTANCE = 1e-12
#: At most this many bins per atom of a structure (limits memory for sparse structures).
MAX_BINS_PER_ATOM = 8


def effective_cells(cells: np.ndarray, pbcs: np.ndarray) -> np.ndarray:
    """Cells whose non-periodic rows are replaced by an orthonormal completion.

    Parameters
    ----------
    cells : ndarray of shape (n_structures, 3, 3), Å
        Lattice vectors as rows (rows of non-periodic directions are ignored).
    pbcs : ndarray of shape (n_structures, 3), bool

    Returns
    -------
    ndarray of shape (n_structures, 3, 3), Å
        Periodic rows unchanged; non-periodic rows are unit vectors orthogonal to the
        periodic ones (identity for isolated structures).

    Raises
    ------
    DataError
        If the periodic lattice vectors of a structure are zero or linearly dependent.
    """
    n_s = len(cells)
    eff = np.zeros((n_s, 3, 3))
    eff[:] = np.eye(3)
    npbc = pbcs.sum(axis=1)
    # three periodic directions
    m3 = npbc == 3
    eff[m3] = cells[m3]
    # two periodic directions: third row is the unit normal of the periodic plane
    for k in range(3):
        m = (npbc == 2) & ~pbcs[:, k]
        if not m.any():
            continue
        l_, m_ = [d for d in range(3) if d != k]
        a = cells[m, l_]
        b = cells[m, m_]
        nrm = np.cross(a, b)
        eff[m, l_] = a
        eff[m, m_] = b
        eff[m, k] = nrm / _safe_norm(nrm)[:, None]
    # one periodic direction: two unit vectors orthogonal to it
    for k in range(3):
        m = (npbc == 1) & pbcs[:, k]
        if not m.any():
            continue
        a = cells[m, k]
        helper = np.zeros_like(a)
        use_x = np.abs(a[:, 0]) < 0.9 * np.linalg.norm(a, axis=1)
        helper[use_x, 0] = 1.0
        helper[~use_x, 1] = 1.0
        u = np.cross(a, helper)
        u /= _safe_norm(u)[:, None]
        v = np.cross(a, u)
        v /= _safe_norm(v)[:, None]
        l_, m_ = [d for d in range(3) if d != k]
        eff[m, k] = a
        eff[m, l_] = u
        eff[m, m_] = v
    det = np.linalg.det(eff)
    scale = np.prod(np.linalg.norm(eff, axis=2), axis=1)
    bad = ~(np.abs(det) > 1e-10 * np.maximum(scale, 1e-300))
    if bad.any():
        s = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"Structure {s} of the batch has periodic lattice vectors that are zero or "
            f"linearly dependent (cell rows {cells[s].tolist()}, pbc {pbcs[s].tolist()})."
        )
    return eff


def _squared_bound(r: float) -> float:
    """Largest float64 ``x`` with ``sqrt(x) <= r`` (so ``sqrt(d2) <= r`` iff ``d2 <= x``)."""
    x = np.float64(r) * np.float64(r)
    while np.sqrt(x) > r:
        x = np.nextafter(x, -np.inf)
    while np.sqrt(np.nextafter(x, np.inf)) <= r:
        x = np.nextafter(x, np.inf)
    return float(x)


def _safe_norm(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=1)
    return np.where(n > 0, n, 1.0)


def _triangular(eff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ax, bx, by, cx, cy, cz) of every cell and the plane spacings h (n_s, 3)."""
    a, b, c = eff[:, 0], eff[:, 1], eff[:, 2]
    ax = np.linalg.norm(a, axis=1)
    e1 = a / ax[:, None]
    bx = np.einsum("ij,ij->i", b, e1)
    bp = b - bx[:, None] * e1
    by = np.linalg.norm(bp, axis=1)
    e2 = bp / by[:, None]
    cx = np.einsum("ij,ij->i", c, e1)
    cy = np.einsum("ij,ij->i", c, e2)
    cz = np.linalg.norm(c - cx[:, None] * e1 - cy[:, None] * e2, axis=1)
    tri = np.ascontiguousarray(np.stack([ax, bx, by, cx, cy, cz], axis=1))
    vol = ax * by * cz
    h = np.stack(
        [
            vol / np.linalg.norm(np.cross(b, c), axis=1),
            vol / np.linalg.norm(np.cross(c, a), axis=1),
            vol / np.linalg.norm(np.cross(a, b), axis=1),
        ],
        axis=1,
    )
    return tri, h


def build_neighbor_list(
    positions: np.ndarray,
    cells: np.ndarray,
    pbcs: np.ndarray,
    structure_offsets: np.ndarray,
    cutoff: float,
) -> NeighborList:
    """Neighbour list of a batch of structures (all pairs with 1e-12 < d <= cutoff).

    Atoms closer than 1e-12 Å to another atom (a duplicated atom) are not paired with it but
    recorded in ``coincident``.

    Parameters
    ----------
    positions : ndarray of shape (n_atoms, 3), Å
        Cartesian positions of all structures, concatenated.
    cells : ndarray of shape (n_structures, 3, 3), Å
        Lattice vectors as rows; ignored along non-periodic directions.
    pbcs : ndarray of shape (n_structures, 3), bool
        Periodicity of every structure along its three lattice vectors.
    structure_offsets : ndarray of shape (n_structures + 1,), int64
        Atoms of structure ``s`` are ``structure_offsets[s]:structure_offsets[s + 1]``.
    cutoff : float, Å
        Largest pair distance listed (> 0).

    Returns
    -------
    NeighborList
        CSR over the batch atoms; periodic images (also of the atom itself) are listed
        with the index of the original atom and their own displacement vector.

    Raises
    ------
    DataError
        If a periodic cell is degenerate.
    """
    import numba

    from anncli.descriptors import _neighbor_kernels as _k  # Numba on first use only

    positions = np.ascontiguousarray(positions, dtype=np.float64).reshape(-1, 3)
    structure_offsets = np.ascontiguousarray(structure_offsets, dtype=np.int64)
    n_s = len(structure_offsets) - 1
    cells = np.ascontiguousarray(cells, dtype=np.float64).reshape(n_s, 3, 3)
    pbcs = np.ascontiguousarray(pbcs, dtype=np.bool_).reshape(n_s, 3)
    cutoff = float(cutoff)
    if not cutoff > 0.0:
        raise ValueError(f"The neighbour-list cutoff must be > 0 Å; got {cutoff}.")
    n_atoms = len(positions)
    if n_s < 0 or structure_offsets[0] != 0 or structure_offsets[-1] != n_atoms:
        raise ValueError("structure_offsets must start at 0 and end at len(positions).")

    if not np.isfinite(positions).all():
        a = int(np.flatnonzero(~np.isfinite(positions).all(axis=1))[0])
        s = int(np.searchsorted(structure_offsets, a, side="right") - 1)
        raise DataError(
            f"Atom {a - structure_offsets[s] + 1} of structure {s} of the batch has a non-finite position "
            f"{positions[a].tolist()}."
        )
    if not np.isfinite(cells[pbcs.any(axis=1)]).all():
        s = int(np.flatnonzero(pbcs.any(axis=1) & ~np.isfinite(cells).all(axis=(1, 2)))[0])
        raise DataError(f"Structure {s} of the batch has a non-finite cell {cells[s].tolist()}.")
    eff = effective_cells(cells, pbcs)
    inv = np.ascontiguousarray(np.linalg.inv(eff)) if n_s else np.zeros((0, 3, 3))
    tri, h = _triangular(eff) if n_s else (np.zeros((0, 6)), np.zeros((0, 3)))
    # periodic images to visit per atom; refuse absurd cells instead of running for hours
    images = np.prod(np.where(pbcs, 2 * np.ceil(cutoff / h) + 1, 1.0), axis=1) if n_s else np.zeros(0)
    if n_s and images.max() > MAX_IMAGES:
        s = int(np.argmax(images))
        raise DataError(
            f"Structure {s} of the batch has a periodic cell far smaller than the cutoff {cutoff} Å "
            f"(plane spacings {np.round(h[s], 4).tolist()} Å): every atom would see ~{images[s]:.2g} "
            f"periodic images. Check the cell (units?)."
        )
    atom_structure = np.repeat(np.arange(n_s, dtype=np.int64), np.diff(structure_offsets))

    frac = np.empty((n_atoms, 3))
    shifts = np.empty((n_atoms, 3), dtype=np.int64)
    _k.fractional_nb(positions, inv, pbcs, atom_structure, frac, shifts)
    lo = np.empty((n_s, 3))
    hi = np.empty((n_s, 3))
    _k.frac_extent_nb(frac, structure_offsets, lo, hi)

    # bins: periodic directions span [0, 1), non-periodic ones the atoms' extent
    binsize = np.array(BIN_FRACTION) * cutoff
    extent = np.where(pbcs, 1.0, hi - lo)
    nbins = np.maximum(1, np.floor(extent * h / binsize)).astype(np.int64)
    n_per = np.maximum(np.diff(structure_offsets), 1)
    cap = np.maximum(27, MAX_BINS_PER_ATOM * n_per)
    total = np.prod(nbins.astype(np.float64), axis=1)
    factor = np.cbrt(np.maximum(total / cap, 1.0))
    nbins = np.maximum(1, np.floor(nbins / factor[:, None])).astype(np.int64)
    origin = np.where(pbcs, 0.0, lo)
    width = np.where(extent > 0, extent / nbins, 1.0)
    bins_per_s = np.prod(nbins, axis=1)
    bin_offsets = np.zeros(n_s + 1, dtype=np.int64)
    np.cumsum(bins_per_s, out=bin_offsets[1:])
    bin_start = np.empty(bin_offsets[-1] + 1, dtype=np.int64)
    bin_start[-1] = n_atoms
    sorted_atoms = np.empty(n_atoms, dtype=np.int64)
    wrapped = np.empty((n_atoms, 3))
    sorted_xyz = np.empty((3, n_atoms))
    _k.bin_atoms_nb(
        frac, structure_offsets, nbins, origin, width, bin_offsets, bin_start, sorted_atoms,
        positions, shifts, eff, wrapped, sorted_xyz,
    )

    # 1e-12 < sqrt(d2) <= cutoff  <=>  lo2 < d2 <= hi2 (sqrt is monotone and correctly rounded)
    lo2, hi2 = _squared_bound(MIN_DISTANCE), _squared_bound(cutoff)
    inv_geom = np.ascontiguousarray(np.concatenate([1.0 / tri[:, [0, 2, 5]], 1.0 / width], axis=1))
    args = (wrapped, sorted_xyz, frac, atom_structure, eff, tri, inv_geom, pbcs, nbins, origin, width,
            bin_offsets, bin_start, sorted_atoms, cutoff, lo2, hi2)
    counts = np.empty(n_atoms, dtype=np.int64)
    offsets = np.zeros(n_atoms + 1, dtype=np.int64)
    # which candidates of every atom are pairs, found by the count pass for the fill pass
    bits = np.empty((n_atoms, BIT_WORDS), dtype=np.uint64)
    n_close = np.empty(n_atoms, dtype=np.int64)
    old_chunk = numba.set_parallel_chunksize(CHUNK_ATOMS)  # dynamic scheduling over atoms
    try:
        _k.neighbor_pass_nb(*args, False, offsets, counts, bits, np.empty(0, np.int64), np.empty((0, 3)),
                            np.empty(0), n_close)
        np.cumsum(np.where(counts < 0, -counts - 1, counts), out=offsets[1:])
        n_pairs = int(offsets[-1])
        index = np.empty(n_pairs, dtype=np.int64)
        vectors = np.empty((n_pairs, 3))
        distances = np.empty(n_pairs)
        _k.neighbor_pass_nb(*args, True, offsets, counts, bits, index, vectors, distances, n_close)
    finally:
        numba.set_parallel_chunksize(old_chunk)
    logger.debug("neighbour list: %d atoms, %d pairs within %.3f Å", n_atoms, n_pairs, cutoff)
    return NeighborList(offsets=offsets, index=index, vectors=vectors, distances=distances, cutoff=cutoff,
                        coincident=np.flatnonzero(n_close > 1))


def min_distance_per_structure(nl: NeighborList, structure_offsets: np.ndarray) -> np.ndarray:
    """Smallest pair distance of every structure, Å (inf if no pair within the cutoff).

    Structures with two atoms at the same position (``nl.coincident``; such pairs are not
    listed) get 0.

    Returns
    -------
    ndarray of shape (n_structures,), float64
    """
    from anncli.descriptors import _neighbor_kernels as _k

    out = np.empty(len(structure_offsets) - 1)
    structure_offsets = np.ascontiguousarray(structure_offsets, dtype=np.int64)
    _k.min_distance_per_structure_nb(nl.offsets, nl.distances, structure_offsets, out)
    if nl.coincident is not None and len(nl.coincident):
        out[np.searchsorted(structure_offsets, nl.coincident, side="right") - 1] = 0.0
    return out
