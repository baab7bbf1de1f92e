"""Feature derivatives of the centre atoms of one species, stored compactly for force training.

For a centre atom k and a neighbour j (periodic images map to j) with pair vector
``R_j + T - R_k`` and unit vector u, the derivative of feature f of k with respect to the pair
vector is stored in two parts:

* **radial features** (their derivative is parallel to u, e.g. the Chebyshev R_n and the
  Behler G1-G3): ``dG_f = cw[t_j, channel[f]] * radial[p, basis[f]] * u`` — one scalar per
  radial *basis function* and pair, shared by the species-weighted copies of a function
  (t_j is the neighbour's position in the setup's ``env``);
* **angular features** (any direction): the full 3-vector ``ang[q, i]`` for feature
  ``ang_features[i]``, only for the pairs ``ang_pair[q]`` where one of them is non-zero
  (pairs inside the angular cutoff).

For the TiO2 Chebyshev setups this is 3-4 times smaller than the full float32 array
(n_pairs, n_features, 3), and the two pair passes of every force-loss evaluation read that
much less memory.  Values are float32 (sums are taken in float64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RadialStructure:
    """Which features of a descriptor are radial and how they share basis functions.

    Attributes
    ----------
    basis : ndarray of shape (n_features,), int64
        Radial basis function of every feature, -1 for a non-radial (angular) feature.
    channel : ndarray of shape (n_features,), int64
        Species channel of every radial feature (0 for angular ones).
    weights : ndarray of shape (n_env, n_channels), float64
        Weight of a neighbour of env species t in channel c.
    """

    basis: np.ndarray
    channel: np.ndarray
    weights: np.ndarray

    @property
    def n_basis(self) -> int:
        return int(self.basis.max()) + 1 if len(self.basis) and self.basis.max() >= 0 else 0

    def __post_init__(self) -> None:
        self.basis = np.asarray(self.basis, dtype=np.int64)
        self.channel = np.asarray(self.channel, dtype=np.int64)
        self.weights = np.asarray(self.weights, dtype=np.float64)

    @property
    def angular_features(self) -> np.ndarray:
        """Indices of the non-radial features, int64."""
        return np.flatnonzero(self.basis < 0).astype(np.int64)

    @classmethod
    def general(cls, n_features: int, n_env: int) -> RadialStructure:
        """Every feature stored as a full 3-vector (for descriptors without known structure)."""
        return cls(basis=np.full(n_features, -1, dtype=np.int64),
                   channel=np.zeros(n_features, dtype=np.int64),
                   weights=np.ones((max(n_env, 1), 1)))


@dataclass
class PairData:
    """Compact feature derivatives of the centre rows of one species (see the module docstring).

    Rows are the feature rows of the species (``/features/<sym>`` of a training set, or the
    centres of a batch); the pairs of row r are ``pair_offset[r]:pair_offset[r + 1]`` and its
    angular pairs ``ang_offset[r]:ang_offset[r + 1]`` (indices into ``ang``).

    Attributes
    ----------
    structure : RadialStructure
    center_atom : ndarray of shape (n_rows,), int64
        Atom of every row.
    pair_offset : ndarray of shape (n_rows + 1,), int64
    neighbor : ndarray of shape (n_pairs,), int32
        Atom of every pair's neighbour (same numbering as ``center_atom``).
    ptype : ndarray of shape (n_pairs,), int8
        Position of the neighbour's species in the setup's ``env``.
    unit : ndarray of shape (n_pairs, 3), float32
    radial : ndarray of shape (n_pairs, n_basis), float32, 1/Å
    ang_offset : ndarray of shape (n_rows + 1,), int64
    ang_pair : ndarray of shape (n_ang,), int64
        Pair of every angular entry.
    ang : ndarray of shape (n_ang, n_angular_features, 3), float32, 1/Å
    """

    structure: RadialStructure
    center_atom: np.ndarray
    pair_offset: np.ndarray
    neighbor: np.ndarray
    ptype: np.ndarray
    unit: np.ndarray
    radial: np.ndarray
    ang_offset: np.ndarray
    ang_pair: np.ndarray
    ang: np.ndarray

    @property
    def n_pairs(self) -> int:
        return len(self.neighbor)

    def kernel_arrays(self) -> tuple:
        """The arrays in the argument order of the training kernels (anncli.network._force_kernels)."""
        st = self.structure
        return (self.center_atom, self.pair_offset, self.neighbor, self.ptype, self.unit, self.radial,
                st.basis, st.channel, st.weights, self.ang_offset, self.ang_pair, self.ang,
                st.angular_features)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.center_atom, self.pair_offset, self.neighbor, self.ptype,
                                      self.unit, self.radial, self.ang_offset, self.ang_pair, self.ang))

    def dense(self) -> np.ndarray:
        """The full derivatives (n_pairs, n_features, 3), float64 (for tests and checks)."""
        st = self.structure
        n_f = len(st.basis)
        out = np.zeros((self.n_pairs, n_f, 3))
        rad = np.flatnonzero(st.basis >= 0)
        if len(rad):
            w = st.weights[self.ptype][:, st.channel[rad]]  # (n_pairs, n_rad)
            a = self.radial.astype(float)[:, st.basis[rad]]
            out[:, rad, :] = (w * a)[:, :, None] * self.unit.astype(float)[:, None, :]
        af = st.angular_features
        if len(af) and len(self.ang_pair):
            out[self.ang_pair[:, None], af[None, :], :] = self.ang.astype(float)
        return out

    @classmethod
    def concatenate(cls, parts: list[PairData], structure: RadialStructure, n_angular: int) -> PairData:
        """Rows of ``parts`` one after the other (pair and angular indices renumbered).

        The parts are consumed: each of their arrays is released once it has been copied, so
        the peak is the result plus one field of the parts, not twice the data.
        """
        if not parts:
            return cls.empty(structure, n_angular)
        pair_base = np.cumsum([0] + [p.n_pairs for p in parts])
        ang_base = np.cumsum([0] + [len(p.ang_pair) for p in parts])

        def take(name: str, shift: np.ndarray | None = None, offsets: bool = False) -> np.ndarray:
            pieces = [getattr(parts[0], name)[:1]] if offsets else []
            for k, p in enumerate(parts):
                a = getattr(p, name)
                a = a[1:] if offsets else a
                pieces.append(a + shift[k] if shift is not None else a)
                setattr(p, name, None)
            return np.concatenate(pieces)

        return cls(structure=structure,
                   center_atom=take("center_atom"),
                   pair_offset=take("pair_offset", pair_base, offsets=True).astype(np.int64),
                   neighbor=take("neighbor"), ptype=take("ptype"), unit=take("unit"),
                   radial=take("radial"),
                   ang_offset=take("ang_offset", ang_base, offsets=True).astype(np.int64),
                   ang_pair=take("ang_pair", pair_base), ang=take("ang"))

    @classmethod
    def empty(cls, structure: RadialStructure, n_angular: int, n_rows: int = 0,
              center_atom: np.ndarray | None = None) -> PairData:
        """Rows without pairs (structures without reference forces)."""
        zeros = np.zeros(n_rows + 1, dtype=np.int64)
        return cls(structure=structure,
                   center_atom=(np.zeros(n_rows, dtype=np.int64) if center_atom is None
                                else np.asarray(center_atom, dtype=np.int64)),
                   pair_offset=zeros, neighbor=np.zeros(0, dtype=np.int32),
                   ptype=np.zeros(0, dtype=np.int8), unit=np.zeros((0, 3), dtype=np.float32),
                   radial=np.zeros((0, structure.n_basis), dtype=np.float32),
                   ang_offset=zeros.copy(), ang_pair=np.zeros(0, dtype=np.int64),
                   ang=np.zeros((0, n_angular, 3), dtype=np.float32))
