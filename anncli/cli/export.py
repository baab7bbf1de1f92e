"""``anncli export MODEL --format aenet --output DIR``: a model as ænet potential files."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options
from anncli.parallel.mpi import on_root


@click.command(short_help="Write a model as ænet potential files (.nn).")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["aenet"]), required=True,
              help="Output format: aenet (one binary <Species>.nn per species, as train.x writes).")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              metavar="DIR", help="Directory for the files (created if missing).")
@click.option("--member", type=click.IntRange(min=0), metavar="K",
              help="Committee member to export (0 = the first); required for a committee.")
@click.option("--rmin", type=click.FloatRange(min=0.0, min_open=True), metavar="R",
              help="ænet's RMIN (Å), from which ænet sizes its neighbour arrays "
                   "(default: the value read from ænet files, else 0.5).")
@click.option("--overwrite", is_flag=True, help="Replace existing .nn files in DIR.")
@common_options
@on_root  # under mpiexec: rank 0 prints (writes), the others wait
def export(model: Path, fmt: str, output: Path, member: int | None, rmin: float | None,
           overwrite: bool) -> int:
    """Write the anncli model file MODEL in another program's format.

    With --format aenet: one binary <Species>.nn per species that ænet's predict.x, its
    LAMMPS pair style and ænet-TINKER load, with the network, the descriptor setup, the
    feature normalisation and the energy scaling.  What ænet cannot represent (other
    activations, a committee without --member, other descriptor kinds, ...) is refused
    and nothing is written.

    \b
    Example:
      anncli export model.h5 --format aenet --output aenet/
    """
    from anncli.cli import _apply_logging
    from anncli.exceptions import ConfigError, DataError
    from anncli.potential.aenet_nn_writer import write_aenet_nn
    from anncli.potential.model_file import load_model

    _apply_logging(click.get_current_context())
    if not model.is_file():
        raise DataError(f"{model}: no such model file")
    m = load_model(model)
    try:
        result = write_aenet_nn(m, output, member=member, rmin=rmin, overwrite=overwrite)
    except DataError as exc:
        raise DataError(f"{model}: cannot be written as ænet potentials: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{model}: {exc}") from None
    for sym, path in result.files.items():
        net = (m.member_networks()[member] if member is not None else m.networks)[sym]
        layers = "-".join(map(str, net.sizes))
        acts = "/".join(net.activations[:-1]) or "linear"
        click.echo(f"wrote {path}  ({sym}: network {layers} {acts})")
    click.echo(f"ænet TYPES / NETWORKS order: {' '.join(result.types)}")
    return 0
