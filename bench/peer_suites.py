"""Read other Fountain parsers' test cases and expected outputs as one kind of unit each.

Three suites live under ``../shared/corpus/peer-tests/`` (their README says how they may be used:
from ``bench/`` only, never copied into this repository):

- ``screenplain/``: ``X.fountain`` and screenplain's HTML rendering ``X.html`` (its ``X.fdx``,
  where there is one, carries the same elements, so only the HTML is read);
- ``jouvence/``: YAML documents ``{in, out}``, each ``out`` item a prefix-coded element;
- ``fountain-tools/``: ``X.fountain`` and ``X.txt``, one ``TYPE:"text"`` entry per element.

A case without an expected output (screenplain's title page, fountain-tools' append test) is
left out. Every expected element becomes :class:`Unit` objects, one per non-empty line of its
text, with our names for the kinds (``Unit.kind``) and the dual-dialogue flag.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path


@dataclass(frozen=True)
class Unit:
    """One line of one element, as a peer or we read it."""

    kind: str
    text: str
    dual: bool = False


@dataclass(frozen=True)
class Case:
    """One input and what the peer expects of it."""

    name: str
    source: str
    expected: list[Unit]


def units(kind: str, text: str, *, dual: bool = False) -> list[Unit]:
    """One unit per non-empty line of an element (a page break is one unit with no text)."""
    if kind == "page_break":
        return [Unit(kind, "", dual)]
    return [Unit(kind, line, dual) for line in text.splitlines() if line.strip()]


class _ScreenplainHtml(HTMLParser):
    """Screenplain's HTML: ``h6`` headings, ``hN`` sections, ``div.action``/``div.dialog``/…"""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Unit] = []
        self.open: list[tuple[str, str, bool]] = []  # open tags: name, class, whether a leaf
        self.kind: str | None = None  # the kind of the open leaf (the element being read)
        self.text: list[str] = []
        self.skip = 0  # inside a scene-number span

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        css = dict(attrs).get("class") or ""
        if tag == "br":
            self.text.append("\n")
            return
        if "page-break" in css.split():
            self.found.append(Unit("page_break", ""))
        leaf = False
        if tag == "span" and css.startswith("scnum"):
            self.skip += 1
        elif self.kind is None:
            self.kind = self._leaf(tag, css, " ".join(c for _, c, _ in self.open))
            leaf = self.kind is not None
        self.open.append((tag, css, leaf))

    @staticmethod
    def _leaf(tag: str, css: str, outer: str) -> str | None:
        if tag == "h6":
            return "heading"
        if re.fullmatch(r"h[1-5]", tag):
            return "section"
        if tag == "span" and css.endswith("-synopsis"):
            return "synopsis"
        if tag == "div" and css == "transition":
            return "transition"
        if tag == "p" and "action" in outer:
            return "centered" if "centered" in outer else "action"
        if tag == "p" and ("dialog" in outer or "dual" in outer):
            return css if css in ("character", "parenthetical") else "dialogue"
        return None

    def handle_endtag(self, tag: str) -> None:
        if all(name != tag for name, _, _ in self.open):
            return  # ``<br/>`` (and any stray end tag) closes nothing
        while self.open:
            name, css, leaf = self.open.pop()
            if name == "span" and css.startswith("scnum"):
                self.skip -= 1
            elif leaf and self.kind is not None:
                dual = any("dual" in c.split() for _, c, _ in self.open)
                self.found.extend(units(self.kind, "".join(self.text), dual=dual))
                self.kind, self.text = None, []
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.kind is not None and not self.skip:
            self.text.append(data.replace("\xa0", " "))


def screenplain_cases(folder: Path) -> Iterator[Case]:
    """Each ``X.fountain`` that has an ``X.html``."""
    for source in sorted(folder.glob("*.fountain")):
        html = source.with_suffix(".html")
        if html.exists():
            parser = _ScreenplainHtml()
            parser.feed(html.read_text(encoding="utf-8"))
            yield Case(source.stem, source.read_bytes().decode("utf-8"), parser.found)


#: Jouvence's prefixes, longest first.
JOUVENCE_PREFIXES = (
    ("<pagebreak>", "page_break"),
    ("!><", "centered"),
    ("!", "action"),
    (".", "heading"),
    ("@", "character"),
    ("=", "dialogue"),
    ("_", "parenthetical"),
    (">", "transition"),
    ("~", "lyrics"),
    ("#", "section"),
    ("+", "synopsis"),
)


def jouvence_unit(item: str) -> list[Unit]:
    """Units of one prefix-coded ``out`` item (``"@JOHN"`` is a cue, ``"!"`` an empty action)."""
    for prefix, kind in JOUVENCE_PREFIXES:
        if item.startswith(prefix):
            rest = item[len(prefix) :]
            return units(kind, rest.lstrip("#") if kind == "section" else rest)
    return units("action", item)


def _scalar(value: str) -> str:
    """A quoted YAML scalar on one line (double quotes escape like JSON, single quotes double up)."""
    value = value.strip()
    if value.startswith('"'):
        return str(json.loads(value))
    if value.startswith("'"):
        return value[1:-1].replace("''", "'")
    return value


def _block(lines: list[str], start: int) -> tuple[str, int]:
    """A ``|`` literal block from ``lines[start]`` on: its text (one final line break) and end."""
    indent = None
    body: list[str] = []
    index = start
    while index < len(lines):
        line = lines[index]
        if line.strip():
            width = len(line) - len(line.lstrip(" "))
            indent = width if indent is None else indent
            if width < indent:
                break
            body.append(line[indent:])
        else:
            body.append(line[indent:] if indent is not None and len(line) > indent else "")
        index += 1
    while body and not body[-1]:
        body.pop()
    return "\n".join(body) + "\n" if body else "", index


def read_yaml_cases(text: str) -> list[tuple[str, list[str]]]:
    """The ``(in, out)`` pairs of a Jouvence case file.

    Reads only the YAML these files use (``---`` documents; ``in:`` as a quoted scalar or a
    ``|`` block; ``out:`` as ``[]`` or a list of quoted scalars; other keys skipped): PyYAML is a
    test-only dependency, and the bench must run with the product's dependencies.
    """
    cases: list[tuple[str, list[str]]] = []
    for document in re.split(r"^---[ \t]*$", text, flags=re.MULTILINE)[1:]:
        lines = document.split("\n")
        source: str | None = None
        out: list[str] = []
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            if line.startswith("in:"):
                value = line[3:].strip()
                source, index = _block(lines, index) if value == "|" else (_scalar(value), index)
            elif line.startswith("out:"):
                while index < len(lines) and lines[index].lstrip().startswith("- "):
                    out.append(_scalar(lines[index].lstrip()[2:]))
                    index += 1
        if source is not None:
            cases.append((source, out))
    return cases


def jouvence_cases(folder: Path) -> Iterator[Case]:
    """Each YAML document of each ``test_*.yaml``, named ``file:number``."""
    for path in sorted(folder.glob("test_*.yaml")):
        for number, (source, out) in enumerate(read_yaml_cases(path.read_text(encoding="utf-8")), 1):
            expected = [unit for item in out for unit in jouvence_unit(item)]
            yield Case(f"{path.stem}:{number}", source, expected)


#: ``TYPE:"text"`` with flags after it (``ACTION:"…" (centered)``); text may span lines.
TOOLS_ENTRY_RE = re.compile(r'^([A-Z_]+):"(.*?)"((?: \([^)\n]*\))*)[ \t]*$(?=\n[A-Z_]+:"|\n?\Z)', re.M | re.S)
TOOLS_KINDS = {"LYRIC": "lyrics", "LYRICS": "lyrics", "PAGEBREAK": "page_break", "HEADING": "heading"}


def fountain_tools_cases(folder: Path) -> Iterator[Case]:
    """Each ``X.fountain`` that has an ``X.txt``."""
    for source in sorted(folder.glob("*.fountain")):
        listing = source.with_suffix(".txt")
        if not listing.exists():
            continue
        expected: list[Unit] = []
        for kind, text, flags in TOOLS_ENTRY_RE.findall(listing.read_text(encoding="utf-8")):
            ours = TOOLS_KINDS.get(kind, kind.lower())
            ours = "centered" if "(centered)" in flags else ours
            expected.extend(units(ours, text, dual="(dual)" in flags))
        yield Case(source.stem, source.read_bytes().decode("utf-8"), expected)
