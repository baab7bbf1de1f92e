"""Reading structure files as :class:`ase.Atoms` with their ``info`` (for sample and label).

anncli's own readers (:mod:`anncli.io`) return :class:`~anncli.structure.Structure` objects
without the free-form ``info`` of extxyz frames; sampling and labelling keep it (``kind``,
``parent`` and the other provenance keys that ``anncli sample`` writes), so extxyz and every
other ASE format are read with ASE here, ænet XSF with anncli's reader.  Calculators and
results found in the files are dropped: these are structures to compute.
"""

from __future__ import annotations

import logging
from pathlib import Path

from anncli.exceptions import DataError

logger = logging.getLogger(__name__)

__all__ = ["read_atoms"]

#: info keys of labelled files that describe results, not the structure (dropped on reading).
RESULT_KEYS = ("energy", "free_energy", "stress", "label_key", "REF_energy")


def read_atoms(files: list[Path], format: str | None = None, frames: str = ":") -> tuple[list, list[str]]:
    """Every selected frame of ``files`` as ase.Atoms, and its name (``file`` or ``file@frame``).

    Parameters
    ----------
    files : list of Path
        Structure files (already expanded, see :func:`anncli.io.expand_sources`).
    format : str, optional
        ASE format name or ``xsf`` (ænet); None = guess from each name.
    frames : str
        Frames of multi-frame files (``:``, ``-1``, ``::10``).

    Raises
    ------
    DataError
        A file that cannot be read, naming it and the reason.
    """
    from anncli.io.formats import _is_xsf, parse_index

    idx = parse_index(frames)
    atoms_out, names = [], []
    for path in files:
        if _is_xsf(path, format):
            from anncli.io import read_structures

            for s in read_structures(path, format=format, index=frames):
                a = s.to_ase()
                a.calc = None
                atoms_out.append(a)
                names.append(s.label)
            continue
        if not path.is_file():
            raise DataError(f"{path}: structure file not found")
        from ase.io import read

        try:
            images = read(str(path), index=idx if isinstance(idx, slice) else idx, format=format)
        except Exception as exc:  # noqa: BLE001 - ASE readers raise anything
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{path}: cannot read the structures ({format or 'format guessed from the name'}): "
                            f"{reason}") from None
        if not isinstance(images, list):
            images = [images]
        many = len(images) > 1
        for k, a in enumerate(images):
            a.calc = None
            for key in RESULT_KEYS:
                a.info.pop(key, None)
            for key in ("forces", "REF_forces"):
                if key in a.arrays:
                    del a.arrays[key]
            atoms_out.append(a)
            names.append(f"{path}@{k}" if many else str(path))
    return atoms_out, names
