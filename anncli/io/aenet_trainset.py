"""ænet training-set files: generate.x's binary records and trnset2ASCII's text, read structure by structure.

This module owns the decoding of ænet 2.0.4's training-set layout (aenet-reference §1e;
gfortran unformatted sequential records, little-endian, int32, float64, logical = int32)::

    header    : nTypes | nStrucs | typeName(nTypes) (2 chars each) | E_atom(nTypes)
                | normalized | scale | shift
    structure : len_trim(path) | path | nAtoms, nTypes | energy
      atom    : itype (1-based) | cooCart(3) | forCart(3) | nsf | sfval(nsf)
    footer    : nAtomsTot | E_av, E_min, E_max | has_setups
                | per type: itype, Setup records (as in a .nn file)

and of the text ``trnset2ASCII.x`` writes (the same without the footer, so without the
descriptor setups).  The footer is read first, walking back from the end of the file over the
records' trailing length markers, so that the setups are known before the structures are
streamed.  The conversion into anncli's HDF5 training set is
:func:`anncli.workflows.convert_trainset.convert_aenet_trainset`.
"""

from __future__ import annotations

import logging
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from anncli.exceptions import FileFormatError
from anncli.io.fortran import fortran_float

logger = logging.getLogger(__name__)

__all__ = ["AenetTrainsetHeader", "AenetStructure", "read_aenet_trainset", "is_aenet_trainset"]

#: Records of one Setup block (description ... sfval_cov), as read by anncli.potential.aenet_nn.
_SETUP_RECORDS = 17


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
        raise FileFormatError(f"{path}: not an ænet training-set file (its third record holds {len(text)} "
                              f"bytes, not {n} two-character type names); an ænet potential (.nn) is "
                              "read with aenet_networks in predict.yaml or predict.in's NETWORKS")
    return [text[2 * i:2 * i + 2].strip() for i in range(n)]


_I4 = struct.Struct("<i")
_I4x2 = struct.Struct("<ii")
_F8 = struct.Struct("<d")
_F8x3 = struct.Struct("<3d")


class _AtomRecords:
    """The structure records of a binary training set, read from a memory map.

    One structure at a time, with ``struct`` on the mapped bytes (no per-record numpy arrays or
    messages: ~5 records per atom make those the cost); a damaged record is reported with the
    structure, the atom and the byte offset.
    """

    def __init__(self, path: Path, buf, pos: int, size: int) -> None:
        self.path, self.buf, self.pos, self.size = path, buf, pos, size

    def _rec(self, expected: int | None) -> tuple[int, int]:
        """(offset, length) of the next record's payload; ``expected`` length if given."""
        pos, buf = self.pos, self.buf
        if pos + 4 > self.size:
            raise _Damaged(pos, "the file ends here; is it truncated?")
        n = _I4.unpack_from(buf, pos)[0]
        end = pos + 4 + n
        if n < 0 or end + 4 > self.size or _I4.unpack_from(buf, end)[0] != n:
            raise _Damaged(pos, "bad Fortran record marker")
        if expected is not None and n != expected:
            raise _Damaged(pos, f"a record of {n} bytes where {expected} were expected")
        self.pos = end + 4
        return pos + 4, n

    def structure(self, k: int) -> AenetStructure:
        buf, i = self.buf, -1
        try:
            p, n = self._rec(4)
            n_path = _I4.unpack_from(buf, p)[0]
            p, n = self._rec(None)
            source = bytes(buf[p:p + n]).decode("utf-8", errors="replace")[:max(n_path, 0)].strip()
            if "\0" in source:  # no file name holds one (and HDF5 strings cannot)
                raise _Damaged(p, "its path holds a NUL character")
            p, _ = self._rec(8)
            n_atoms = _I4x2.unpack_from(buf, p)[0]
            p, _ = self._rec(8)
            energy = _F8.unpack_from(buf, p)[0]
            if n_atoms < 1:
                raise _Damaged(p, f"{n_atoms} atoms")
            itype, pos, frc, feats = [], [], [], []  # lists: a damaged atom count allocates nothing
            for i in range(n_atoms):
                p, _ = self._rec(4)
                itype.append(_I4.unpack_from(buf, p)[0])
                p, _ = self._rec(24)
                pos.append(_F8x3.unpack_from(buf, p))
                p, _ = self._rec(24)
                frc.append(_F8x3.unpack_from(buf, p))
                p, _ = self._rec(4)
                nsf = _I4.unpack_from(buf, p)[0]
                p, n = self._rec(8 * nsf if nsf >= 0 else None)
                feats.append(np.frombuffer(bytes(buf[p:p + n]), dtype="<f8"))
        except _Damaged as exc:
            atom = f", atom {i + 1}" if i >= 0 else ""
            raise FileFormatError(f"{self.path}: structure {k + 1}{atom}: {exc.args[1]} at byte {exc.args[0]}; "
                                  "not an ænet training-set file, or damaged") from None
        return AenetStructure(source, energy, np.array(itype, dtype=np.int64) - 1,
                              np.array(pos, dtype=float).reshape(n_atoms, 3),
                              np.array(frc, dtype=float).reshape(n_atoms, 3), feats)


class _Damaged(Exception):
    """(byte offset, what is wrong) of a damaged record."""


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
            start = f.tell()
            if start >= size:
                return
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                reader = _AtomRecords(path, buf, start, size)
                for k in range(ns):
                    yield reader.structure(k)

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
            value = int(tok)
        except ValueError:
            raise FileFormatError(f"{self.path}, line {self.lineno}: {what} must be an integer, got {tok!r}") from None
        if not -2**31 <= value < 2**31:  # ænet writes Fortran 4-byte integers
            raise FileFormatError(f"{self.path}, line {self.lineno}: {what} must be a 4-byte integer "
                                  f"(at most {2**31 - 1}), got {tok!r}")
        return value

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
                if "\0" in source:  # no file name holds one (and HDF5 strings cannot)
                    raise FileFormatError(f"{path}, line {t.lineno}: the path of {what} holds a NUL "
                                          "character; the file is damaged")
                n_atoms = t.integer(f"the atom count of {what}")
                t.integer(f"the type count of {what}")
                energy = t.number(f"the energy of {what}")
                if n_atoms < 1:
                    raise FileFormatError(f"{path}, line {t.lineno}: {what} has {n_atoms} atoms")
                itype, pos, frc, feats = [], [], [], []  # lists: a damaged atom count allocates nothing
                for i in range(n_atoms):
                    itype.append(t.integer(f"the type of atom {i + 1} of {what}"))
                    pos.append(t.numbers(f"a coordinate of atom {i + 1} of {what}", 3))
                    frc.append(t.numbers(f"a force of atom {i + 1} of {what}", 3))
                    nsf = t.integer(f"the feature count of atom {i + 1} of {what}")
                    feats.append(t.numbers(f"a feature of atom {i + 1} of {what}", max(nsf, 0)))
                yield AenetStructure(source, energy, np.array(itype, dtype=np.int64) - 1,
                                     np.array(pos, dtype=float).reshape(n_atoms, 3),
                                     np.array(frc, dtype=float).reshape(n_atoms, 3), feats)

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
