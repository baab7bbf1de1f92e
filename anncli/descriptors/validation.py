"""Argument checks of the public array entry points (descriptors, batches, the potential).

The Numba kernels index arrays without bounds checks, so a wrong call from Python (a centre
index past the last atom, an ``env_types`` array of the wrong length, offsets that do not add
up) would read memory it does not own and return garbage silently.  The public functions
that hand arrays to kernels call these checks first, the way scikit-learn validates at
``fit``/``predict``: a wrong call raises ``ValueError``/``TypeError`` saying which argument is
wrong and how.  The checks are O(n_atoms) numpy passes, cheap next to any kernel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_batch_arrays", "check_center_arrays"]


def _as_array(value, name: str, dtype, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # e.g. ragged nested lists
        raise TypeError(f"{name} must be an array; got {type(value).__name__} ({exc})") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array; got shape {arr.shape}")
    if np.dtype(dtype).kind in "iu" and arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind == "b" or not np.all(np.mod(arr, 1) == 0):
            raise TypeError(f"{name} must hold integers; got dtype {arr.dtype}")
    if np.dtype(dtype).kind == "f" and arr.size and arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers; got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_batch_arrays(
    positions,
    cells,
    pbcs,
    structure_offsets,
    species_index,
    n_species: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate and convert the arrays that describe a batch of structures.

    Parameters
    ----------
    positions : array_like of shape (n_atoms, 3), Å
    cells : array_like of shape (n_structures, 3, 3), Å
    pbcs : array_like of shape (n_structures, 3), bool
    structure_offsets : array_like of shape (n_structures + 1,), int
        Non-decreasing, from 0 to ``n_atoms``.
    species_index : array_like of shape (n_atoms,), int
        Values in ``[0, n_species)``.
    n_species : int
        Number of species the indices refer to.

    Returns
    -------
    tuple of ndarray
        ``(positions, cells, pbcs, structure_offsets, species_index)`` as contiguous float64,
        float64, bool, int64 and int32 arrays.

    Raises
    ------
    ValueError, TypeError
        Naming the argument and what is wrong with it.
    """
    offsets = _as_array(structure_offsets, "structure_offsets", np.int64, 1)
    if len(offsets) == 0 or offsets[0] != 0:
        raise ValueError(f"structure_offsets must start at 0; got {offsets[:3].tolist()}...")
    if (np.diff(offsets) < 0).any():
        raise ValueError("structure_offsets must be non-decreasing")
    n_s, n_atoms = len(offsets) - 1, int(offsets[-1])
    pos = _as_array(positions, "positions", np.float64, 2)
    if pos.shape != (n_atoms, 3):
        raise ValueError(f"positions must have shape ({n_atoms}, 3) (structure_offsets[-1] atoms); got {pos.shape}")
    cell = _as_array(cells, "cells", np.float64, 3)
    if cell.shape != (n_s, 3, 3):
        raise ValueError(f"cells must have shape ({n_s}, 3, 3); got {cell.shape}")
    pbc_arr = np.asarray(pbcs)
    if pbc_arr.shape != (n_s, 3):
        raise ValueError(f"pbcs must have shape ({n_s}, 3); got {pbc_arr.shape}")
    if pbc_arr.dtype != np.bool_:
        if not np.isin(pbc_arr, (0, 1)).all():
            raise ValueError("pbcs must hold booleans (or 0/1)")
    pbc_arr = np.ascontiguousarray(pbc_arr, dtype=np.bool_)
    sym = _as_array(species_index, "species_index", np.int32, 1)
    if len(sym) != n_atoms:
        raise ValueError(f"species_index must have {n_atoms} entries (one per atom); got {len(sym)}")
    if n_atoms and (sym.min() < 0 or sym.max() >= n_species):
        bad = int(np.flatnonzero((sym < 0) | (sym >= n_species))[0])
        raise ValueError(
            f"species_index[{bad}] = {int(sym[bad])} is not a species index (0..{n_species - 1})"
        )
    return pos, cell, pbc_arr, offsets, sym


def check_center_arrays(nl, centers, env_types, n_env: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the arguments of a descriptor's ``features``-like methods.

    Parameters
    ----------
    nl : NeighborList
        Its offsets must be consistent with its pair arrays.
    centers : array_like of shape (n_centers,), int
        Batch atom indices in ``[0, nl.n_atoms)``.
    env_types : array_like of shape (nl.n_atoms,), int
        Values in ``[-1, n_env)``.
    n_env : int
        Length of the setup's ``env`` list.

    Returns
    -------
    centers : ndarray, int64
    env_types : ndarray, int32

    Raises
    ------
    ValueError, TypeError
        Naming the argument and what is wrong with it.
    """
    offsets = np.asarray(nl.offsets)
    n_pairs = len(nl.index)
    if offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != n_pairs:
        raise ValueError("the neighbour list's offsets do not match its pairs (offsets[-1] != len(index))")
    if len(nl.distances) != n_pairs or np.shape(nl.vectors) != (n_pairs, 3):
        raise ValueError("the neighbour list's index, vectors and distances differ in length")
    n_atoms = len(offsets) - 1
    c = _as_array(centers, "centers", np.int64, 1)
    if len(c) and (c.min() < 0 or c.max() >= n_atoms):
        bad = int(np.flatnonzero((c < 0) | (c >= n_atoms))[0])
        raise ValueError(f"centers[{bad}] = {int(c[bad])} is not an atom of the neighbour list (0..{n_atoms - 1})")
    env = _as_array(env_types, "env_types", np.int32, 1)
    if len(env) != n_atoms:
        raise ValueError(f"env_types must have one entry per atom of the neighbour list ({n_atoms}); got {len(env)}")
    if n_atoms and (env.min() < -1 or env.max() >= n_env):
        bad = int(np.flatnonzero((env < -1) | (env >= n_env))[0])
        raise ValueError(f"env_types[{bad}] = {int(env[bad])} is not an env position (-1..{n_env - 1})")
    return c, env
