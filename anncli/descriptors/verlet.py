"""Verlet neighbour list: a list with a skin, reused until an atom has moved half the skin.

This module owns :class:`VerletList`, which molecular dynamics (the ASE calculator) uses
instead of building the neighbour list at every step.  The list is built by
:func:`anncli.descriptors.neighbors.build_neighbor_list` with the cutoff plus a skin; every
call then recomputes the pair vectors from the current positions (each pair keeps its
periodic image as a lattice translation) and keeps the pairs with ``1e-12 < d <= cutoff``,
exactly the pairs a fresh list would hold, in the order of the stored list.  The list is
rebuilt when an atom has moved more than half the skin since the build (then no pair can
have entered the cutoff unseen), or when the cell, periodicity or number of atoms changed.
"""

from __future__ import annotations

import logging

import numpy as np
from numba import njit, prange

from anncli.descriptors.base import NeighborList
from anncli.exceptions import DataError
from anncli.descriptors.neighbors import MIN_DISTANCE, _squared_bound, build_neighbor_list, effective_cells

logger = logging.getLogger(__name__)

__all__ = ["VerletList", "DEFAULT_SKIN"]

#: Default skin (Å) of the calculator's Verlet list: 0, a fresh list at every calculation.
#: Measured on the 3,420-atom TiO2 MD benchmark (2-core VM, 2026-11-26, CPU time per step):
#: refreshing a list with a 1 Å (0.5 Å) skin cost as much as building the list anew — both
#: are bound by writing the ~660,000 pairs (27 MB) — so MD ran 7 % (4 %) slower with it.
DEFAULT_SKIN = 0.0


@njit(cache=True, nogil=True, inline="always")
def _pair_vector(positions, i, j, images, p, cell):  # pragma: no cover
    """R_j + n @ cell - R_i for the stored image ``n = images[p]``."""
    na = np.float64(images[p, 0])
    nb = np.float64(images[p, 1])
    nc = np.float64(images[p, 2])
    vx = positions[j, 0] + (na * cell[0, 0] + nb * cell[1, 0] + nc * cell[2, 0]) - positions[i, 0]
    vy = positions[j, 1] + (na * cell[0, 1] + nb * cell[1, 1] + nc * cell[2, 1]) - positions[i, 1]
    vz = positions[j, 2] + (na * cell[0, 2] + nb * cell[1, 2] + nc * cell[2, 2]) - positions[i, 2]
    return vx, vy, vz


@njit(cache=True, nogil=True, parallel=True)
def _refresh_count_nb(positions, cell, offsets, index, images, lo2, hi2, counts, n_close):  # pragma: no cover
    """Per atom, the stored pairs within the cutoff at ``positions`` and those closer than 1e-12 Å."""
    n = offsets.shape[0] - 1
    for i in prange(n):
        c = 0
        close = 0
        for p in range(offsets[i], offsets[i + 1]):
            vx, vy, vz = _pair_vector(positions, i, index[p], images, p, cell)
            r2 = vx * vx + vy * vy + vz * vz
            c += 1 if (r2 > lo2 and r2 <= hi2) else 0
            close += 1 if r2 <= lo2 else 0
        counts[i] = c
        n_close[i] = close


@njit(cache=True, nogil=True, parallel=True)
def _refresh_fill_nb(positions, cell, offsets, index, images, lo2, hi2, new_offsets, new_index, vectors,
                     distances):  # pragma: no cover
    """Write the pairs within the cutoff (vectors, distances, neighbour index) in the stored order."""
    n = offsets.shape[0] - 1
    for i in prange(n):
        q = new_offsets[i]
        end = new_offsets[i + 1]
        for p in range(offsets[i], offsets[i + 1]):
            j = index[p]
            vx, vy, vz = _pair_vector(positions, i, j, images, p, cell)
            r2 = vx * vx + vy * vy + vz * vz
            if q < end:  # written unconditionally within the atom's rows, kept by the increment
                vectors[q, 0] = vx
                vectors[q, 1] = vy
                vectors[q, 2] = vz
                distances[q] = r2
                new_index[q] = j
            q += 1 if (r2 > lo2 and r2 <= hi2) else 0
        for q in range(new_offsets[i], end):
            distances[q] = np.sqrt(distances[q])


class VerletList:
    """Neighbour lists of one structure along a trajectory, from a list with a skin.

    Parameters
    ----------
    cutoff : float, Å
        Pairs listed: ``1e-12 < d <= cutoff``.
    skin : float, Å
        Extra range of the stored list (> 0; at 300 K atoms move 0.5 Å in ~20-50 fs).

    Attributes
    ----------
    n_builds : int
        How often the stored list was (re)built.
    """

    def __init__(self, cutoff: float, skin: float = 1.0) -> None:
        if not cutoff > 0 or not skin > 0:
            raise ValueError(f"cutoff and skin must be > 0; got {cutoff} and {skin}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.n_builds = 0
        self._lo2 = _squared_bound(MIN_DISTANCE)
        self._hi2 = _squared_bound(self.cutoff)
        self._ref: np.ndarray | None = None
        self._cell: np.ndarray | None = None
        self._pbc: np.ndarray | None = None

    def _needs_build(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> bool:
        if self._ref is None or self._ref.shape != positions.shape:
            return True
        if not (np.array_equal(cell, self._cell) and np.array_equal(pbc, self._pbc)):
            return True
        d = positions - self._ref
        moved = float(np.einsum("ij,ij->i", d, d).max(initial=0.0))
        return not moved <= (0.5 * self.skin) ** 2  # NaN positions: build, which refuses them

    def _build(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> None:
        n = len(positions)
        offsets = np.array([0, n], dtype=np.int64)
        big = build_neighbor_list(positions, cell[None], pbc[None], offsets, self.cutoff + self.skin)
        self.n_builds += 1
        # every pair's periodic image as a lattice translation: vector - (R_j - R_i) = n @ cell
        centre = np.repeat(np.arange(n, dtype=np.int64), np.diff(big.offsets))
        shift = big.vectors - (positions[big.index] - positions[centre])
        self._eff = effective_cells(cell[None], pbc[None])[0]  # periodic rows as given, others completed
        images = np.where(pbc[None, :], np.rint(shift @ np.linalg.inv(self._eff)), 0.0)
        if np.abs(images).max(initial=0) > np.iinfo(np.int16).max:
            raise DataError(f"the cell is far smaller than the cutoff {self.cutoff} Å (plane spacings too small)")
        self._offsets = big.offsets
        self._index = big.index.astype(np.int32) if n < 2**31 else big.index
        self._images = np.ascontiguousarray(images.astype(np.int16))
        # output buffers reused at every call (fresh large arrays cost a page fault per 4 kB)
        m = len(big.index)
        self._buf_index = np.empty(m, dtype=np.int64)
        self._buf_vectors = np.empty((m, 3))
        self._buf_distances = np.empty(m)
        self._ref = positions.copy()
        self._cell = cell.copy()
        self._pbc = pbc.copy()
        self._coincident = big.coincident

    def get(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> NeighborList:
        """The neighbour list (cutoff :attr:`cutoff`) of one structure at ``positions``.

        Parameters
        ----------
        positions : ndarray of shape (n_atoms, 3), Å
        cell : ndarray of shape (3, 3), Å
            Lattice vectors as rows.
        pbc : ndarray of shape (3,), bool

        Returns
        -------
        NeighborList
            The pairs a fresh :func:`~anncli.descriptors.neighbors.build_neighbor_list` with
            :attr:`cutoff` would list (vectors equal to round-off), possibly in another order.
            Its arrays are reused by the next call: use it before calling again.
        """
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        cell = np.ascontiguousarray(cell, dtype=np.float64).reshape(3, 3)
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        if self._needs_build(positions, cell, pbc):
            self._build(positions, cell, pbc)
        n = len(positions)
        counts = np.empty(n, dtype=np.int64)
        n_close = np.empty(n, dtype=np.int64)
        _refresh_count_nb(positions, self._eff, self._offsets, self._index, self._images, self._lo2, self._hi2,
                          counts, n_close)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        m = int(offsets[-1])
        index = self._buf_index[:m]
        vectors = self._buf_vectors[:m]
        distances = self._buf_distances[:m]
        _refresh_fill_nb(positions, self._eff, self._offsets, self._index, self._images, self._lo2, self._hi2,
                         offsets, index, vectors, distances)
        coincident = np.union1d(self._coincident, np.flatnonzero(n_close)) if len(self._coincident) or n_close.any() \
            else self._coincident
        if len(coincident):
            self._ref = None  # the caller refuses the structure; build afresh next time
        return NeighborList(offsets=offsets, index=index, vectors=vectors, distances=distances, cutoff=self.cutoff,
                            coincident=coincident)
