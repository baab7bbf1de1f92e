"""ænet training-set files (generate.x's binary, trnset2ASCII's text) as anncli HDF5 training sets.

This module owns the decoding of ænet 2.0.4's training-set layout (aenet-reference §1e;
gfortran unformatted sequential records, little-endian, int32, float64, logical = int32)::

    header    : nTypes | nStrucs | typeName(nTypes) (2 chars each) | E_atom(nTypes)
                | normalized | scale | shift
    structure : len_trim(path) | path | nAtoms, nTypes | energy
      atom    : itype (1-based) | cooCart(3) | forCart(3) | nsf | sfval(nsf)
    footer    : nAtomsTot | E_av, E_min, E_max | has_setups
                | per type: itype, Setup records (as in a .nn file)

and of the text ``trnset2ASCII.x`` writes (the same without the footer, so without the
descriptor setups), and their conversion into the HDF5 layout of docs/trainset-format.md
(:func:`convert_aenet_trainset`), so that ``anncli train`` trains on features computed by ænet.

What the conversion keeps and what it cannot:

* features, positions, forces, species and cohesive energies are copied bit for bit from a raw
  file (``normalized`` F); the total energy is E_coh + Σ E_atom.  A normalised file (train.x's
  ``*.scaled``, flag T) is un-normalised (E_coh = E'/scale + N·shift, F = F'/scale,
  G = G'·std + mean with ænet's statistics): equal to the raw values to rounding, with a warning;
* ænet stores no cells: the cell and periodicity of a structure are taken from its source XSF
  file when that file is found (relative to the training-set file's directory) and holds the
  same atoms, else they are zeros / non-periodic (training does not need them);
* the descriptor setups in the binary footer are recorded so that ``anncli predict`` can use a
  model trained on the converted set.  A setup anncli cannot compute the same features for is
  recorded as ``kind: unavailable`` with the reason: a text file without setups (unless setup
  files are given), or Behler2011 setups whose features ænet 2.0.4 evaluated with another
  species' function table (aenet-reference §1b).  Training works; predicting with such a model
  stops with that reason.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from anncli.exceptions import DataError, FileFormatError
from anncli.io.fortran import fortran_float

logger = logging.getLogger(__name__)

__all__ = ["AenetTrainsetHeader", "AenetStructure", "UnavailableDescriptor", "read_aenet_trainset",
           "convert_aenet_trainset", "is_aenet_trainset", "ConversionResult"]

#: Records of one Setup block (description ... sfval_cov), as read by anncli.potential.aenet_nn.
_SETUP_RECORDS = 17
_BATCH_STRUCTURES = 2000
#: Largest position difference (Å) between the training set and its source XSF for the XSF's
#: cell to be used (ænet converts coordinates Cartesian -> fractional -> Cartesian).
_CELL_MATCH = 1e-6
#: Largest magnitude of a stored number (energy, coordinate, force, feature): beyond it a value is
#: damage, not data (and its square would overflow the feature statistics).
_LARGEST = 1e100


@dataclass
class AenetTrainsetHeader:
    """What precedes the structures (and, for binary files, the footer's setups)."""

    path: Path
    binary: bool
    species: list[str]
    e_atom: np.ndarray
    n_structures: int
    normalized: bool
    scale: float
    shift: float
    setups: dict[str, dict] | None = None  #: per species: anncli.potential.aenet_nn setup dict
    footer: dict = field(default_factory=dict)


@dataclass
class AenetStructure:
    """One structure as ænet stores it (energies and forces as stored: scaled if normalised)."""

    source: str
    energy: float
    species: np.ndarray  #: (n,) 0-based global type index
    positions: np.ndarray  #: (n, 3) Å
    forces: np.ndarray  #: (n, 3) eV/Å
    features: list[np.ndarray]  #: per atom


class UnavailableDescriptor:
    """A descriptor setup anncli cannot compute: only the feature count and the reason are known.

    Stored as ``{"kind": "unavailable", "central", "n_features", "reason"}``; training on its
    features works, computing them (predict, validate) stops with ``reason``.
    """

    kind = "unavailable"

    def __init__(self, central: str, n_features: int, reason: str) -> None:
        self.central, self.n_features, self.reason = central, int(n_features), reason

    def to_dict(self) -> dict:
        return {"kind": self.kind, "central": self.central, "n_features": self.n_features,
                "reason": self.reason}


# ----------------------------------------------------------------------------- binary records
class _Records:
    """Sequential reading of Fortran records from an open binary file."""

    def __init__(self, path: Path, f: BinaryIO, size: int) -> None:
        self.path, self.f, self.size = path, f, size

    def raw(self, what: str) -> bytes:
        pos = self.f.tell()
        head = self.f.read(4)
        if len(head) < 4:
            raise FileFormatError(f"{self.path}: the file ends before the {what} record (byte {pos}); "
                                  "is it truncated?")
        n = int.from_bytes(head, "little", signed=True)
        if n < 0 or pos + 8 + n > self.size:
            raise FileFormatError(f"{self.path}: bad Fortran record marker at byte {pos} (reading the {what}); "
                                  "not an ænet training-set file, or truncated")
        data = self.f.read(n)
        if int.from_bytes(self.f.read(4), "little", signed=True) != n:
            raise FileFormatError(f"{self.path}: record markers at byte {pos} do not match (reading the {what}); "
                                  "not an ænet training-set file")
        return data

    def ints(self, what: str, n: int) -> np.ndarray:
        rec = self.raw(what)
        if len(rec) != 4 * n:
            raise FileFormatError(f"{self.path}: the {what} record has {len(rec)} bytes, expected {4 * n}")
        return np.frombuffer(rec, dtype="<i4").astype(np.int64)

    def floats(self, what: str, n: int) -> np.ndarray:
        rec = self.raw(what)
        if len(rec) != 8 * n:
            raise FileFormatError(f"{self.path}: the {what} record has {len(rec)} bytes, expected {8 * n}")
        return np.frombuffer(rec, dtype="<f8").astype(np.float64)


def _tail_records(path: Path, f: BinaryIO, size: int, count: int) -> list[bytes] | None:
    """The last ``count`` records of the file, walking back over the trailing markers."""
    out: list[bytes] = []
    end = size
    for _ in range(count):
        if end < 8:
            return None
        f.seek(end - 4)
        n = int.from_bytes(f.read(4), "little", signed=True)
        start = end - 8 - n
        if n < 0 or start < 0:
            return None
        f.seek(start)
        if int.from_bytes(f.read(4), "little", signed=True) != n:
            return None
        out.append(f.read(n))
        end = start
    return out[::-1]


def _footer(path: Path, f: BinaryIO, size: int, species: list[str]) -> tuple[dict | None, dict]:
    """The setups (or None) and the totals of the footer, read from the end of the file."""
    from anncli.potential.aenet_nn import _Reader, _setup

    nt = len(species)
    recs = _tail_records(path, f, size, 3 + nt * (1 + _SETUP_RECORDS))
    if recs is not None and len(recs[2]) == 4 and int.from_bytes(recs[2], "little", signed=True) != 0 \
            and len(recs[0]) == 4 and len(recs[1]) == 24:
        totals = _totals(recs[0], recs[1])
        r = _Reader(path, recs[3:])
        setups = {}
        try:
            for _ in range(nt):
                itype = int(r.ints("itype of a setup", 1)[0])
                if not 1 <= itype <= nt:
                    raise FileFormatError(f"{path}: a setup in the footer is for type {itype}; the file has {nt}")
                setup = _setup(r)
                sym = species[itype - 1]
                if setup["central"] != sym:
                    raise FileFormatError(f"{path}: the footer's setup for type {itype} ({sym}) is the "
                                          f"setup of {setup['central']}")
                setups[sym] = setup
        except FileFormatError as exc:
            raise FileFormatError(f"the descriptor setups at the end of {exc}") from None
        return setups, totals
    recs = _tail_records(path, f, size, 3)
    if recs is not None and len(recs[0]) == 4 and len(recs[1]) == 24 and len(recs[2]) == 4:
        return None, _totals(recs[0], recs[1])
    raise FileFormatError(f"{path}: the footer (atom count, energy range, descriptor setups) at the "
                          "end of the file is missing or damaged; is the file truncated?")


def _totals(n_atoms: bytes, energies: bytes) -> dict:
    e = np.frombuffer(energies, dtype="<f8")
    return {"n_atoms": int.from_bytes(n_atoms, "little", signed=True), "E_av": float(e[0]),
            "E_min": float(e[1]), "E_max": float(e[2])}


def _names(path: Path, rec: bytes, n: int) -> list[str]:
    text = rec.decode("latin-1")
    if len(text) != 2 * n:
        raise FileFormatError(f"{path}: the type-name record holds {len(text)} characters, expected {2 * n}")
    return [text[2 * i:2 * i + 2].strip() for i in range(n)]


def _read_binary(path: Path) -> tuple[AenetTrainsetHeader, Iterator[AenetStructure]]:
    size = path.stat().st_size
    f = open(path, "rb")  # noqa: SIM115 - closed by the generator
    try:
        r = _Records(path, f, size)
        nt = int(r.ints("number of types", 1)[0])
        ns = int(r.ints("number of structures", 1)[0])
        if not 1 <= nt <= 1000 or ns < 0:
            raise FileFormatError(f"{path}: not an ænet training-set file ({nt} types, {ns} structures)")
        species = _names(path, r.raw("type names"), nt)
        e_atom = r.floats("atomic energies", nt)
        normalized = bool(r.ints("normalized flag", 1)[0])
        scale = float(r.floats("energy scale", 1)[0])
        shift = float(r.floats("energy shift", 1)[0])
        start = f.tell()
        setups, totals = _footer(path, f, size, species)
        f.seek(start)
    except BaseException:
        f.close()
        raise
    header = AenetTrainsetHeader(path, True, species, e_atom, ns, normalized, scale, shift, setups, totals)

    def structures() -> Iterator[AenetStructure]:
        with f:
            for k in range(ns):
                what = f"structure {k + 1}"
                n_path = int(r.ints(f"{what}: path length", 1)[0])
                source = r.raw(f"{what}: path").decode("utf-8", errors="replace")[:max(n_path, 0)].strip()
                n_atoms, _ = (int(x) for x in r.ints(f"{what}: atom and type counts", 2))
                energy = float(r.floats(f"{what}: energy", 1)[0])
                if n_atoms < 1:
                    raise FileFormatError(f"{path}: {what} has {n_atoms} atoms")
                itype = np.empty(n_atoms, dtype=np.int64)
                pos = np.empty((n_atoms, 3))
                frc = np.empty((n_atoms, 3))
                feats = []
                for i in range(n_atoms):
                    itype[i] = r.ints(f"{what}, atom {i + 1}: type", 1)[0]
                    pos[i] = r.floats(f"{what}, atom {i + 1}: coordinates", 3)
                    frc[i] = r.floats(f"{what}, atom {i + 1}: forces", 3)
                    nsf = int(r.ints(f"{what}, atom {i + 1}: feature count", 1)[0])
                    feats.append(r.floats(f"{what}, atom {i + 1}: features", max(nsf, 0)))
                yield AenetStructure(source, energy, itype - 1, pos, frc, feats)

    return header, structures()


# ----------------------------------------------------------------------------- text (trnset2ASCII)
class _Text:
    """Tokens of a trnset2ASCII file; paths are whole lines."""

    def __init__(self, path: Path, f) -> None:
        self.path, self.f, self.lineno, self.tokens = path, f, 0, []

    def _line(self, what: str) -> str:
        line = self.f.readline()
        if not line:
            raise FileFormatError(f"{self.path}: the file ends where {what} was expected (line {self.lineno + 1})")
        self.lineno += 1
        return line

    def line(self, what: str) -> str:
        if self.tokens:
            raise FileFormatError(f"{self.path}, line {self.lineno}: unexpected {' '.join(self.tokens)!r} "
                                  f"before {what}")
        return self._line(what).strip()

    def token(self, what: str) -> str:
        while not self.tokens:
            self.tokens = self._line(what).split()
        return self.tokens.pop(0)

    def number(self, what: str) -> float:
        tok = self.token(what)
        try:
            return fortran_float(tok)
        except ValueError:
            raise FileFormatError(f"{self.path}, line {self.lineno}: {what} must be a number, got {tok!r}") from None

    def integer(self, what: str) -> int:
        tok = self.token(what)
        try:
            return int(tok)
        except ValueError:
            raise FileFormatError(f"{self.path}, line {self.lineno}: {what} must be an integer, got {tok!r}") from None

    def logical(self, what: str) -> bool:
        tok = self.token(what).upper().lstrip(".")
        if tok[:1] not in ("T", "F"):
            raise FileFormatError(f"{self.path}, line {self.lineno}: {what} must be T or F, got {tok!r}")
        return tok[:1] == "T"

    def numbers(self, what: str, n: int) -> np.ndarray:
        return np.array([self.number(what) for _ in range(n)], dtype=float)


def _read_text(path: Path) -> tuple[AenetTrainsetHeader, Iterator[AenetStructure]]:
    f = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by the generator
    try:
        t = _Text(path, f)
        t.line("the training-set name")
        normalized = t.logical("the normalized flag")
        scale = t.number("the energy scale")
        shift = t.number("the energy shift")
        nt = t.integer("the number of types")
        if not 1 <= nt <= 1000:
            raise FileFormatError(f"{path}: not a trnset2ASCII file ({nt} types)")
        species = [t.token("a type name") for _ in range(nt)]
        e_atom = t.numbers("an atomic energy", nt)
        n_atoms_tot = t.integer("the total number of atoms")
        ns = t.integer("the number of structures")
        e_range = t.numbers("E_min, E_max, E_av", 3)
    except BaseException:
        f.close()
        raise
    totals = {"n_atoms": n_atoms_tot, "E_min": float(e_range[0]), "E_max": float(e_range[1]),
              "E_av": float(e_range[2])}
    header = AenetTrainsetHeader(path, False, species, e_atom, ns, normalized, scale, shift, None, totals)

    def structures() -> Iterator[AenetStructure]:
        with f:
            for k in range(ns):
                what = f"structure {k + 1}"
                source = t.line(f"the path of {what}")
                n_atoms = t.integer(f"the atom count of {what}")
                t.integer(f"the type count of {what}")
                energy = t.number(f"the energy of {what}")
                if n_atoms < 1:
                    raise FileFormatError(f"{path}, line {t.lineno}: {what} has {n_atoms} atoms")
                itype = np.empty(n_atoms, dtype=np.int64)
                pos = np.empty((n_atoms, 3))
                frc = np.empty((n_atoms, 3))
                feats = []
                for i in range(n_atoms):
                    itype[i] = t.integer(f"the type of atom {i + 1} of {what}")
                    pos[i] = t.numbers(f"a coordinate of atom {i + 1} of {what}", 3)
                    frc[i] = t.numbers(f"a force of atom {i + 1} of {what}", 3)
                    nsf = t.integer(f"the feature count of atom {i + 1} of {what}")
                    feats.append(t.numbers(f"a feature of atom {i + 1} of {what}", max(nsf, 0)))
                yield AenetStructure(source, energy, itype - 1, pos, frc, feats)

    return header, structures()


def is_aenet_trainset(path: str | Path) -> str | None:
    """``"binary"`` or ``"text"`` if ``path`` looks like an ænet training set, else None."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if len(head) >= 24 and head[:4] == b"\x04\x00\x00\x00" and head[8:12] == b"\x04\x00\x00\x00" \
            and head[12:16] == b"\x04\x00\x00\x00":
        return "binary"
    if head.startswith(b"\x89HDF"):
        return None
    try:
        with open(path, encoding="latin-1") as f:
            lines = [f.readline() for _ in range(5)]
        ok = lines[1].strip().upper().strip(".") in ("T", "F", "TRUE", "FALSE")
        fortran_float(lines[2].split()[0])
        fortran_float(lines[3].split()[0])
        ok = ok and int(lines[4].split()[0]) >= 1 and len(lines[4].split()) == 1
    except (OSError, ValueError, IndexError):
        return None
    return "text" if ok else None


def read_aenet_trainset(path: str | Path) -> tuple[AenetTrainsetHeader, Iterator[AenetStructure]]:
    """Open an ænet training-set file (binary or trnset2ASCII text).

    Returns
    -------
    header : AenetTrainsetHeader
    structures : iterator of AenetStructure
        Read one at a time (the file stays open until the iterator is exhausted or closed).

    Raises
    ------
    FileFormatError
        Missing file, neither layout, or a damaged record (naming the file and the place).
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    kind = is_aenet_trainset(path)
    if kind == "binary":
        return _read_binary(path)
    if kind == "text":
        return _read_text(path)
    raise FileFormatError(f"{path}: not an ænet training-set file (neither generate.x's binary layout "
                          "nor trnset2ASCII's text)")


# ----------------------------------------------------------------------------- conversion
@dataclass
class ConversionResult:
    """What :func:`convert_aenet_trainset` wrote."""

    output: Path
    n_structures: int
    n_atoms: int
    species: list[str]
    descriptors: dict[str, str]  #: per species: the descriptor kind, or "unavailable: <reason>"
    cells_found: int


def _behler_misindexed(species: list[str], setups: dict[str, dict]) -> list[str]:
    """Species whose Behler2011 features ænet 2.0.4 evaluated with another species' table."""
    out = []
    for k, sym in enumerate(species):
        desc = setups.get(sym, {}).get("descriptor", {})
        if desc.get("kind") == "behler2011" and (sym not in desc["env"] or desc["env"].index(sym) != k):
            out.append(sym)
    return out


def _known_setups(header: AenetTrainsetHeader, stp: dict[str, object]) -> tuple[dict, dict[str, str]]:
    """Descriptor objects known before the structures are read, and reasons for the others."""
    from anncli.descriptors import descriptor_from_dict
    from anncli.exceptions import ConfigError

    setups: dict = {}
    reasons: dict[str, str] = {}
    if header.setups is not None:
        if stp:
            logger.warning("%s holds its own descriptor setups; the setup files given are not used",
                           header.path)
        bad = _behler_misindexed(header.species, header.setups)
        for sym in header.species:
            if sym not in header.setups:
                reasons[sym] = f"the file holds no descriptor setup for {sym}"
            elif sym in bad:
                env = header.setups[sym]["descriptor"]["env"]
                reasons[sym] = (f"ænet 2.0.4 computed the Behler2011 features of {sym} with the function "
                                f"table of another species ({sym} is type {header.species.index(sym) + 1} "
                                f"in the training set but at position "
                                f"{env.index(sym) + 1 if sym in env else '-'} of its ENV list), so they "
                                "are not the features its setup defines; regenerate the training set with "
                                "'anncli generate generate.in' to predict with it")
            else:
                desc = header.setups[sym]["descriptor"]
                try:
                    setups[sym] = descriptor_from_dict(desc, where=f"the {desc['kind']} setup of {sym}")
                except ConfigError as exc:
                    reasons[sym] = f"anncli cannot compute its descriptor setup ({exc})"
        return setups, reasons
    for sym in header.species:
        if sym in stp:
            setups[sym] = stp[sym]
        else:
            reasons[sym] = ("the training-set file holds no descriptor setup (trnset2ASCII's text "
                            "omits them); convert the binary file, or give the .stp setup files "
                            "(anncli convert FILE --stp Ti.stp --stp O.stp), to predict with it")
    return setups, reasons


def _stp_setups(paths: list[Path]) -> dict[str, object]:
    """Descriptor objects from ænet setup files, by central species."""
    from anncli.descriptors import descriptor_from_dict
    from anncli.descriptors.behler import BehlerSetup
    from anncli.io.aenet_inputs import read_stp

    out = {}
    for p in paths:
        setup = read_stp(p)
        if isinstance(setup, BehlerSetup):
            out[setup.central] = setup
        else:
            out[setup["central"]] = descriptor_from_dict({"kind": "chebyshev", **setup, "weights": None},
                                                         where=str(p))
    return out


def _scaled(setup, factor: float):
    """``setup`` with its lengths multiplied by ``factor`` (the features do not change)."""
    from anncli.descriptors import descriptor_from_dict

    if isinstance(setup, UnavailableDescriptor):
        return setup
    if hasattr(setup, "scaled"):
        return setup.scaled(factor)
    d = setup.to_dict()
    d["radial_cutoff"] *= factor
    d["angular_cutoff"] *= factor
    return descriptor_from_dict(d)


def _cell_from_source(base: Path, s: AenetStructure, cache: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Cell and pbc of the structure's source XSF when it is found and holds the same atoms."""
    from anncli.io.xsf import read_xsf

    cand = Path(s.source)
    cand = cand if cand.is_absolute() else base / cand
    key = str(cand)
    if key not in cache:
        try:
            cache[key] = read_xsf(cand) if cand.is_file() else None
        except Exception:  # noqa: BLE001 - an unreadable source only means: no cell
            cache[key] = None
    x = cache[key]
    if x is None or len(x.positions) != len(s.positions) or x.cell is None:
        return None
    if np.max(np.abs(np.asarray(x.positions) - s.positions)) > _CELL_MATCH:
        return None
    return np.asarray(x.cell, dtype=float), np.asarray(x.pbc, dtype=bool)


def convert_aenet_trainset(
    path: str | Path, output: str | Path | None = None, *, overwrite: bool = False,
    stp: list[str | Path] | None = None, energy_unit: str = "eV", length_unit: str = "Angstrom",
) -> ConversionResult:
    """Convert an ænet training-set file into an anncli HDF5 training set.

    Parameters
    ----------
    path : path
        generate.x's binary file or trnset2ASCII's text.
    output : path, optional
        The HDF5 file; default: ``path`` with suffix ``.h5``.
    overwrite : bool
        Replace an existing output file.
    stp : list of path, optional
        ænet setup files (.stp) for a file that holds no setups (text), in ``length_unit``.
    energy_unit, length_unit : str
        Units of the ænet file (ænet has none: those of the structure files it was made from);
        energies, coordinates, forces and the setups' lengths are converted to eV and Å.  The
        features are dimensionless and stay as they are.

    Returns
    -------
    ConversionResult

    Raises
    ------
    FileFormatError, DataError
        An unreadable file, an atom of an unknown type, a feature count that differs from its
        species' setup or from the other atoms of its species, an existing output.
    """
    from anncli.io.trainset import TrainsetWriter

    path = Path(path)
    output = Path(output) if output is not None else path.with_suffix(".h5")
    if output.resolve() == path.resolve():
        raise DataError(f"{output}: the output would replace the input file; give another name with -o")
    if output.exists() and not overwrite:
        raise DataError(f"{output}: the output file exists; remove it or use --overwrite")
    from anncli.units import energy_factor, length_factor

    ef, lf = energy_factor(energy_unit), length_factor(length_unit)
    header, structures = read_aenet_trainset(path)
    species, nt = header.species, len(header.species)
    setups, reasons = _known_setups(header, _stp_setups([Path(p) for p in stp or []]))
    if lf != 1.0:
        setups = {sym: _scaled(setup, lf) for sym, setup in setups.items()}
    n_features: dict[str, int] = {s: setups[s].n_features for s in setups}
    for sym in reasons:  # the footer knows the size even where anncli cannot compute the setup
        if header.setups and sym in header.setups and sym not in _behler_misindexed(species, header.setups):
            n_features[sym] = len(header.setups[sym]["stats"]["sfval_avg"])
    if header.normalized:
        if not header.setups:
            raise DataError(f"{path}: the training set is normalised (train.x's .scaled file, or "
                            "trnset2ASCII without --raw) and holds no feature statistics to undo it; convert "
                            "the raw file")
        logger.warning("%s is normalised (train.x's .scaled file): energies, forces and features are "
                       "un-normalised with its scale, shift and feature statistics (equal to the raw "
                       "values to rounding); the raw file gives them exactly", path)
        if not (math.isfinite(header.scale) and header.scale != 0.0):
            raise DataError(f"{path}: the energy scale {header.scale!r} must be finite and non-zero")
    norm = {}
    if header.normalized:
        for sym, st in header.setups.items():
            mean = st["stats"]["sfval_avg"]
            with np.errstate(all="ignore"):
                std = np.sqrt(np.maximum(st["stats"]["sfval_cov"] - mean ** 2, 0.0))
            norm[sym] = (mean, np.where(std > 1e-10, std, 0.0))
    writer = None
    pending: list[AenetStructure] = []
    counts = {"structures": 0, "atoms": 0, "cells": 0}
    cache: dict = {}
    base = path.resolve().parent

    def open_writer() -> TrainsetWriter:
        descs = dict(setups)
        for sym in species:
            if sym not in descs:
                if sym not in n_features:
                    raise DataError(f"{path}: species {sym} has no atoms and no descriptor setup: its number "
                                    "of features is unknown; give its .stp file with --stp")
                descs[sym] = UnavailableDescriptor(sym, n_features[sym], reasons[sym])
        w = TrainsetWriter(output, species, header.e_atom * ef, descs, input_path=str(path.resolve()),
                           overwrite=overwrite)
        w.set_attributes(converted_from=str(path.resolve()),
                         converted_format="aenet-binary" if header.binary else "aenet-text",
                         energy_choice="total", energy_kinds="total")
        return w

    def flush() -> None:
        nonlocal writer
        if writer is None:
            writer = open_writer()
        batch = pending[:]
        pending.clear()
        if not batch:
            return
        n = np.array([len(s.species) for s in batch], dtype=np.int64)
        cells = np.zeros((len(batch), 3, 3))
        pbc = np.zeros((len(batch), 3), dtype=bool)
        for k, s in enumerate(batch):
            found = _cell_from_source(base, s, cache)
            if found is not None:
                cells[k], pbc[k] = found
                counts["cells"] += 1
        z = np.concatenate([s.species for s in batch])
        feats = [v for s in batch for v in s.features]
        features = {}
        for t, sym in enumerate(species):
            idx = np.flatnonzero(z == t)
            values = np.array([feats[i] for i in idx]).reshape(len(idx), writer.setups[sym].n_features)
            if sym in norm:
                mean, std = norm[sym]
                with np.errstate(all="ignore"):
                    values = np.where(std > 0.0, values * std + mean, mean)
            features[sym] = (idx, values)
        cohesive = np.array([s.energy for s in batch])
        forces = np.concatenate([s.forces for s in batch])
        if header.normalized:
            with np.errstate(all="ignore"):
                cohesive = cohesive / header.scale + n * header.shift
                forces = forces / header.scale
        energy = cohesive + np.array([header.e_atom[s.species].sum() for s in batch])
        positions = np.concatenate([s.positions for s in batch])
        if ef != 1.0 or lf != 1.0:
            cohesive, energy, forces, positions = cohesive * ef, energy * ef, forces * (ef / lf), positions * lf
            cells = cells * lf
        with np.errstate(all="ignore"):
            checks = [("energies", energy), ("forces", forces)] + [
                (f"{sym} features", v) for sym, (_, v) in features.items()]
        for what, values in checks:
            if not (np.abs(values) <= _LARGEST).all():
                raise DataError(f"{path}: the {what} are not finite numbers of magnitude <= {_LARGEST:g}"
                                + (" after undoing the normalisation (scale, shift, statistics)"
                                   if header.normalized else "") + "; is the file damaged?")
        writer.append(
            {"energy": energy, "cohesive_energy": cohesive, "n_atoms": n, "cell": cells, "pbc": pbc,
             "source": np.array([s.source for s in batch], dtype=object),
             "frame": np.zeros(len(batch), dtype=np.int64), "has_forces": np.ones(len(batch), dtype=bool)},
            {"species": z.astype(np.int32), "positions": positions, "forces": forces},
            features,
        )
        counts["structures"] += len(batch)
        counts["atoms"] += int(n.sum())

    try:
        for k, s in enumerate(structures):
            bad = np.flatnonzero((s.species < 0) | (s.species >= nt))
            if len(bad):
                raise FileFormatError(f"{path}: atom {bad[0] + 1} of structure {k + 1} ({s.source}) has type "
                                      f"{s.species[bad[0]] + 1}; the file has {nt} types")
            where = f"{path}: structure {k + 1} ({s.source})"
            if not abs(s.energy) <= _LARGEST:
                raise DataError(f"{where} has the energy {s.energy!r}; expected a finite number")
            for name, arr in (("coordinates", s.positions), ("forces", s.forces)):
                bad = ~(np.abs(arr) <= _LARGEST).all(axis=1)
                if bad.any():
                    raise DataError(f"{where}: atom {int(np.flatnonzero(bad)[0]) + 1} has {name} that are "
                                    f"not finite numbers of magnitude <= {_LARGEST:g}")
            for i, t in enumerate(s.species):
                if not (np.abs(s.features[i]) <= _LARGEST).all():
                    raise DataError(f"{where}: atom {i + 1} has features that are not finite numbers of "
                                    f"magnitude <= {_LARGEST:g}")
                sym = species[t]
                have = n_features.setdefault(sym, len(s.features[i]))
                if len(s.features[i]) != have:
                    raise DataError(f"{path}: atom {i + 1} of structure {k + 1} ({s.source}) has "
                                    f"{len(s.features[i])} features; {sym} has {have}"
                                    + (" in its setup" if sym in setups else " in the atoms before"))
            pending.append(s)
            if len(pending) >= _BATCH_STRUCTURES and (writer is not None or len(n_features) == nt):
                flush()  # the writer is opened once every species' feature count is known
        if counts["structures"] + len(pending) != header.n_structures:
            raise FileFormatError(f"{path}: holds {counts['structures'] + len(pending)} structures, "
                                  f"its header says {header.n_structures}")
        flush()
        assert writer is not None
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        structures.close()
    descriptors = {s: (writer.setups[s].kind if s not in reasons else f"unavailable: {reasons[s]}")
                   for s in species}
    for sym, why in reasons.items():
        logger.warning("%s: the descriptor of %s is recorded as unavailable: %s. Training works; "
                       "predicting with the model does not", output, sym, why)
    if counts["cells"] < counts["structures"]:
        logger.info("%s: ænet stores no cells; %d of %d structures have their cell from the source XSF, "
                    "the others are stored with zero cells (not needed for training)", output,
                    counts["cells"], counts["structures"])
    return ConversionResult(output, counts["structures"], counts["atoms"], species, descriptors,
                            counts["cells"])

