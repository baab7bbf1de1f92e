"""Base class of every input-file section, and the value types schemas are built from.

Each stage's schema is a tree of :class:`Section` models (pydantic).  Unknown keys
are errors (with a did-you-mean hint); values are validated strictly enough that a
wrong type is reported, not silently coerced from an unrelated type: use the strict
aliases below (:data:`Float` accepts ints but not strings or booleans, :data:`Int`
rejects 2.5 and ``true``, ...).  Paths inside an input file are relative to that file:
use :data:`InputPath`, which resolves against ``context["base_dir"]`` given to
``model_validate`` by :func:`anncli.config.loader.load_config`.

Cross-field checks raise :class:`SectionError` with the key path (relative to the
section) they concern, so the message can name the key and its line.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    model_validator,
)

__all__ = [
    "Section",
    "SectionError",
    "Float",
    "Int",
    "Bool",
    "Str",
    "InputPath",
    "resolve_input_path",
    "unknown_key_message",
]

#: A finite number: ints and floats are accepted; strings ("6.0", "abc"), booleans, nan and inf are not.
Float = Annotated[StrictFloat, AllowInfNan(False)]
#: An integer: 2.5, "3" and true are rejected.
Int = StrictInt
#: true or false only (not 0/1, not "yes" in quotes).
Bool = StrictBool
#: Text only (a number where text is expected is an error).
Str = StrictStr


class SectionError(ValueError):
    """A value error raised by a section's validator, naming the offending key.

    Parameters
    ----------
    message : str
        What was expected and what was given (without the key path, which the
        loader prepends).
    *path : str or int
        Key path relative to the section that raises, e.g. ``("env", 2)``; empty
        for the section itself.
    """

    def __init__(self, message: str, *path: str | int) -> None:
        super().__init__(message)
        self.message = message
        self.path = tuple(path)


#: key of the validation context under which sections record their input mappings
SECTIONS_KEY = "_anncli_sections"


def _allowed_keys(cls: type[BaseModel]) -> list[str]:
    keys = []
    for name, info in cls.model_fields.items():
        keys.append(info.alias or name)
    return keys


class Section(BaseModel):
    """A strict pydantic model: unknown keys are rejected, defaults are validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _anncli_record_section(cls, data: Any, info: ValidationInfo) -> Any:
        """Remember which section class validated which input mapping (for did-you-mean hints)."""
        if isinstance(data, dict) and isinstance(info.context, dict):
            info.context.setdefault(SECTIONS_KEY, {})[id(data)] = cls
        return data


def unknown_key_message(cls: type[BaseModel], key: str) -> str:
    """``unknown key 'cutof'; did you mean 'cutoff'?`` (or the list of allowed keys)."""
    allowed = _allowed_keys(cls)
    lower = {a.lower(): a for a in allowed}
    match = lower.get(key.lower()) or next(iter(difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)), None)
    if match:
        return f"unknown key '{key}'; did you mean '{match}'?"
    return f"unknown key '{key}'; allowed keys here: {', '.join(allowed)}"


def _check_path_text(value: Any) -> Any:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise SectionError(f"expected a path (text), got {_describe(value)}")
    if not value.strip():
        raise SectionError("expected a path, got an empty string")
    return value


def resolve_input_path(value: str | Path, base_dir: str | Path | None) -> Path:
    """Expand ``~`` and ``$VARS`` in ``value`` and make it relative to ``base_dir``.

    Parameters
    ----------
    value : str or Path
        The path as written in the input file.
    base_dir : str or Path or None
        Directory of the input file; None leaves relative paths relative to the
        current directory.

    Returns
    -------
    Path
        Absolute if ``value`` was absolute or ``base_dir`` is given.
    """
    path = Path(os.path.expanduser(os.path.expandvars(str(value))))
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    return path


def _resolve(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir") if info is not None else None
    return resolve_input_path(value, base)


def _describe(value: Any) -> str:
    """Short rendering of a user-given value for messages ('abc', a list, null, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return str(value)


#: A path in an input file, relative to the input file's directory (``~`` and ``$VAR``
#: are expanded).  Resolution uses ``context={"base_dir": ...}`` of ``model_validate``.
InputPath = Annotated[Path, BeforeValidator(_check_path_text), AfterValidator(_resolve)]
