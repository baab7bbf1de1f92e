"""``anncli label CONFIG``: reference calculations of structure files (restartable, parallel)."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage


@click.command(short_help="Compute reference energies and forces of structures (ASE calculator or command).")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--retry-failed", is_flag=True, help="Try structures again that failed max_attempts times.")
@common_options
def label(config: Path, retry_failed: bool) -> int:
    """Label the structures of CONFIG (YAML) with an ASE calculator or an external code.

    A rerun computes only what is not done yet; failed structures are listed in
    work_dir/failures.csv (exit status 1).

    \b
    Example:
      anncli label label.yaml
      anncli label label.yaml --retry-failed
    """
    kwargs = {"retry_failed": True} if retry_failed else {}
    return run_stage("label", config, **kwargs)
