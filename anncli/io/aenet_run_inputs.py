"""Readers of ænet's train.in and predict.in: the same meaning as anncli train / predict input.

This module owns the translation of ænet 2.0.4's ``train.in`` (train.x) and ``predict.in``
(predict.x) into dicts of the ``anncli train`` / ``anncli predict`` YAML schema
(:class:`~anncli.config.train.TrainConfig`, :class:`~anncli.config.predict.PredictConfig`),
together with *notes*: per top-level key, the sentences saying where anncli behaves differently
from ænet there (aenet-reference §2), which ``anncli convert X.in`` writes as YAML comments.

ænet's reading rules are kept as in :mod:`anncli.io.aenet_inputs` (first token of a line,
case-insensitive, any order; ``!``, ``#``, ``%`` comments; ``key=value`` parameters matched by
their exact key), and its traps are fixed: paths may hold ``/`` quoted or not, an
``online_gd`` METHOD is the SGD it was meant to be, TYPES names may be indented.  A keyword
or METHOD anncli does not support is a :class:`~anncli.exceptions.ConfigError` naming the
keyword and the line.  Relative paths are returned as written (relative to the input file's
directory, where anncli resolves them; ænet resolves them against the working directory).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from anncli.exceptions import ConfigError
from anncli.io.aenet_inputs import _check_path, _files_block, _first, _flag, _float, _int, _key_values, _Lines

logger = logging.getLogger(__name__)

__all__ = ["AenetInput", "aenet_input_kind", "read_train_in", "read_predict_in"]

TRAIN_KEYWORDS = ("trainingset", "testpercent", "iterations", "maxenergy", "sampling", "method",
                  "networks", "save_energies", "timing", "debug", "verbosity")
PREDICT_KEYWORDS = ("types", "networks", "forces", "relax", "print_atomic_energies", "files",
                    "timing", "debug", "verbosity")
#: aenet-PyTorch's train.in keywords (not train.x's): named as such in the error.
_PYTORCH_KEYWORDS = ("iterwrite", "batchsize", "maxforces", "forces", "memory_mode", "save_forces",
                     "verbose", "regularization", "npseed", "phseed", "iterprint")
#: ænet's activation names (long and one-letter) -> anncli's
ACTIVATIONS = {"linear": "linear", "l": "linear", "tanh": "tanh", "t": "tanh", "sigmoid": "sigmoid",
               "s": "sigmoid", "mtanh": "mtanh", "m": "mtanh", "twist": "twist", "w": "twist"}
_SAMPLING = {"sequential": "sequential", "random": "random", "weighted": "error", "energy": "energy"}
_METHOD_KEYS = {
    "bfgs": {},
    "online_sd": {"alpha": "alpha", "gamma": "gamma"},
    "online_gd": {"alpha": "alpha", "gamma": "gamma"},
    "ekf": {"lambda": "lambda", "lambda0": "lambda0", "state": "state", "pnoise": "pnoise",
            "adaptive": "adaptive", "wgroup": "wgroup"},
    "adam": {"mu": "mu", "b1": "b1", "b2": "b2", "eps": "eps", "samplesize": "samplesize",
             "batchsize": "batchsize"},
}
_RELAX_KEYS = {"method": "method", "f_conv": "F_conv", "e_conv": "E_conv", "steps": "steps"}


@dataclass
class AenetInput:
    """An ænet input file translated to an anncli stage input.

    Attributes
    ----------
    stage : str
        ``train`` or ``predict``.
    config : dict
        In the stage's YAML schema (paths as written, relative to ``path``'s directory).
    notes : dict of str to list of str
        Per top-level key (``""``: the whole file), where anncli differs from ænet.
    networks_files : dict of str to str
        train.in: the ``.nn`` file NETWORKS names for every species (anncli train train.in
        writes them after training).
    path : Path
    trainingset : str or None
        train.in: TRAININGSET as written.
    """

    stage: str
    config: dict
    notes: dict[str, list[str]] = field(default_factory=dict)
    networks_files: dict[str, str] = field(default_factory=dict)
    path: Path = Path()
    trainingset: str | None = None

    def note(self, key: str, text: str) -> None:
        self.notes.setdefault(key, []).append(text)


_FIRST_TOKEN = re.compile(r"^\s*([A-Za-z_]+)", re.MULTILINE)


def aenet_input_kind(path: str | Path) -> str | None:
    """``generate``, ``train`` or ``predict`` if ``path`` reads like that ænet input file, else None.

    YAML files (``*.yaml``/``*.yml``, or any file whose lines look like ``key: value``) are not
    ænet input.
    """
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml") or not path.is_file():
        return None
    try:
        text = path.read_bytes()[:65536].decode("utf-8", errors="replace")
    except OSError:
        return None
    tokens = set()
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in "!#%":
            continue
        first = s.split()[0]
        if first.endswith(":"):  # YAML
            return None
        tokens.add(first.lower())
    if "trainingset" in tokens:
        return "train"
    if "setups" in tokens:
        return "generate"
    if "networks" in tokens or ("types" in tokens and "files" in tokens):
        return "predict"
    return None


def _unknown(src: _Lines, lineno: int, line: str, stage: str, known: tuple[str, ...]) -> ConfigError:
    word = line.split()[0]
    if stage == "train" and word.lower() in _PYTORCH_KEYWORDS:
        why = "is an aenet-PyTorch keyword; anncli reads train.x's train.in (force training: 'force_weight' in train.yaml)"
    else:
        why = "is not supported"
    return ConfigError(f"{src.where(lineno)}: the keyword {word!r} {why}; {stage}.in has "
                       f"{', '.join(k.upper() for k in known)}.")


def _number(kv: dict, key: str, default: float, n: int, src: _Lines, what: str) -> float:
    return _float(kv[key], n, src, f"{what} {key}") if key in kv else default


def _method(text: str, n: int, src: _Lines, inp: AenetInput, sampling: str | None) -> None:
    """METHOD's line ``<name> key=value ...`` -> optimizer, batch_size, sampling and notes."""
    text = text.strip()
    name = text.split()[0]
    low = name.lower()
    if low == "lm":
        raise ConfigError(f"{src.where(n)}: METHOD 'lm' (Levenberg-Marquardt) is not supported by anncli; "
                          "use bfgs (a batch second-order method like it), ekf, adam or online_sd.")
    if low not in _METHOD_KEYS:
        raise ConfigError(f"{src.where(n)}: unknown METHOD {name!r}; ænet's methods anncli supports are "
                          "bfgs, online_sd, ekf, adam.")
    kv = _key_values(text[len(name):], n, src, _METHOD_KEYS[low])
    cfg = inp.config
    if low == "bfgs":
        cfg["optimizer"] = {"method": "lbfgs", "memory": 20}
        inp.note("optimizer", "METHOD bfgs: anncli's own L-BFGS with ænet's memory of 20 pairs. One "
                              "epoch is one L-BFGS iteration (with its line search); ænet counts every "
                              "function evaluation as an epoch, and its epoch 1 never changes the weights.")
        return
    if low in ("online_sd", "online_gd"):
        alpha = _number(kv, "alpha", 0.01, n, src, "METHOD")
        gamma = _number(kv, "gamma", 0.9, n, src, "METHOD")
        if not 0.0 <= alpha < 1.0 or gamma <= 0.0:
            raise ConfigError(f"{src.where(n)}: METHOD {low} needs 0 <= alpha < 1 (momentum) and gamma > 0 "
                              f"(learning rate). Got alpha={alpha:g}, gamma={gamma:g}.")
        cfg["optimizer"] = {"method": "sgd", "learning_rate": gamma, "momentum": alpha}
        cfg["batch_size"] = 1
        inp.note("optimizer", f"METHOD {low} alpha={alpha:g} gamma={gamma:g}: per-structure gradient "
                              "descent with momentum (ænet's alpha is the momentum, gamma the learning rate)."
                 + (" ænet documents online_gd but rejects it; anncli runs it as online_sd." if low == "online_gd" else ""))
    elif low == "ekf":
        state = _number(kv, "state", 10.0, n, src, "METHOD")
        wgroup = _number(kv, "wgroup", 100.0, n, src, "METHOD")
        if state <= 0 or wgroup < 1 or wgroup != int(wgroup):
            raise ConfigError(f"{src.where(n)}: METHOD ekf needs state > 0 and a whole wgroup >= 1. "
                              f"Got state={state:g}, wgroup={wgroup:g}.")
        cfg["optimizer"] = {"method": "ekf", "lambda": _number(kv, "lambda", 0.999, n, src, "METHOD"),
                            "lambda0": _number(kv, "lambda0", 0.97, n, src, "METHOD"),
                            "p0": 1.0 / state, "process_noise": _number(kv, "pnoise", 0.0, n, src, "METHOD"),
                            "block_size": int(wgroup)}
        cfg["batch_size"] = 1
        inp.note("optimizer", "METHOD ekf: per-structure extended Kalman filter with ænet's parameters "
                              "(P0 = I/state, blocks of wgroup weights); 'adaptive' is unused by ænet and "
                              "ignored here.")
    elif low == "adam":
        batch = _number(kv, "batchsize", 1.0, n, src, "METHOD")
        if batch < 1 or batch != int(batch):
            raise ConfigError(f"{src.where(n)}: METHOD adam batchsize must be a whole number >= 1. Got {batch:g}.")
        cfg["optimizer"] = {"method": "adam", "learning_rate": _number(kv, "mu", 0.001, n, src, "METHOD"),
                            "beta1": _number(kv, "b1", 0.9, n, src, "METHOD"),
                            "beta2": _number(kv, "b2", 0.999, n, src, "METHOD"),
                            "eps": _number(kv, "eps", 1e-8, n, src, "METHOD")}
        cfg["batch_size"] = int(batch)
        inp.note("optimizer", "METHOD adam: every epoch covers the whole training set in mini-batches of "
                              "batch_size (ænet's samplesize is not needed, and ænet's 'invalid schedule' "
                              "abort cannot happen); the mini-batch gradient is the mean, not ænet's sum, "
                              "which Adam's step does not depend on.")
    default = "random" if low == "adam" else "sequential"
    cfg["sampling"] = sampling or default
    inp.note("sampling", "ænet's SAMPLING weighted is anncli's 'error'." if sampling == "error" else
             f"ænet's default order for {low} ({default}).")


def _networks_lines(src: _Lines, lineno: int, keywords: tuple[str, ...], count: int | None,
                    what: str) -> list[tuple[int, str]]:
    """The lines of a NETWORKS block: ``count`` lines, or (count unknown) up to the next keyword."""
    out: list[tuple[int, str]] = []
    while count is None or len(out) < count:
        if src.peek_keyword() in (None, *keywords):
            if count is not None or not out:
                raise ConfigError(f"{src.where(lineno)}: NETWORKS has {len(out)} line(s)"
                                  + (f" but TYPES lists {count} species" if count is not None else "")
                                  + f"; give one '{what}' line per species.")
            break
        out.append(src.next(f"a NETWORKS line '{what}'"))
    return out


def read_train_in(path: str | Path) -> AenetInput:
    """Translate ænet's train.in into an ``anncli train`` input.

    Returns
    -------
    AenetInput
        ``config`` with ``trainset`` (TRAININGSET with suffix ``.h5``: the file ``anncli generate
        generate.in`` or ``anncli convert`` writes; an HDF5 TRAININGSET is kept), ``output``
        (``model.h5``), ``seed``, ``validation_fraction``, ``epochs``, ``networks``, ``optimizer``
        and, where given, ``max_energy_per_atom``, ``batch_size``, ``sampling``; ``networks_files``.

    Raises
    ------
    ConfigError
        Naming the file and line: an unsupported keyword or METHOD, a bad value, a missing
        TRAININGSET or NETWORKS.
    """
    src = _Lines(Path(path))
    inp = AenetInput("train", {}, path=src.path)
    seen: dict[str, int] = {}
    trainingset = None
    test_percent, iterations, max_energy = 10.0, 10, None
    method: tuple[int, str] | None = None
    sampling = None
    networks: list[tuple[int, str]] = []
    flags = {"save_energies": False, "timing": False}
    for lineno, line in src:
        keyword = line.split()[0].lower()
        if keyword not in TRAIN_KEYWORDS:
            raise _unknown(src, lineno, line, "train", TRAIN_KEYWORDS)
        if keyword in seen and keyword not in ("debug", "verbosity", "timing", "save_energies"):
            raise ConfigError(f"{src.where(lineno)}: {keyword.upper()} is given twice (first on line "
                              f"{seen[keyword]}).")
        seen[keyword] = lineno
        if keyword == "trainingset":
            trainingset = _check_path(_first(line, lineno, src, "TRAININGSET <file>", 2)[1], lineno, src,
                                      "the training-set file")
        elif keyword == "testpercent":
            test_percent = _float(_first(line, lineno, src, "TESTPERCENT <percent>", 2)[1], lineno, src,
                                  "TESTPERCENT")
            if not 0.0 < test_percent < 100.0:
                raise ConfigError(f"{src.where(lineno)}: TESTPERCENT must be between 0 and 100 (exclusive): "
                                  f"anncli needs structures to validate on and to train on. Got {test_percent:g}.")
        elif keyword == "iterations":
            iterations = _int(_first(line, lineno, src, "ITERATIONS <number>", 2)[1], lineno, src, "ITERATIONS")
            if iterations < 0:
                raise ConfigError(f"{src.where(lineno)}: ITERATIONS must be >= 0. Got {iterations}.")
        elif keyword == "maxenergy":
            max_energy = _float(_first(line, lineno, src, "MAXENERGY <eV/atom>", 2)[1], lineno, src, "MAXENERGY")
        elif keyword == "sampling":
            word = _first(line, lineno, src, "SAMPLING <sequential|random|weighted|energy>", 2)[1].lower()
            if word not in _SAMPLING:
                raise ConfigError(f"{src.where(lineno)}: SAMPLING must be sequential, random, weighted or "
                                  f"energy. Got {word!r}.")
            sampling = _SAMPLING[word]
        elif keyword == "method":
            method = src.next("the METHOD line '<method> key=value ...'")
        elif keyword == "networks":
            networks = _networks_lines(src, lineno, TRAIN_KEYWORDS, None,
                                       "<species> <file.nn> <n_hidden> <nodes>:<activation> ...")
        elif keyword in flags:
            flags[keyword] = _flag(line)
        else:  # debug, verbosity
            logger.info("%s: %s is ignored by anncli.", src.where(lineno), keyword.upper())
    if trainingset is None:
        raise ConfigError(f"{src.path}: TRAININGSET <file> is missing.")
    if not networks:
        raise ConfigError(f"{src.path}: NETWORKS (one line '<species> <file.nn> <n_hidden> "
                          "<nodes>:<activation> ...' per species) is missing.")
    cfg = inp.config
    inp.trainingset = trainingset
    base = src.path.resolve().parent
    ts = Path(trainingset)
    ts_abs = ts if ts.is_absolute() else base / ts
    if ts_abs.is_file() and ts_abs.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n":
        cfg["trainset"] = trainingset
    else:
        cfg["trainset"] = str(ts.with_suffix(".h5"))
        inp.note("trainset", f"TRAININGSET {trainingset}: anncli's training set is HDF5, {ts.with_suffix('.h5')}, "
                             f"written by 'anncli generate generate.in' (ænet's OUTPUT with suffix .h5) or "
                             f"by 'anncli convert {trainingset}' from generate.x's file. "
                             "'anncli train train.in' converts generate.x's file itself if the .h5 is missing. "
                             f"No {ts.name}.scaled is written or reused (normalisation is redone every run).")
    cfg["output"] = "model.h5"
    inp.note("output", "ænet writes only the .nn files; anncli writes one model file (and its learning "
                       "curve, split, per-structure results and checkpoint next to it). 'anncli train "
                       "train.in' also writes the .nn files NETWORKS names; from this YAML: 'anncli export "
                       "model.h5 --format aenet --output .'.")
    cfg["overwrite"] = False
    inp.note("overwrite", "ænet silently reuses existing .nn files (restart), train.rngstate and "
                          "train.restart; anncli reuses nothing: existing outputs are an error unless "
                          "overwrite is true or --resume is given.")
    cfg["seed"] = 0
    inp.note("seed", "ænet seeds the test split and the initial weights from the clock; anncli's seed "
                     "makes a run repeatable.")
    cfg["validation_fraction"] = test_percent / 100.0
    inp.note("validation_fraction", f"TESTPERCENT {test_percent:g}: ænet puts each structure in the test set "
                                    "with this probability; anncli sets this fraction aside exactly.")
    cfg["epochs"] = iterations
    inp.note("epochs", f"ITERATIONS {iterations}: epochs, each one pass over the training set (L-BFGS: one "
                       "iteration).")
    cfg["networks"] = {}
    for n, text in networks:
        items = _first(text, n, src, "'<species> <file.nn> <n_hidden> <nodes>:<activation> ...'", 3)
        sym, file, nh = items[0], items[1], _int(items[2], n, src, "the number of hidden layers")
        _check_path(file, n, src, "the network file")
        tokens = text.split("!")[0].split()
        layers = tokens[3:3 + nh] if nh >= 0 else []
        if nh < 0 or len(layers) < nh:
            raise ConfigError(f"{src.where(n)}: {nh} hidden layer(s) need {max(nh, 0)} '<nodes>:<activation>' "
                              f"items after the number. Got {' '.join(tokens[3:]) or 'none'}.")
        hidden, acts = [], []
        for item in layers:
            m = re.fullmatch(r"(\d+):(\w+)", item)
            if not m or int(m.group(1)) < 1:
                raise ConfigError(f"{src.where(n)}: a hidden layer must read '<nodes>:<activation>', e.g. "
                                  f"15:tanh. Got {item!r}.")
            if m.group(2) not in ACTIVATIONS:
                raise ConfigError(f"{src.where(n)}: unknown activation {m.group(2)!r} in {item!r}; ænet's are "
                                  "linear (l), tanh (t), sigmoid (s), mtanh (m), twist (w), written in "
                                  "lower case (ænet would silently use tanh instead).")
            hidden.append(int(m.group(1)))
            acts.append(ACTIVATIONS[m.group(2)])
        if sym in cfg["networks"]:
            raise ConfigError(f"{src.where(n)}: species {sym!r} has a second NETWORKS line.")
        cfg["networks"][sym] = {"hidden": hidden, "activation": acts}
        inp.networks_files[sym] = file
    inp.note("networks", "NETWORKS: the hidden layers; the input (the setup's features) and the linear "
                         "output node are added as in ænet. An existing .nn file is not loaded (ænet "
                         "restarts from it and ignores the layers given).")
    if max_energy is not None:
        cfg["max_energy_per_atom"] = max_energy
        inp.note("max_energy_per_atom", "MAXENERGY: structures with a higher cohesive energy per atom are "
                                        "left out (ænet keeps the cut in its cached .scaled file; anncli "
                                        "applies the value given every run).")
    if method is None:
        method = (seen.get("method", 0), "bfgs")
    _method(method[1], method[0], src, inp, sampling)
    if flags["save_energies"]:
        inp.note("", "SAVE_ENERGIES: anncli always writes every structure's reference and predicted energy "
                     "of both sets to results.csv (ænet: energies.train/energies.test).")
    if flags["timing"]:
        inp.note("", "TIMING is ignored (anncli logs the time of the run).")
    inp.note("", "Units: ænet has none; the training set is in eV and Å.")
    return inp


def read_predict_in(path: str | Path) -> AenetInput:
    """Translate ænet's predict.in into an ``anncli predict`` input.

    Returns
    -------
    AenetInput
        ``config`` with ``aenet_networks`` (NETWORKS), ``structures`` (FILES, if given),
        ``forces`` (FORCES or RELAX), ``stress`` (false), ``print`` (``atoms``: ænet prints every
        atom), ``output`` (no files, as ænet) and ``relax`` (RELAX).

    Raises
    ------
    ConfigError
        Naming the file and line: an unsupported keyword, a species of NETWORKS not in TYPES,
        a bad RELAX parameter, missing TYPES or NETWORKS.
    """
    src = _Lines(Path(path))
    inp = AenetInput("predict", {}, path=src.path)
    seen: dict[str, int] = {}
    types: list[str] | None = None
    networks: list[tuple[int, str]] = []
    networks_line = 0
    files: list[str] | None = None
    forces = atomic = False
    relax: tuple[int, str] | None = None
    for lineno, line in src:
        keyword = line.split()[0].lower()
        if keyword not in PREDICT_KEYWORDS:
            raise _unknown(src, lineno, line, "predict", PREDICT_KEYWORDS)
        if keyword in seen and keyword not in ("debug", "verbosity", "timing", "forces", "print_atomic_energies"):
            raise ConfigError(f"{src.where(lineno)}: {keyword.upper()} is given twice (first on line "
                              f"{seen[keyword]}).")
        seen[keyword] = lineno
        if keyword == "types":
            n, text = src.next("the number of TYPES")
            nt = _int(_first(text, n, src, "the number of types")[0], n, src, "the number of TYPES")
            if nt < 1:
                raise ConfigError(f"{src.where(n)}: the number of TYPES must be >= 1. Got {nt}.")
            types = []
            for _ in range(nt):
                n, text = src.next("a TYPES line '<species>'")
                sym = _first(text, n, src, "a species")[0]
                if sym in types:
                    raise ConfigError(f"{src.where(n)}: species {sym!r} is listed twice.")
                types.append(sym)
        elif keyword == "networks":
            networks_line = lineno
            networks = _networks_lines(src, lineno, PREDICT_KEYWORDS, len(types) if types else None,
                                       "<species> <file.nn>")
        elif keyword == "files":
            files = _files_block(src)
        elif keyword == "forces":
            forces = _flag(line)
        elif keyword == "print_atomic_energies":
            atomic = _flag(line)
        elif keyword == "relax":
            relax = src.next("the RELAX line 'method=bfgs F_conv=... steps=...'")
        else:
            logger.info("%s: %s is ignored by anncli.", src.where(lineno), keyword.upper())
    if types is None:
        raise ConfigError(f"{src.path}: TYPES is missing.")
    if not networks:
        raise ConfigError(f"{src.path}: NETWORKS (one line '<species> <file.nn>' per species) is missing.")
    nets: dict[str, str] = {}
    for n, text in networks:
        sym, file = _first(text, n, src, "'<species> <file.nn>'", 2)
        _check_path(file, n, src, "the network file")
        if sym not in types:
            raise ConfigError(f"{src.where(n)}: species {sym!r} of NETWORKS is not in TYPES ({', '.join(types)}).")
        if sym in nets:
            raise ConfigError(f"{src.where(n)}: species {sym!r} has a second NETWORKS line.")
        nets[sym] = file
    missing = [s for s in types if s not in nets]
    if missing:
        raise ConfigError(f"{src.where(networks_line)}: no NETWORKS line for {', '.join(missing)} of TYPES.")
    cfg = inp.config
    cfg["aenet_networks"] = nets
    inp.note("aenet_networks", "NETWORKS: ænet's .nn potentials, read as they are (any TYPES order; names may "
                               "be indented and paths may hold '/' unquoted).")
    if files is not None:
        cfg["structures"] = files
        inp.note("structures", "FILES: any number of files, also directories and globs, in any format ASE "
                               "reads; files given on the command line replace them (ænet: one). Relative "
                               "paths are relative to this file's directory (ænet: the working directory).")
    if relax is not None:
        forces = True
        n, text = relax
        text = re.sub(r"(?i)\bdmax\s*=\s*\S+(\s+[-+0-9.eEdD]+(?=\s|$)){0,2}", " ", text)
        kv = _key_values(text, n, src, _RELAX_KEYS)
        method = kv.get("method", "bfgs").lower()
        if method != "bfgs":
            raise ConfigError(f"{src.where(n)}: RELAX method must be bfgs. Got {kv['method']!r}.")
        fmax = _float(kv["F_conv"], n, src, "F_conv") if "F_conv" in kv else 0.01
        steps = _int(kv["steps"], n, src, "steps") if "steps" in kv else 99
        if fmax <= 0 or steps < 1:
            raise ConfigError(f"{src.where(n)}: RELAX needs F_conv > 0 and steps >= 1. Got {fmax:g}, {steps}.")
        cfg["relax"] = {"optimizer": "BFGS", "fmax": fmax, "steps": steps, "output": "relaxed.extxyz"}
        inp.note("relax", "RELAX: ASE's BFGS until every force is below F_conv (eV/Å) or 'steps' steps; "
                          "ænet's E_conv and dmax are not used (ænet ignores dmax too). The relaxed "
                          "structures are written to relaxed.extxyz.")
    cfg["forces"] = forces
    cfg["stress"] = False
    cfg["print"] = "atoms"
    inp.note("print", "ænet prints every atom's coordinates (and forces with FORCES) for every structure: "
                      "'atoms' does so, always with the atomic energies (PRINT_ATOMIC_ENERGIES"
                      + (", given here" if atomic else "") + ").")
    cfg["output"] = {"extxyz": None, "csv": None}
    inp.note("output", "ænet writes no files; anncli can write extxyz, csv and json files of the results.")
    inp.note("", "Units: ænet has none; the structure files are read in eV and Å. Exit status 2 on bad "
                 "input (ænet: 0 on every error).")
    return inp
