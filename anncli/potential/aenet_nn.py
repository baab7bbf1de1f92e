"""Reading ænet potential files (``*.nn``, written by train.x) into an anncli :class:`Model`.

This module owns the decoding of ænet's binary potential layout (gfortran unformatted
sequential records, little-endian; docs: /work/shared/docs/aenet-reference.md §1e)::

    Network : nlayers | nnodes_max | Wsize | nvalues | nnodes(nlayers) | f_a(2:nlayers)
              | iw(nlayers) | iv(nlayers) | W(Wsize)
    Setup   : description(1024) | atomtype(2) | nenv | envtypes(2 each) | Rc_min | Rc_max
              | sftype(100) | nsf | nsfparam | sf(nsf) | sfparam(nsfparam, nsf)
              | sfenv(2, nsf) | neval | sfval_min | sfval_max | sfval_avg | sfval_cov
    TrnSet  : file(1024) | normalized | scale | shift | nTypes | typeName(2 each)
              | E_atom(nTypes) | nAtomsTot | nStrucs | E_min, E_max, E_av

Layer ``l`` occupies ``W[iw(l):iw(l+1)]`` as a Fortran-ordered (column-major) matrix of shape
(nnodes(l+1), nnodes(l) + 1) whose last column is the bias.  Activation codes ``f_a``:
0 linear, 1 tanh, 2 sigmoid, 3 mtanh, 4 twist.

The conversion to anncli conventions: feature mean = avg and std = sqrt(cov - avg²) (ænet's
population z-score), min/max = sfval_min/max, ``energy_scale`` = scale, ``energy_shift`` =
shift and reference energies = E_atom of the TrnSet block, so that
``E_i = ANN(z-scored G_i)/scale + shift + E_atom`` exactly as predict.x computes it.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from anncli.exceptions import FileFormatError

logger = logging.getLogger(__name__)

__all__ = ["read_aenet_nn", "read_nn_records", "AENET_ACTIVATIONS"]

#: ænet's activation codes (``f_a`` of the Network records).
AENET_ACTIVATIONS = {0: "linear", 1: "tanh", 2: "sigmoid", 3: "mtanh", 4: "twist"}


def read_nn_records(path: str | Path) -> list[bytes]:
    """Split a gfortran unformatted sequential file into its records.

    Raises
    ------
    FileFormatError
        Missing file, or record markers that do not match (not such a file / truncated).
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such ænet potential file")
    data = path.read_bytes()
    records = []
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise FileFormatError(f"{path}: not an ænet binary potential (truncated record at byte {pos})")
        n = int.from_bytes(data[pos:pos + 4], "little", signed=True)
        end = pos + 4 + n
        if n < 0 or end + 4 > len(data) or int.from_bytes(data[end:end + 4], "little", signed=True) != n:
            raise FileFormatError(
                f"{path}: not an ænet binary potential (bad Fortran record marker at byte {pos}); "
                "ASCII potentials (*.nn.ascii) must be converted with ænet's nnASCII2bin.x"
            )
        records.append(data[pos + 4:end])
        pos = end + 4
    return records


class _Reader:
    def __init__(self, path: Path, records: list[bytes]) -> None:
        self.path, self.records, self.k = path, records, 0

    def raw(self, what: str) -> bytes:
        if self.k >= len(self.records):
            raise FileFormatError(f"{self.path}: ænet potential ends before the {what} record")
        rec = self.records[self.k]
        self.k += 1
        return rec

    def ints(self, what: str, n: int | None = None) -> np.ndarray:
        rec = self.raw(what)
        if (n is not None and len(rec) != 4 * n) or len(rec) % 4:
            raise FileFormatError(f"{self.path}: record '{what}' has {len(rec)} bytes, expected {4 * (n or 0)}")
        return np.frombuffer(rec, dtype="<i4").astype(np.int64)

    def int(self, what: str) -> int:
        return int(self.ints(what, 1)[0])

    def floats(self, what: str, n: int | None = None) -> np.ndarray:
        rec = self.raw(what)
        if (n is not None and len(rec) != 8 * n) or len(rec) % 8:
            raise FileFormatError(f"{self.path}: record '{what}' has {len(rec)} bytes, expected {8 * (n or 0)}")
        return np.frombuffer(rec, dtype="<f8").astype(np.float64)

    def float(self, what: str) -> float:
        return float(self.floats(what, 1)[0])

    def text(self, what: str) -> str:
        return self.raw(what).decode("latin-1")

    def names(self, what: str, n: int) -> list[str]:
        rec = self.raw(what).decode("latin-1")
        if len(rec) != 2 * n:
            raise FileFormatError(f"{self.path}: record '{what}' holds {len(rec)} characters, expected {2 * n}")
        return [rec[2 * i:2 * i + 2].strip() for i in range(n)]


def _network(r: _Reader):
    from anncli.network.mlp import Network

    nlayers = r.int("nlayers")
    if not 2 <= nlayers <= 100:
        raise FileFormatError(f"{r.path}: not an ænet potential (number of layers {nlayers})")
    r.int("nnodes_max")
    wsize = r.int("Wsize")
    r.int("nvalues")
    nnodes = [int(n) for n in r.ints("nnodes", nlayers)]
    codes = [int(c) for c in r.ints("f_a", nlayers - 1)]
    iw = r.ints("iw", nlayers)
    r.ints("iv", nlayers)
    w = r.floats("W", wsize)
    if min(nnodes) < 1:
        raise FileFormatError(f"{r.path}: not an ænet potential (layer sizes {nnodes})")
    # the layer sizes must fit the weights the file holds before any array is made of them
    needed = sum(nnodes[l + 1] * (nnodes[l] + 1) for l in range(nlayers - 1))
    if needed != len(w):
        raise FileFormatError(
            f"{r.path}: layer sizes {nnodes} need {needed} weights, the file holds {len(w)}")
    if not np.isfinite(w).all():
        raise FileFormatError(f"{r.path}: the network weights hold non-finite numbers (nan or inf)")
    try:
        acts = [AENET_ACTIVATIONS[c] for c in codes]
    except KeyError as exc:
        raise FileFormatError(f"{r.path}: unknown ænet activation code {exc.args[0]}") from None
    try:
        net = Network(nnodes, acts)
    except ValueError as exc:
        raise FileFormatError(f"{r.path}: unsupported network ({exc})") from None
    for l in range(nlayers - 1):
        n_in, n_out = nnodes[l], nnodes[l + 1]
        block = w[iw[l]:iw[l + 1]]
        if len(block) != n_out * (n_in + 1):
            raise FileFormatError(f"{r.path}: layer {l + 1} holds {len(block)} weights, expected {n_out * (n_in + 1)}")
        mat = block.reshape((n_out, n_in + 1), order="F")
        net.weights[l][...] = mat[:, :n_in]
        net.biases[l][...] = mat[:, n_in]
    return net


def _setup(r: _Reader) -> dict:
    raw_description = r.text("description").rstrip(" ")
    description = raw_description.strip()
    central = r.text("atomtype").strip()
    nenv = r.int("nenv")
    env = r.names("envtypes", nenv)
    rc_min = r.float("Rc_min")
    r.float("Rc_max")
    sftype = r.text("sftype").strip()
    nsf = r.int("nsf")
    nsfparam = r.int("nsfparam")
    if nsf < 1 or nsfparam < 4:
        raise FileFormatError(f"{r.path}: not an ænet potential ({nsf} descriptor functions with "
                              f"{nsfparam} parameters each; expected >= 1 with >= 4)")
    sf = r.ints("sf", nsf)
    sfparam = r.floats("sfparam", nsfparam * nsf).reshape((nsf, nsfparam))  # Fortran (nsfparam, nsf)
    sfenv = r.ints("sfenv", 2 * nsf).reshape((nsf, 2))
    neval = r.int("neval")
    stats = {k: r.floats(k, nsf) for k in ("sfval_min", "sfval_max", "sfval_avg", "sfval_cov")}
    for key, values in stats.items():
        if not np.isfinite(values).all():
            raise FileFormatError(f"{r.path}: the descriptor statistics {key} hold non-finite numbers")
    kind = sftype.lower()
    if kind == "chebyshev":
        from anncli.config.generate import MAX_CHEBYSHEV_ORDER

        p = sfparam[0]
        limits = (min(nsf, MAX_CHEBYSHEV_ORDER["radial"]), min(nsf, MAX_CHEBYSHEV_ORDER["angular"]))
        if not all(math.isfinite(x) and x == round(x) and 0 <= x <= n for x, n in zip((p[1], p[3]), limits)):
            raise FileFormatError(f"{r.path}: Chebyshev orders radial_N={float(p[1])!r}, angular_N={float(p[3])!r} "
                                  f"are not whole numbers between 0 and {limits[0]}, {limits[1]}")
        desc = {"kind": "chebyshev", "central": central, "env": env, "radial_cutoff": float(p[0]),
                "radial_order": int(p[1]), "angular_cutoff": float(p[2]),
                "angular_order": int(p[3]), "weights": None}
    elif kind == "behler2011":
        functions = []
        for k in range(nsf):
            g, p = int(sf[k]), sfparam[k]
            used = sfenv[k, :2] if g in (4, 5) else sfenv[k, :1]
            if not all(1 <= int(i) <= len(env) for i in used):
                raise FileFormatError(f"{r.path}: descriptor function {k + 1} (G={g}) names environment "
                                      f"species {', '.join(str(int(i)) for i in used)}; the setup has "
                                      f"{len(env)} (1-based)")
            fn: dict = {"G": g, "type2": env[sfenv[k, 0] - 1], "Rc": float(p[0])}
            if g == 2:
                fn.update(Rs=float(p[1]), eta=float(p[2]))
            elif g == 3:
                fn.update(kappa=float(p[1]))
            elif g in (4, 5):
                fn.update(type3=env[sfenv[k, 1] - 1], **{"lambda": float(p[1])}, zeta=float(p[2]), eta=float(p[3]))
            functions.append(fn)
        desc = {"kind": "behler2011", "central": central, "env": env, "functions": functions}
    else:
        raise FileFormatError(f"{r.path}: descriptor type {sftype!r} is not supported (Chebyshev, Behler2011)")
    _check_descriptor(r.path, desc, nsf)
    # what the Model has no place for, kept so that the writer gives the same bytes back
    extras = {"description": raw_description, "Rc_min": rc_min, "neval": neval,
              "sfval_cov": stats["sfval_cov"].tolist()}
    return {"central": central, "descriptor": desc, "description": description, "stats": stats,
            "extras": extras}


def _check_descriptor(path: Path, desc: dict, n_features: int) -> None:
    """Build the descriptor of a setup once: bad parameters are an error naming the file."""
    from anncli.descriptors import descriptor_from_dict
    from anncli.exceptions import ConfigError

    try:
        setup = descriptor_from_dict(desc, where=f"the {desc['kind']} setup of {desc['central']}")
    except ConfigError as exc:
        raise FileFormatError(f"{path}: {exc}") from None
    if setup.n_features != n_features:
        raise FileFormatError(f"{path}: the {desc['kind']} setup gives {setup.n_features} features, "
                              f"the file has statistics of {n_features}")


def _trnset(r: _Reader) -> dict:
    raw_file = r.text("trainset file").rstrip(" ")
    file = raw_file.strip()
    normalized = r.int("normalized")
    scale = r.float("scale")
    shift = r.float("shift")
    ntypes = r.int("nTypes")
    names = r.names("typeName", ntypes)
    e_atom = r.floats("E_atom", ntypes)
    if not (math.isfinite(scale) and scale != 0.0 and math.isfinite(shift) and np.isfinite(e_atom).all()):
        raise FileFormatError(f"{r.path}: the energy scale ({scale!r}), shift ({shift!r}) and atomic "
                              f"energies ({', '.join(map(repr, e_atom.tolist()))}) must be finite, "
                              "the scale non-zero")
    extras = {"file": raw_file, "normalized": normalized, "scale": scale, "shift": shift,
              "types": names, "E_atom": e_atom.tolist()}
    try:  # informational only (predict.x does not use them): kept when present and well-formed
        extras.update(nAtomsTot=r.int("nAtomsTot"), nStrucs=r.int("nStrucs"),
                      **dict(zip(("E_min", "E_max", "E_av"), r.floats("E_min, E_max, E_av", 3).tolist())))
    except FileFormatError:
        pass
    return {"file": file, "scale": scale, "shift": shift, "species": names, "e_atom": e_atom,
            "extras": extras}


def _check_same_training(path: Path, info: dict, path0: Path, info0: dict) -> None:
    """The training-set record of ``path`` equals that of ``path0``: one potential, not a mix.

    train.x writes the same energy scale, shift, species and free-atom energies into the file
    of every species; files from different trainings do not fit together (their networks
    expect other normalisations and reference energies).
    """
    for key in ("scale", "shift"):
        if not math.isclose(info[key], info0[key], rel_tol=1e-12, abs_tol=1e-12):
            raise FileFormatError(f"{path}: energy {key} {info[key]} differs from {info0[key]} in {path0}: "
                                  "the files are not from one training")
    if set(info["species"]) != set(info0["species"]):
        raise FileFormatError(
            f"{path}: written for a training set of species {', '.join(info['species'])}, but {path0} for "
            f"{', '.join(info0['species'])}: the files are not from one training")
    e0 = dict(zip(info0["species"], info0["e_atom"]))
    for sym, e in zip(info["species"], info["e_atom"]):
        if not math.isclose(e, e0[sym], rel_tol=1e-12, abs_tol=1e-12):
            raise FileFormatError(f"{path}: the free-atom energy of {sym} is {e!r} eV, in {path0} {e0[sym]!r} eV: "
                                  "the files are not from one training")


def _check_environments(paths_by_species: dict, setups: dict) -> None:
    """Every descriptor distinguishes every species of the potential (ænet needs this)."""
    for sym, setup in setups.items():
        env = setup["descriptor"]["env"]
        missing = [s for s in paths_by_species if s not in env]
        if missing:
            other = paths_by_species[missing[0]]
            raise FileFormatError(
                f"{paths_by_species[sym]}: the descriptor of {sym} has the environment species "
                f"{', '.join(env)}, not {', '.join(missing)} (whose potential is {other}): ænet would index "
                "out of bounds at such neighbours, anncli would ignore them; the files are not one potential")


def read_aenet_nn(paths_by_species: dict[str, str | Path]):
    """Build an anncli :class:`Model` from ænet's binary potential files.

    Parameters
    ----------
    paths_by_species : dict of str to path
        The ``.nn`` file of every species (predict.in's NETWORKS), e.g.
        ``{"Ti": "Ti.nn", "O": "O.nn"}``.

    Returns
    -------
    Model
        Species in the order of the first file's training-set type list (restricted to the
        given species); descriptors as anncli setup JSON.

    Raises
    ------
    FileFormatError
        Unreadable or foreign file, a file whose setup is for another species, files that
        disagree on the energy scale, shift, training-set species or free-atom energies (not
        from one training), or a descriptor whose environment lacks a species of the others.
    """
    from anncli.potential.model_file import Model

    nets, setups, trn = {}, {}, None
    for sym, path in paths_by_species.items():
        path = Path(path)
        r = _Reader(path, read_nn_records(path))
        net = _network(r)
        setup = _setup(r)
        info = _trnset(r)
        if setup["central"] != sym:
            raise FileFormatError(f"{path}: the potential is for {setup['central']}, not for {sym}")
        if net.n_inputs != len(setup["stats"]["sfval_avg"]):
            raise FileFormatError(f"{path}: network has {net.n_inputs} inputs but the setup {len(setup['stats']['sfval_avg'])} features")
        if trn is None:
            trn = (path, info)
        else:
            _check_same_training(path, info, *trn)
        setup["extras"]["trainset"] = info["extras"]
        nets[sym], setups[sym] = net, setup
    if trn is None:
        raise FileFormatError("no ænet potential files given")
    info = trn[1]
    _check_environments(paths_by_species, setups)
    ref = dict(zip(info["species"], info["e_atom"]))
    missing = [s for s in paths_by_species if s not in ref]
    if missing:
        raise FileFormatError(f"{trn[0]}: no reference energy for {', '.join(missing)} in the training-set info")
    species = [s for s in info["species"] if s in paths_by_species]
    mean, std, lo, hi = {}, {}, {}, {}
    for sym in species:
        st = setups[sym]["stats"]
        mean[sym] = st["sfval_avg"].copy()
        with np.errstate(over="ignore", invalid="ignore"):
            var = st["sfval_cov"] - st["sfval_avg"] ** 2
        if not np.isfinite(var).all():
            raise FileFormatError(f"{paths_by_species[sym]}: the descriptor statistics sfval_avg/sfval_cov "
                                  "give a non-finite variance (values near the floating-point limit)")
        std[sym] = np.sqrt(np.maximum(var, 0.0))
        lo[sym], hi[sym] = st["sfval_min"].copy(), st["sfval_max"].copy()
    model = Model(
        species=species,
        reference_energies=np.array([ref[s] for s in species]),
        descriptors={s: json.dumps(setups[s]["descriptor"]) for s in species},
        feature_mean=mean, feature_std=std, feature_min=lo, feature_max=hi,
        networks={s: nets[s] for s in species},
        energy_shift=float(info["shift"]), energy_scale=float(info["scale"]),
        metadata={"source": "aenet", "files": {s: str(p) for s, p in paths_by_species.items()},
                  "trainset": info["file"],
                  "aenet": {s: setups[s]["extras"] for s in species}},
    )
    logger.debug("read ænet potential for %s", ", ".join(species))
    return model
