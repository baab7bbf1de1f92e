"""Reading a LAMMPS input script into the pieces anncli runs one after the other.

This module owns :func:`split_script`: it finds the ``fix ID group external pf/callback``
commands of a LAMMPS input script and cuts the script after each of them, so that anncli
can attach its callback to the fix before LAMMPS reaches the next ``run`` or ``minimize``
(LAMMPS refuses to run a callback fix whose function is not set yet).  The pieces are given
to LAMMPS as they are (``commands_string``): LAMMPS itself expands variables, reads
``include`` files and runs loops; only the fix commands are parsed here.

LAMMPS's syntax as far as it matters here: ``#`` starts a comment outside quotes, a line
ending in ``&`` continues on the next line, and triple quotes (three double quotes) span lines.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass

from anncli.exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["ExternalFix", "ScriptPiece", "split_script"]


@dataclass(frozen=True)
class ExternalFix:
    """A ``fix ID group external pf/callback Ncall Napply`` command of the script."""

    fix_id: str
    group: str
    ncall: int
    line: int  # 1-based line number in the script


@dataclass(frozen=True)
class ScriptPiece:
    """Consecutive commands of the script; ``fix`` is set when they end with an external fix."""

    text: str
    first_line: int
    fix: ExternalFix | None


def _logical_lines(text: str) -> list[tuple[int, int, str]]:
    """``(first_line, last_line, command)`` for every command (continuations joined), 1-based."""
    out: list[tuple[int, int, str]] = []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        first = k
        parts: list[str] = []
        in_triple = False
        while k < len(lines):
            line = lines[k]
            k += 1
            if line.count('"""') % 2 == 1:
                in_triple = not in_triple
            if in_triple:
                parts.append(line)
                continue
            stripped = line.rstrip()
            if stripped.endswith("&"):
                parts.append(stripped[:-1])
                continue
            parts.append(line)
            break
        out.append((first + 1, k, " ".join(parts)))
    return out


def _strip_comment(command: str) -> str:
    """The command without its ``#`` comment (a ``#`` inside quotes is kept)."""
    quote = None
    for i, ch in enumerate(command):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return command[:i]
    return command


def _words(command: str) -> list[str]:
    try:
        return shlex.split(_strip_comment(command), posix=True)
    except ValueError:  # unbalanced quotes: LAMMPS will say so itself
        return _strip_comment(command).split()


def _external_fix(words: list[str], source: str, line: int) -> ExternalFix | None:
    """The fix external command in ``words``, checked; None for any other command."""
    if len(words) < 4 or words[0] != "fix" or words[3] != "external":
        return None
    where = f"{source} line {line}"
    if len(words) < 7 or words[4] != "pf/callback":
        raise ConfigError(
            f"{where}: anncli computes the forces through 'fix ID all external pf/callback 1 1'; "
            f"given: '{' '.join(words)}'")
    try:
        ncall, napply = int(words[5]), int(words[6])
    except ValueError:
        raise ConfigError(f"{where}: Ncall and Napply of the external fix must be integers, "
                          f"given {words[5]!r} and {words[6]!r}") from None
    if ncall < 1 or napply < 1:
        raise ConfigError(f"{where}: Ncall and Napply of the external fix must be >= 1, "
                          f"given {ncall} and {napply}")
    if words[2] != "all":
        raise ConfigError(
            f"{where}: the external fix must act on group 'all' (the potential's energy is that of "
            f"every atom, so forces on a group only would not conserve energy); given group "
            f"{words[2]!r}. Freeze atoms with 'fix setforce' instead")
    if ncall != 1:
        logger.warning("%s: the external fix calls anncli every %d steps only; the forces in "
                       "between are stale (use 1 for MD)", where, ncall)
    return ExternalFix(fix_id=words[1], group=words[2], ncall=ncall, line=line)


def split_script(text: str, source: str = "<input>") -> list[ScriptPiece]:
    """Cut a LAMMPS input script after each ``fix ... external pf/callback`` command.

    Parameters
    ----------
    text : str
        The input script.
    source : str
        Its name, for messages.

    Returns
    -------
    list of ScriptPiece
        Pieces that together are the whole script, in order; every piece but possibly the
        last ends with an external fix.

    Raises
    ------
    ConfigError
        If the script has no ``fix ... external`` command, or one that anncli cannot serve
        (another mode than ``pf/callback``, a group other than ``all``).
    """
    lines = text.splitlines()
    pieces: list[ScriptPiece] = []
    start = 0  # 0-based first line of the current piece
    for first, last, command in _logical_lines(text):
        fix = _external_fix(_words(command), source, first)
        if fix is None:
            continue
        pieces.append(ScriptPiece("\n".join(lines[start:last]) + "\n", start + 1, fix))
        start = last
    if not pieces:
        raise ConfigError(
            f"{source}: no 'fix ID all external pf/callback 1 1' command: add one after the atoms "
            "are created (where a pair_style would go); anncli computes the energy, forces and "
            "virial of that fix")
    if start < len(lines):
        pieces.append(ScriptPiece("\n".join(lines[start:]) + "\n", start + 1, None))
    return pieces
