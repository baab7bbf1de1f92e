"""YAML loading: line numbers, duplicate keys, tabs, syntax errors, empty files, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from anncli.config.base import InputPath, Section
from anncli.config.loader import load_config, load_yaml, validate_config
from anncli.exceptions import ConfigError, InputError


def write(tmp_path: Path, text: str, name: str = "in.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_locations_give_the_line_of_every_key(tmp_path):
    path = write(tmp_path, "a: 1\nb:\n  c: 2\n  d:\n    - x\n    - {e: 3}\n")
    data, loc = load_yaml(path)
    assert data == {"a": 1, "b": {"c": 2, "d": ["x", {"e": 3}]}}
    assert loc[("a",)] == 1
    assert loc[("b", "c")] == 3
    assert loc[("b", "d", 1)] == 6
    assert loc[("b", "d", 1, "e")] == 6


def test_safe_load_semantics_with_text_keys_and_yaml12_floats(tmp_path):
    path = write(tmp_path, "No: 1\nx: 1e-3\ny: 2.5E4\nz: yes\nbase: &b {p: 1}\nderived:\n  <<: *b\n  q: 2\n")
    data, _ = load_yaml(path)
    assert data["No"] == 1  # a key stays text (safe_load would give False)
    assert data["x"] == pytest.approx(1e-3) and isinstance(data["x"], float)
    assert data["y"] == pytest.approx(2.5e4)
    assert data["z"] is True
    assert data["derived"] == {"p": 1, "q": 2}


def test_duplicate_key_names_key_and_both_lines(tmp_path):
    path = write(tmp_path, "a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    msg = str(info.value)
    assert "in.yaml, line 5" in msg and "duplicate key 'c'" in msg and "line 3" in msg


def test_tab_indentation_has_its_own_message(tmp_path):
    path = write(tmp_path, "a:\n  b: 1\n  c:\n\t  d: 2\n")
    with pytest.raises(ConfigError, match=r"line 4: tab character used for indentation; YAML needs spaces"):
        load_yaml(path)


def test_syntax_error_is_one_line_with_file_and_line(tmp_path):
    path = write(tmp_path, "a: [1, 2\nb: 3\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}, line ") and "YAML syntax error" in msg and "\n" not in msg


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_empty_file(tmp_path, text):
    with pytest.raises(ConfigError, match="empty"):
        load_yaml(write(tmp_path, text))


@pytest.mark.parametrize("text, what", [("- a\n- b\n", "a list"), ("42\n", "42")])
def test_top_level_must_be_a_mapping(tmp_path, text, what):
    with pytest.raises(ConfigError, match=f"top level must be a mapping.*{what}"):
        load_yaml(write(tmp_path, text))


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nope.yaml: no such file"):
        load_yaml(tmp_path / "nope.yaml")


def test_unsafe_tag_is_rejected_with_line(tmp_path):
    path = write(tmp_path, "a: 1\nb: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="line 2: b:"):
        load_yaml(path)


class _Paths(Section):
    data: InputPath
    out: InputPath = "result.h5"


def test_input_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    sub = tmp_path / "runs" / "a"
    sub.mkdir(parents=True)
    path = write(sub, "data: ../shared/x.xsf\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Path("runs/a/in.yaml"), _Paths)
    assert cfg.data.is_absolute()
    assert cfg.data.resolve() == (tmp_path / "runs" / "shared" / "x.xsf").resolve()
    assert cfg.out.resolve() == (sub / "result.h5").resolve()  # defaults too
    absolute = write(sub, f"data: {tmp_path / 'abs.xsf'}\n", "abs.yaml")
    assert load_config(absolute, _Paths).data == tmp_path / "abs.xsf"
    assert path.exists()  # nothing moved or written


def test_input_path_without_context_stays_relative():
    cfg = _Paths.model_validate({"data": "x.xsf"})
    assert cfg.data == Path("x.xsf")


def test_input_path_rejects_non_text(tmp_path):
    with pytest.raises(ConfigError, match=r"line 1: data: expected a path \(text\), got 3"):
        load_config(write(tmp_path, "data: 3\n"), _Paths)


def test_overrides_replace_values(tmp_path):
    path = write(tmp_path, "data: a.xsf\nout: b.h5\n")
    cfg = load_config(path, _Paths, overrides={"out": str(tmp_path / "c.h5")})
    assert cfg.out == tmp_path / "c.h5"


def test_validate_config_without_locations_names_file_and_key():
    with pytest.raises(ConfigError, match=r"^generate.in: data: expected a path"):
        validate_config({"data": [1]}, _Paths, source="generate.in")


@pytest.mark.parametrize("text,line,fragment", [
    ("a: &a [1, *a]\n", 1, "refers to a value that contains it"),
    ("a: 1\nb: &b {c: *b}\n", 2, "refers to a value that contains it"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdef", "bcdefg")),
     6, "expand to more than 1,000,000 values"),
])
def test_recursive_and_exploding_aliases_are_config_errors(tmp_path, text, line, fragment):
    """A recursive alias was a RecursionError; 10**7 values through aliases hung validation."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"in\.yaml, line {line}: .*{fragment}"):
        load_yaml(path)


def test_shared_aliases_below_the_limit_still_load(tmp_path):
    path = write(tmp_path, "a: &a [1, 2]\nb: {x: *a, y: *a}\nc: [*a, *a]\n")
    data, _ = load_yaml(path)
    assert data == {"a": [1, 2], "b": {"x": [1, 2], "y": [1, 2]}, "c": [[1, 2], [1, 2]]}


def test_values_nested_too_deeply_are_a_config_error(tmp_path):
    path = write(tmp_path, "a: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ConfigError, match=r"in\.yaml: values nested too deeply"):
        load_yaml(path)


def test_control_character_names_its_line(tmp_path):
    """PyYAML's reader refuses control characters before parsing (was a yaml ReaderError)."""
    path = write(tmp_path, "a: 1\nb: x\x1fy\n")
    with pytest.raises(ConfigError, match=r"in\.yaml, line 2: the control character U\+001F is not allowed"):
        load_yaml(path)


@pytest.mark.parametrize("value,tag", [("!!float data/x", "float"), ("!!int 1.5", "int"),
                                       ("!!timestamp 2001-13-45", "timestamp"), ("!!bool maybe", "bool"),
                                       ("!!timestamp data", "timestamp")])
def test_explicit_tag_that_does_not_fit_names_key_and_line(tmp_path, value, tag):
    """An explicit tag on a value it does not fit was PyYAML's ValueError or KeyError."""
    path = write(tmp_path, f"a: 1\nb:\n  c: {value}\n")
    with pytest.raises(ConfigError, match=rf"in\.yaml, line 3: b\.c: the tag !!{tag} does not fit the value"):
        load_yaml(path)
