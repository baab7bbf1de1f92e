"""The man pages shipped inside the package and a plain-text renderer for ``anncli help``.

The pages are ``anncli/man/*.1`` (package data, so they are found after ``pip install .``
and ``pip install -e .`` alike; ``pip install .`` also puts them in the environment's
``share/man/man1`` for ``man anncli``).  :func:`render` turns the subset of the ``man``
macros the pages use (``.TH .SH .SS .PP .TP .IP .RS .RE .nf .fi .br .sp``, the font macros
``.B .I .BR .RB .IR .RI .BI .IB`` and the escapes ``\\f \\- \\( \\& \\e \\ ``) into plain text,
so that no groff is needed.  tests/docs/test_docs.py checks the pages with groff.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

__all__ = ["MAN_DIR", "page_names", "page_path", "render"]

#: Where the pages live (inside the package).
MAN_DIR = Path(__file__).resolve().parents[1] / "man"

_INDENT = 7  # man's default paragraph and .TP indent
_NBSP = "\u00a0"  # an escaped space: never broken, printed as a space
_SPECIAL = {
    "ae": "æ", "mu": "×", "ha": "^", "oA": "Å", "->": "→", "<-": "←", "*S": "Σ", "dq": '"',
    ">=": "≥", "<=": "≤", "ti": "~", "aq": "'", "en": "–", "em": "—", "bu": "•", "co": "©",
    "de": "°", "+-": "±", "mc": "µ", "rs": "\\", "lq": "“", "rq": "”", "hy": "-",
    "*a": "α", "*b": "β", "*g": "γ", "*d": "δ", "*D": "Δ", "*e": "ε", "*l": "λ", "*m": "μ", "*s": "σ",
}
_ESCAPE = re.compile(r"\\(\((..)|\[([^\]]*)\]|f(\(..|\[[^\]]*\]|.)|(.))")


def page_names() -> list[str]:
    """Topics with a page: ``anncli`` and the commands (``generate``, ``train``, ...)."""
    names = sorted(p.stem for p in MAN_DIR.glob("*.1"))
    return [n.removeprefix("anncli-") if n != "anncli" else n for n in names]


def page_path(topic: str | None) -> Path | None:
    """The page of ``topic`` (None or ``anncli``: the main page), or None if there is none."""
    stem = "anncli" if topic in (None, "", "anncli") else f"anncli-{topic}"
    path = MAN_DIR / f"{stem}.1"
    return path if path.is_file() else None


def _unescape(text: str) -> str:
    def sub(m: re.Match) -> str:
        two, bracket, _font, single = m.group(2), m.group(3), m.group(4), m.group(5)
        if two is not None:
            return _SPECIAL.get(two, two)
        if bracket is not None:
            return _SPECIAL.get(bracket, bracket)
        if _font is not None:
            return ""
        return {"-": "-", "&": "", "e": "\\", " ": _NBSP, "~": _NBSP, "|": "", "^": "", "c": "",
                "\\": "\\", "'": "'", "`": "`", ".": "."}.get(single, single)

    text = re.sub(r'\\".*$', "", text)  # comment to the end of the line
    return _ESCAPE.sub(sub, text)


def _args(text: str) -> list[str]:
    """Macro arguments: blank-separated, double quotes group (``""`` is a literal quote)."""
    out, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        if text[i] == '"':
            i += 1
            buf = []
            while i < n:
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(text[i])
                i += 1
            out.append("".join(buf))
        else:
            j = i
            while j < n and text[j] not in " \t":
                j += 2 if text[j] == "\\" else 1  # an escaped blank does not end the argument
            j = min(j, n)
            out.append(text[i:j])
            i = j
    return out


def _wrap(text: str, width: int) -> list[str]:
    # never split a word (file names, options such as --log-file, docs/input-reference.md)
    return textwrap.wrap(text, max(20, width), break_long_words=False, break_on_hyphens=False)


class _Text:
    """Output lines with man's layout: margins, filled paragraphs, hanging tags."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.lines: list[str] = []
        self.margin = _INDENT  # left margin of the section text (moved by .RS/.RE)
        self.stack: list[int] = []
        self.indent = _INDENT  # indent of the current paragraph body
        self.words: list[str] = []
        self.tag: str | None = None  # .TP/.IP tag printed before the next paragraph
        self.fill = True
        self.heading = -1  # index of the last section heading in lines

    def flush(self) -> None:
        if self.tag is not None:
            tag = self.tag
            start = self.indent - _INDENT
            if self.words and len(tag) < _INDENT - 1:  # short tag: body on the same line
                first = " " * start + tag.ljust(_INDENT)
                body = _wrap(" ".join(self.words), self.width - self.indent) or [""]
                self.lines.append(first + body[0])
                self.lines.extend(" " * self.indent + b for b in body[1:])
                self.words, self.tag = [], None
                return
            self.lines.append(" " * start + tag)
            self.tag = None
        if self.words:
            body = _wrap(" ".join(self.words), self.width - self.indent)
            self.lines.extend(" " * self.indent + b for b in body)
            self.words = []

    def blank(self) -> None:
        self.flush()
        if self.lines and self.lines[-1] != "" and self.heading != len(self.lines) - 1:
            self.lines.append("")

    def text(self, line: str) -> None:
        if self.fill:
            self.words.extend(line.split())
        else:
            self.flush()
            self.lines.append(" " * self.indent + line.rstrip())


_FONT_MACROS = {"B", "I", "SM", "SB", "BR", "RB", "IR", "RI", "BI", "IB"}


def render(source: str, width: int = 80) -> str:
    """Plain text of a man page written with the ``man`` macros.

    Parameters
    ----------
    source : str
        The roff source of the page.
    width : int
        Line width of the output (characters).

    Returns
    -------
    str
        The page as text: section headings at the left margin, paragraphs filled to
        ``width`` and indented as ``man`` does, no font changes.
    """
    out = _Text(width)
    expect_tag = False
    for raw in source.splitlines():
        if raw.startswith(('.\\"', "'\\\"")) or raw.strip() in (".", "'"):
            continue
        if raw.startswith((".", "'")):
            parts = raw[1:].lstrip().split(None, 1)
            if not parts:
                continue
            name, rest = parts[0], (parts[1] if len(parts) > 1 else "")
            args = [_unescape(a) for a in _args(rest)]
            if name in _FONT_MACROS:
                joined = " ".join(args) if name in ("B", "I", "SM", "SB") else "".join(args)
                if expect_tag:
                    out.tag, expect_tag = joined.replace(_NBSP, " "), False
                else:
                    out.text(joined)
            elif name == "TH":
                title = f"{args[0]}({args[1]})" if len(args) > 1 else (args[0] if args else "")
                manual = args[4] if len(args) > 4 else ""
                gap = max(2, width - 2 * len(title) - len(manual))
                out.lines.append(title + " " * (gap // 2) + manual + " " * (gap - gap // 2) + title)
            elif name in ("SH", "SS"):
                out.blank()
                out.margin = out.indent = _INDENT
                out.stack.clear()
                out.fill = True
                out.lines.append(("" if name == "SH" else "   ") + " ".join(args).replace(_NBSP, " "))
                out.heading = len(out.lines) - 1
            elif name in ("PP", "LP", "P"):
                out.blank()
                out.indent = out.margin
            elif name == "TP":
                out.blank()
                out.indent = out.margin + _INDENT
                expect_tag = True
            elif name == "IP":
                out.blank()
                out.indent = out.margin + _INDENT
                out.tag = args[0].replace(_NBSP, " ") if args and args[0] else None
            elif name == "RS":
                out.flush()
                out.stack.append(out.margin)
                out.margin = out.indent = out.margin + _INDENT
            elif name == "RE":
                out.flush()
                out.margin = out.indent = out.stack.pop() if out.stack else _INDENT
            elif name == "nf":
                out.flush()
                out.fill = False
            elif name == "fi":
                out.flush()
                out.fill = True
            elif name == "br":
                out.flush()
            elif name == "sp":
                out.blank()
            continue  # other requests do not change the text
        line = _unescape(raw)
        if expect_tag:
            out.tag, expect_tag = line.strip().replace(_NBSP, " "), False
        else:
            out.text(line)
    out.flush()
    while out.lines and out.lines[-1] == "":
        out.lines.pop()
    return "\n".join(line.replace(_NBSP, " ").rstrip() for line in out.lines) + "\n"
