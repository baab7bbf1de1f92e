"""``anncli train CONFIG``: fit per-species networks to a training set."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage


@click.command(short_help="Train a potential on a training set.")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint of this run.")
@click.option("--overwrite", is_flag=True, help="Replace the outputs of a previous run.")
@common_options
def train(config: Path, resume: bool, overwrite: bool) -> int:
    """Train the networks described in CONFIG (YAML, or ænet's train.in).

    With an ænet train.in the .nn files its NETWORKS names are written after training,
    as train.x does.

    \b
    Example:
      anncli train train.yaml
      anncli train train.yaml --resume
      anncli train train.in
    """
    from anncli.io.aenet_run_inputs import aenet_input_kind

    if aenet_input_kind(config) is not None:
        from anncli.cli import _apply_logging
        from anncli.workflows.convert_inputs import run_aenet_train

        _apply_logging(click.get_current_context())
        return run_aenet_train(config, resume=resume, overwrite=overwrite)
    kwargs = {"resume": True} if resume else {}
    overrides = {"overwrite": True} if overwrite else None
    return run_stage("train", config, overrides=overrides, **kwargs)
