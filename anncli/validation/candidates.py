"""The ``candidates`` part of ``anncli validate``: which unlabelled structures to compute next.

Data flow: the candidate files (MD frames, any format anncli reads) are read and evaluated in
batches like the test set; per structure a score (committee force or energy spread, or the
extrapolation grade) and a structure fingerprint (mean z-scored features per species, see
:func:`anncli.validation.selection.structure_fingerprints`) are kept, and the structures
themselves so that the chosen ones can be written.  :func:`select_candidates` then picks
``n`` of them; ``candidates.csv`` lists every candidate with its scores and
``selected.extxyz`` holds the chosen structures, ready for reference calculations.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["select_next", "CANDIDATE_COLUMNS"]

#: Columns of candidates.csv (every candidate, in reading order).
CANDIDATE_COLUMNS = ["index", "source", "frame", "n_atoms", "energy_std_per_atom_meV", "max_forces_std",
                     "extrapolation_grade", "n_extrapolating", "score", "selected_rank"]


def _score_kind(cfg, potential) -> str:
    kind = cfg.rank_by or ("force_spread" if potential.n_members > 1 else "extrapolation")
    if kind != "extrapolation" and potential.n_members == 1:
        raise ConfigError(f"candidates.rank_by: {kind} needs a committee model (train with 'committee'); "
                          "this model has one member: use rank_by: extrapolation")
    return kind


def potential_fingerprints(potential, structures: list) -> np.ndarray:
    """One fingerprint row per structure in the potential's normalised feature space.

    See :func:`anncli.validation.selection.structure_fingerprints`; used to thin candidates by
    farthest-point sampling (validate's ``candidates``, ``anncli active``).
    """
    from anncli.descriptors.batch import featurize_batch
    from anncli.potential.evaluate import pack_structures
    from anncli.validation.selection import structure_fingerprints

    arrays = pack_structures(structures, potential)
    bf = featurize_batch(*arrays, potential.species, potential.setups)
    offsets = arrays[3]
    model = potential.model
    feats = {s: bf.species[s].features for s in potential.species}
    index = {s: np.searchsorted(offsets, bf.species[s].centers, side="right") - 1 for s in potential.species}
    return structure_fingerprints(feats, index, len(structures), model.feature_mean, model.feature_std,
                                  potential.species)


def select_next(config, potential, base_dir: Path, files_out: dict) -> dict:
    """Score the candidate structures, select ``n`` and add candidates.csv and selected.extxyz.

    Parameters
    ----------
    config : ValidateConfig
        With ``candidates`` set.
    potential : Potential
    base_dir : Path
        Directory of the input file (candidate paths are relative to it).
    files_out : dict of str to str
        Output files of the run; the two files are added.

    Returns
    -------
    dict
        The report's ``candidates`` section: counts, score kind, the selected structures.

    Raises
    ------
    ConfigError
        A spread ranking with a single model.
    DataError
        No candidate structures.
    """
    from anncli.io import expand_sources
    from anncli.validation.selection import select_candidates
    from anncli.workflows.predict import iter_config_structures
    from anncli.workflows.validate import csv_text

    cfg = config.candidates
    kind = _score_kind(cfg, potential)
    files = expand_sources(list(cfg.structures), base_dir)
    reader_cfg = config.model_copy(update={"format": cfg.format, "frames": cfg.frames,  # unlabelled
                                           "energy": None, "energy_key": None, "forces_key": None})
    structures, rows, prints = [], [], []
    batch: list = []

    def flush() -> None:
        if not batch:
            return
        preds, _ = potential.evaluate(batch, forces=kind == "force_spread", stress=False,
                                      committee_forces=kind == "force_spread", batch_atoms=1 << 62)
        for s, p in zip(batch, preds):
            rows.append({
                "index": len(rows), "source": s.source, "frame": s.frame, "n_atoms": s.n_atoms,
                "energy_std_per_atom_meV": float("nan") if p.energy_std is None else 1000 * p.energy_std / s.n_atoms,
                "max_forces_std": float("nan") if p.forces_std is None else float(p.forces_std.max()),
                "extrapolation_grade": p.extrapolation_grade, "n_extrapolating": p.n_extrapolating,
            })
        if cfg.diverse:
            prints.append(potential_fingerprints(potential, batch))
        structures.extend(batch)
        batch.clear()

    n_batch = 0
    for _, s in iter_config_structures(files, reader_cfg):
        potential.species_index(s.symbols, s.label)
        batch.append(s)
        n_batch += s.n_atoms
        if n_batch >= config.batch_atoms:
            flush()
            n_batch = 0
    flush()
    if not rows:
        raise DataError("candidates: no structures were read from candidates.structures")
    key = {"force_spread": "max_forces_std", "energy_spread": "energy_std_per_atom_meV",
           "extrapolation": "extrapolation_grade"}[kind]
    scores = np.array([r[key] for r in rows])
    chosen = select_candidates(scores, cfg.n, np.vstack(prints) if cfg.diverse else None,
                               threshold=cfg.threshold, pool=cfg.pool)
    rank = {int(i): k + 1 for k, i in enumerate(chosen)}
    for r, sc in zip(rows, scores):
        r["score"] = float(sc)
        r["selected_rank"] = rank.get(r["index"], "")
    files_out["candidates.csv"] = csv_text(CANDIDATE_COLUMNS, [[r[c] for c in CANDIDATE_COLUMNS] for r in rows])
    if len(chosen):
        from ase.io import write

        buf = io.StringIO()
        for k, i in enumerate(chosen):
            atoms = structures[i].to_ase()
            atoms.calc = None  # positions to compute, not labels
            atoms.info.update({"source": structures[i].source, "frame": structures[i].frame,
                               "selected_rank": k + 1, "score": float(scores[i]), "rank_by": kind})
            write(buf, atoms, format="extxyz")
        files_out["selected.extxyz"] = buf.getvalue()
    logger.info("candidates: %d structures scored by %s; %d above %g selected%s", len(rows), kind, len(chosen),
                cfg.threshold, " (farthest-point sampling)" if cfg.diverse else "")
    return {
        "files": len(files), "n_candidates": len(rows), "rank_by": kind, "threshold": cfg.threshold,
        "n_above_threshold": int(np.count_nonzero(scores > cfg.threshold)), "diverse": cfg.diverse,
        "n_selected": int(len(chosen)),
        "selected": [{c: rows[int(i)][c] for c in ("index", "source", "frame", "score")} for i in chosen],
    }
