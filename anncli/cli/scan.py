"""``anncli scan CONFIG``: model selection over descriptor settings and architectures."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage


@click.command(short_help="Model selection: a grid of descriptors and networks, validation error against cost.")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@common_options
def scan(config: Path) -> int:
    """Scan the grid of CONFIG (YAML); a rerun resumes where it stopped.

    Every descriptor point is generated once and its features are reused for every
    architecture; every point is trained on the same split (or the same k folds).
    Writes scan.csv (one row per point), scan.png (validation error against cost, Pareto
    front marked) and recommendation.txt (the recommended point and why).

    \b
    Example:
      anncli scan scan.yaml
      anncli scan scan.yaml     # after a kill: continues
    """
    return run_stage("scan", config)
