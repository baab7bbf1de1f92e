"""The exception tree of anncli.

Every error a user can cause derives from :class:`InputError` and maps to exit
status 2 in the command-line interface; every other :class:`AnncliError` maps to
exit status 1.  Messages are complete sentences meant for the user: they name the
file, the line or key, what was expected and what was given.
"""

from __future__ import annotations


class AnncliError(Exception):
    """Base class of all anncli errors (exit status 1 unless an input error)."""

    exit_code = 1


class InputError(AnncliError, ValueError):
    """Bad input given by the user: usage, input file or data (exit status 2)."""

    exit_code = 2


class ConfigError(InputError):
    """An input file (YAML, generate.in, .stp) is malformed or has a bad value."""


class DataError(InputError):
    """A structure file or data file is unreadable or holds invalid data."""


class FileFormatError(DataError):
    """A file written by anncli is truncated, foreign or of an incompatible version."""


class TrainingError(AnncliError):
    """Training cannot go on (e.g. the loss became NaN)."""
