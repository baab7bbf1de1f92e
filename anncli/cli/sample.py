"""``anncli sample CONFIG``: candidate structures for reference calculations from ideal ones."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage


@click.command(short_help="Make candidate structures (rattled, strained, defects, slabs, MD), thinned by FPS.")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, default=None, help="Replace existing output files.")
@common_options
def sample(config: Path, overwrite: bool | None) -> int:
    """Write candidate structures for reference calculations, as CONFIG (YAML) says.

    \b
    Example:
      anncli sample sample.yaml
      anncli label label.yaml      # then compute them
    """
    overrides = {"overwrite": True} if overwrite else None
    return run_stage("sample", config, overrides=overrides)
