"""The ``anncli`` command: a click group with one module per subcommand.

This module owns the global options (``-v``, ``-q``, ``--debug``, ``--log-file``,
``--version``), the mapping of outcomes to exit codes and the one-line error messages:

* 0 success; 2 usage errors and :class:`~anncli.exceptions.InputError` (bad input file,
  bad data); 1 any other :class:`~anncli.exceptions.AnncliError` and unexpected
  exceptions (``internal error: ...``); 130 interrupted (Ctrl-C).
* Errors are printed as ``anncli: error: ...`` on stderr, never with a traceback unless
  ``--debug`` is given.

Subcommand modules import only click at module level; everything heavy is imported
inside the command function, so ``anncli --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from anncli import __version__

__all__ = ["cli", "main"]

# (name, module, attribute): the table of subcommands, in the order shown by --help
COMMANDS = [
    ("sample", "anncli.cli.sample", "sample"),
    ("label", "anncli.cli.label", "label"),
    ("generate", "anncli.cli.generate", "generate"),
    ("scan", "anncli.cli.scan", "scan"),
    ("train", "anncli.cli.train", "train"),
    ("predict", "anncli.cli.predict", "predict"),
    ("validate", "anncli.cli.validate", "validate"),
    ("active", "anncli.cli.active", "active"),
    ("info", "anncli.cli.info", "info"),
    ("export", "anncli.cli.export", "export"),
    ("lammps", "anncli.cli.lammps", "lammps"),
    ("convert", "anncli.cli.convert", "convert"),
    ("help", "anncli.cli.help", "help_command"),
]

_STATE: dict[str, Any] = {"debug": False}


def _print_traceback(exc: BaseException) -> None:
    """Print ``exc``'s traceback with every exception that led to it (``--debug``).

    anncli turns errors of other libraries (an ASE reader, h5py) into one-line
    :class:`~anncli.exceptions.InputError` messages with ``raise ... from None``, which hides
    the original exception from a plain traceback; for ``--debug`` the whole chain is shown.
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        e.__suppress_context__ = False
        e = e.__cause__ or e.__context__
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


def _error(message: str) -> None:
    lines = str(message).strip().splitlines() or ["(no message)"]
    for line in lines:
        click.echo(f"anncli: error: {line}", err=True)


def _apply_logging(ctx: click.Context) -> None:
    meta = ctx.find_root().meta
    from anncli.log import setup_logging

    verbosity = -1 if meta.get("anncli.quiet") else meta.get("anncli.verbose", 0)
    if meta.get("anncli.debug"):
        verbosity = max(verbosity, 2)
    setup_logging(verbosity, log_file=meta.get("anncli.log_file"))


def _count_cb(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    meta = ctx.find_root().meta
    if param.name == "verbose":
        meta["anncli.verbose"] = meta.get("anncli.verbose", 0) + (value or 0)
    elif param.name == "quiet":
        meta["anncli.quiet"] = meta.get("anncli.quiet", False) or bool(value)
    elif param.name == "debug":
        meta["anncli.debug"] = meta.get("anncli.debug", False) or bool(value)
        _STATE["debug"] = _STATE["debug"] or bool(value)
    elif param.name == "log_file" and value:
        meta["anncli.log_file"] = value
    return value


def common_options(f):
    """Add ``-v/-q/--debug`` to a command (also accepted after the subcommand name)."""
    f = click.option(
        "--debug", is_flag=True, expose_value=False, callback=_count_cb,
        help="Debug messages, and the Python traceback on errors.",
    )(f)
    f = click.option(
        "-q", "--quiet", is_flag=True, expose_value=False, callback=_count_cb,
        help="Only warnings and errors; no progress.",
    )(f)
    f = click.option(
        "-v", "--verbose", count=True, expose_value=False, callback=_count_cb,
        help="More detail (-vv: debug).",
    )(f)
    return f


class AnncliGroup(click.Group):
    """Click group with lazily imported subcommands and anncli's exit-code mapping."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, _, _ in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for name, module, attr in COMMANDS:
            if name == cmd_name:
                return getattr(importlib.import_module(module), attr)
        return None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: D401
        """Run the command; return (or exit with, in standalone mode) the exit code."""
        code = self._run(args, prog_name or "anncli", **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args, prog_name: str, **extra) -> int:
        from anncli.exceptions import AnncliError

        _STATE["debug"] = False
        if args is None:
            args = sys.argv[1:]
        try:
            rv = super().main(args=list(args), prog_name=prog_name, standalone_mode=False, **extra)
            return rv if isinstance(rv, int) else 0
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
        except (click.Abort, KeyboardInterrupt):
            click.echo("anncli: interrupted", err=True)
            return 130
        except AnncliError as exc:
            if getattr(exc, "silent", False):  # MPI: another rank's error, printed by rank 0
                return exc.exit_code
            if _STATE["debug"]:
                _print_traceback(exc)
            _error(str(exc))
            return exc.exit_code
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if _STATE["debug"]:
                _print_traceback(exc)
                _error(f"internal error: {type(exc).__name__}: {exc}")
            else:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                _error(f"internal error: {type(exc).__name__}: {first} (run with --debug for the traceback)")
            return 1


@click.group(
    cls=AnncliGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Run 'anncli COMMAND --help' for the options of a command; 'anncli help [COMMAND]' for its manual.",
)
@click.version_option(__version__, "-V", "--version", prog_name="anncli", message="%(prog)s %(version)s")
@common_options
@click.option(
    "--log-file", type=click.Path(dir_okay=False), expose_value=False, callback=_count_cb,
    help="Also write the log (with timestamps) to this file.",
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Build neural-network interatomic potentials the ænet way.

    \b
    Stages:  [sample -> label ->] generate -> [scan ->] train -> predict / validate; active (the loop)
    Each stage reads one YAML input file; paths in it are relative to that file.
    """
    _apply_logging(ctx)


def set_openmp_wait_policy() -> None:
    """Let idle OpenMP threads sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose a policy.

    Numba's OpenMP threads otherwise spin for a while after each parallel kernel, taking the
    core that anncli's reader thread (generate) or the Python between kernels needs: passive
    waiting measured 10 % faster for generate and no slower for train and predict (2 cores).
    The OpenMP runtime reads the variable once, when Numba first loads it, so this must run
    before any kernel.  Only the ``anncli`` command calls it: importing the library leaves
    the environment (and so child processes, such as a DFT code run by an ASE calculator)
    alone.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``anncli`` console script.

    Parameters
    ----------
    args : list of str, optional
        Command-line arguments without the program name.  When given (tests), the
        exit code is returned; when None (the real command line), the process exits
        with it.

    Returns
    -------
    int
        Exit status: 0 success, 1 runtime error, 2 input/usage error, 130 interrupted.
    """
    if args is None:
        set_openmp_wait_policy()
        return cli.main(prog_name="anncli", standalone_mode=True)
    return cli.main(args=args, prog_name="anncli", standalone_mode=False)
