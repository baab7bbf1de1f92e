"""``anncli generate CONFIG``: reference structures -> one HDF5 training-set file."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage


@click.command(short_help="Build a training set (HDF5) from reference structures.")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing output file.")
@common_options
def generate(config: Path, overwrite: bool | None) -> int:
    """Featurise the reference structures listed in CONFIG into one training-set file.

    CONFIG is a YAML input file (see 'anncli help generate'); an ænet generate.in
    file (with its .stp setup files) is also accepted.

    \b
    Example:
      anncli generate generate.yaml
    """

    def load(_schema):
        from anncli.config.generate import load_generate_config

        return load_generate_config(config, overwrite=overwrite)

    return run_stage("generate", config, load=load)
