"""Bad input files: exit 2, one message naming the file and line/key, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOOD = (REPO / "example_inputs" / "generate.yaml").read_text()


def snapshot(path: Path) -> set:
    return {p.relative_to(path) for p in path.rglob("*")}


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based number of the line holding the nth occurrence of ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def _cases() -> dict:
    dup = GOOD.replace("overwrite: false", "overwrite: false\noutput: other.h5")
    tab = GOOD.replace("  Au: 0.0", "\tAu: 0.0")
    wrong = GOOD.replace("min_distance: 0.1", "min_distance: [0.1]")
    neg = GOOD.replace("cutoff: 6.0", "cutoff: -6.0")
    unknown = GOOD.replace("max_force: null", "max_forse: null")
    syntax = GOOD.replace("{cutoff: 4.0, order: 4}", "{cutoff: 4.0, order: 4")
    return {
        "missing file": (None, [r"gen.yaml: no such file"]),
        "empty file": ("", [r"gen.yaml: the file is empty"]),
        "duplicate key": (
            dup,
            [
                rf"gen.yaml, line {line_of(dup, 'output:', 2)}: duplicate key 'output'",
                rf"first given on line {line_of(dup, 'output:', 1)}",
            ],
        ),
        "tab indentation": (
            tab,
            [rf"gen.yaml, line {line_of(tab, chr(9) + 'Au')}: tab character used for indentation; YAML needs spaces"],
        ),
        "wrong type": (
            wrong,
            [rf"gen.yaml, line {line_of(wrong, 'min_distance')}: min_distance: expected a number, got a list"],
        ),
        "negative cutoff": (
            neg,
            [rf"gen.yaml, line {line_of(neg, 'cutoff: -6.0')}: descriptors.default.radial.cutoff: expected a number > 0, got -6"],
        ),
        "unknown key": (
            unknown,
            [rf"gen.yaml, line {line_of(unknown, 'max_forse')}: max_forse: unknown key 'max_forse'; did you mean 'max_force'\?"],
        ),
        "syntax error": (syntax, [r"gen.yaml, line \d+: YAML syntax error"]),
    }


BAD_INPUTS = _cases()


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_generate_input(invoke, tmp_path, case):
    import re

    text, patterns = BAD_INPUTS[case]
    if text is not None:
        (tmp_path / "gen.yaml").write_text(text)
    before = snapshot(tmp_path)
    result = invoke("generate", "gen.yaml")
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert err.startswith("anncli: error: gen.yaml")
    for pattern in patterns:
        assert re.search(pattern, err), err
    assert "Traceback" not in result.output
    assert len(err.strip().splitlines()) <= 2
    assert result.stdout == ""
    assert snapshot(tmp_path) == before


def test_usage_errors_exit_2(invoke):
    result = invoke("frobnicate")
    assert result.exit_code == 2 and "No such command" in result.stderr
    result = invoke("generate")
    assert result.exit_code == 2 and "Missing argument 'CONFIG'" in result.stderr
