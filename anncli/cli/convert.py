"""``anncli convert FILE``: ænet training sets to HDF5, ænet input files to anncli YAML."""

from __future__ import annotations

from pathlib import Path

import click

from anncli.cli import common_options


@click.command(short_help="Convert ænet training sets (to HDF5) and input files (to YAML).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), metavar="OUT",
              help="Output file (default: FILE with suffix .h5 for a training set, .yaml for an input file).")
@click.option("--stp", "stp", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              metavar="SETUP", help="ænet setup file (.stp) for a training set that holds none "
                                    "(trnset2ASCII's text); repeat once per species.")
@click.option("--energy-unit", default="eV", show_default=True, metavar="UNIT",
              help="Energy unit of the ænet data (eV, Hartree, Ry, kcal/mol, kJ/mol); ænet has none.")
@click.option("--length-unit", default="Angstrom", show_default=True, metavar="UNIT",
              help="Length unit of the ænet data (Angstrom, Bohr, nm).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@common_options
def convert(file: Path, output: Path | None, stp: tuple[Path, ...], energy_unit: str, length_unit: str,
            overwrite: bool) -> int:
    """Convert the ænet file FILE into anncli's format.

    \b
    * a training set written by ænet's generate.x (binary) or trnset2ASCII.x (text)
      becomes an anncli training set (HDF5) that 'anncli train' trains on;
    * an ænet input file (generate.in, train.in, predict.in) becomes the equivalent
      anncli YAML input file, with a comment wherever anncli behaves differently.

    \b
    Example:
      anncli convert refdata.train            # -> refdata.h5
      anncli convert H2O.train --energy-unit Hartree --length-unit Bohr
      anncli convert train.in -o train.yaml
    """
    from anncli.cli import _apply_logging
    from anncli.exceptions import DataError
    from anncli.io.aenet_trainset import is_aenet_trainset

    _apply_logging(click.get_current_context())
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    if is_aenet_trainset(file):
        from anncli.workflows.convert_trainset import convert_aenet_trainset

        result = convert_aenet_trainset(file, output, overwrite=overwrite, stp=list(stp),
                                        energy_unit=energy_unit, length_unit=length_unit)
        click.echo(f"wrote {result.output}: {result.n_structures} structures, {result.n_atoms} atoms, "
                   f"species {' '.join(result.species)}")
        for sym, kind in result.descriptors.items():
            click.echo(f"  {sym}: descriptor {kind}")
        return 0
    from anncli.workflows.convert_inputs import convert_aenet_input

    written, kind = convert_aenet_input(file, output, overwrite=overwrite, energy_unit=energy_unit,
                                        length_unit=length_unit)
    click.echo(f"wrote {written} (anncli {kind} input)")
    return 0
