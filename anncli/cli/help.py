"""``anncli help [COMMAND]``: the manual page of anncli or of one command, as plain text."""

from __future__ import annotations

import shutil
import sys

import click


@click.command("help", short_help="Show the manual of anncli or of a command.")
@click.argument("command", required=False)
def help_command(command: str | None) -> int:
    """Print the manual page of COMMAND (generate, train, predict, ...), or of anncli.

    \b
    The pages are part of the package; on a terminal they are shown through the pager
    ($PAGER, default less).  After 'pip install .' they are also installed for 'man anncli'.
    """
    from anncli.cli.manpage import page_names, page_path, render

    path = page_path(command)
    if path is None:
        raise click.UsageError(
            f"no manual page for {command!r}; pages: {', '.join(page_names())}"
        )
    tty = sys.stdout.isatty()
    width = min(shutil.get_terminal_size((80, 24)).columns, 100) if tty else 80
    text = render(path.read_text(encoding="utf-8"), width=width)
    if tty:
        click.echo_via_pager(text)
    else:
        click.echo(text, nl=False)
    return 0
