"""Shared body of the stage commands: load the config, find the workflow, run it.

A stage whose schema (``anncli.config.<stage>``) or workflow
(``anncli.workflows.<stage>.run``) does not exist yet reports that it is not
available (exit status 1) instead of failing with an import error.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Callable

import click

logger = logging.getLogger("anncli.cli")


class StageUnavailable(Exception):
    """The schema or workflow of a stage is not part of this anncli build yet."""


def _import(module: str, attr: str) -> Any:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # only a missing anncli module means "not written yet"; a missing third-party
        # package is a real error
        if exc.name and (exc.name == "anncli" or exc.name.startswith("anncli.")):
            logger.debug("%s: missing module %s", module, exc.name)
            raise StageUnavailable(module) from exc
        raise
    obj = getattr(mod, attr, None)
    if obj is None:
        logger.debug("%s has no %s", module, attr)
        raise StageUnavailable(module)
    return obj


def schema_of(stage: str) -> type:
    """The pydantic schema ``anncli.config.<stage>.<Stage>Config``."""
    return _import(f"anncli.config.{stage}", f"{stage.capitalize()}Config")


def workflow_of(stage: str) -> Callable[..., Any]:
    """The function ``anncli.workflows.<stage>.run``."""
    return _import(f"anncli.workflows.{stage}", "run")


def not_available(stage: str) -> int:
    """Print the 'not available yet' line; return exit status 1."""
    from anncli import __version__

    click.echo(f"anncli {stage}: this stage is not available yet in anncli {__version__}", err=True)
    return 1


def run_stage(
    stage: str,
    config_path: str | Path,
    *,
    load: Callable[[type], Any] | None = None,
    overrides: dict[str, Any] | None = None,
    **run_kwargs: Any,
) -> int:
    """Load ``config_path`` with the stage schema and call the stage workflow.

    Parameters
    ----------
    stage : str
        ``generate``, ``train``, ``predict`` or ``validate``.
    config_path : str or Path
        The input file.
    load : callable, optional
        ``load(schema) -> config`` replacing the YAML loader (ænet input files).
    overrides : dict, optional
        Passed to :func:`anncli.config.loader.load_config`.
    **run_kwargs
        Extra keyword arguments of ``run``.

    Returns
    -------
    int
        0 on success; 1 if the stage is not available.  Errors propagate as
        exceptions (mapped to exit codes by the group).
    """
    from anncli.cli import _apply_logging

    _apply_logging(click.get_current_context())
    from anncli.parallel.mpi import log_threads, start_stage

    comm = start_stage(stage)  # MPI ranks (serial: one); every rank runs what follows
    try:
        schema = schema_of(stage)
    except StageUnavailable:
        return not_available(stage)
    with comm.checkpoint():  # a failure on any rank stops every rank (anncli.parallel.mpi)
        if load is not None:
            config = load(schema)
        else:
            from anncli.config.loader import load_config

            config = load_config(config_path, schema, overrides=overrides)
    try:
        run = workflow_of(stage)
    except StageUnavailable:
        return not_available(stage)
    logger.debug("%s: %r", stage, config)
    log_threads(comm, config)
    from anncli.log import watch_compilation

    watch_compilation()  # a first run compiles the kernels: say so, keep it out of the rates
    with comm.checkpoint():
        result = run(config, config_path=Path(config_path).resolve(), **run_kwargs)
    code = getattr(result, "exit_code", 0)
    return comm.bcast(code if isinstance(code, int) else 0)  # every rank: rank 0's status
