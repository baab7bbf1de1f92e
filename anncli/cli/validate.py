"""``anncli validate CONFIG``: errors of a potential on reference data."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage


@click.command(short_help="Validate a potential against reference data (metrics, plots).")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@common_options
def validate(config: Path) -> int:
    """Compare the potential of CONFIG (YAML) with reference energies and forces.

    \b
    Example:
      anncli validate validate.yaml
    """
    return run_stage("validate", config)
