"""Readers of ænet's own descriptor inputs: setup files (``.stp``) and ``generate.in``.

This module owns the conversion of ænet 2.0.4 keyword files into anncli objects:
:func:`read_stp` gives a :class:`~anncli.descriptors.behler.BehlerSetup` (``FUNCTIONS`` /
``SYMMFUNC type=Behler2011``) or the keyword arguments of the Chebyshev setup (``BASIS
type=Chebyshev``); :func:`read_generate_in` gives a plain dict in the schema of anncli's
``generate`` YAML file (``example_inputs/generate.yaml``).

ænet's meanings are kept: keywords are matched case-insensitively on the first token of a line
(in any order, as ænet rewinds the file for each keyword),
blank lines and lines starting with ``!``, ``#`` or ``%`` are skipped, ``DESCR ... END DESCR``
is free text, ``RMIN`` is accepted and ignored (anncli's neighbour lists need no size hint),
numbers may use Fortran's ``d`` exponent (``0.75d0``; :func:`anncli.io.fortran.fortran_float`,
as in XSF files) and must be finite.  ænet's traps are fixed (aenet-reference §2):

* ``FILES`` may be written in any case (ænet loops forever unless it is upper-case);
* paths may contain ``/`` quoted or not (ænet's list-directed read cuts ``../x`` to ``..``);
* ``key=value`` parameters are matched by their exact key (case-insensitively), so ``zeta``
  is never read as ``eta`` nor ``lambda0`` as ``lambda``; spaces around ``=`` are allowed;
* an existing output is never silently reused: the dict says ``overwrite: false``, and
  ænet's binary ``OUTPUT`` name gets the ``.h5`` suffix of anncli's training-set file;
* every error is a :class:`~anncli.exceptions.ConfigError` naming the file and the line.

Lengths: ænet has no units; its setups are in the length unit of the structure files.  Give
``length_unit`` (e.g. ``"Bohr"``) when that is not Å: cutoffs, ``Rs``, ``eta`` and ``kappa`` are
then converted to Å, as anncli works in Å.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
from pathlib import Path

from anncli.descriptors.behler import BehlerSetup, make_function
from anncli.exceptions import ConfigError
from anncli.io.fortran import fortran_float

logger = logging.getLogger(__name__)

__all__ = ["read_stp", "read_generate_in"]

_COMMENT = ("!", "#", "%")
_KV = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s=]+)")
_BEHLER_KEYS = {k.lower(): k for k in ("G", "type2", "type3", "eta", "Rs", "kappa", "lambda",
                                         "zeta", "Rc")}
_CHEB_KEYS = {"radial_rc": "radial_cutoff", "radial_n": "radial_order",
              "angular_rc": "angular_cutoff", "angular_n": "angular_order"}
_GENERATE_KEYWORDS = ("output", "types", "setups", "files", "forces", "forcespercent", "timing",
                      "debug", "verbosity")
_BOHR = 0.52917721067  # Å (ase.units.Bohr, CODATA 2014)


def _length_factor(unit: str) -> float:
    try:
        from anncli.units import length_factor
    except ImportError:  # pragma: no cover - units module not available
        table = {"angstrom": 1.0, "a": 1.0, "å": 1.0, "bohr": _BOHR, "a0": _BOHR, "nm": 10.0}
        if unit.strip().lower() not in table:
            raise ConfigError(f"unknown length unit {unit!r}; known: Angstrom, Bohr, nm.")
        return table[unit.strip().lower()]
    return length_factor(unit)


class _Lines:
    """Numbered lines of a keyword file with ænet's comment rules."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}.") from None
        except ValueError:  # a NUL character in the name
            raise ConfigError(f"cannot read {path!r}: a file name cannot contain a NUL character.") from None
        self.lines = text.splitlines()
        self.pos = 0

    def where(self, lineno: int | None = None) -> str:
        return f"{self.path}, line {lineno}" if lineno else str(self.path)

    def next(self, what: str, raw: bool = False) -> tuple[int, str]:
        """The next non-blank, non-comment line (or the next line at all if ``raw``)."""
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            s = line.strip()
            if raw or (s and not s.startswith(_COMMENT)):
                return self.pos, line
        raise ConfigError(f"{self.path}: the file ends where {what} was expected.")

    def peek_keyword(self) -> str | None:
        """First token (lower case) of the next non-comment line, without consuming it."""
        pos = self.pos
        try:
            _, line = self.next("")
        except ConfigError:
            return None
        finally:
            self.pos = pos
        return line.split()[0].lower()

    def __iter__(self):
        while True:
            try:
                yield self.next("")
            except ConfigError:
                return


def _first(line: str, lineno: int, src: _Lines, what: str, n: int = 1) -> list[str]:
    """The first ``n`` list-directed items of ``line`` (quotes allowed, rest ignored)."""
    try:
        items = shlex.split(line, comments=False, posix=True)
    except ValueError:
        items = line.split()
    if len(items) < n:
        raise ConfigError(f"{src.where(lineno)}: expected {what}. Got {line.strip()!r}.")
    return items[:n]


def _float(text: str, lineno: int, src: _Lines, what: str) -> float:
    try:
        value = fortran_float(text)
    except ValueError:
        raise ConfigError(
            f"{src.where(lineno)}: {what} must be a number. Got {text!r}."
        ) from None
    if not math.isfinite(value):
        raise ConfigError(f"{src.where(lineno)}: {what} must be a finite number. Got {text!r}.")
    return value


def _int(text: str, lineno: int, src: _Lines, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"{src.where(lineno)}: {what} must be an integer. Got {text!r}."
        ) from None


def _key_values(line: str, lineno: int, src: _Lines, known: dict[str, str]) -> dict[str, str]:
    """``key=value`` items of a line, by exact (case-insensitive) key; unknown keys are errors."""
    body = line.split("!")[0]
    out: dict[str, str] = {}
    for m in _KV.finditer(body):
        key = m.group(1).lower()
        if key not in known:
            raise ConfigError(
                f"{src.where(lineno)}: unknown parameter {m.group(1)!r}; expected "
                f"{', '.join(known.values())}."
            )
        if known[key] in out:
            raise ConfigError(f"{src.where(lineno)}: parameter {m.group(1)!r} is given twice.")
        out[known[key]] = m.group(2).strip("\"'")
    rest = _KV.sub(" ", body).strip()
    if rest:
        raise ConfigError(
            f"{src.where(lineno)}: expected key=value parameters only. Cannot read {rest!r}."
        )
    return out


def _behler_function(line: str, lineno: int, src: _Lines, env: list[str]) -> dict:
    kv = _key_values(line, lineno, src, _BEHLER_KEYS)
    spec: dict = {}
    for key, text in kv.items():
        if key == "G":
            spec[key] = _int(text, lineno, src, "'G'")
        elif key in ("type2", "type3"):
            spec[key] = text
        else:
            spec[key] = _float(text, lineno, src, f"{key!r}")
    return make_function(spec, env, src.where(lineno)).to_dict()


def _type_of(line: str) -> str:
    m = re.search(r"type\s*=\s*(\S+)", line, flags=re.IGNORECASE)
    return m.group(1).strip("\"'") if m else ""


def read_stp(path: str | Path, length_unit: str = "Angstrom") -> BehlerSetup | dict:
    """Read an ænet structural-fingerprint setup file.

    Parameters
    ----------
    path : str or Path
    length_unit : str
        Length unit of the setup (that of the structure files it is used with); values are
        converted to Å.

    Returns
    -------
    BehlerSetup
        For ``FUNCTIONS`` (or ``SYMMFUNC``) ``type=Behler2011``.
    dict
        For ``BASIS type=Chebyshev``: ``{"central", "env", "radial_cutoff", "radial_order",
        "angular_cutoff", "angular_order"}`` (cutoffs in Å), the Chebyshev setup's arguments.

    Raises
    ------
    ConfigError
        Naming the file and line: unknown keyword, missing ATOM/ENV/basis, several bases,
        bad or missing parameter.
    """
    src = _Lines(Path(path))
    factor = _length_factor(length_unit)
    central = env = None
    basis: tuple[str, int, object] | None = None
    for lineno, line in src:
        keyword = line.split()[0].lower()
        if keyword == "descr":
            while True:
                n, text = src.next("'END DESCR'", raw=True)
                if "end descr" in text.lower():
                    break
        elif keyword == "atom":
            if central is not None:
                raise ConfigError(f"{src.where(lineno)}: ATOM is given twice.")
            central = _first(line, lineno, src, "ATOM <species>", 2)[1]
        elif keyword == "env":
            if env is not None:
                raise ConfigError(f"{src.where(lineno)}: ENV is given twice.")
            n = _int(_first(line, lineno, src, "ENV <number of species>", 2)[1], lineno, src,
                     "the number of ENV species")
            env = []
            for k in range(n):
                m, text = src.next(f"ENV species {k + 1} of {n}")
                env.append(_first(text, m, src, "a species")[0])
        elif keyword == "rmin":
            logger.info("%s: RMIN is ignored (anncli's neighbour lists need no size hint).",
                        src.where(lineno))
        elif keyword in ("functions", "symmfunc", "basis"):
            if basis is not None:
                raise ConfigError(
                    f"{src.where(lineno)}: a second basis definition (the first is on line "
                    f"{basis[1]}); give exactly one FUNCTIONS or BASIS block."
                )
            kind = _type_of(line)
            if keyword == "basis":
                if kind.lower() != "chebyshev":
                    raise ConfigError(
                        f"{src.where(lineno)}: BASIS type must be Chebyshev. Got {kind!r}.")
                n, text = src.next("the Chebyshev parameters")
                kv = _key_values(text, n, src, _CHEB_KEYS)
                missing = [k for k, v in _CHEB_KEYS.items() if v not in kv]
                if missing:
                    raise ConfigError(f"{src.where(n)}: missing Chebyshev parameter(s) "
                                      f"{', '.join(missing)}.")
                params = {
                    "radial_cutoff": _float(kv["radial_cutoff"], n, src, "radial_Rc") * factor,
                    "radial_order": _int(kv["radial_order"], n, src, "radial_N"),
                    "angular_cutoff": _float(kv["angular_cutoff"], n, src, "angular_Rc") * factor,
                    "angular_order": _int(kv["angular_order"], n, src, "angular_N"),
                }
                basis = ("chebyshev", lineno, params)
            else:
                if kind.lower() != "behler2011":
                    raise ConfigError(
                        f"{src.where(lineno)}: {keyword.upper()} type must be Behler2011. "
                        f"Got {kind!r}.")
                n, text = src.next("the number of functions")
                nf = _int(_first(text, n, src, "the number of functions")[0], n, src,
                          "the number of functions")
                if nf < 1:
                    raise ConfigError(f"{src.where(n)}: the number of functions must be >= 1.")
                lines = [src.next(f"function {k + 1} of {nf}") for k in range(nf)]
                basis = ("behler2011", lineno, lines)
        else:
            raise ConfigError(
                f"{src.where(lineno)}: unknown keyword {line.split()[0]!r}; a setup file has "
                "DESCR, ATOM, ENV, RMIN and one of FUNCTIONS (SYMMFUNC) or BASIS."
            )
    if central is None:
        raise ConfigError(f"{src.path}: ATOM <species> is missing.")
    if not env:
        raise ConfigError(f"{src.path}: ENV with at least one species is missing.")
    if basis is None:
        raise ConfigError(f"{src.path}: no FUNCTIONS type=Behler2011 or BASIS type=Chebyshev.")
    if basis[0] == "chebyshev":
        return {"central": central, "env": env, **basis[2]}
    functions = [_behler_function(text, n, src, env) for n, text in basis[2]]
    try:
        setup = BehlerSetup(central, env, functions)
    except ConfigError as exc:
        raise ConfigError(f"{src.path}: {exc}") from None
    return setup.scaled(factor) if factor != 1.0 else setup


def descriptor_entry(setup: BehlerSetup | dict) -> dict:
    """A setup as an entry of the generate schema's ``descriptors`` section."""
    if isinstance(setup, BehlerSetup):
        d = setup.to_dict()
        return {"type": "behler2011", "env": d["env"], "functions": d["functions"]}
    return {
        "type": "chebyshev",
        "env": list(setup["env"]),
        "radial": {"cutoff": setup["radial_cutoff"], "order": setup["radial_order"]},
        "angular": {"cutoff": setup["angular_cutoff"], "order": setup["angular_order"]},
    }


def _path_item(line: str, lineno: int, src: _Lines, what: str) -> str:
    """A path as ænet would want it: the first item, quoted or not; '/' is fine."""
    return _check_path(_first(line, lineno, src, what, 2)[1], lineno, src, what)


def _check_path(text: str, lineno: int, src: _Lines, what: str) -> str:
    """``text`` if it can name a file (no NUL character); else a ConfigError."""
    if "\0" in text:
        raise ConfigError(f"{src.where(lineno)}: {what} must be a file name without NUL characters. "
                          f"Got {text!r}.")
    return text


def _files_block(src: _Lines) -> list[str]:
    """The block after a FILES keyword: a count, then one file name per line (quotes removed)."""
    n, text = src.next("the number of structure files")
    nfiles = _int(_first(text, n, src, "the number of files")[0], n, src, "the number of FILES")
    files = []
    for _ in range(nfiles):
        n, text = src.next(f"structure file {len(files) + 1} of {nfiles}")
        item = text.strip()
        if item[:1] in "\"'" and item[-1:] == item[:1] and len(item) > 1:
            item = item[1:-1]
        files.append(_check_path(item, n, src, "a structure file"))
    return files


def read_generate_in(
    path: str | Path, energy_unit: str = "eV", length_unit: str = "Angstrom"
) -> dict:
    """Convert ænet's ``generate.in`` (and the setup files it names) to a generate-schema dict.

    Parameters
    ----------
    path : str or Path
        The generate.in file.  Relative paths in it are resolved against its directory and
        returned as absolute paths.
    energy_unit, length_unit : str
        Units of the structure files (ænet has none); written to ``units`` and used to convert
        the setups' lengths to Å.

    Returns
    -------
    dict
        Keys ``structures`` (list of paths), ``format`` (``"xsf"``), ``units``, ``output``
        (ænet's OUTPUT with suffix ``.h5``; default ``refdata.h5``), ``overwrite`` (False),
        ``reference_energies`` (TYPES, in ``energy_unit``), ``descriptors`` (one entry per
        species from SETUPS) and ``derivatives`` (True if FORCES is given).

    Raises
    ------
    ConfigError
        Naming the file and line (or the setup file and its line).
    """
    src = _Lines(Path(path))
    base = src.path.resolve().parent
    types: dict[str, float] | None = None
    setups: dict[str, tuple[int, str]] = {}
    files: list[str] | None = None
    output = None
    derivatives = False
    seen: dict[str, int] = {}
    for lineno, line in src:
        keyword = line.split()[0].lower()
        if keyword in seen and keyword not in ("timing", "debug", "verbosity", "forces"):
            raise ConfigError(
                f"{src.where(lineno)}: {keyword.upper()} is given twice (first on line "
                f"{seen[keyword]}).")
        seen[keyword] = lineno
        if keyword == "output":
            output = _path_item(line, lineno, src, "OUTPUT <file>")
        elif keyword == "types":
            n, text = src.next("the number of TYPES")
            nt = _int(_first(text, n, src, "the number of types")[0], n, src,
                      "the number of TYPES")
            types = {}
            for _ in range(nt):
                n, text = src.next("a TYPES line '<species> <energy>'")
                sym, e = _first(text, n, src, "'<species> <atomic energy>'", 2)
                if sym in types:
                    raise ConfigError(f"{src.where(n)}: species {sym!r} is listed twice.")
                types[sym] = _float(e, n, src, f"the atomic energy of {sym}")
        elif keyword == "setups":
            # one line per type; ænet rewinds for every keyword, so TYPES may come later:
            # then the SETUPS lines run up to the next keyword
            count = len(types) if types is not None else None
            while count is None or len(setups) < count:
                if src.peek_keyword() in (None, *_GENERATE_KEYWORDS):
                    if count is not None:
                        raise ConfigError(
                            f"{src.where(lineno)}: SETUPS has {len(setups)} line(s) but TYPES "
                            f"lists {count} species; give one '<species> <setup file>' line "
                            "per species.")
                    break
                n, text = src.next("a SETUPS line '<species> <setup file>'")
                sym, file = _first(text, n, src, "'<species> <setup file>'", 2)
                _check_path(file, n, src, "the setup file")
                if sym in setups:
                    raise ConfigError(f"{src.where(n)}: species {sym!r} has a second SETUPS line "
                                      f"(the first is line {setups[sym][0]}).")
                setups[sym] = (n, file)
        elif keyword == "files":
            files = [str((base / item).resolve()) if not Path(item).is_absolute() else item
                     for item in _files_block(src)]
        elif keyword == "forces":
            derivatives = _flag(line)
        elif keyword == "forcespercent":
            logger.warning("%s: FORCESPERCENT is ignored; anncli stores derivatives for every "
                           "structure when 'derivatives' is true.", src.where(lineno))
        elif keyword in ("timing", "debug", "verbosity"):
            logger.info("%s: %s is ignored by anncli.", src.where(lineno), keyword.upper())
        else:
            raise ConfigError(
                f"{src.where(lineno)}: unknown keyword {line.split()[0]!r}; generate.in has "
                "OUTPUT, TYPES, SETUPS, FILES, FORCES, FORCESPERCENT, TIMING, DEBUG, VERBOSITY."
            )
    if types is None:
        raise ConfigError(f"{src.path}: TYPES is missing.")
    if not files:
        raise ConfigError(f"{src.path}: FILES with at least one structure file is missing.")
    descriptors = {}
    for sym, (n, file) in setups.items():
        if sym not in types:
            raise ConfigError(f"{src.where(n)}: species {sym!r} of SETUPS is not in TYPES "
                              f"({', '.join(types)}).")
        stp_path = Path(file) if Path(file).is_absolute() else base / file
        setup = read_stp(stp_path, length_unit=length_unit)
        central = setup.central if isinstance(setup, BehlerSetup) else setup["central"]
        if central != sym:
            raise ConfigError(f"{src.where(n)}: the setup file {file} is for {central!r} "
                              f"(its ATOM line), not for {sym!r}.")
        descriptors[sym] = descriptor_entry(setup)
    missing = [s for s in types if s not in descriptors]
    if missing:
        raise ConfigError(f"{src.path}: no SETUPS line for species {', '.join(missing)}.")
    out_name = Path(output if output else "refdata.train")
    out_path = out_name if out_name.is_absolute() else base / out_name
    return {
        "structures": files,
        "format": "xsf",
        "units": {"energy": energy_unit, "length": length_unit},
        "output": str(out_path.with_suffix(".h5")),
        "overwrite": False,
        "reference_energies": types,
        "descriptors": descriptors,
        "derivatives": derivatives,
    }


def _flag(line: str) -> bool:
    items = line.split()
    if len(items) > 1 and items[1].lower().strip(".") in ("false", "f"):
        return False
    return True
