"""``anncli train CONFIG``: fit per-species networks to a training set."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage


@click.command(short_help="Train a potential on a training set.")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint of this run.")
@common_options
def train(config: Path, resume: bool) -> int:
    """Train the networks described in CONFIG (YAML).

    \b
    Example:
      anncli train train.yaml
      anncli train train.yaml --resume
    """
    kwargs = {"resume": True} if resume else {}
    return run_stage("train", config, **kwargs)
