"""``anncli help [COMMAND]``: the man pages shipped in the package, rendered as plain text."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from anncli.cli.manpage import MAN_DIR, page_names, page_path, render

PAGES = sorted(MAN_DIR.glob("*.1"))


def _topic(page) -> str:
    return "anncli" if page.stem == "anncli" else page.stem.removeprefix("anncli-")


def test_every_command_with_a_page_is_a_topic():
    assert PAGES, f"no man pages in {MAN_DIR}"
    assert {_topic(p) for p in PAGES} == set(page_names())
    assert {"anncli", "generate", "train", "predict", "validate", "info"} <= set(page_names())
    assert page_path(None) == page_path("anncli") == MAN_DIR / "anncli.1"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_help_prints_the_page_as_plain_text(invoke, page):
    result = invoke("help", _topic(page))
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text == render(page.read_text(encoding="utf-8"), width=80)
    lines = text.splitlines()
    assert lines[0].startswith(page.stem.upper() + "(1)")
    # every section heading of the source is a line of its own; no roff syntax is left
    headings = re.findall(r"^\.SH (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    assert [h.strip('"') for h in headings] == [l for l in lines if l and not l[0].isspace()][1:]
    assert not [l for l in lines if "\\" in l or l.startswith((".", "'"))]


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_rendering_has_the_words_groff_prints(page):
    """Same words in the same order as groff's own rendering (without its page footer)."""
    groff = subprocess.run(["groff", "-man", "-Tutf8", "-rHY=0", "-rcR=1", "-rLL=80n", "-P-cbou", str(page)],
                           capture_output=True, text=True, timeout=30, check=True).stdout
    groff = groff.translate({0x2010: "-", 0x2212: "-", 0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"'})
    body = groff.rstrip().splitlines()[:-1]  # the footer: version, date, title
    groff_words = re.sub(r"-\n\s*", "-", "\n".join(body)).split()  # a line broken after a hyphen
    ours = render(page.read_text(encoding="utf-8"), width=80).split()
    assert ours == groff_words


def test_help_without_a_command_is_the_main_page(invoke):
    result = invoke("help")
    assert result.exit_code == 0
    assert result.stdout == render((MAN_DIR / "anncli.1").read_text(encoding="utf-8"), width=80)


def test_help_for_a_command_without_a_page_lists_the_pages(invoke):
    result = invoke("help", "fit")
    assert result.exit_code == 2
    assert "no manual page for 'fit'" in result.stderr
    for name in page_names():
        assert name in result.stderr


def test_usage_points_to_anncli_help(invoke):
    result = invoke("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "'anncli help [COMMAND]'" in text
    assert "man anncli" not in text


def test_render_handles_the_man_macros():
    src = "\n".join([
        '.TH DEMO 1 "2025" "demo 1.0" "demo manual"',
        ".SH NAME",
        r"demo \- a \fBbold\fR and \fIitalic\fP word, \(ae \(mu 2",
        ".SH OPTIONS",
        ".TP",
        r'.BR \-n ", " \-\-dry\-run',
        "Do nothing.",
        ".IP 1.",
        "First step.",
        ".RS",
        ".nf",
        "  kept   as   is",
        ".fi",
        ".RE",
        ".PP",
        r".RI [ GLOBAL\ OPTIONS ]",
    ])
    text = render(src, width=60)
    header = text.splitlines()[0]
    assert len(header) == 60 and header.split() == ["DEMO(1)", "demo", "manual", "DEMO(1)"]
    assert text.splitlines()[1:] == [
        "",
        "NAME",
        "       demo - a bold and italic word, æ × 2",
        "",
        "OPTIONS",
        "       -n, --dry-run",
        "              Do nothing.",
        "",
        "       1.     First step.",
        "                kept   as   is",
        "",
        "       [GLOBAL OPTIONS]",
    ]
