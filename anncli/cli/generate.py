"""``anncli generate CONFIG``: reference structures -> one HDF5 training-set file."""

from __future__ import annotations

import re
from pathlib import Path

import click

from anncli.cli import common_options
from anncli.cli._stage import run_stage

# generate.in: TYPES / SETUPS / FILES stand alone on their line (counts and entries follow)
_AENET_SECTION = re.compile(r"^\s*(TYPES|SETUPS|FILES)\s*$", re.IGNORECASE | re.MULTILINE)


def looks_like_aenet(path: Path) -> bool:
    """True if ``path`` is not ``*.yaml``/``*.yml`` and reads like ænet keyword input (generate.in)."""
    if path.suffix.lower() in (".yaml", ".yml") or not path.is_file():
        return False
    try:
        head = path.read_bytes()[:65536].decode("utf-8", errors="replace")
    except OSError:
        return False
    return bool(_AENET_SECTION.search(head))


def _load_aenet(path: Path, schema: type):
    from anncli.cli._stage import StageUnavailable, _import
    from anncli.config.loader import validate_config
    from anncli.exceptions import ConfigError

    try:
        read_generate_in = _import("anncli.io.aenet_inputs", "read_generate_in")
    except StageUnavailable:
        raise ConfigError(
            f"{path}: looks like an ænet generate.in file, but reading ænet input files is not "
            "available yet in this anncli; write the input as YAML (see 'man anncli-generate')"
        ) from None
    data = read_generate_in(path)
    return validate_config(data, schema, source=path, base_dir=path.resolve().parent)


@click.command(short_help="Build a training set (HDF5) from reference structures.")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing output file.")
@common_options
def generate(config: Path, overwrite: bool | None) -> int:
    """Featurise the reference structures listed in CONFIG into one training-set file.

    CONFIG is a YAML input file (see 'man anncli-generate'); an ænet generate.in
    file is also accepted.

    \b
    Example:
      anncli generate generate.yaml
    """
    overrides = {"overwrite": True} if overwrite else None
    if looks_like_aenet(config):

        def load(schema):
            cfg = _load_aenet(config, schema)
            return cfg.model_copy(update=overrides) if overrides else cfg

        return run_stage("generate", config, load=load)
    return run_stage("generate", config, overrides=overrides)
