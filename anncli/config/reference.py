"""Markdown reference tables of the input-file schemas (the one place defaults are documented).

``config_reference(GenerateConfig)`` walks the pydantic model tree and renders one row
per key: key path, type, default and the ``Field(description=...)`` text.  docs/input-reference.md
is generated from it by scripts/make_input_reference.py (``python -m anncli.config.reference generate``).
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["config_reference"]

_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


def _strip(tp: Any) -> tuple[Any, list]:
    """Remove Annotated layers; return (inner type, collected metadata)."""
    meta: list = []
    while typing.get_origin(tp) is typing.Annotated:
        args = typing.get_args(tp)
        tp, meta = args[0], meta + list(args[1:])
    return tp, meta


def _constraints(meta: list) -> str:
    out = []
    for m in meta:
        if isinstance(m, FieldInfo):
            out.append(_constraints(m.metadata))
            continue
        for attr, sym in _BOUNDS.items():
            val = getattr(m, attr, None)
            if isinstance(m, annotated_types.BaseMetadata) and val is not None:
                out.append(f"{sym} {val:g}" if isinstance(val, float) else f"{sym} {val}")
        if isinstance(m, annotated_types.MinLen) and m.min_length > 0:
            out.append("non-empty")
    return ", ".join(o for o in out if o)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _tag_field(tp: Any) -> tuple[str, str] | None:
    """(key, value) of a section's single-value Literal field (its union tag), if any."""
    tp, _ = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            ann, _ = _strip(info.annotation)
            if typing.get_origin(ann) is Literal and len(typing.get_args(ann)) == 1:
                return info.alias or name, str(typing.get_args(ann)[0])
    return None


def _tag(tp: Any) -> str | None:
    tag = _tag_field(tp)
    return f"{tag[0]} {tag[1]}" if tag else None


def _type_name(tp: Any, meta: list | None = None) -> str:
    tp, inner_meta = _strip(tp)
    meta = (meta or []) + inner_meta
    cons = _constraints(meta)
    suffix = f" ({cons})" if cons else ""
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tags = [_tag(a) for a in args]
        if len(args) > 1 and all(tags):
            key = tags[0].split()[0]
            return f"section ({key} " + " | ".join(t.split(maxsplit=1)[1] for t in tags) + ")" + suffix
        nullable = len(args) < len(typing.get_args(tp))
        names = " | ".join(_type_name(a) for a in args)
        return names + suffix + (" or null" if nullable else "")
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(str(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return f"list of {_type_name(item)}{suffix}"
    if origin is dict:
        _, value = typing.get_args(tp)
        return f"mapping of {_type_name(value)}{suffix}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "section"
    name = {float: "number", int: "integer", bool: "true/false", str: "text", Path: "path"}.get(tp)
    return (name or getattr(tp, "__name__", str(tp))) + suffix


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        return "see below"
    value = info.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is PydanticUndefined:
        return ""
    return str(value)


def _models_in(tp: Any) -> list[type[BaseModel]]:
    """The section models reachable from a field type (through Optional, list, dict, unions)."""
    tp, _ = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out: list = []
    for arg in typing.get_args(tp):
        out.extend(_models_in(arg))
    return out


def _key_suffix(tp: Any) -> str:
    tp, _ = _strip(tp)
    if _is_union(tp):
        non_null = [a for a in typing.get_args(tp) if a is not type(None)]
        return _key_suffix(non_null[0]) if len(non_null) == 1 else ""
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "[]"
    if origin is dict:
        return ".<key>"
    return ""


def _rows(model: type[BaseModel], prefix: str, note: str, rows: list) -> None:
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}.{key}" if prefix else key
        desc = (info.description or "").replace("|", "\\|").replace("\n", " ")
        type_name = _type_name(info.annotation, list(info.metadata)).replace("|", "\\|")
        rows.append((f"`{path}`", type_name, f"`{_default(info)}`", (note + desc).strip()))
        sub_models = _models_in(info.annotation)
        sub_prefix = path + _key_suffix(info.annotation)
        if path.endswith("descriptors"):
            sub_prefix = path + ".<species>"
        for sub in sub_models:
            tag = _tag(sub)
            sub_note = note
            if len(sub_models) > 1 and tag is not None:
                sub_note = f"{note}[{tag}] "
            _rows(sub, sub_prefix, sub_note, rows)


def config_reference(model_cls: type[BaseModel]) -> str:
    """Render a schema as a Markdown table: key path | type | default | description.

    Parameters
    ----------
    model_cls : type of pydantic BaseModel
        A stage schema such as :class:`~anncli.config.generate.GenerateConfig`.

    Returns
    -------
    str
        Markdown: a header line, a separator and one row per key (nested sections as
        dotted paths; ``[]`` marks list items, ``<species>``/``<key>`` mapping keys).
    """
    rows: list[tuple[str, str, str, str]] = []
    _rows(model_cls, "", "", rows)
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    lines += [f"| {k} | {t} | {d} | {desc} |" for k, t, d, desc in rows]
    return "\n".join(lines) + "\n"


def _main(argv: list[str]) -> int:
    import importlib

    stage = argv[0] if argv else "generate"
    module = importlib.import_module(f"anncli.config.{stage}")
    cls = getattr(module, f"{stage.capitalize()}Config")
    sys.stdout.write(config_reference(cls))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
