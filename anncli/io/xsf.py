"""Reading and writing ænet XSF files (one structure per file).

This module owns the XSF format exactly as the Fortran ænet reads it
(``src/ext/xsflib.f90``):

* a line containing ``cohesive energy`` or ``total energy`` (case-sensitive
  substring, anywhere in the line, ``#`` or not) gives that energy: the first
  number after the next ``=``; the last such line wins;
* other lines whose first non-blank character is ``#`` are comments;
* ``PRIMVEC`` is followed by 3 lines holding the lattice vectors as rows;
* ``PRIMCOORD`` (periodic) is followed by a count line (ignored, as in ænet: the
  atom count comes from the number of atom lines) and atom lines up to the next
  blank line or the end of the file; ``ATOMS`` (isolated) is followed directly by
  the atom lines;
* an atom line is ``symbol x y z`` or ``symbol x y z fx fy fz``; extra trailing
  tokens after 7 are ignored (Fortran list-directed input);
* all other lines and keywords (``CRYSTAL``, ``CONVVEC``, ...) are ignored.

Where ænet would read garbage or crash, anncli raises a
:class:`~anncli.exceptions.DataError` naming the file and the line.  Stricter than
ænet: element symbols must be valid chemical symbols; either all atoms or none
carry forces; a file holds one ``PRIMCOORD``/``ATOMS`` block; ``ATOMS`` together
with ``PRIMVEC`` is rejected (ænet would silently treat the structure as periodic).

Speed: once numba is loaded (``anncli generate`` and ``predict`` load it before
reading), the atom block of a file is parsed by one Numba kernel
(:mod:`anncli.io._xsf_kernels`) that releases the GIL and accepts only numbers it
converts exactly as :func:`float` does (Clinger's fast path: at most 2**53 as the
decimal significand, a power of ten up to 1e22); in any other case, and in a process
without numba (where loading it would cost more than it saves), the block is split
with :meth:`str.split` and converted with one :func:`numpy.array` call.  The slow
line-by-line checks run only to find the line of an error.
"""

from __future__ import annotations

import logging
import math
import sys
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np

from anncli.exceptions import DataError
from anncli.io.fortran import fortran_float as _float
from anncli.structure import Structure
from anncli.units import Units

logger = logging.getLogger(__name__)

__all__ = ["read_xsf", "write_xsf"]


@lru_cache(maxsize=1)
def _valid_symbols() -> frozenset[str]:
    from ase.data import chemical_symbols  # imported on first use: ase takes 0.1 s to import

    return frozenset(chemical_symbols[1:])  # index 0 is the dummy 'X'


def _fast_atoms(block: list[str]) -> tuple[list[str], np.ndarray, np.ndarray | None] | None:
    """Parse atom lines with the Numba kernel, or return None if it does not handle them.

    Parameters
    ----------
    block : list of str
        The atom lines (each non-blank) of one block.

    Returns
    -------
    (symbols, positions, forces) or None
        Symbols (not validated), positions (n, 3) and forces (n, 3) or None, exactly as
        the Python parse gives them; None for anything outside the kernel's fast path
        (see :mod:`anncli.io._xsf_kernels`): the caller then parses the block in Python.
    """
    from anncli.io._xsf_kernels import OK, parse_atom_block

    text = "\n".join(block)
    if not text.isascii():  # the kernel returns byte offsets; ASCII makes them str offsets
        return None
    n = len(block)
    status, n_cols, values, sym, n_sym = parse_atom_block(text.encode(), n)
    if status != OK:
        return None
    spans = sym[n : n + 2 * n_sym].tolist()
    distinct = [text[spans[k] : spans[k + 1]] for k in range(0, 2 * n_sym, 2)]
    symbols = list(map(distinct.__getitem__, sym[:n].tolist()))
    return symbols, values[0], values[1] if n_cols == 6 else None


class _Reader:
    """State of the parse of one XSF file (for messages: file name and lines)."""

    def __init__(self, name: str, lines: list[str]):
        self.name = name
        self.lines = lines

    def error(self, lineno: int, message: str) -> DataError:
        """DataError for 0-based line index ``lineno``."""
        return DataError(f"{self.name}, line {lineno + 1}: {message}")

    # -- energies ---------------------------------------------------------
    def energy(self, i: int, key: str) -> float:
        line = self.lines[i]
        rest = line[line.index(key) + len(key):]
        eq = rest.find("=")
        if eq < 0:
            raise self.error(i, f"expected '{key} = <number>', got {line.strip()!r}")
        tokens = rest[eq + 1:].split()
        try:
            value = _float(tokens[0])
        except (IndexError, ValueError):
            got = tokens[0] if tokens else "nothing"
            raise self.error(i, f"expected a number after '=' in the {key} line, got {got!r}") from None
        if not math.isfinite(value):
            raise self.error(i, f"the {key} is {tokens[0]!r}; it must be a finite number")
        return value

    # -- lattice ----------------------------------------------------------
    def primvec(self, i: int) -> tuple[np.ndarray, int]:
        """Read the 3 lattice rows after the PRIMVEC line ``i``; return (cell, next index)."""
        lines = self.lines
        j = i + 1
        if j + 3 <= len(lines):  # fast path: 3 rows of plain numbers right after PRIMVEC
            try:
                cell = np.array([lines[j + k].split()[:3] for k in range(3)], dtype=np.float64)
            except ValueError:
                cell = None
            if cell is not None and cell.shape == (3, 3) and math.isfinite(cell.sum()):
                self._check_cell(i, cell)
                return cell, j + 3
        rows = []
        n = len(lines)
        while len(rows) < 3:
            # Fortran list-directed reads skip blank lines
            while j < n and not lines[j].strip():
                j += 1
            if j >= n:
                raise self.error(
                    j, f"expected 3 lattice vectors after PRIMVEC (line {i + 1}), "
                    f"found {len(rows)} before the end of the file"
                )
            tokens = lines[j].split()
            try:
                row = [_float(t) for t in tokens[:3]]
            except ValueError:
                row = []
            if len(row) < 3:
                raise self.error(
                    j, f"expected 3 numbers for a lattice vector after PRIMVEC, got {lines[j].strip()!r}"
                )
            if not all(math.isfinite(x) for x in row):
                raise self.error(j, f"lattice vector {lines[j].strip()!r} is not finite")
            rows.append(row)
            j += 1
        cell = np.array(rows, dtype=np.float64)
        self._check_cell(i, cell)
        return cell, j

    def _check_cell(self, i: int, cell: np.ndarray) -> None:
        (ax, ay, az), (bx, by, bz), (cx, cy, cz) = cell.tolist()
        volume = abs(ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx))
        norms = [math.sqrt(x * x + y * y + z * z) for x, y, z in cell.tolist()]
        if volume <= 1e-10 * norms[0] * norms[1] * norms[2] or min(norms) == 0.0:
            raise self.error(
                i, f"the 3 lattice vectors after PRIMVEC are linearly dependent (cell volume {volume:.3g}); "
                "a periodic cell needs 3 independent vectors"
            )

    # -- atoms ------------------------------------------------------------
    def atoms(self, start: int) -> tuple[list[str], np.ndarray, np.ndarray | None, int]:
        """Read atom lines from index ``start`` to the next blank line or EOF.

        Returns symbols, positions (n, 3), forces (n, 3) or None, index after the block.
        """
        lines = self.lines
        n = len(lines)
        j = start
        while j < n and lines[j] and not lines[j].isspace():
            j += 1
        # Loading the kernel costs ~0.7 s in a process without numba (a one-off read such as
        # `anncli info`), ~10 ms in one that runs numba kernels anyway (generate, predict).
        fast = _fast_atoms(lines[start:j]) if j > start and "numba" in sys.modules else None
        if fast is not None:
            symbols, positions, forces = fast
        else:
            rows = [line.split() for line in lines[start:j]]
            if not rows:
                raise self.error(start, "expected atom lines 'symbol x y z [fx fy fz]', found none")
            widths = set(map(len, rows))
            values = None
            if len(widths) == 1 and next(iter(widths)) in (4, 7):
                try:
                    values = np.array([r[1:] for r in rows], dtype=np.float64)
                except ValueError:
                    values = None
            # the sum is finite iff every value is (for coordinates and forces far below 1e300)
            if values is None or not math.isfinite(values.sum()):
                values = self._atoms_slow(start, rows)
            symbols = [r[0] for r in rows]
            positions = values[:, :3]
            forces = values[:, 3:6] if values.shape[1] >= 6 else None
        valid = _valid_symbols()
        if not valid.issuperset(symbols):
            k = next(k for k, s in enumerate(symbols) if s not in valid)
            raise self.error(start + k, self._symbol_message(symbols[k]))
        return symbols, positions, forces, j

    def _atoms_slow(self, start: int, rows: list[list[str]]) -> np.ndarray:
        """Line-by-line parse of an atom block; raises at the first bad line."""
        has_forces = any(len(r) >= 7 for r in rows)
        width = 6 if has_forces else 3
        out = np.empty((len(rows), width))
        for k, tokens in enumerate(rows):
            i = start + k
            text = " ".join(tokens)
            if len(tokens) < 4:
                raise self.error(i, f"expected 'symbol x y z', got {text!r}")
            try:
                xyz = [_float(t) for t in tokens[1:4]]
            except ValueError:
                raise self.error(i, f"expected 3 numbers (x y z) after the symbol, got {text!r}") from None
            if has_forces and len(tokens) < 7:
                first = next(k2 for k2, r in enumerate(rows) if len(r) >= 7)
                raise self.error(
                    i, f"atom line lacks forces (fx fy fz) but line {start + first + 1} has them; "
                    f"give forces for all atoms or none, got {text!r}"
                )
            if not has_forces and len(tokens) > 4:
                raise self.error(
                    i, f"expected 3 force components after x y z, got {len(tokens) - 4} in {text!r}"
                )
            vals = xyz
            if has_forces:
                try:
                    vals = xyz + [_float(t) for t in tokens[4:7]]
                except ValueError:
                    raise self.error(i, f"expected 3 numbers (fx fy fz) after x y z, got {text!r}") from None
            if not all(math.isfinite(v) for v in vals):
                what = "coordinate" if not all(math.isfinite(v) for v in xyz) else "force"
                raise self.error(i, f"{what} is not a finite number in {text!r}")
            out[k] = vals
        return out

    @staticmethod
    def _symbol_message(symbol: str) -> str:
        valid = _valid_symbols()
        msg = f"unknown element symbol {symbol!r}"
        if symbol.isdigit():
            from ase.data import chemical_symbols

            z = int(symbol)
            hint = f" ({chemical_symbols[z]})" if 0 < z < len(chemical_symbols) else ""
            return msg + f"; atomic numbers are not supported in XSF files, write the symbol{hint}"
        fixed = symbol[:1].upper() + symbol[1:].lower()
        if fixed in valid:
            return msg + f"; symbols are case-sensitive, did you mean {fixed!r}?"
        import difflib

        close = difflib.get_close_matches(symbol, sorted(valid), n=1)
        return msg + (f"; did you mean {close[0]!r}?" if close else "")


def _open(name: str):
    """Open for binary reading, decompressing ``.gz``, ``.bz2`` and ``.xz`` files."""
    lower = name.lower()
    if lower.endswith(".gz"):
        import gzip

        return gzip.open(name, "rb")
    if lower.endswith(".bz2"):
        import bz2

        return bz2.open(name, "rb")
    if lower.endswith(".xz"):
        import lzma

        return lzma.open(name, "rb")
    return open(name, "rb")


def _read_errors() -> tuple[type[BaseException], ...]:
    """Exceptions of reading a (possibly damaged, compressed) file: OS, end of data, zlib, lzma."""
    kinds: list[type[BaseException]] = [OSError, EOFError]
    # a zlib or lzma error can only come from a module already imported by _open
    for module, attr in (("zlib", "error"), ("lzma", "LZMAError")):
        if module in sys.modules:
            kinds.append(getattr(sys.modules[module], attr))
    return tuple(kinds)


def read_xsf(path: str | Path, units: Units | None = None) -> Structure:
    """Read one structure from an ænet XSF file.

    Parameters
    ----------
    path : str or Path
        The XSF file (``.gz``, ``.bz2`` or ``.xz`` compressed files are decompressed).
    units : Units, optional
        Units of the values in the file (default eV and Å).  Positions and cell
        are multiplied by the length factor, energies by the energy factor and
        forces by energy/length, so the result is in eV, Å and eV/Å.

    Returns
    -------
    Structure
        ``cell`` (3, 3) Å and ``pbc`` all True for ``PRIMCOORD``; ``cell`` None and
        ``pbc`` all False for ``ATOMS``.  ``energy`` (eV) from the ``total energy``
        line, ``cohesive_energy`` (eV) from the ``cohesive energy`` line, ``forces``
        (n_atoms, 3) eV/Å if the atom lines have them; ``source`` = ``str(path)``.

    Raises
    ------
    DataError
        If the file is missing or unreadable, or any line is malformed; the
        message names the file and the line number.
    """
    name = str(path)
    try:
        with _open(name) as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise DataError(f"{name}: structure file not found") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, expected an XSF file") from None
    except Exception as exc:  # noqa: BLE001 - also corrupt .gz/.bz2/.xz (zlib, lzma errors)
        if not isinstance(exc, _read_errors()):
            raise
        raise DataError(f"{name}: cannot read the file ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{name}, line {line}: not a text file (invalid UTF-8 byte); expected XSF") from None
    lines = text.splitlines()
    reader = _Reader(name, lines)

    energy = cohesive = None
    cell = None
    primvec_line = -1
    block = None  # (keyword, line index, symbols, positions, forces)
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if not line or line.isspace():
            i += 1
            continue
        if "cohesive energy" in line:
            cohesive = reader.energy(i, "cohesive energy")
        elif "total energy" in line:
            energy = reader.energy(i, "total energy")
        elif line.lstrip().startswith("#"):
            pass
        elif "PRIMVEC" in line:
            cell, next_i = reader.primvec(i)
            primvec_line = i
            i = next_i
            continue
        elif "PRIMCOORD" in line or "ATOMS" in line:
            keyword = "PRIMCOORD" if "PRIMCOORD" in line else "ATOMS"
            if block is not None:
                raise reader.error(
                    i, f"second {keyword} block (the first is at line {block[1] + 1}); "
                    "an XSF file holds one structure (animated XSF is not supported)"
                )
            start = i + 1
            count = None
            if keyword == "PRIMCOORD":
                if start >= n or not lines[start].split():
                    raise reader.error(start, "expected the atom count line 'N 1' after PRIMCOORD")
                first = lines[start].split()[0]
                try:
                    count = int(first)
                except ValueError:
                    raise reader.error(
                        start, f"expected the atom count line 'N 1' after PRIMCOORD, got {lines[start].strip()!r}"
                    ) from None
                start += 1
            symbols, positions, forces, next_i = reader.atoms(start)
            if count is not None and count != len(symbols):
                logger.warning(
                    "%s, line %d: PRIMCOORD says %d atoms but %d atom lines follow; using %d (as ænet does)",
                    name, i + 2, count, len(symbols), len(symbols),
                )
            block = (keyword, i, symbols, positions, forces)
            i = next_i
            continue
        i += 1

    if block is None:
        raise reader.error(n, "no atoms found (end of file); expected a PRIMCOORD or ATOMS block")
    keyword, block_line, symbols, positions, forces = block
    if keyword == "PRIMCOORD":
        if cell is None:
            raise reader.error(block_line, "PRIMCOORD (periodic structure) without PRIMVEC lattice vectors")
        pbc = (True, True, True)
    else:
        if cell is not None:
            raise reader.error(
                block_line, f"ATOMS (isolated structure) together with PRIMVEC (line {primvec_line + 1}); "
                "use PRIMCOORD for a periodic structure or drop PRIMVEC"
            )
        pbc = (False, False, False)

    if units is not None and not units.is_default:
        lf, ef = units.length_factor, units.energy_factor
        positions = positions * lf
        if cell is not None:
            cell = cell * lf
        if forces is not None:
            forces = forces * (ef / lf)
        if energy is not None:
            energy *= ef
        if cohesive is not None:
            cohesive *= ef
    return Structure(
        symbols=symbols,
        positions=positions,
        cell=cell,
        pbc=pbc,
        energy=energy,
        forces=forces,
        cohesive_energy=cohesive,
        source=name,
        frame=0,
    )


def _fmt(x: float) -> str:
    # repr() of a float is the shortest string that reads back to the same double
    # (at most 17 significant digits), so a write -> read round trip is exact.
    return repr(float(x))


def write_xsf(path_or_fileobj: str | Path | IO[str], structure: Structure) -> None:
    """Write one structure as an ænet-readable XSF file.

    The first line is ``# total energy = <E> eV`` (if the structure has an
    energy), followed by ``# cohesive energy = <E> eV`` if known, then
    ``CRYSTAL``/``PRIMVEC``/``PRIMCOORD`` for a periodic structure or ``ATOMS``
    for an isolated one, with forces (eV/Å) after the coordinates (Å) if present.
    Numbers are written with the shortest repr that reads back exactly.

    Parameters
    ----------
    path_or_fileobj : str, Path or text file object
        Destination.
    structure : Structure
        The structure (eV, Å, eV/Å).  A structure periodic in only some
        directions is written as fully periodic (XSF/ænet know no partial pbc).
    """
    out = []
    if structure.energy is not None:
        out.append(f"# total energy = {_fmt(structure.energy)} eV")
    if structure.cohesive_energy is not None:
        out.append(f"# cohesive energy = {_fmt(structure.cohesive_energy)} eV")
    out.append("")
    periodic = structure.is_periodic
    if periodic:
        if structure.cell is None:
            raise DataError(f"{structure.label}: periodic structure without a cell cannot be written as XSF")
        if not all(structure.pbc):
            logger.warning("%s: pbc %s written as fully periodic XSF", structure.label, structure.pbc)
        out.append("CRYSTAL")
        out.append("PRIMVEC")
        for row in structure.cell:
            out.append("  " + " ".join(f"{_fmt(v):>24}" for v in row))
        out.append("PRIMCOORD")
        out.append(f"{structure.n_atoms} 1")
    else:
        out.append("ATOMS")
    pos = structure.positions
    frc = structure.forces
    for k, sym in enumerate(structure.symbols):
        cols = " ".join(f"{_fmt(v):>24}" for v in pos[k])
        if frc is not None:
            cols += " " + " ".join(f"{_fmt(v):>24}" for v in frc[k])
        out.append(f"{sym:<2} {cols}")
    text = "\n".join(out) + "\n"
    if hasattr(path_or_fileobj, "write"):
        path_or_fileobj.write(text)
    else:
        Path(path_or_fileobj).write_text(text, encoding="utf-8")
