"""Behler2011 atom-centred symmetry functions G1–G5, the ænet way (``FUNCTIONS type=Behler2011``).

This module owns the parameters of a Behler2011 setup (one per central species), their
validation, the output order of the features and the dispatch to the Numba kernels in
:mod:`anncli.descriptors._behler_kernels` (where the formulas are written out).

Output order (ænet's ``sf_build_index``)
----------------------------------------
The features are *not* in the order of the function list.  For every environment species t2 in
``env`` order: first all G1, then all G2, then all G3 whose ``type2`` is t2; then for every t3 at
or after t2 in ``env`` order, all G4 and then all G5 of the unordered species pair {t2, t3}.
Inside each group the functions keep their list order.  ``setup.order[k]`` is the position in
the function list of feature ``k``; ``setup.feature_names`` labels the features.

Differences from ænet 2.0.4 (deliberate, documented)
----------------------------------------------------
* ænet registers the functions under the central species' TYPES index but evaluates them under
  its position in its own ENV list, so when the two differ (TYPES ``O Ti``, ENV ``Ti O``) O atoms
  are evaluated with Ti's table.  anncli does **not** reproduce this: every function is evaluated
  for the species it was written for.  Results agree with ænet whenever ENV order == TYPES order.
* Neighbours whose species is not in ``env`` are ignored (ænet indexes out of bounds).
* ``zeta`` must be >= 1: for zeta < 1 the derivative of (1 + lambda cos)^zeta diverges for
  collinear triplets, which are common in crystals.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numba
import numpy as np

from anncli.descriptors import _behler_kernels as _k
from anncli.descriptors.base import NeighborList
from anncli.descriptors.validation import check_center_arrays
from anncli.exceptions import ConfigError

logger = logging.getLogger(__name__)

KIND = "behler2011"

#: Parameter keys of each function kind (``Rs`` of G2 is optional and defaults to 0).
KEYS: dict[int, tuple[str, ...]] = {
    1: ("type2", "Rc"),
    2: ("type2", "eta", "Rs", "Rc"),
    3: ("type2", "kappa", "Rc"),
    4: ("type2", "type3", "eta", "lambda", "zeta", "Rc"),
    5: ("type2", "type3", "eta", "lambda", "zeta", "Rc"),
}
_OPTIONAL = {"Rs": 0.0}
_ALL_KEYS = ("G", "type2", "type3", "eta", "Rs", "kappa", "lambda", "zeta", "Rc")
#: Centres per work chunk of the parallel kernels: dynamic scheduling keeps both threads busy
#: when a core is shared with another process.  Results do not depend on it (one centre is
#: always computed by one thread).
CHUNK = 16


def _run(kernel, *args):
    old = numba.set_parallel_chunksize(CHUNK)
    try:
        return kernel(*args)
    finally:
        numba.set_parallel_chunksize(old)


@dataclass(frozen=True)
class BehlerFunction:
    """One Behler2011 symmetry function; parameters that do not apply to ``G`` are None.

    Attributes
    ----------
    G : int
        Function kind, 1–5.
    type2, type3 : str
        Neighbour species (``type3`` only for G4/G5; the pair is unordered).
    eta : float, 1/Å²   (G2, G4, G5)
    Rs : float, Å       (G2)
    kappa : float, 1/Å  (G3)
    lambda_ : float     (+1 or -1; G4, G5; the dict key is ``lambda``)
    zeta : float        (>= 1; G4, G5)
    Rc : float, Å       cutoff radius
    """

    G: int
    type2: str
    Rc: float
    type3: str | None = None
    eta: float | None = None
    Rs: float | None = None
    kappa: float | None = None
    lambda_: float | None = None
    zeta: float | None = None

    def to_dict(self) -> dict:
        """The parameters that apply to this kind, with ænet's key names (``lambda``)."""
        out: dict = {"G": self.G}
        for key in KEYS[self.G]:
            out[key] = getattr(self, "lambda_" if key == "lambda" else key)
        return out

    def scaled(self, factor: float) -> "BehlerFunction":
        """The same function with lengths multiplied by ``factor`` (e.g. Bohr -> Å)."""
        def mul(v, p):
            return None if v is None else v * factor**p

        return BehlerFunction(
            G=self.G, type2=self.type2, type3=self.type3, Rc=self.Rc * factor,
            eta=mul(self.eta, -2), Rs=mul(self.Rs, 1), kappa=mul(self.kappa, -1),
            lambda_=self.lambda_, zeta=self.zeta,
        )


def _number(value, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{where}: '{key}' must be a number. Got {value!r} instead.")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{where}: '{key}' must be a finite number. Got {value!r} instead.")
    return v


def make_function(spec: Mapping | BehlerFunction, env: list[str], where: str) -> BehlerFunction:
    """Validate one function given as a mapping (keys as in ænet) or a :class:`BehlerFunction`.

    Parameters
    ----------
    spec : mapping or BehlerFunction
        Keys ``G``, ``type2``, ``type3``, ``eta``, ``Rs``, ``kappa``, ``lambda``, ``zeta``,
        ``Rc`` (only those of the kind; ``Rs`` of G2 defaults to 0).
    env : list of str
        Environment species of the setup.
    where : str
        Prefix of error messages, e.g. ``"Ti.stp, line 14"``.

    Raises
    ------
    ConfigError
        On an unknown kind, a missing, unknown or inapplicable key, or an invalid value.
    """
    if isinstance(spec, BehlerFunction):
        spec = spec.to_dict()
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: a function must be a mapping of parameters. Got {spec!r}.")
    g = spec.get("G")
    if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or int(g) not in KEYS:
        if isinstance(g, float) and g.is_integer() and int(g) in KEYS:
            g = int(g)
        else:
            raise ConfigError(f"{where}: 'G' must be one of 1, 2, 3, 4, 5. Got {g!r} instead.")
    g = int(g)
    allowed = KEYS[g]
    for key in spec:
        if key == "G":
            continue
        if key not in _ALL_KEYS:
            raise ConfigError(
                f"{where}: unknown parameter {key!r}; G={g} takes {', '.join(allowed)}."
            )
        if key not in allowed:
            raise ConfigError(
                f"{where}: parameter {key!r} does not apply to G={g}, which takes "
                f"{', '.join(allowed)}."
            )
    values: dict = {}
    for key in allowed:
        if key not in spec:
            if key in _OPTIONAL:
                values[key] = _OPTIONAL[key]
                continue
            raise ConfigError(f"{where}: G={g} needs the parameter '{key}', which is missing.")
        v = spec[key]
        if key in ("type2", "type3"):
            if not isinstance(v, str) or v not in env:
                raise ConfigError(
                    f"{where}: '{key}' must be one of the environment species "
                    f"{', '.join(env)}. Got {v!r} instead."
                )
            values[key] = v
            continue
        v = _number(v, key, where)
        if key == "Rc" and v <= 0.0:
            raise ConfigError(f"{where}: 'Rc' must be > 0 (Å). Got {v!r} instead.")
        if key == "eta" and v < 0.0:
            raise ConfigError(f"{where}: 'eta' must be >= 0. Got {v!r} instead.")
        if key == "lambda" and v not in (1.0, -1.0):
            raise ConfigError(f"{where}: 'lambda' must be +1 or -1. Got {v!r} instead.")
        if key == "zeta" and v < 1.0:
            raise ConfigError(
                f"{where}: 'zeta' must be >= 1 (for zeta < 1 the forces diverge at collinear "
                f"triplets). Got {v!r} instead."
            )
        values[key] = v
    lam = values.pop("lambda", None)
    return BehlerFunction(G=g, lambda_=lam, **values)


def sf_build_order(functions: list[BehlerFunction], env: list[str]) -> np.ndarray:
    """ænet's output order: ``order[k]`` is the list position of feature ``k`` (see module doc)."""
    pos = {s: n for n, s in enumerate(env)}
    order: list[int] = []
    for t2 in range(len(env)):
        for g in (1, 2, 3):
            order += [n for n, f in enumerate(functions) if f.G == g and pos[f.type2] == t2]
        for t3 in range(t2, len(env)):
            for g in (4, 5):
                order += [
                    n for n, f in enumerate(functions)
                    if f.G == g and sorted((pos[f.type2], pos[f.type3])) == [t2, t3]
                ]
    return np.asarray(order, dtype=np.int64)


class BehlerSetup:
    """Behler2011 symmetry-function setup of one central species (Descriptor protocol).

    Features are in ænet's ``sf_build_index`` order (see the module docstring and ``order``).
    Unlike ænet 2.0.4, every function is evaluated for the species it was written for: ænet's
    TYPES/ENV-position mix-up of the function tables is not reproduced.

    Parameters
    ----------
    central : str
        Central species.
    env : list of str
        Environment species; ``env_types`` arrays index into this list.
    functions : iterable of mapping or BehlerFunction
        The functions, e.g. ``{"G": 4, "type2": "O", "type3": "Ti", "eta": 0.03,
        "lambda": -1, "zeta": 2, "Rc": 6.5}`` (Å).  See :func:`make_function`.

    Attributes
    ----------
    kind : str
        ``"behler2011"``.
    functions : tuple of BehlerFunction
        In the given order.
    order : ndarray of shape (n_features,), int64
        ``functions[order[k]]`` is feature ``k`` (ænet's ``sf_build_index`` order).
    n_features : int
    cutoff : float
        Largest Rc, Å.

    Raises
    ------
    ConfigError
        Empty or duplicate ``env``, no functions, or an invalid function (the message names
        the function's number, 1-based, and the key).
    """

    kind = KIND

    def __init__(self, central: str, env: Iterable[str], functions: Iterable) -> None:
        env = list(env)
        who = f"Behler2011 setup of {central!r}"
        if not isinstance(central, str) or not central:
            raise ConfigError(f"{who}: the central species must be a non-empty string.")
        if not env:
            raise ConfigError(f"{who}: 'env' must list at least one species. Got an empty list.")
        for s in env:
            if not isinstance(s, str) or not s:
                raise ConfigError(f"{who}: 'env' entries must be species symbols. Got {s!r}.")
        if len(set(env)) != len(env):
            raise ConfigError(f"{who}: 'env' lists a species twice: {env}.")
        functions = list(functions)
        if not functions:
            raise ConfigError(f"{who}: 'functions' is empty; give at least one function.")
        self.central = central
        self.env = env
        self.functions = tuple(
            make_function(f, env, f"{who}, function {n + 1}") for n, f in enumerate(functions)
        )
        self.order = sf_build_order(list(self.functions), env)
        self.n_features = len(self.functions)
        self.cutoff = max(f.Rc for f in self.functions)
        self._tables = _build_tables(self.functions, self.order, env)

    # -- bookkeeping -------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """Labels of the features in output order, e.g. ``"G4(O,Ti) eta=0.03 lambda=-1 ..."``."""
        names = []
        for n in self.order:
            d = self.functions[n].to_dict()
            species = ",".join(d.pop(k) for k in ("type2", "type3") if k in d)
            g = d.pop("G")
            names.append(f"G{g}({species}) " + " ".join(f"{k}={v:g}" for k, v in d.items()))
        return names

    def to_dict(self) -> dict:
        """``{"kind", "central", "env", "functions"}``, functions in the given order."""
        return {
            "kind": KIND,
            "central": self.central,
            "env": list(self.env),
            "functions": [f.to_dict() for f in self.functions],
        }

    @classmethod
    def from_dict(cls, d: Mapping, where: str = "", central: str | None = None) -> "BehlerSetup":
        """Rebuild a setup from :meth:`to_dict` output.

        Also accepts the generate-schema form (``type`` instead of ``kind``, ``central`` given
        separately).

        Raises
        ------
        ConfigError
            Wrong kind, unknown or missing keys, or invalid values.
        """
        loc = where or "a behler2011 setup"
        if not isinstance(d, Mapping):
            raise ConfigError(f"{loc}: must be a mapping. Got {type(d).__name__} instead.")
        for key in ("kind", "type"):
            if key in d and str(d[key]).lower() != KIND:
                raise ConfigError(f"{loc}: '{key}' must be {KIND!r}. Got {d[key]!r} instead.")
        unknown = sorted(set(d) - {"kind", "type", "central", "env", "functions"})
        if unknown:
            raise ConfigError(
                f"{loc}: unknown key(s) {', '.join(unknown)}; expected kind, central, env, "
                "functions."
            )
        c = d.get("central", central)
        if c is None:
            raise ConfigError(f"{loc}: the central species ('central') is missing.")
        for key in ("env", "functions"):
            if key not in d:
                raise ConfigError(f"{loc}: the key '{key}' is missing.")
        return cls(c, d["env"], d["functions"])

    def scaled(self, factor: float) -> "BehlerSetup":
        """The same setup with all lengths multiplied by ``factor`` (e.g. Bohr -> Å)."""
        return BehlerSetup(self.central, self.env, [f.scaled(factor) for f in self.functions])

    def __repr__(self) -> str:
        return (f"BehlerSetup(central={self.central!r}, env={self.env!r}, "
                f"n_features={self.n_features}, cutoff={self.cutoff:g})")

    # -- evaluation --------------------------------------------------------------------
    def _args(self, nl: NeighborList, centers, env_types):
        if nl.cutoff < self.cutoff * (1.0 - 1e-12):
            raise ValueError(
                f"neighbour list cutoff {nl.cutoff} Å is smaller than the Behler2011 setup "
                f"cutoff {self.cutoff} Å of {self.central}"
            )
        centers, env_types = check_center_arrays(nl, centers, env_types, len(self.env))
        counts = nl.offsets[centers + 1] - nl.offsets[centers]
        pair_start = np.zeros(len(centers) + 1, dtype=np.int64)
        np.cumsum(counts, out=pair_start[1:])
        arrays = (
            np.ascontiguousarray(nl.offsets, dtype=np.int64),
            np.ascontiguousarray(nl.index, dtype=np.int64),
            np.ascontiguousarray(nl.vectors, dtype=np.float64),
            np.ascontiguousarray(nl.distances, dtype=np.float64),
            centers,
        )
        env_types = np.ascontiguousarray(env_types, dtype=np.int64)
        return arrays, pair_start, env_types

    def features(self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray) -> np.ndarray:
        """Features of the atoms ``centers``.

        Parameters
        ----------
        nl : NeighborList
            CSR neighbour list of the batch with ``nl.cutoff >= self.cutoff``.
        centers : ndarray of shape (n_centers,), int
            Batch indices of the central atoms.
        env_types : ndarray of shape (n_atoms,), int
            Position of each batch atom's species in ``env`` (-1: not in env, ignored).

        Returns
        -------
        ndarray of shape (n_centers, n_features), float64
        """
        arrays, _, env_types = self._args(nl, centers, env_types)
        t = self._tables
        return _run(
            _k.features_nb, *arrays, env_types, self.cutoff, len(self.env), self.n_features, *t
        )

    def features_and_derivatives(
        self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features and their derivatives w.r.t. the pair vectors of the centres.

        Returns
        -------
        G : ndarray of shape (n_centers, n_features), float64
        dG : ndarray of shape (n_center_pairs, n_features, 3), float64, 1/Å
            ``dG[q, f] = dG_cf / d vectors[p]`` for the pairs of the centres, centre by centre in
            neighbour-list order (see :mod:`anncli.descriptors.base`).
        """
        arrays, pair_start, env_types = self._args(nl, centers, env_types)
        t = self._tables
        return _run(
            _k.features_and_derivatives_nb,
            *arrays, pair_start, env_types, self.cutoff, len(self.env), self.n_features, *t
        )

    def pair_gradients(
        self, nl: NeighborList, centers: np.ndarray, env_types: np.ndarray, dE_dG: np.ndarray
    ) -> np.ndarray:
        """Per-pair vectors ``g_q = sum_f dE_dG[c, f] dG_cf / d vectors[p]`` without storing dG.

        Parameters
        ----------
        dE_dG : ndarray of shape (n_centers, n_features) or (n_centers, n_columns, n_features), eV
            Derivative of the energy w.r.t. the (raw) features of each centre; with columns, of
            several energies (e.g. committee members), computed one column at a time.

        Returns
        -------
        ndarray of shape (n_center_pairs, 3) or (n_columns, n_center_pairs, 3), eV/Å
        """
        if np.ndim(dE_dG) == 3:
            return np.stack([self.pair_gradients(nl, centers, env_types, dE_dG[:, k])
                             for k in range(np.shape(dE_dG)[1])])
        arrays, pair_start, env_types = self._args(nl, centers, env_types)
        dE_dG = np.ascontiguousarray(dE_dG, dtype=np.float64)
        if dE_dG.shape != (len(arrays[4]), self.n_features):
            raise ValueError(
                f"dE_dG has shape {dE_dG.shape}; expected {(len(arrays[4]), self.n_features)}"
            )
        t = self._tables
        return _run(
            _k.pair_gradients_nb,
            *arrays, pair_start, env_types, self.cutoff, len(self.env), self.n_features, dE_dG, *t
        )


def _build_tables(functions, order, env) -> tuple:
    """Flatten a setup into the kernel tables (see :mod:`._behler_kernels`)."""
    pos = {s: n for n, s in enumerate(env)}
    col = np.empty(len(functions), dtype=np.int64)
    col[order] = np.arange(len(order))
    n_env = len(env)
    # radial functions, grouped by neighbour species (output order inside a species)
    rad = [n for n in order if functions[n].G <= 3]
    rad.sort(key=lambda n: pos[functions[n].type2])  # stable: keeps output order
    rad_off = np.zeros(n_env + 1, dtype=np.int64)
    for n in rad:
        rad_off[pos[functions[n].type2] + 1] += 1
    rad_off = np.cumsum(rad_off).astype(np.int64)
    rad_i = np.zeros((len(rad), 2), dtype=np.int64)
    rad_f = np.zeros((len(rad), 4))
    for row, n in enumerate(rad):
        f = functions[n]
        rad_i[row] = (f.G, col[n])
        rad_f[row] = (f.Rc, f.eta or 0.0, f.Rs or 0.0, f.kappa or 0.0)
    # angular functions, one group per unordered species pair
    grp_i, grp_f, fn_i, rk_f, ak_f, ak_i = [], [], [], [], [], []
    for t2 in range(n_env):
        for t3 in range(t2, n_env):
            members = [
                n for n in order if functions[n].G >= 4
                and sorted((pos[functions[n].type2], pos[functions[n].type3])) == [t2, t3]
            ]
            if not members:
                continue
            r_keys = sorted({(functions[n].Rc, functions[n].eta) for n in members})
            a_keys = sorted({(functions[n].lambda_, functions[n].zeta) for n in members})
            r0, a0, f0 = len(rk_f), len(ak_f), len(fn_i)
            rk_f += [(eta, rc) for rc, eta in r_keys]
            for lam, zeta in a_keys:
                ak_f.append((lam, zeta, 2.0 ** (1.0 - zeta)))
                ak_i.append(int(zeta) if float(zeta).is_integer() and zeta <= 2**20 else -1)
            for n in members:
                f = functions[n]
                fn_i.append((f.G, r0 + r_keys.index((f.Rc, f.eta)),
                             a0 + a_keys.index((f.lambda_, f.zeta)), col[n]))
            kinds = {functions[n].G for n in members}
            has4 = 0 if 4 not in kinds else (2 if kinds == {4} else 1)
            grp_i.append((t2, t3, f0, len(fn_i), r0, len(rk_f), a0, len(ak_f), has4))
            grp_f.append(max(functions[n].Rc for n in members))
    return (
        rad_off, rad_i, rad_f,
        np.asarray(grp_i, dtype=np.int64).reshape(-1, 9),
        np.asarray(grp_f, dtype=np.float64),
        np.asarray(fn_i, dtype=np.int64).reshape(-1, 4),
        np.asarray(rk_f, dtype=np.float64).reshape(-1, 2),
        np.asarray(ak_f, dtype=np.float64).reshape(-1, 3),
        np.asarray(ak_i, dtype=np.int64),
    )
