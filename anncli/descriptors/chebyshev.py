"""The Chebyshev ("AUC", Artrith-Urban-Ceder 2017) descriptor, numerically as ænet 2.0.4.

This module owns the parameters of one setup (one central species), their
validation and serialisation, and the dispatch to the Numba kernels in
:mod:`anncli.descriptors._chebyshev_kernels`.

Feature vector of a central atom (orders Nr, Na)::

    [R_0..R_Nr, A_0..A_Na]                      one environment species
    [R_0..R_Nr, A_0..A_Na, R~_0..R~_Nr, A~_0..A~_Na]   otherwise

``R_n = sum_j fc_r(d_j) T_n((2 d_j - Rc_r)/Rc_r)`` over neighbours (all periodic images)
with d_j <= Rc_r; ``A_n = sum_{j<k} fc_a(d_j) fc_a(d_k) T_n(cos theta_jk)`` over unordered
pairs with both distances <= Rc_a; the ``~`` copies weight every neighbour by its
species weight ``s_j`` (``s_j s_k`` for angles).  ``fc(d) = (cos(pi d/Rc) + 1)/2`` with
ænet's truncated pi 3.14159265358979.  Default weights follow ænet's "typespin" by
position in ``env``: 2 species (-1, 1), 3 (-1, 0, 1), 4 (-2, -1, 1, 2), 5 (-2..2), ...
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np

from anncli.descriptors.base import NeighborList
from anncli.descriptors.validation import check_center_arrays
from anncli.exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["ChebyshevSetup", "typespin_weights"]


def _kernels():
    """The Numba kernel module, imported on first use (keeps ``import anncli`` fast)."""
    from anncli.descriptors import _chebyshev_kernels

    return _chebyshev_kernels


#: Angular orders above this lose precision in the moment expansion (a warning is logged).
MOMENT_PRECISE_ORDER = 12
_FEATURES, _DERIVATIVES = 0, 1  # modes of _chebyshev_kernels.chebyshev_nb
#: Centres per parallel work item (scratch arrays are allocated once per block).
_BLOCK = 16
#: Blocks per dynamically scheduled chunk: a thread whose core is shared with another process
#: takes fewer chunks instead of stalling the batch.  Results do not depend on it.
_CHUNK_BLOCKS = 2


def _columns(dE_dG, n_centers: int, n_features: int) -> tuple[np.ndarray, bool]:
    """``dE_dG`` as (n_centers, n_columns, n_features) float64, and whether it was 2-D."""
    d = np.asarray(dE_dG, dtype=np.float64)
    single = d.ndim == 2
    if single:
        d = d[:, None, :]
    if d.ndim != 3 or d.shape[0] != n_centers or d.shape[2] != n_features:
        raise ValueError(f"dE_dG has shape {np.shape(dE_dG)}; expected ({n_centers}, {n_features}) or "
                         f"({n_centers}, n_columns, {n_features})")
    return np.ascontiguousarray(d), single


@lru_cache(maxsize=32)
def _tables_for(angular_order: int) -> tuple:
    """Monomial tables and Chebyshev power coefficients of an angular order (see the kernels)."""
    if angular_order > MOMENT_PRECISE_ORDER:
        logger.warning(
            "Chebyshev angular order %d > %d: the moment expansion of the angular terms loses precision "
            "with the order (relative error ~4e-11 at 16, ~2e-9 at 20 on TiO2 at 6.5 Å; < 1e-13 up to 10).",
            angular_order, MOMENT_PRECISE_ORDER,
        )
    k = _kernels()
    return (*k.monomial_tables(angular_order), k.chebyshev_power_coefficients(angular_order))


def typespin_weights(n_env: int) -> np.ndarray:
    """ænet's species weights by position in the ENV list (``new_SFBasis``).

    ``s`` starts at ``-(n // 2)`` and increases by one per species, skipping 0 when ``n``
    is even: n=2 -> (-1, 1); 3 -> (-1, 0, 1); 4 -> (-2, -1, 1, 2); 5 -> (-2, ..., 2).

    Returns
    -------
    ndarray of shape (n_env,), float64
    """
    out = np.empty(n_env)
    s = -(n_env // 2)
    for i in range(n_env):
        if s == 0 and n_env % 2 == 0:
            s += 1
        out[i] = s
        s += 1
    return out


class ChebyshevSetup:
    """Chebyshev descriptor setup of one central species (kind ``"chebyshev"``).

    Parameters
    ----------
    central : str
        Central species symbol.
    env : list of str
        Environment species; their order defines the default species weights.
    radial_cutoff : float, Å
    radial_order : int
        Highest radial polynomial order Nr (Nr + 1 radial functions).
    angular_cutoff : float, Å
    angular_order : int
        Highest angular polynomial order Na.
    weights : sequence of float, optional
        Species weight of every ``env`` entry; default ænet's typespin.

    Notes
    -----
    The constructor stores its parameters unchanged and does not check them; call
    :meth:`validate` (``from_dict`` does) to get a :class:`~anncli.exceptions.ConfigError`
    for bad values.
    """

    kind = "chebyshev"

    def __init__(
        self,
        central: str,
        env: list[str],
        radial_cutoff: float,
        radial_order: int,
        angular_cutoff: float,
        angular_order: int,
        weights: list[float] | None = None,
    ) -> None:
        self.central = central
        self.env = list(env)
        self.radial_cutoff = radial_cutoff
        self.radial_order = radial_order
        self.angular_cutoff = angular_cutoff
        self.angular_order = angular_order
        self.weights = None if weights is None else list(weights)

    # ------------------------------------------------------------------ parameters
    def validate(self, where: str = "") -> ChebyshevSetup:
        """Check the parameters; return ``self``.

        Parameters
        ----------
        where : str
            Location used in messages (e.g. ``"generate.descriptors.Ti"``).

        Raises
        ------
        ConfigError
            Non-positive cutoff, negative or non-integer order, empty or duplicated
            ``env``, or ``weights`` of the wrong length or not finite.
        """
        loc = where or f"the Chebyshev setup of {self.central!r}"
        if not isinstance(self.central, str) or not self.central:
            raise ConfigError(f"The 'central' species of {loc} must be a non-empty string. Got {self.central!r} instead.")
        for key in ("radial_cutoff", "angular_cutoff"):
            val = getattr(self, key)
            if isinstance(val, bool) or not isinstance(val, (int, float, np.number)) or not (
                math.isfinite(val) and val > 0
            ):
                raise ConfigError(f"The '{key}' parameter of {loc} must be a number > 0 (Å). Got {val!r} instead.")
        for key in ("radial_order", "angular_order"):
            val = getattr(self, key)
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 0:
                raise ConfigError(f"The '{key}' parameter of {loc} must be an integer >= 0. Got {val!r} instead.")
        if not self.env:
            raise ConfigError(f"The 'env' list of {loc} must name at least one species. Got an empty list instead.")
        if any(not isinstance(e, str) or not e for e in self.env):
            raise ConfigError(f"The 'env' list of {loc} must contain species symbols. Got {self.env!r} instead.")
        dup = sorted({e for e in self.env if self.env.count(e) > 1})
        if dup:
            raise ConfigError(f"The 'env' list of {loc} names {', '.join(dup)} more than once: {self.env!r}.")
        if self.weights is not None:
            if len(self.weights) != len(self.env):
                raise ConfigError(
                    f"The 'weights' of {loc} must have one value per env species ({len(self.env)}). "
                    f"Got {len(self.weights)} instead."
                )
            if not all(isinstance(w, (int, float, np.number)) and math.isfinite(w) for w in self.weights):
                raise ConfigError(f"The 'weights' of {loc} must be finite numbers. Got {self.weights!r} instead.")
        return self

    @property
    def typed(self) -> bool:
        """True if the species-weighted copy is part of the features (more than one env species)."""
        return len(self.env) > 1

    @property
    def n_features(self) -> int:
        """(Nr + 1) + (Na + 1), doubled when there is more than one env species."""
        n = (self.radial_order + 1) + (self.angular_order + 1)
        return 2 * n if self.typed else n

    @property
    def cutoff(self) -> float:
        """Largest cutoff of the setup, Å."""
        return float(max(self.radial_cutoff, self.angular_cutoff))

    @property
    def species_weights(self) -> np.ndarray:
        """Weight of every env species, float64 array of shape (len(env),)."""
        if self.weights is not None:
            return np.asarray(self.weights, dtype=np.float64)
        return typespin_weights(len(self.env))

    def feature_names(self) -> list[str]:
        """Short names ``R0.., A0.., Rt0.., At0..`` in feature order."""
        names = [f"R{n}" for n in range(self.radial_order + 1)] + [f"A{n}" for n in range(self.angular_order + 1)]
        if self.typed:
            names += [f"Rt{n}" for n in range(self.radial_order + 1)]
            names += [f"At{n}" for n in range(self.angular_order + 1)]
        return names

    def to_dict(self) -> dict:
        """JSON-serialisable parameters (``from_dict`` rebuilds the setup)."""
        return {
            "kind": self.kind,
            "central": self.central,
            "env": list(self.env),
            "radial_cutoff": float(self.radial_cutoff),
            "radial_order": int(self.radial_order),
            "angular_cutoff": float(self.angular_cutoff),
            "angular_order": int(self.angular_order),
            "weights": None if self.weights is None else [float(w) for w in self.weights],
        }

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> ChebyshevSetup:
        """Rebuild and validate a setup from :meth:`to_dict` output.

        Raises
        ------
        ConfigError
            Unknown or missing keys, or invalid values.
        """
        d = dict(d)
        kind = d.pop("kind", cls.kind)
        loc = where or "a Chebyshev setup"
        if kind != cls.kind:
            raise ConfigError(f"The 'kind' of {loc} must be {cls.kind!r}. Got {kind!r} instead.")
        required = ("central", "env", "radial_cutoff", "radial_order", "angular_cutoff", "angular_order")
        missing = [k for k in required if k not in d]
        if missing:
            raise ConfigError(f"{loc[0].upper() + loc[1:]} lacks the key(s) {', '.join(missing)}.")
        unknown = sorted(set(d) - set(required) - {"weights"})
        if unknown:
            raise ConfigError(f"{loc[0].upper() + loc[1:]} has unknown key(s) {', '.join(unknown)}.")
        return cls(**d).validate(where)

    def __repr__(self) -> str:
        return (
            f"ChebyshevSetup(central={self.central!r}, env={self.env!r}, radial_cutoff={self.radial_cutoff!r}, "
            f"radial_order={self.radial_order!r}, angular_cutoff={self.angular_cutoff!r}, "
            f"angular_order={self.angular_order!r}, weights={self.weights!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChebyshevSetup) and self.to_dict() == other.to_dict()

    # ------------------------------------------------------------------ kernels
    @property
    def _tables(self) -> tuple:
        return _tables_for(int(self.angular_order))

    @staticmethod
    def _n_center_pairs(nl: NeighborList, centers: np.ndarray) -> int:
        centers = np.asarray(centers, dtype=np.int64)
        return int((nl.offsets[centers + 1] - nl.offsets[centers]).sum())

    def _checked(self, nl: NeighborList, centers, env_types) -> tuple[np.ndarray, np.ndarray]:
        """Validated ``(centers, env_types)``; a neighbour within the cutoff outside ``env`` is refused.

        The kernel would index the species weights with -1 and return wrong features.
        """
        from anncli.descriptors._neighbor_kernels import first_missing_neighbor_nb

        centers, env_types = check_center_arrays(nl, centers, env_types, len(self.env))
        if not (len(env_types) and env_types.min() < 0):
            return centers, env_types
        c, p = first_missing_neighbor_nb(nl.offsets, nl.index, nl.distances, centers, env_types, float(self.cutoff))
        if c >= 0:
            raise ValueError(
                f"atom {int(nl.index[p])} is a neighbour of centre {int(centers[c])} at {nl.distances[p]:.4f} Å "
                f"but env_types marks its species as absent from env {self.env} (-1); "
                "every species within the cutoff must be in env"
            )
        return centers, env_types

    def _kernel_args(self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray) -> tuple:
        """The arguments every kernel shares: neighbour arrays, setup, tables, pair offsets, block, maxm."""
        if self.cutoff > nl.cutoff * (1 + 1e-12):
            raise ValueError(
                f"The neighbour list (cutoff {nl.cutoff} Å) is shorter than the setup's cutoff {self.cutoff} Å."
            )
        counts = nl.offsets[centers + 1] - nl.offsets[centers]
        cp = np.zeros(len(centers) + 1, dtype=np.int64)
        np.cumsum(counts, out=cp[1:])
        maxm = int(max(1, counts.max(initial=0)))  # scratch length: most neighbours of a centre
        deg, mult, parent, axis, lower, power, tcoef = self._tables
        return (
            nl.offsets, nl.vectors, nl.distances, nl.index, centers, env_types,
            np.ascontiguousarray(self.species_weights, dtype=np.float64), self.typed,
            float(self.radial_cutoff), int(self.radial_order), float(self.angular_cutoff), int(self.angular_order),
            deg, mult, parent, axis, lower, power, tcoef, cp,
        ), _BLOCK, maxm

    @staticmethod
    def _call(kernel, *args, chunksize: int = _CHUNK_BLOCKS) -> None:
        """Call a parallel kernel with dynamic scheduling of blocks of centres (``chunksize`` per grab)."""
        import numba

        old_chunk = numba.set_parallel_chunksize(chunksize)
        try:
            kernel(*args)
        finally:
            numba.set_parallel_chunksize(old_chunk)

    def _run(self, mode, nl, centers, env_types, out=None, dout=None) -> None:
        """Call the feature kernel in ``mode`` with unused outputs replaced by empty arrays."""
        common, block, maxm = self._kernel_args(nl, centers, env_types)
        nf = self.n_features
        args = (
            mode, *common, block, maxm,
            out if out is not None else np.zeros((0, nf)),
            dout if dout is not None else np.zeros((0, nf, 3)),
        )
        self._call(_kernels().chebyshev_nb, *args)

    def features(self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray) -> np.ndarray:
        """Features of the atoms ``centers``.

        Parameters
        ----------
        nl : NeighborList
            With ``nl.cutoff >= self.cutoff``.
        centers : ndarray of shape (n_centers,), int64
            Batch indices of the central atoms.
        env_types : ndarray of shape (n_atoms,), int32
            Position of every atom's species in ``env`` (-1 if absent); a neighbour within the
            cutoff with -1 is refused (ValueError).

        Raises
        ------
        ValueError, TypeError
            If an argument has the wrong shape, type or values.

        Returns
        -------
        ndarray of shape (n_centers, n_features), float64
        """
        centers, env_types = self._checked(nl, centers, env_types)
        out = np.empty((len(centers), self.n_features))
        self._run(_FEATURES, nl, centers, env_types, out=out)
        return out

    def features_and_derivatives(
        self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features and their derivatives with respect to every pair vector.

        Returns
        -------
        features : ndarray of shape (n_centers, n_features), float64
        dG : ndarray of shape (n_center_pairs, n_features, 3), float64, 1/Å
            ``dG[q, f] = d G_cf / d vectors[p]`` for the pairs ``p`` of the centres, centre
            by centre in neighbour-list order (pairs beyond both cutoffs have zero rows).
        """
        centers, env_types = self._checked(nl, centers, env_types)
        out = np.empty((len(centers), self.n_features))
        dout = np.zeros((self._n_center_pairs(nl, centers), self.n_features, 3))
        self._run(_DERIVATIVES, nl, centers, env_types, out=out, dout=dout)
        return out, dout

    def pair_gradients(
        self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray, dE_dG: np.ndarray
    ) -> np.ndarray:
        """Per-pair vectors ``g_q = sum_f dE_dG[c, f] * dG_cf / d vectors[p]``.

        Parameters
        ----------
        dE_dG : ndarray of shape (n_centers, n_features) or (n_centers, n_columns, n_features)
            Derivative of a scalar (the energy, eV) with respect to each feature; with columns,
            of several scalars (e.g. the members of a committee), which share the neighbour
            gathering and the angular moments of every centre.

        Returns
        -------
        ndarray of shape (n_center_pairs, 3) or (n_columns, n_center_pairs, 3), eV/Å
            In the pair order of :meth:`features_and_derivatives`, without storing dG.
        """
        from anncli.descriptors._chebyshev_forces import pair_gradients_nb

        centers, env_types = self._checked(nl, centers, env_types)
        de_dg, single = _columns(dE_dG, len(centers), self.n_features)
        gout = np.zeros((de_dg.shape[1], self._n_center_pairs(nl, centers), 3))
        common, block, maxm = self._kernel_args(nl, centers, env_types)
        self._call(pair_gradients_nb, *common, de_dg, block, maxm, self.n_features, gout)
        return gout[0] if single else gout

    def fused_forces_into(
        self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray, networks, atom_structure: np.ndarray,
        atom_chunks: np.ndarray, forces: np.ndarray, virials: np.ndarray, mean_column: bool = False,
        virial: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features, network energies, forces and virials of the centres in one sweep.

        Equal to :meth:`features`, the networks' energies and dE/dG, :meth:`pair_gradients`
        and their scatter into forces (``F_j -= g``, ``F_i += g``) and the structure's virial
        (``W -= outer(r, g)``) called in turn, but every centre's neighbours, Chebyshev tables
        and angular moments are computed once and its pair gradients used while in cache; no
        per-pair array is stored.

        Parameters
        ----------
        nl, env_types
            As in :meth:`features`.
        centers : ndarray of shape (n_centers,), int64
            As in :meth:`features`, in increasing order.
        networks : anncli.network._atomic_nb.PackedNetworks
            The species' network(s) on the raw features (e.g. the members of a committee).
        atom_structure : ndarray of shape (n_atoms,), int64
            Structure of every atom of ``nl``.
        atom_chunks : ndarray of shape (n_chunks + 1,), int64
            Increasing atom indices from 0 to n_atoms: the centres of atoms
            ``atom_chunks[k]:atom_chunks[k + 1]`` add, in order, to copy ``k`` of ``forces`` and
            ``virials``, one chunk per thread at a time (the sums do not depend on the number of
            threads; a structure within one chunk gets exactly the sums of one sequential pass).
        forces : ndarray of shape (n_chunks, n_columns, n_atoms, 3), float64, eV/Å
            Added to, one copy per chunk (the caller sums them); one column per member or one
            for the mean.
        virials : ndarray of shape (n_chunks, n_columns, n_structures, 3, 3), float64, eV
            Added to when ``virial``.
        mean_column : bool
            One force column for the members' mean dE/dG instead of one per member.
        virial : bool
            Accumulate the virial.

        Returns
        -------
        features : ndarray of shape (n_centers, n_features), float64
        energies : ndarray of shape (n_members, n_centers), float64, eV
        """
        from anncli.descriptors._chebyshev_forces import fused_forces_scatter_nb

        centers, env_types = self._checked(nl, centers, env_types)
        if networks.layers.shape[0] < 1 or int(networks.layers[0, 0, 0]) != self.n_features:
            raise ValueError(f"the networks take {int(networks.layers[0, 0, 0])} inputs; the setup has "
                             f"{self.n_features} features")
        n_mem = networks.n_members
        n_cols = 1 if mean_column else n_mem
        n_s = virials.shape[2]
        atom_chunks = np.ascontiguousarray(atom_chunks, dtype=np.int64)
        if (atom_chunks.ndim != 1 or len(atom_chunks) < 2 or atom_chunks[0] != 0 or atom_chunks[-1] != nl.n_atoms
                or (np.diff(atom_chunks) < 0).any()):
            raise ValueError(f"atom_chunks must increase from 0 to the number of atoms ({nl.n_atoms})")
        if (np.diff(centers) <= 0).any():
            raise ValueError("centers must be in increasing order")
        n_chunks = len(atom_chunks) - 1
        for name, arr, shape in (("forces", forces, (n_chunks, n_cols, nl.n_atoms, 3)),
                                 ("virials", virials, (n_chunks, n_cols, n_s, 3, 3))):
            if arr.dtype != np.float64 or not arr.flags.c_contiguous or arr.shape != shape:
                raise ValueError(f"{name} must be a C-contiguous float64 array of shape {shape}")
        atom_structure = np.ascontiguousarray(atom_structure, dtype=np.int64)
        if atom_structure.shape != (nl.n_atoms,) or (virial and len(atom_structure) and atom_structure.max() >= n_s):
            raise ValueError("atom_structure must give every atom's structure, below the number of virials")
        features = np.empty((len(centers), self.n_features))
        energies = np.empty((n_mem, len(centers)))
        common, _, maxm = self._kernel_args(nl, centers, env_types)
        chunks = np.searchsorted(centers, atom_chunks).astype(np.int64)  # centre ranges of the chunks
        self._call(fused_forces_scatter_nb, *common[:-1], chunks, maxm, networks.wflat, networks.layers,
                   networks.n_layers, int(networks.width), bool(mean_column), atom_structure,
                   bool(virial and n_s > 0), features, energies, forces, virials, chunksize=1)
        return features, energies
