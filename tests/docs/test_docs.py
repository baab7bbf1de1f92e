"""Documentation that cannot go stale: the generated input reference, the commented examples
and the man pages are checked against the schemas and against groff.

* docs/input-reference.md is exactly what scripts/make_input_reference.py writes now;
* every key of every stage schema (and every choice of a fixed-choice key) appears in the
  stage's commented example in example_inputs/;
* every example input file validates against its stage's schema;
* every man page renders without groff warnings, and anncli(1) refers to every other page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import pytest
from pydantic import BaseModel
from script_module import load_script

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "example_inputs"
MAN = REPO / "anncli" / "man"
SCRIPT = REPO / "scripts" / "make_input_reference.py"
REGEN = ".venv/bin/python scripts/make_input_reference.py"


def _load_script() -> types.ModuleType:
    return load_script(SCRIPT)


_SCRIPT = _load_script()
STAGE_SCHEMAS = dict(_SCRIPT.available_stages())


# ----------------------------------------------------------------------------- (a) reference
def test_input_reference_is_up_to_date():
    doc = REPO / "docs" / "input-reference.md"
    assert doc.is_file(), f"docs/input-reference.md is missing; run: {REGEN}"
    assert doc.read_text(encoding="utf-8") == _SCRIPT.render(), (
        f"docs/input-reference.md differs from the schemas in anncli/config/; run: {REGEN} "
        "and commit the result")


def test_readme_key_tables_are_up_to_date():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert _SCRIPT.updated_readme(readme) == readme, (
        f"the README's input-key tables differ from the schemas; run: {REGEN} and commit the result")
    for stage in STAGE_SCHEMAS:  # top-level keys only; nested ones are in docs/input-reference.md
        assert f"**`anncli {stage}`**" in readme
    assert "| `structures` |" in readme and "| `units.energy` |" not in readme


def test_input_reference_has_a_section_per_schema():
    text = _SCRIPT.render()
    assert "generate" in STAGE_SCHEMAS and "train" in STAGE_SCHEMAS
    for stage in STAGE_SCHEMAS:
        assert f"## `anncli {stage}`" in text
    # the dotted key column of the train table lists a nested key of a union variant
    assert "| `optimizer.schedule.kind` |" in text


# ----------------------------------------------------------------------------- (b) examples
def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _key_names(model: type[BaseModel]) -> set[str]:
    """Every key name of a schema (aliases as written in files), from the reference table."""
    from anncli.config.reference import config_reference

    names: set[str] = set()
    for line in config_reference(model).splitlines()[2:]:
        path = line.split("`")[1]
        for part in path.split("."):
            part = part.replace("[]", "")
            if part and not part.startswith("<"):
                names.add(part)
    return names


def _choices(model: type[BaseModel], out: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """key name -> the values of every fixed-choice (Literal) key in the schema tree."""
    out = {} if out is None else out
    for name, info in model.model_fields.items():
        stack = [info.annotation]
        while stack:
            tp = _strip(stack.pop())
            if typing.get_origin(tp) is Literal:
                out.setdefault(info.alias or name, set()).update(map(str, typing.get_args(tp)))
            elif isinstance(tp, type) and issubclass(tp, BaseModel):
                _choices(tp, out)
            elif typing.get_origin(tp) in (Union, types.UnionType, list, tuple, dict):
                stack.extend(typing.get_args(tp))
    return out


def _has_key(text: str, key: str) -> bool:
    """``key:`` as a YAML key, in block or flow style, commented out or not."""
    return re.search(rf"(?<![\w-]){re.escape(key)}\s*:", text) is not None


@pytest.mark.parametrize("stage", sorted(STAGE_SCHEMAS))
def test_example_shows_every_key(stage):
    example = EXAMPLES / f"{stage}.yaml"
    assert example.is_file(), f"example_inputs/{stage}.yaml is missing: every stage with a schema has one"
    text = example.read_text(encoding="utf-8")
    missing = sorted(k for k in _key_names(STAGE_SCHEMAS[stage]) if not _has_key(text, k))
    assert not missing, (f"example_inputs/{stage}.yaml does not show the key(s) {missing} "
                         "(add them, commented out if need be)")


@pytest.mark.parametrize("stage", sorted(STAGE_SCHEMAS))
def test_example_shows_every_choice(stage):
    example = EXAMPLES / f"{stage}.yaml"
    assert example.is_file(), f"example_inputs/{stage}.yaml is missing: every stage with a schema has one"
    text = example.read_text(encoding="utf-8")
    missing = []
    for key, values in _choices(STAGE_SCHEMAS[stage]).items():
        for value in sorted(values):
            if len(values) == 1:  # a union tag: 'method: adam', 'type: behler2011'
                found = re.search(rf"(?<![\w-]){re.escape(key)}\s*:\s*{re.escape(value)}\b", text)
            else:
                found = re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", text)
            if not found:
                missing.append(f"{key}: {value}")
    assert not missing, f"example_inputs/{stage}.yaml does not mention {missing}"


def test_key_helpers_see_nested_and_aliased_keys():
    from anncli.config.train import TrainConfig

    names = _key_names(TrainConfig)
    assert {"lambda", "min_lr", "hidden", "patience"} <= names and "lambda_" not in names
    assert _choices(TrainConfig)["method"] == {"lbfgs", "adam", "sgd", "ekf"}
    assert not _has_key("# lambda0: 0.999", "lambda") and _has_key("#   lambda: 0.99", "lambda")
    assert _has_key("radial: {cutoff: 6.0, order: 10}", "order")


# ----------------------------------------------------------------------------- (c) validity
def _example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _stage_of(path: Path) -> str | None:
    """The stage from the file name (train.yaml, train-fast.yaml) or a leading comment
    naming ``anncli <stage>``."""
    for stage in _SCRIPT.STAGES:
        if re.fullmatch(rf"{stage}([-_.].*)?", path.stem):
            return stage
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        m = re.search(rf"\banncli\s+({'|'.join(_SCRIPT.STAGES)})\b", line)
        if m:
            return m.group(1)
    return None


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_validates(path):
    from anncli.config.loader import load_config

    stage = _stage_of(path)
    assert stage is not None, (f"{path.relative_to(REPO)}: cannot tell the stage; name the file "
                               "after it (train.yaml, train-adam.yaml) or start it with a "
                               "comment '# anncli <stage>: ...'")
    assert stage in STAGE_SCHEMAS, f"{path.relative_to(REPO)}: the stage {stage} has no input schema to check it with"
    # Structure paths are only expanded at run time and InputPath values are resolved
    # against the file's directory without checking that they exist, so the example data
    # need not have been generated.
    config = load_config(path, STAGE_SCHEMAS[stage])
    assert isinstance(config, STAGE_SCHEMAS[stage])


def test_examples_found():
    names = {p.relative_to(EXAMPLES).as_posix() for p in _example_files()}
    assert {"generate.yaml", "train.yaml", "cu-au/generate.yaml", "cu-au/train.yaml"} <= names


# ----------------------------------------------------------------------------- (d) man pages
MAN_PAGES = sorted(MAN.glob("*.[1-8]"))


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
@pytest.mark.parametrize("page", MAN_PAGES, ids=lambda p: p.name)
def test_man_page_renders_without_warnings(page):
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and not proc.stderr.strip(), \
        f"groff -man -ww on man/{page.name}:\n{proc.stderr}"


def test_anncli_page_refers_to_every_page():
    main = (MAN / "anncli.1").read_text(encoding="utf-8")
    for page in MAN_PAGES:
        if page.name == "anncli.1":
            continue
        name = page.stem.replace("-", r"\-")
        assert f".BR {name} (1)" in main, f"man/anncli.1 does not refer to {page.stem}(1)"
