"""``anncli predict CONFIG [STRUCTURES...]``: energies and forces of structures."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage


@click.command(short_help="Predict energies and forces with a trained potential.")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("structures", nargs=-1, type=click.Path(path_type=Path))
@common_options
def predict(config: Path, structures: tuple[Path, ...]) -> int:
    """Predict energies (and forces) with the potential named in CONFIG (YAML, or ænet's predict.in).

    STRUCTURES, if given, replace the structure files of CONFIG; they are relative to
    the current directory.

    \b
    Example:
      anncli predict predict.yaml
      anncli predict predict.yaml md/*.xsf
      anncli predict predict.in
    """
    from anncli.io.aenet_run_inputs import aenet_input_kind

    overrides = {"structures": [str(p.resolve()) for p in structures]} if structures else None
    if aenet_input_kind(config) is not None:
        from anncli.workflows.convert_inputs import load_aenet_config

        def load(_schema):
            return load_aenet_config(config, "predict", overrides=overrides)[0]

        return run_stage("predict", config, load=load)
    return run_stage("predict", config, overrides=overrides)
