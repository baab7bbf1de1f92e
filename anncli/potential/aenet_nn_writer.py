"""Writing anncli models as ænet binary potential files (``*.nn``): the inverse of the reader.

This module owns the encoding of a :class:`~anncli.potential.model_file.Model` (one species at
a time) into the records train.x writes (gfortran unformatted sequential, little-endian; the
layout is in :mod:`anncli.potential.aenet_nn` and /work/shared/docs/aenet-reference.md §1e),
and the checks that refuse what ænet cannot represent.

Mapping (the reader's, inverted): ``avg`` = feature mean; ``cov`` (ænet's mean of squares) is
chosen so that ænet's ``sqrt(cov - avg*avg)`` gives anncli's std (features with std <= 1e-10,
which both programs set to 0, get ``cov = avg*avg``); ``scale`` = energy_scale, ``shift`` =
energy_shift and the TrnSet's ``E_atom`` = the reference energies, so that predict.x's
``E_i = y/scale + shift + E_atom`` is anncli's formula for both ``energy_scaling`` choices.
Fields that do not affect predictions (setup description, RMIN, evaluation count, the
training-set name, size and energy range) come from ``model.metadata["aenet"]`` when the
model was read from ænet files (so a read → write round trip gives the same bytes), else from
the anncli metadata (E_min/E_max = shift ∓ 1/scale, E_av = shift).

Refused (:class:`~anncli.exceptions.DataError` naming the species and the part): a committee
(export one member), activations ænet does not have, descriptor kinds other than Chebyshev and
Behler2011 or a mix of both, Chebyshev species weights other than ænet's typespin, an env list
without every species of the model, Behler setups no ænet TYPES order evaluates correctly
(§1b), species names longer than 2 characters, non-finite statistics or energies, and a
feature std that ænet's mean-of-squares cannot store to 1e-12 relative.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anncli import __version__
from anncli.exceptions import ConfigError, DataError
from anncli.potential.aenet_nn import AENET_ACTIVATIONS

logger = logging.getLogger(__name__)

__all__ = ["write_aenet_nn", "aenet_nn_records", "aenet_nn_bytes", "plan_export", "AenetExport",
           "record", "join_records", "DEFAULT_RMIN", "STD_RTOL"]

#: ænet's activation code of every activation it has.
AENET_CODES = {name: code for code, name in AENET_ACTIVATIONS.items()}
#: RMIN written when the model has none (Å): ænet sizes its neighbour arrays from it.
DEFAULT_RMIN = 0.5
#: Largest relative difference between the std ænet recovers from (avg, cov) and anncli's.
STD_RTOL = 1e-12
#: Features with a std at or below this are set to 0 by ænet (stp_normalize) and anncli.
STD_ZERO = 1e-10
TYPELEN = 2


# ------------------------------------------------------------------ records
def record(payload: bytes) -> bytes:
    """One gfortran sequential record: 4-byte little-endian length, payload, length."""
    n = len(payload).to_bytes(4, "little", signed=True)
    return n + payload + n


def join_records(payloads: list[bytes]) -> bytes:
    """The bytes of a file holding ``payloads`` as records."""
    return b"".join(record(p) for p in payloads)


def _ints(values) -> bytes:
    return np.asarray(values, dtype="<i4").reshape(-1).tobytes()


def _floats(values) -> bytes:
    return np.asarray(values, dtype="<f8").reshape(-1).tobytes()


def _text(value: str, width: int) -> bytes:
    return value.encode("latin-1", errors="replace").ljust(width)[:width]


def _names(names: list[str]) -> bytes:
    return b"".join(_text(s, TYPELEN) for s in names)


# ------------------------------------------------------------------ plan
@dataclass
class AenetExport:
    """What :func:`write_aenet_nn` writes (or would write).

    Attributes
    ----------
    types : list of str
        The species in the order ænet must be given them (predict.in TYPES / NETWORKS, the
        LAMMPS pair_coeff list); for Behler2011 setups this order is required (§1b).
    payloads : dict of str to list of bytes
        Record payloads of every species' file.
    files : dict of str to Path
        Paths written (filled by :func:`write_aenet_nn`).
    """

    types: list[str]
    payloads: dict[str, list[bytes]]
    files: dict[str, Path] = field(default_factory=dict)


def _where(sym: str) -> str:
    return f"the {sym} potential"


def _networks(model, member: int | None) -> dict:
    n = model.n_members
    if member is None:
        if n > 1:
            raise DataError(
                f"the model is a committee of {n} networks per species; an ænet potential holds one "
                f"network per species: export one member (member 0..{n - 1})")
        return model.networks
    if isinstance(member, bool) or not isinstance(member, int) or not 0 <= member < n:
        raise ConfigError(f"member must be a whole number from 0 to {n - 1} (the model has {n} "
                          f"network(s) per species). Got {member!r} instead.")
    return model.member_networks()[member]


def _descriptor(model, sym: str):
    from anncli.descriptors import descriptor_from_dict

    try:
        d = json.loads(model.descriptors[sym])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{_where(sym)}: the model holds no readable descriptor setup") from None
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind not in ("chebyshev", "behler2011"):
        raise DataError(f"{_where(sym)}: descriptor kind {kind!r} has no ænet equivalent "
                        "(ænet has Chebyshev and Behler2011)")
    try:
        return descriptor_from_dict(d, where=f"the {kind} setup of {sym}")
    except ConfigError as exc:
        raise DataError(f"{_where(sym)}: {exc}") from None


def _check_species(model) -> None:
    for sym in model.species:
        if not isinstance(sym, str) or not 1 <= len(sym) <= TYPELEN or sym != sym.strip():
            raise DataError(f"species {sym!r}: ænet species names have 1 or 2 characters")
    if getattr(model, "energy_unit", "eV") != "eV" or getattr(model, "length_unit", "Angstrom") != "Angstrom":
        raise DataError(f"the model is in {model.energy_unit} and {model.length_unit}; ænet potentials are "
                        "in eV and Angstrom")
    if getattr(model, "baseline", None):
        from anncli.potential.baseline import describe

        raise DataError(f"it is a Δ-learning model: its networks correct the baseline {describe(model.baseline)}, "
                        "which ænet cannot represent (an ænet potential is the networks alone, so its energies "
                        "and forces would lack the baseline); use it with anncli predict or ANNCalculator")
    scale, shift = float(model.energy_scale), float(model.energy_shift)
    ref = np.asarray(model.reference_energies, dtype=float)
    if not (math.isfinite(scale) and scale != 0.0 and math.isfinite(shift) and np.isfinite(ref).all()):
        raise DataError(f"the energy scale ({scale!r}), shift ({shift!r}) and reference energies "
                        f"({', '.join(map(repr, ref.tolist()))}) must be finite, the scale non-zero")


def _types_order(model, setups: dict) -> list[str]:
    """ænet's TYPES order; checks the env lists (and, for Behler2011, ænet's index bug)."""
    species = list(model.species)
    kinds = {s.kind for s in setups.values()}
    if len(kinds) > 1:
        raise DataError(f"the model mixes descriptor kinds ({', '.join(sorted(kinds))}); ænet cannot "
                        "mix basis function types in one potential set")
    for sym, setup in setups.items():
        missing = [s for s in species if s not in setup.env]
        if missing:
            raise DataError(
                f"{_where(sym)}: its {setup.kind} env lists {' '.join(setup.env)} but not "
                f"{' '.join(missing)}; ænet needs every species of the potential in every env list "
                "(it indexes out of bounds for other neighbours, anncli ignores them)")
    if kinds != {"behler2011"}:
        return species
    # ænet registers a species' Behler functions under its TYPES index and evaluates them
    # under its position in its own env list: the two must agree (aenet-reference §1b).
    pos = {sym: setups[sym].env.index(sym) for sym in species}
    order = sorted(species, key=lambda s: pos[s])
    if sorted(pos.values()) != list(range(len(species))):
        detail = ", ".join(f"{s} at {pos[s] + 1} in its env" for s in species)
        raise DataError(
            f"no ænet TYPES order evaluates these Behler2011 setups correctly ({detail}): ænet 2.0.4 "
            "evaluates a species' functions under its position in its own env list, which must "
            "equal its TYPES position; give every species the same env order")
    return order


def _check_network(sym: str, net, n_features: int) -> list[int]:
    bad = [(l + 1, a) for l, a in enumerate(net.activations) if a not in AENET_CODES]
    if bad:
        layer, act = bad[0]
        raise DataError(f"{_where(sym)}: layer {layer} uses the activation {act!r}, which ænet does not "
                        f"have (ænet: {', '.join(AENET_CODES)})")
    if net.activations[-1] != "linear" or net.sizes[-1] != 1:
        raise DataError(f"{_where(sym)}: ænet networks end in one linear output node; this one has "
                        f"{net.sizes[-1]} {net.activations[-1]} output(s)")
    if net.sizes[0] != n_features:
        raise DataError(f"{_where(sym)}: the network has {net.sizes[0]} inputs, the descriptor "
                        f"{n_features} features")
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise DataError(f"{_where(sym)}: layer {l + 1} holds non-finite weights")
    return [AENET_CODES[a] for a in net.activations]


def _network_payloads(net, codes: list[int]) -> list[bytes]:
    nnodes = list(net.sizes)
    nl = len(nnodes)
    iw, iv, blocks = [0], [0], []
    for l in range(nl - 1):
        mat = np.hstack([np.asarray(net.weights[l], dtype=float),
                         np.asarray(net.biases[l], dtype=float).reshape(-1, 1)])
        blocks.append(mat.ravel(order="F"))
        iw.append(iw[-1] + mat.size)
        iv.append(iv[-1] + nnodes[l] + 1)
    w = np.concatenate(blocks)
    nvalues = iv[-1] + nnodes[-1]
    return [_ints([nl]), _ints([max(nnodes)]), _ints([len(w)]), _ints([nvalues]), _ints(nnodes),
            _ints(codes), _ints(iw), _ints(iv[:nl]), _floats(w)]


def _basis(setup) -> tuple[str, list[int], np.ndarray, np.ndarray, float]:
    """sftype, sf, sfparam (nsf, 4), sfenv (nsf, 2) and Rc_max of a setup, as ænet stores them."""
    nsf = setup.n_features
    sf = [0] * nsf
    param = np.zeros((nsf, 4))
    env_idx = np.zeros((nsf, 2), dtype=np.int64)
    if setup.kind == "chebyshev":
        default = _typespin(len(setup.env))
        if setup.weights is not None and not np.array_equal(np.asarray(setup.weights, dtype=float), default):
            raise DataError(
                f"{_where(setup.central)}: its Chebyshev species weights {setup.weights} differ from ænet's "
                f"fixed typespin weights {default.tolist()} for this env order")
        param[0] = [setup.radial_cutoff, setup.radial_order, setup.angular_cutoff, setup.angular_order]
        return "Chebyshev", sf, param, env_idx, float(max(setup.radial_cutoff, setup.angular_cutoff))
    pos = {s: i + 1 for i, s in enumerate(setup.env)}
    for k, f in enumerate(setup.functions):
        sf[k] = f.G
        env_idx[k, 0] = pos[f.type2]
        if f.G == 1:
            param[k, 0] = f.Rc
        elif f.G == 2:
            param[k, :3] = [f.Rc, f.Rs, f.eta]
        elif f.G == 3:
            param[k, :2] = [f.Rc, f.kappa]
        else:
            env_idx[k, 1] = pos[f.type3]
            param[k] = [f.Rc, f.lambda_, f.zeta, f.eta]
    return "Behler2011", sf, param, env_idx, float(max(f.Rc for f in setup.functions))


def _typespin(n: int) -> np.ndarray:
    from anncli.descriptors.chebyshev import typespin_weights

    return typespin_weights(n)


def mean_of_squares(sym: str, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """ænet's ``sfval_cov`` for anncli's feature mean and std.

    The double nearest to ``mean² + std²`` whose ``sqrt(cov - mean*mean)`` (ænet's
    stp_normalize) is closest to ``std``; ``mean*mean`` for features with std <= 1e-10.

    Raises
    ------
    DataError
        The std ænet would recover differs from ``std`` by more than :data:`STD_RTOL`
        (relative), or crosses the 1e-10 threshold: the mean is too large for the std.
    """
    a2 = mean * mean
    cov = a2 + std * std
    for i in range(len(mean)):
        if std[i] <= STD_ZERO:
            cov[i] = a2[i]
            continue
        best, err = cov[i], math.inf
        c = np.nextafter(np.nextafter(cov[i], -np.inf), -np.inf)
        for _ in range(5):
            with np.errstate(invalid="ignore"):
                s = math.sqrt(c - a2[i]) if c >= a2[i] else math.nan
            e = abs(s - std[i]) if s == s else math.inf
            if e < err:
                best, err = c, e
            c = np.nextafter(c, np.inf)
        cov[i] = best
        recovered = math.sqrt(best - a2[i]) if best >= a2[i] else 0.0
        if err > STD_RTOL * std[i] or recovered <= STD_ZERO:
            raise DataError(
                f"{_where(sym)}: feature {i + 1} (mean {float(mean[i])!r}, std {float(std[i])!r}) cannot be "
                f"stored as ænet's mean of squares: ænet would use the std {recovered!r} (relative error "
                f"{abs(recovered - std[i]) / std[i]:.1e} > {STD_RTOL:g}); the mean is too large for the std")
    return cov


def _feature_stats(model, sym: str, n_features: int, extra: dict | None) -> list[np.ndarray]:
    stats = {}
    for name in ("feature_mean", "feature_std", "feature_min", "feature_max"):
        a = np.asarray(getattr(model, name)[sym], dtype=float)
        if a.shape != (n_features,):
            raise DataError(f"{_where(sym)}: {name} has shape {a.shape}, the descriptor {n_features} features")
        if not np.isfinite(a).all():
            raise DataError(f"{_where(sym)}: {name} holds non-finite numbers, which ænet's setup cannot "
                            "store (is the model trained?)")
        stats[name] = a
    mean, std = stats["feature_mean"], stats["feature_std"]
    if (std < 0).any():
        raise DataError(f"{_where(sym)}: feature_std holds negative numbers")
    cov = None
    if extra is not None and len(extra.get("sfval_cov") or ()) == n_features:
        # the file's own mean of squares, if it still gives this model's std (the reader's formula)
        old = np.asarray(extra["sfval_cov"], dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):
            if np.array_equal(np.sqrt(np.maximum(old - mean**2, 0.0)), std):
                cov = old
    if cov is None:
        cov = mean_of_squares(sym, mean, std)
    return [stats["feature_min"], stats["feature_max"], mean, cov]


def _aenet_extras(model, sym: str) -> dict | None:
    """What the reader kept of ``sym``'s ænet file beyond the Model (``metadata["aenet"][sym]``)."""
    extras = (model.metadata or {}).get("aenet")
    extra = extras.get(sym) if isinstance(extras, dict) else None
    return extra if isinstance(extra, dict) else None


def _setup_payloads(model, sym: str, setup, rmin: float | None) -> list[bytes]:
    extra = _aenet_extras(model, sym)
    sftype, sf, param, env_idx, rc_max = _basis(setup)
    nsf = setup.n_features
    lo, hi, avg, cov = _feature_stats(model, sym, nsf, extra)
    if rmin is None:
        rmin = float(extra["Rc_min"]) if extra and "Rc_min" in extra else DEFAULT_RMIN
    description = str(extra.get("description", "")) if extra else \
        f"{sym} potential exported by anncli {__version__}$$"
    neval = int(extra.get("neval", 0)) if extra else 0
    return [_text(description, 1024), _text(sym, TYPELEN), _ints([len(setup.env)]), _names(setup.env),
            _floats([rmin]), _floats([rc_max]), _text(sftype, 100), _ints([nsf]), _ints([4]),
            _ints(sf), _floats(param), _ints(env_idx), _ints([neval]),
            _floats(lo), _floats(hi), _floats(avg), _floats(cov)]


def _trnset_payloads(model, sym: str, types: list[str]) -> list[bytes]:
    scale, shift = float(model.energy_scale), float(model.energy_shift)
    ref = {s: float(e) for s, e in zip(model.species, model.reference_energies)}
    t = (_aenet_extras(model, sym) or {}).get("trainset")
    if isinstance(t, dict) and t.get("scale") == scale and t.get("shift") == shift \
            and all(s in t.get("types", []) and t["E_atom"][t["types"].index(s)] == ref[s] for s in types):
        names, e_atom = list(t["types"]), [float(e) for e in t["E_atom"]]
        file, normalized = str(t.get("file", "")), int(t.get("normalized", 1))
        counts = [int(t.get("nAtomsTot", 0)), int(t.get("nStrucs", 0))]
        energies = [float(t.get(k, 0.0)) for k in ("E_min", "E_max", "E_av")]
    else:
        meta = model.metadata or {}
        names, e_atom = types, [ref[s] for s in types]
        file, normalized = str(meta.get("trainset", "")), 1
        n_struc = sum(int(meta.get(k) or 0) for k in ("n_train", "n_validation"))
        counts = [0, n_struc]
        energies = [shift - 1.0 / scale, shift + 1.0 / scale, shift]
        if energies[0] > energies[1]:
            energies[:2] = energies[1::-1]
    return [_text(file, 1024), _ints([normalized]), _floats([scale]), _floats([shift]),
            _ints([len(names)]), _names(names), _floats(e_atom), _ints(counts[:1]), _ints(counts[1:]),
            _floats(energies)]


def plan_export(model, *, member: int | None = None, rmin: float | None = None) -> AenetExport:
    """Check ``model`` and encode every species' ænet potential file (nothing is written).

    Parameters
    ----------
    model : Model
    member : int, optional
        Committee member to export (0 = ``model.networks``); required for a committee.
    rmin : float, optional
        ænet's RMIN (Å), the shortest expected interatomic distance from which ænet sizes
        its neighbour arrays; default the value of the ænet file the model was read from, or
        :data:`DEFAULT_RMIN`.

    Returns
    -------
    AenetExport

    Raises
    ------
    DataError
        The model has something ænet's files cannot represent (the message says what).
    ConfigError
        A bad ``member`` or ``rmin``.
    """
    if rmin is not None and not (isinstance(rmin, (int, float)) and math.isfinite(rmin) and rmin > 0):
        raise ConfigError(f"rmin must be a distance > 0 (Angstrom). Got {rmin!r} instead.")
    nets = _networks(model, member)
    _check_species(model)
    setups = {sym: _descriptor(model, sym) for sym in model.species}
    for sym, setup in setups.items():
        if setup.central != sym:
            raise DataError(f"{_where(sym)}: its descriptor setup is for {setup.central}")
    types = _types_order(model, setups)
    payloads = {}
    for sym in model.species:
        codes = _check_network(sym, nets[sym], setups[sym].n_features)
        payloads[sym] = (_network_payloads(nets[sym], codes)
                         + _setup_payloads(model, sym, setups[sym], rmin)
                         + _trnset_payloads(model, sym, types))
    return AenetExport(types=types, payloads=payloads)


def aenet_nn_records(model, species: str, **kwargs) -> list[bytes]:
    """Record payloads of the ænet potential file of ``species`` (see :func:`plan_export`)."""
    plan = plan_export(model, **kwargs)
    if species not in plan.payloads:
        raise ConfigError(f"species {species!r} is not in the model ({', '.join(model.species)})")
    return plan.payloads[species]


def aenet_nn_bytes(model, species: str, **kwargs) -> bytes:
    """The bytes of the ænet potential file of ``species`` (see :func:`plan_export`)."""
    return join_records(aenet_nn_records(model, species, **kwargs))


def write_aenet_nn(model, directory: str | Path, *, member: int | None = None,
                   rmin: float | None = None, overwrite: bool = True) -> AenetExport:
    """Write ``<directory>/<Species>.nn`` for every species of ``model``.

    Every file is checked and encoded before the first is written; each is written
    atomically (:mod:`anncli.io.atomic`).

    Parameters
    ----------
    model : Model
    directory : path
        Created if missing.
    member, rmin
        See :func:`plan_export`.
    overwrite : bool
        Replace existing files (else a :class:`ConfigError` names them and nothing is written).

    Returns
    -------
    AenetExport
        With ``files`` in ænet's TYPES order.
    """
    from anncli.io.atomic import atomic_open

    plan = plan_export(model, member=member, rmin=rmin)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory}: the output must be a directory; it is a file")
    paths = {sym: directory / f"{sym}.nn" for sym in plan.types}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{', '.join(existing)} exist(s); choose another output directory or allow "
                          "overwriting (--overwrite)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot create the output directory ({exc.strerror})") from None
    for sym, path in paths.items():
        with atomic_open(path, "wb") as fh:
            fh.write(join_records(plan.payloads[sym]))
        plan.files[sym] = path
        logger.debug("ænet potential written: %s", path)
    return plan
