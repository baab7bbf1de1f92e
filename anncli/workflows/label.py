"""``anncli label``: reference calculations of structure files, written as labelled extxyz or XSF.

Data flow: the structure files are read whole as ase.Atoms (with their ``info``); the method
(:func:`anncli.labelling.method_from_config`: an ASE calculator or an external command) is
checked before anything runs; :func:`anncli.labelling.label_structures` computes what the work
directory does not hold yet (in parallel, failures recorded); the labelled structures are then
written in input order (extxyz, or one ænet XSF file per structure) under a temporary name and
renamed.  Failed structures are left out of the output and listed in ``work_dir/failures.csv``;
the run then ends with exit status 1 after writing everything else.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from anncli.exceptions import DataError

logger = logging.getLogger(__name__)

__all__ = ["run", "LabelRunResult", "write_labelled"]


@dataclass
class LabelRunResult:
    """What :func:`run` did.

    Attributes
    ----------
    n_structures, n_labelled, computed, reused : int
    failures : list of dict
        ``{index, key, structure, attempts, error}``.
    output : Path or None
    failures_file : Path or None
    seconds : float
    exit_code : int
        0 if every structure is labelled, 1 otherwise.
    """

    n_structures: int = 0
    n_labelled: int = 0
    computed: int = 0
    reused: int = 0
    failures: list[dict] = field(default_factory=list)
    output: Path | None = None
    failures_file: Path | None = None
    seconds: float = 0.0
    exit_code: int = 0


def write_labelled(path: Path, images: list, output_format: str = "extxyz") -> Path:
    """Write labelled structures: one extxyz file, or a directory of XSF files ``00000.xsf`` ...

    Parameters
    ----------
    path : Path
        The extxyz file or the XSF directory.
    images : list of ase.Atoms
        With their results in a SinglePointCalculator.
    output_format : {"extxyz", "xsf"}

    Returns
    -------
    Path
    """
    from anncli.io.atomic import atomic_open

    path.parent.mkdir(parents=True, exist_ok=True)
    if output_format == "extxyz":
        from ase.io import write

        buf = io.StringIO()
        for atoms in images:
            write(buf, atoms, format="extxyz")
        with atomic_open(path, "w", encoding="utf-8") as fh:
            fh.write(buf.getvalue())
        return path
    from anncli.io.xsf import write_xsf
    from anncli.structure import Structure

    if path.exists() and not path.is_dir():
        raise DataError(f"{path}: output_format xsf writes a directory, but a file of that name exists")
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.xsf"):  # a shorter list must not leave files of an earlier run
        old.unlink()
    width = max(5, len(str(len(images))))
    for k, atoms in enumerate(images):
        s = Structure.from_ase(atoms)  # the free (force-consistent) energy where the method gives one
        with atomic_open(path / f"{k:0{width}d}.xsf", "w", encoding="utf-8") as fh:
            write_xsf(fh, s)
    return path


def run(config, *, config_path: str | Path | None = None, retry_failed: bool = False) -> LabelRunResult:
    """Run the label stage.

    Parameters
    ----------
    config : LabelConfig
    config_path : path, optional
        The input file (structure paths are relative to its directory).
    retry_failed : bool
        Try the structures that failed ``max_attempts`` times again.

    Returns
    -------
    LabelRunResult
    """
    from anncli.io import expand_sources
    from anncli.labelling import label_structures, method_from_config
    from anncli.labelling.inputs import read_atoms

    t0 = time.perf_counter()
    base_dir = Path(config_path).resolve().parent if config_path is not None else Path.cwd()
    out = Path(config.output)
    method = method_from_config(config)
    files = expand_sources(list(config.structures), base_dir)
    images, names = read_atoms(files, config.format, config.frames)
    if not images:
        raise DataError("structures: no structures were read from " + ", ".join(map(str, files)))
    res = label_structures(images, method, config.work_dir, workers=config.workers,
                           max_attempts=config.max_attempts, retry_failed=retry_failed, names=names)
    labelled = [a for a in res.labelled if a is not None]
    result = LabelRunResult(n_structures=len(images), n_labelled=len(labelled), computed=res.computed,
                            reused=res.reused, failures=res.failures, failures_file=res.failures_file)
    if labelled:
        result.output = write_labelled(out, labelled, config.output_format)
    result.seconds = time.perf_counter() - t0
    logger.info("label: %d of %d structures labelled (%d computed now, %d earlier)%s", result.n_labelled,
                result.n_structures, result.computed, result.reused,
                f"; written to {result.output}" if result.output else "")
    if res.failures:
        shown = "; ".join(f"{f['structure']}: {f['error']}" for f in res.failures[:3])
        more = f" (and {len(res.failures) - 3} more)" if len(res.failures) > 3 else ""
        logger.error("label: %d structure(s) failed, listed in %s: %s%s", len(res.failures), res.failures_file,
                     shown, more)
        result.exit_code = 1
    return result
