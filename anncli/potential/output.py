"""Output of predictions: the predict.x-like text table, extxyz, CSV and JSON files.

This module owns the formats of what ``anncli predict`` writes: :func:`structure_report`
(the readable per-structure block), :func:`prediction_record` (one CSV/JSON row),
:func:`to_ase_atoms` (a structure with its predicted properties for extxyz) and
:class:`AtomicOutput` (a file written under a temporary name and renamed when complete).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["structure_report", "prediction_record", "CSV_COLUMNS", "COMMITTEE_COLUMNS", "csv_columns", "to_ase_atoms",
           "AtomicOutput", "force_summary"]

#: eV/Å³ -> GPa
EV_A3_TO_GPA = 160.21766208

SEPARATOR = " " + "+" * 70

CSV_COLUMNS = [
    "file", "frame", "n_atoms", "energy", "cohesive_energy", "energy_per_atom",
    "cohesive_energy_per_atom", "max_force", "reference_energy", "error", "error_per_atom",
    "n_extrapolating",
]
#: Extra CSV columns of a committee model: the spread of the members' total energies (eV)
#: and the largest per-atom spread of their forces (eV/Å).
COMMITTEE_COLUMNS = ["energy_std", "max_forces_std"]


def csv_columns(committee: bool = False) -> list[str]:
    """The CSV header: :data:`CSV_COLUMNS` (plus :data:`COMMITTEE_COLUMNS` for a committee)."""
    return CSV_COLUMNS + (COMMITTEE_COLUMNS if committee else [])


def force_summary(forces: np.ndarray) -> dict:
    """Mean force vector, mean/max/RMS force norm and the (0-based) atom of the largest force.

    Parameters
    ----------
    forces : ndarray of shape (n_atoms, 3), eV/Å
    """
    norms = np.sqrt((forces**2).sum(axis=1))
    k = int(np.argmax(norms))
    return {"mean": forces.mean(axis=0), "mean_abs": float(norms.mean()), "max": float(norms[k]),
            "max_atom": k, "rms": float(np.sqrt((norms**2).mean()))}


def structure_report(number: int, s, p, *, atoms: bool = False, relax: dict | None = None) -> str:
    """The predict.x-like block of one structure.

    Parameters
    ----------
    number : int
        1-based structure number.
    s : Structure
    p : Prediction
    atoms : bool
        Include the per-atom table (coordinates, forces, atomic energies).
    relax : dict, optional
        ``{"converged", "steps", "initial_energy", "fmax"}`` of a relaxation.
    """
    out = io.StringIO()
    w = out.write
    w(f" Structure number  : {number}\n")
    w(f" File name         : {s.source or '(in memory)'}" + (f"  (frame {s.frame})" if s.frame else "") + "\n")
    w(f" Number of atoms   : {s.n_atoms}\n")
    w(f" Number of species : {len(s.species)}\n")
    if s.cell is not None and any(s.pbc):
        w("\n Lattice vectors (Angstrom):\n\n")
        for name, row in zip("abc", s.cell):
            w(f"   {name} = ( {row[0]:17.8f} {row[1]:17.8f} {row[2]:17.8f} )\n")
    if atoms:
        w("\n Cartesian atomic coordinates" + (" (optimized)" if relax else "") +
          (", atomic forces" if p.forces is not None else "") + " and atomic energies:\n\n")
        head = f"{'x':>14}{'y':>14}{'z':>14}"
        units = f"{'(Ang)':>14}{'(Ang)':>14}{'(Ang)':>14}"
        if p.forces is not None:
            head += f"{'Fx':>14}{'Fy':>14}{'Fz':>14}"
            units += f"{'(eV/Ang)':>14}" * 3
        head += f"{'E_atom':>20}"
        units += f"{'(eV)':>20}"
        w("    " + head + "\n    " + units + "\n " + "-" * (len(head) + 3) + "\n")
        for i, sym in enumerate(s.symbols):
            line = f" {sym:<2} " + "".join(f"{v:14.6f}" for v in s.positions[i])
            if p.forces is not None:
                line += "".join(f"{v:14.6f}" for v in p.forces[i])
            w(line + f"{p.atomic_energies[i]:20.8f}\n")
    w("\n")
    if relax:
        status = "converged" if relax["converged"] else "NOT converged"
        w(f" Relaxation                 : {status} after {relax['steps']} steps (fmax {relax['fmax']:g} eV/Ang)\n")
        w(f" Initial total energy       : {relax['initial_energy']:20.8f} eV\n")
    w(f" Cohesive energy            : {p.cohesive_energy:20.8f} eV\n")
    w(f" Total energy               : {p.energy:20.8f} eV\n")
    w(f" Energy per atom            : {p.energy / s.n_atoms:20.8f} eV\n")
    if s.energy is not None:
        err = p.energy - s.energy
        w(f" Reference total energy     : {s.energy:20.8f} eV\n")
        w(f" Error (predicted - ref.)   : {err:20.8f} eV ({1000 * err / s.n_atoms:.3f} meV/atom)\n")
    if p.forces is not None:
        f = force_summary(p.forces)
        m = f["mean"]
        w(f" Mean force (must be zero)  : {m[0]:14.6e} {m[1]:14.6e} {m[2]:14.6e}\n")
        w(f" Mean absolute force        : {f['mean_abs']:20.8f} eV/Ang\n")
        w(f" Maximum force              : {f['max']:20.8f} eV/Ang (atom {f['max_atom'] + 1}, {s.symbols[f['max_atom']]})\n")
        w(f" RMS force                  : {f['rms']:20.8f} eV/Ang\n")
    if p.stress is not None:
        v = p.stress
        voigt = (v[0, 0], v[1, 1], v[2, 2], v[1, 2], v[0, 2], v[0, 1])
        w(" Stress xx yy zz yz xz xy   : " + " ".join(f"{x * EV_A3_TO_GPA:10.4f}" for x in voigt) + " GPa\n")
    if p.n_extrapolating:
        w(f" Extrapolating atoms        : {p.n_extrapolating} (features outside the training range)\n")
    if p.energy_std is not None:
        w(f" Committee energy spread    : {p.energy_std:20.8f} eV ({1000 * p.energy_std / s.n_atoms:.3f} meV/atom)\n")
        if p.forces_std is not None:
            k = int(np.argmax(p.forces_std))
            w(f" Largest force spread       : {p.forces_std[k]:20.8f} eV/Ang (atom {k + 1}, {s.symbols[k]})\n")
    w("\n" + SEPARATOR + "\n\n")
    return out.getvalue()


def prediction_record(s, p) -> dict:
    """One CSV/JSON row (:data:`CSV_COLUMNS`; JSON adds the stress)."""
    ref = s.energy
    err = None if ref is None else p.energy - ref
    rec = {
        "file": s.source, "frame": s.frame, "n_atoms": s.n_atoms,
        "energy": p.energy, "cohesive_energy": p.cohesive_energy,
        "energy_per_atom": p.energy / s.n_atoms, "cohesive_energy_per_atom": p.cohesive_energy / s.n_atoms,
        "max_force": None if p.forces is None else force_summary(p.forces)["max"],
        "reference_energy": ref, "error": err, "error_per_atom": None if err is None else err / s.n_atoms,
        "n_extrapolating": p.n_extrapolating,
    }
    if p.energy_std is not None:
        rec["energy_std"] = p.energy_std
        rec["max_forces_std"] = None if p.forces_std is None else float(p.forces_std.max())
    return rec


def csv_row(rec: dict, columns: list[str] = CSV_COLUMNS) -> list:
    def fmt(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.10g}" if abs(v) < 1e-3 else f"{v:.8f}"
        return v

    return [fmt(rec.get(c)) for c in columns]


def to_ase_atoms(s, p, info: dict | None = None):
    """``ase.Atoms`` of ``s`` carrying the prediction (energy, forces, stress, per-atom energies)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.stress import full_3x3_to_voigt_6_stress

    atoms = Atoms(symbols=s.symbols, positions=s.positions,
                  cell=s.cell if s.cell is not None else np.zeros((3, 3)), pbc=s.pbc)
    results = {"energy": p.energy, "free_energy": p.energy, "energies": p.atomic_energies}
    if p.forces is not None:
        results["forces"] = p.forces
    if p.stress is not None:
        results["stress"] = full_3x3_to_voigt_6_stress(p.stress)
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info["cohesive_energy"] = p.cohesive_energy
    atoms.info["source"] = s.source
    atoms.info["frame"] = s.frame
    if s.energy is not None:
        atoms.info["reference_energy"] = s.energy
    if p.n_extrapolating:
        atoms.info["n_extrapolating"] = p.n_extrapolating
    if info:
        atoms.info.update(info)
    return atoms


def _info_value(v) -> str:
    if isinstance(v, bool):
        return "T" if v else "F"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    text = str(v)
    if not text or any(c in text for c in ' "=\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def extxyz_frame(s, p, info: dict | None = None) -> str:
    """One extended-XYZ frame of ``s`` with the prediction ``p`` (ASE-readable).

    Columns: species, pos (Å), forces (eV/Å, if computed), energies (eV per atom) and, for a
    committee, forces_std (eV/Å); header: Lattice, pbc, energy, free_energy, cohesive_energy,
    stress (3x3, eV/Å³, periodic cells), source, frame, reference_energy, n_extrapolating,
    energy_std (committee) and ``info``.
    """
    head = []
    if s.cell is not None and any(s.pbc):
        head.append('Lattice="' + " ".join(repr(float(x)) for x in np.asarray(s.cell).ravel()) + '"')
    spread = p.forces_std is not None
    props = ("species:S:1:pos:R:3" + (":forces:R:3" if p.forces is not None else "") + ":energies:R:1"
             + (":forces_std:R:1" if spread else ""))
    head.append(f"Properties={props}")
    fields = {"energy": p.energy, "free_energy": p.energy, "cohesive_energy": p.cohesive_energy}
    if s.energy is not None:
        fields["reference_energy"] = float(s.energy)
    if p.n_extrapolating:
        fields["n_extrapolating"] = int(p.n_extrapolating)
    if p.energy_std is not None:
        fields["energy_std"] = float(p.energy_std)
    fields["source"] = s.source
    fields["frame"] = int(s.frame)
    fields.update(info or {})
    head += [f"{k}={_info_value(v)}" for k, v in fields.items()]
    if p.stress is not None:
        head.append('stress="' + " ".join(repr(float(x)) for x in p.stress.ravel()) + '"')
    head.append('pbc="' + " ".join("T" if b else "F" for b in s.pbc) + '"')
    cols = [np.asarray(s.positions)]
    if p.forces is not None:
        cols.append(p.forces)
    cols.append(p.atomic_energies[:, None])
    if spread:
        cols.append(p.forces_std[:, None])
    data = np.hstack(cols)
    fmt = " ".join(["%16.8f"] * 3 + ["%16.8f"] * (3 if p.forces is not None else 0) + ["%20.10f"]
                   + (["%14.8f"] if spread else []))
    body = "\n".join(f"{sym:<2} " + fmt % tuple(row) for sym, row in zip(s.symbols, data.tolist()))
    return f"{s.n_atoms}\n{' '.join(head)}\n{body}\n"


class AtomicOutput:
    """A text file written as ``<name>.tmp-<pid>`` and renamed to ``<name>`` by :meth:`commit`.

    A thin text-file wrapper of :class:`anncli.io.atomic.AtomicFile` for outputs written
    structure by structure (``fh`` is the open temporary file).  Use as a context manager:
    an exception (or no commit) removes the temporary file.
    """

    def __init__(self, path: str | Path, newline: str | None = None) -> None:
        from anncli.io.atomic import AtomicFile

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = AtomicFile(self.path)
        self.tmp = self._file.tmp
        self.fh = self.tmp.open("w", newline=newline)

    @property
    def done(self) -> bool:
        """True after :meth:`commit`."""
        return self._file.committed

    def __enter__(self) -> "AtomicOutput":
        return self

    def commit(self) -> Path:
        """Close the file and rename it to its final name."""
        self.fh.close()
        self._file.commit()
        logger.info("written: %s", self.path)
        return self.path

    def discard(self) -> None:
        """Close the file and remove it unless it was committed."""
        if not self.fh.closed:
            self.fh.close()
        self._file.discard()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.discard()
