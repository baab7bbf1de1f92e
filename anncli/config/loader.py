"""Reading YAML input files and validating them against a stage's schema.

This module owns the path from a file name to a validated pydantic model, and every
message a user sees about a bad input file: YAML syntax errors, tab indentation,
duplicate keys, empty files, and schema violations rendered as
``"gen.yaml, line 12: descriptors.Ti.radial.cutoff: expected a number > 0, got -1"``.

YAML is read with ``yaml.safe_load`` semantics through the node tree so that every key
path has a line number, with two deliberate differences: mapping keys are always the
text written in the file (``No:`` stays ``"No"``, not ``False``), and numbers in
exponent notation without a dot or sign (``1e-3``) are floats as in YAML 1.2.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from anncli.config.base import SECTIONS_KEY, SectionError, _describe, unknown_key_message
from anncli.exceptions import ConfigError

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
KeyPath = tuple  # tuple of str (mapping keys) and int (list indices)
MAX_ERROR_LINES = 5
#: Most values (mappings, lists, scalars) a file may expand to through aliases (``*name``):
#: a few aliases of aliases ("billion laughs") would otherwise take hours to validate.
MAX_VALUES = 1_000_000

__all__ = ["load_yaml", "load_config", "validate_config", "format_key_path"]


class _Loader(yaml.SafeLoader):
    """SafeLoader plus YAML 1.2 floats such as ``1e-3`` and ``2.0E5``."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def format_key_path(path: KeyPath) -> str:
    """Render ``("descriptors", "Au", "functions", 1, "eta")`` as ``descriptors.Au.functions[1].eta``."""
    out = ""
    for el in path:
        if isinstance(el, int):
            out += f"[{el}]"
        else:
            out += ("." if out else "") + str(el)
    return out


def _where(name: str, line: int | None) -> str:
    return f"{name}, line {line}" if line else name


def _read_text(path: Path) -> str:
    name = str(path)
    if not path.exists():
        raise ConfigError(f"{name}: no such file")
    if path.is_dir():
        raise ConfigError(f"{name}: is a directory, expected an input file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{name}: not a text (UTF-8) file (undecodable byte at offset {exc.start})"
        ) from None


def _first_tab_indent(text: str, up_to: int | None) -> int | None:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if up_to is not None and lineno > up_to:
            break
        stripped = line.lstrip(" \t")
        if stripped and "\t" in line[: len(line) - len(stripped)]:
            return lineno
    return None


def _syntax_error(name: str, text: str, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    tab_line = _first_tab_indent(text, line)
    if tab_line is not None:
        return ConfigError(f"{name}, line {tab_line}: tab character used for indentation; YAML needs spaces")
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    detail = f"{problem} ({context})" if context else problem
    return ConfigError(f"{_where(name, line)}: YAML syntax error: {detail}")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse recursive aliases and files that expand to more than :data:`MAX_VALUES` values.

    An iterative depth-first walk over the node graph (aliases are shared nodes), with the
    expanded size of every node memoised, so it is linear in the size of the file.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()  # the ancestors of the node being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            in_progress.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[key] > MAX_VALUES:
                raise ConfigError(
                    f"{name}, line {node.start_mark.line + 1}: the aliases (*name) here expand to more "
                    f"than {MAX_VALUES:,} values; write the values out or use fewer aliases"
                )
            continue
        if key in sizes:
            continue
        in_progress.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in in_progress:
                raise ConfigError(
                    f"{name}, line {child.start_mark.line + 1}: an alias (*name) refers to a value "
                    "that contains it; an input file cannot hold a recursive value"
                )
            if id(child) not in sizes:
                stack.append((child, False))


def _walk(loader: _Loader, node: yaml.Node, path: KeyPath, locations: dict, name: str) -> Any:
    """Build the Python value of ``node``; record the line of every key path."""
    plain = {yaml.MappingNode: "tag:yaml.org,2002:map", yaml.SequenceNode: "tag:yaml.org,2002:seq"}
    if type(node) in plain and node.tag != plain[type(node)]:
        return _construct(loader, node, path, name)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"{name}, line {key_node.start_mark.line + 1}: "
                    f"{format_key_path(path) or 'top level'}: a key must be plain text"
                )
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in seen:
                where = format_key_path(path + (key,))
                raise ConfigError(
                    f"{name}, line {line}: duplicate key '{key}'"
                    f"{f' ({where})' if where != key else ''}; it is first given on line {seen[key]}"
                )
            seen[key] = line
        loader.flatten_mapping(node)  # resolve '<<' merge keys as safe_load does
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            sub = path + (key,)
            locations.setdefault(sub, key_node.start_mark.line + 1)
            out[key] = _walk(loader, value_node, sub, locations, name)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            locations.setdefault(path + (i,), item.start_mark.line + 1)
            items.append(_walk(loader, item, path + (i,), locations, name))
        return items
    return _construct(loader, node, path, name)


def _construct(loader: _Loader, node: yaml.Node, path: KeyPath, name: str) -> Any:
    """safe_load's value of a scalar or explicitly tagged node (unsafe tags are errors)."""
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        line = node.start_mark.line + 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{name}, line {line}: {format_key_path(path) or 'value'}: {problem}") from None
    except Exception:  # noqa: BLE001 - PyYAML's constructors raise anything for a tag that does not fit
        line = node.start_mark.line + 1
        tag = node.tag.rsplit(":", 1)[-1]
        raise ConfigError(
            f"{name}, line {line}: {format_key_path(path) or 'value'}: the tag !!{tag} does not fit the "
            f"value {node.value!r}" if isinstance(node, yaml.ScalarNode) else
            f"{name}, line {line}: {format_key_path(path) or 'value'}: the tag !!{tag} does not fit this value"
        ) from None


def load_yaml(path: str | Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """Read a YAML input file into plain Python data, with the line of every key.

    Parameters
    ----------
    path : str or Path
        The YAML file.

    Returns
    -------
    data : dict
        The top-level mapping (``yaml.safe_load`` semantics; keys are always str).
    locations : dict of tuple -> int
        1-based line number of every key path, e.g. ``("descriptors", "Ti", "radial",
        "cutoff") -> 12``; list items are keyed by their index. ``()`` is line 1.

    Raises
    ------
    ConfigError
        Missing/unreadable/empty file, YAML syntax error, tab indentation, duplicate
        key, or a top level that is not a mapping.
    """
    path = Path(path)
    name = str(path)
    text = _read_text(path)
    try:
        loader = _Loader(text)  # the reader checks every character here
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            f"{name}, line {line}: the control character U+{exc.character:04X} is not allowed in YAML; "
            f"remove it (or write it as \"\\u{exc.character:04x}\" inside double quotes)"
        ) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise _syntax_error(name, text, exc) from None
        except RecursionError:  # PyYAML composes nested values recursively
            raise ConfigError(f"{name}: values nested too deeply (lists or mappings inside each other "
                              "hundreds of levels deep)") from None
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith(":null")):
            raise ConfigError(f"{name}: the file is empty; expected keys such as 'structures:'")
        if not isinstance(node, yaml.MappingNode):
            kind = "a list" if isinstance(node, yaml.SequenceNode) else f"the value {node.value!r}"
            raise ConfigError(
                f"{name}, line {node.start_mark.line + 1}: the top level must be a mapping "
                f"of keys ('key: value' lines), got {kind}"
            )
        _check_expansion(node, name)
        locations: dict[KeyPath, int] = {(): 1}
        data = _walk(loader, node, (), locations, name)
    finally:
        loader.dispose()
    return data, locations


# ----------------------------------------------------------------------------- validation


def _one_of(choices: list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _expected(err: dict) -> str:
    """The 'expected ...' part of a message for one pydantic error."""
    t, ctx = err["type"], err.get("ctx") or {}
    simple = {
        "float_type": "expected a number",
        "float_parsing": "expected a number",
        "finite_number": "expected a finite number",
        "int_type": "expected an integer",
        "int_parsing": "expected an integer",
        "int_from_float": "expected an integer",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
        "string_type": "expected text",
        "list_type": "expected a list",
        "dict_type": "expected a mapping (key: value)",
        "model_type": "expected a mapping (key: value)",
        "model_attributes_type": "expected a mapping (key: value)",
        "path_type": "expected a path",
    }
    if t in simple:
        return simple[t]
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if t in bounds:
        limit = next(iter(ctx.values()), "?")
        kind = "an integer" if isinstance(limit, int) and not isinstance(limit, bool) else "a number"
        return f"expected {kind} {bounds[t]} {_num(limit)}"
    if t == "too_short":
        n = ctx.get("min_length", 1)
        return f"expected at least {n} item{'s' if n != 1 else ''}"
    if t == "too_long":
        n = ctx.get("max_length")
        return f"expected at most {n} item{'s' if n != 1 else ''}"
    if t == "literal_error":
        return f"expected {ctx.get('expected', '')}"
    if t == "enum":
        return f"expected {ctx.get('expected', '')}"
    return err.get("msg", "invalid value")


def _map_loc(loc: tuple, data: Any, keep_last: bool) -> KeyPath:
    """Drop the parts of a pydantic error location that are not in the data (union tags)."""
    out: list = []
    cur = data
    for i, el in enumerate(loc):
        if isinstance(cur, dict) and el in cur:
            out.append(el)
            cur = cur[el]
        elif isinstance(cur, list) and isinstance(el, int) and 0 <= el < len(cur):
            out.append(el)
            cur = cur[el]
        elif keep_last and i == len(loc) - 1:
            out.append(el)
            cur = None
        # else: a union tag such as 'chebyshev' or '[key]' -> skipped
    return tuple(out)


def _line_of(path: KeyPath, locations: Mapping[KeyPath, int] | None) -> int | None:
    if not locations:
        return None
    for n in range(len(path), -1, -1):
        if path[:n] in locations:
            return locations[path[:n]]
    return None


def _discriminator(ctx: dict) -> str:
    """The key holding a union's tag; callable discriminators read 'type'."""
    disc = str(ctx.get("discriminator", "type")).strip("'")
    return disc if disc.isidentifier() else "type"


def _section_at(path: KeyPath, data: Any) -> Any:
    cur = data
    for el in path:
        cur = cur[el]
    return cur


def _error_line(err: dict, data: Any, name: str, locations, sections: Mapping[int, type]) -> str:
    t = err["type"]
    loc = tuple(err.get("loc", ()))
    ctx = err.get("ctx") or {}
    if t == "missing":
        section = _map_loc(loc[:-1], data, keep_last=False)
        key = loc[-1]
        where = format_key_path(section) or "top level"
        return f"{_where(name, _line_of(section, locations))}: {where}: missing required key '{key}'"
    if t == "union_tag_not_found":
        path = _map_loc(loc, data, keep_last=False)
        disc = _discriminator(ctx)
        return f"{_where(name, _line_of(path, locations))}: {format_key_path(path)}: missing required key {disc!r}"
    if t == "union_tag_invalid":
        path = _map_loc(loc, data, keep_last=False)
        disc = _discriminator(ctx)
        sub = path + (disc,)
        tags = [tag.strip().strip("'") for tag in str(ctx.get("expected_tags", "")).split(",")]
        return (
            f"{_where(name, _line_of(sub, locations))}: {format_key_path(sub)}: "
            f"expected {_one_of(tags)}, got {ctx.get('tag')!r}"
        )
    if t == "value_error" and isinstance(ctx.get("error"), SectionError):
        exc = ctx["error"]
        path = _map_loc(loc, data, keep_last=False) + exc.path
        key = format_key_path(path)
        return f"{_where(name, _line_of(path, locations))}: {key + ': ' if key else ''}{exc.message}"
    path = _map_loc(loc, data, keep_last=(t == "extra_forbidden"))
    key = format_key_path(path)
    if t == "extra_forbidden":
        key_name = str(path[-1]) if path else "?"
        section_cls = sections.get(id(_section_at(path[:-1], data))) if path else None
        message = unknown_key_message(section_cls, key_name) if section_cls else f"unknown key '{key_name}'"
    elif t in ("value_error", "assertion_error"):
        message = str(ctx.get("error") or err.get("msg", ""))
    else:
        message = f"{_expected(err)}, got {_describe(err.get('input'))}"
        if isinstance(err.get("input"), bool) and t == "string_type":
            message += " (write it in quotes if it is text, e.g. 'No')"
    return f"{_where(name, _line_of(path, locations))}: {key + ': ' if key else ''}{message}"


def format_validation_error(
    exc: ValidationError,
    data: Any,
    name: str,
    locations: Mapping[KeyPath, int] | None = None,
    sections: Mapping[int, type] | None = None,
) -> str:
    """One line per pydantic error (at most :data:`MAX_ERROR_LINES`), naming file, line and key.

    ``sections`` maps ``id(input mapping)`` to the section class that validated it
    (recorded in the validation context by :class:`~anncli.config.base.Section`); it
    gives unknown keys their did-you-mean hint.
    """
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        line = _error_line(err, data, name, locations, sections or {})
        if line not in lines:
            lines.append(line)
    if len(lines) > MAX_ERROR_LINES:
        rest = len(lines) - MAX_ERROR_LINES
        lines = lines[:MAX_ERROR_LINES] + [f"... and {rest} more error{'s' if rest > 1 else ''} in {name}"]
    return "\n".join(lines)


def validate_config(
    data: Mapping[str, Any],
    model_cls: type[M],
    *,
    source: str | Path = "<input>",
    locations: Mapping[KeyPath, int] | None = None,
    base_dir: str | Path | None = None,
) -> M:
    """Validate plain data (from YAML or an ænet input file) against a schema.

    Parameters
    ----------
    data : mapping
        The input values.
    model_cls : type of pydantic BaseModel
        The stage schema, e.g. :class:`anncli.config.generate.GenerateConfig`.
    source : str or Path
        File name used in messages.
    locations : mapping, optional
        Line number of every key path (from :func:`load_yaml`); messages omit the
        line when not given.
    base_dir : str or Path, optional
        Directory that relative :data:`~anncli.config.base.InputPath` values are
        resolved against.

    Raises
    ------
    ConfigError
        With one line per problem.
    """
    context = {"base_dir": Path(base_dir) if base_dir is not None else None, "source": str(source)}
    try:
        return model_cls.model_validate(data, context=context)
    except ValidationError as exc:
        sections = context.get(SECTIONS_KEY, {})
        raise ConfigError(format_validation_error(exc, data, str(source), locations, sections)) from None


def _apply_overrides(data: dict, overrides: Mapping[str, Any], locations: dict) -> None:
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        cur = data
        for k in keys[:-1]:
            nxt = cur.get(k)
            if not isinstance(nxt, dict):
                nxt = cur[k] = {}
            cur = nxt
        cur[keys[-1]] = value
        locations.pop(tuple(keys), None)  # no line: the value came from the command line


def load_config(path: str | Path, model_cls: type[M], *, overrides: Mapping[str, Any] | None = None) -> M:
    """Read a YAML input file and validate it against a stage schema.

    Parameters
    ----------
    path : str or Path
        The YAML input file.  Relative paths inside it are resolved against its
        directory (see :data:`~anncli.config.base.InputPath`).
    model_cls : type of pydantic BaseModel
        The schema, e.g. :class:`~anncli.config.generate.GenerateConfig`.
    overrides : mapping of str -> value, optional
        Values replacing (or adding) keys after reading, by dotted key path, e.g.
        ``{"output": "/abs/out.h5", "n_threads": 4}``.  They are validated like the
        file's values; give path values absolute (they are not relative to the file).

    Returns
    -------
    model_cls instance

    Raises
    ------
    ConfigError
        On any problem, with the file, the line, the key, what was expected and what
        was given.
    """
    path = Path(path)
    data, locations = load_yaml(path)
    if overrides:
        _apply_overrides(data, overrides, locations)
    config = validate_config(data, model_cls, source=path, locations=locations, base_dir=path.resolve().parent)
    logger.debug("read %s (%s)", path, model_cls.__name__)
    return config
