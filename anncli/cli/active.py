"""``anncli active CONFIG``: the active-learning loop (explore, select, label, retrain, validate)."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage


@click.command(short_help="Active learning: MD with a committee, select uncertain structures, label, retrain.")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@common_options
def active(config: Path) -> int:
    """Run the active-learning loop of CONFIG (YAML); a rerun resumes where it stopped.

    Every iteration labels the structures selected in the one before (the initial ones
    first), appends them to the training set, retrains the committee, validates it on the
    fixed test set, runs MD with it and selects the candidates it is unsure about.

    \b
    Example:
      anncli active active.yaml
      anncli active active.yaml     # after a kill: continues
    """
    return run_stage("active", config)
