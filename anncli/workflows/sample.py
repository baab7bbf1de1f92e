"""``anncli sample``: candidate structures for reference calculations, thinned to cover feature space.

Data flow: the ideal structures are read (any ASE format or ænet XSF); every generator of the
input makes its candidates (:func:`anncli.sampling.pool.build_pool`, seeded per candidate);
candidates with atoms closer than ``min_distance`` are dropped; the rest are featurised with the
``descriptors`` and ``n`` of them are chosen by farthest-point sampling, starting from the ideal
structures (:mod:`anncli.sampling.thinning`).  :func:`sample_candidates` does all of this in
memory (the active-learning loop calls it); :func:`run` writes ``candidates.extxyz`` (the
selection, in the order chosen), ``summary.csv``, ``summary.json``, ``selection.png`` and
optionally ``pool.extxyz``, each under a temporary name, renamed when all are ready.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anncli.exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["run", "sample_candidates", "SampleResult", "OUTPUT_FILES"]

#: Files of output_dir (pool.extxyz only with write_pool, selection.png only with plot).
OUTPUT_FILES = ("candidates.extxyz", "summary.csv", "summary.json", "selection.png", "pool.extxyz")


@dataclass
class SampleResult:
    """What :func:`sample_candidates` made.

    Attributes
    ----------
    pool : list of ase.Atoms
        Every candidate that passed the distance check, in pool order, with ``info`` (kind,
        parent, parent_name, copy, detail).
    selected : ndarray of int64
        Indices into ``pool`` in the order chosen by farthest-point sampling.
    dropped : list of ase.Atoms
        Candidates with atoms closer than ``min_distance``.
    fingerprints : ndarray of shape (len(pool), n_dims)
        The feature-space vectors the selection was made in.
    counts : dict
        ``{kind: {generated, dropped, candidates, selected}}``.
    covering_radius, random_covering_radius : float
        Largest feature-space distance of a candidate to the nearest selected one, for this
        selection and (mean) for random selections of the same size.
    rows : list of dict
        summary.csv rows.
    outputs : list of Path
        Files written by :func:`run`.
    """

    pool: list = field(default_factory=list)
    selected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dropped: list = field(default_factory=list)
    fingerprints: np.ndarray | None = None
    counts: dict = field(default_factory=dict)
    covering_radius: float = 0.0
    random_covering_radius: float = 0.0
    rows: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def selected_atoms(self) -> list:
        """The selected candidates in the order chosen, ``info`` with ``fps_rank`` and ``pool_index``."""
        out = []
        for rank, i in enumerate(self.selected):
            a = self.pool[int(i)].copy()
            a.info = {**self.pool[int(i)].info, "pool_index": int(i), "fps_rank": rank + 1}
            out.append(a)
        return out


def _setups(config, species: list[str]) -> dict:
    from anncli.config.sample import DEFAULT_DESCRIPTORS
    from anncli.workflows.generate import build_setups

    descriptors = config.descriptors if config.descriptors is not None else DEFAULT_DESCRIPTORS
    for key in descriptors:
        if key != "default" and key not in species:
            logger.info("sample: descriptors.%s: no candidate has %s atoms", key, key)
    return build_setups(descriptors, species)


def sample_candidates(ideals: list, config, names: list[str] | None = None) -> SampleResult:
    """Generate, filter and thin candidates from ideal structures (no files written).

    Parameters
    ----------
    ideals : list of ase.Atoms
    config : SampleConfig
    names : list of str, optional
        Name of every ideal structure (provenance and messages).

    Returns
    -------
    SampleResult
    """
    from anncli.sampling import generators as gen
    from anncli.sampling.pool import KINDS, build_pool
    from anncli.sampling.summary import counts_by_kind
    from anncli.sampling.thinning import pool_fingerprints, random_covering_radius, covering_radius, select

    t0 = time.perf_counter()
    if not ideals:
        raise DataError("structures: no ideal structures were read")
    for k, a in enumerate(ideals):
        if len(a) == 0:
            raise DataError(f"{(names or [f'ideal {k}'])[k]}: the structure has no atoms")
    generated = build_pool(ideals, config, names)
    logger.info("sample: %d candidates made from %d ideal structure(s) in %.1f s; featurising and thinning",
                len(generated), len(ideals), time.perf_counter() - t0)
    rows, pool, dropped = [], [], []
    for k, a in enumerate(generated):
        dmin = gen.min_distance(a)
        ok = dmin >= config.min_distance
        (pool if ok else dropped).append(a)
        rows.append({"index": k, **{c: a.info[c] for c in ("kind", "parent", "parent_name", "copy", "detail")},
                     "formula": a.get_chemical_formula(), "n_atoms": len(a),
                     "min_distance": dmin if np.isfinite(dmin) else "", "status": "candidate" if ok else "dropped",
                     "selected_rank": "", "_pool": len(pool) - 1 if ok else None})
    if dropped:
        logger.info("sample: %d candidate(s) dropped: atoms closer than %g Å", len(dropped), config.min_distance)
    species = list(dict.fromkeys(s for a in pool for s in a.get_chemical_symbols()))
    x = pool_fingerprints(pool, _setups(config, species), species)
    n = len(pool) if config.n is None else min(config.n, len(pool))
    keep = [i for i, a in enumerate(pool) if a.info["kind"] == "ideal"] if config.keep_ideal else []
    if len(keep) > n:
        logger.warning("sample: n = %d is less than the %d ideal structures kept (keep_ideal): the first %d "
                       "are selected", n, len(keep), n)
    chosen = select(x, n, keep)
    rank = {int(i): r + 1 for r, i in enumerate(chosen)}
    for row in rows:
        if row["_pool"] is not None and row["_pool"] in rank:
            row["status"], row["selected_rank"] = "selected", rank[row["_pool"]]
        del row["_pool"]
    kinds = [a.info["kind"] for a in pool]
    result = SampleResult(pool=pool, selected=chosen, dropped=dropped, fingerprints=x, rows=rows)
    result.counts = counts_by_kind([a.info["kind"] for a in generated], [a.info["kind"] for a in dropped], kinds,
                                   [kinds[int(i)] for i in chosen], KINDS)
    result.covering_radius = covering_radius(x, chosen)
    result.random_covering_radius = random_covering_radius(x, n, keep[:n], config.seed)
    result.seconds = time.perf_counter() - t0
    return result


def _extxyz(images: list) -> str:
    from ase.io import write

    buf = io.StringIO()
    for a in images:
        write(buf, a, format="extxyz")
    return buf.getvalue()


def _summary_json(result: SampleResult, config) -> str:
    data = {
        "seed": config.seed,
        "n_requested": config.n,
        "n_candidates": len(result.pool),
        "n_selected": int(len(result.selected)),
        "n_dropped": len(result.dropped),
        "min_distance": config.min_distance,
        "counts": result.counts,
        "feature_dimensions": int(result.fingerprints.shape[1]) if result.fingerprints is not None else 0,
        "covering_radius": result.covering_radius,
        "random_covering_radius": result.random_covering_radius,
        "selected": [{"rank": r + 1, "pool_index": int(i), "kind": result.pool[int(i)].info["kind"],
                      "parent": result.pool[int(i)].info["parent"], "detail": result.pool[int(i)].info["detail"]}
                     for r, i in enumerate(result.selected)],
    }
    return json.dumps(data, indent=1)


def run(config, *, config_path: str | Path | None = None, stdout=None) -> SampleResult:
    """Run the sample stage: read the ideal structures, sample, write ``output_dir``.

    Parameters
    ----------
    config : SampleConfig
    config_path : path, optional
        The input file (structure entries are relative to its directory).
    stdout : text stream, optional
        Where the summary table goes (default ``sys.stdout``).

    Returns
    -------
    SampleResult

    Raises
    ------
    ConfigError
        Output files exist (without ``overwrite``), an unknown MD calculator.
    DataError
        Unreadable or empty structure files; the MD calculator failed.
    """
    from anncli.io import expand_sources
    from anncli.labelling.inputs import read_atoms
    from anncli.sampling.summary import candidates_csv, count_table, selection_png
    from anncli.io.atomic import write_files_atomically

    stream = stdout if stdout is not None else sys.stdout
    base_dir = Path(config_path).resolve().parent if config_path is not None else Path.cwd()
    out_dir = Path(config.output_dir)
    existing = [name for name in OUTPUT_FILES if (out_dir / name).exists()]
    if existing and not config.overwrite:
        raise ConfigError(f"output_dir: {out_dir} already holds {', '.join(existing)}; set overwrite: true "
                          "(or --overwrite) to replace them")
    files = expand_sources(list(config.structures), base_dir)
    ideals, names = read_atoms(files, config.format, config.frames)
    prefix = str(base_dir) + "/"
    names = [name[len(prefix):] if name.startswith(prefix) else name for name in names]  # same bytes elsewhere
    result = sample_candidates(ideals, config, names)
    files_out: dict[str, str | bytes] = {
        "candidates.extxyz": _extxyz(result.selected_atoms),
        "summary.csv": candidates_csv(result.rows),
        "summary.json": _summary_json(result, config),
    }
    if config.write_pool:
        files_out["pool.extxyz"] = _extxyz(result.pool)
    if config.plot and len(result.pool) > 0:
        from anncli.sampling.pool import KINDS
        from anncli.sampling.thinning import pca_2d

        files_out["selection.png"] = selection_png(
            pca_2d(result.fingerprints), [a.info["kind"] for a in result.pool], result.selected, KINDS,
            (result.covering_radius, result.random_covering_radius))
    result.outputs = write_files_atomically(out_dir, files_out)
    for name in OUTPUT_FILES:  # files of an earlier run that this one does not write
        if name not in files_out and (out_dir / name).exists():
            (out_dir / name).unlink()
    stream.write(count_table(result.counts) + "\n")
    stream.write(f"covering radius in feature space: {result.covering_radius:.4g} "
                 f"(random selections of the same size: {result.random_covering_radius:.4g})\n")
    logger.info("sample: %d of %d candidates selected in %.1f s; written to %s", len(result.selected),
                len(result.pool), result.seconds, out_dir / "candidates.extxyz")
    return result
