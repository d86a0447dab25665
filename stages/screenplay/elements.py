"""Read Fountain text as its elements (heading, action, cue, dialogue …) on the pipeline's own rules.

``fountain_elements`` follows the Fountain syntax (https://fountain.io/syntax): a heading and a
transition stand alone between blank lines, a cue has a blank line before it and text under it,
``!``, ``@``, ``.``, ``>``, ``~`` force a line's kind, ``^`` pairs a speech with the one before
it, ``===`` breaks the page, ``#`` and ``=`` are sections and synopses, ``[[notes]]`` and the
``/* boneyard */`` are not story. What a heading, a cue or a note *is* comes from the same rules
the pipeline reads scripts with (``headings.match_heading``, ``cues.cue_candidates``,
``names.parse_english_group_cue``, ``markup.markup_spans``), so a fix to one of them shows in both.

Two readings differ from the extractor's on purpose: a cue needs a blank line before it here (the
extractor also finds single-spaced cues inside a speech, which Fountain reads as dialogue), and a
forced ``.POV`` is a heading here (Fountain's) while ``parse_structure`` keeps shots in the scene.
One goes beyond Fountain with the pipeline: a line alone that ``match_heading`` reads as a
plain-text heading (``12 INT. HALL - DAY 12``, ``BOILER ROOM - NIGHT``) is a heading here too.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Literal

from stages.screenplay.cues import cue_candidates
from stages.screenplay.headings import FORCED_HEADING_RE, SCENE_NUMBER_RE, match_heading
from stages.screenplay.markup import markup_spans, strip_emphasis
from stages.screenplay.names import parse_english_group_cue
from stages.screenplay.titlepage import parse_title_page

ElementKind = Literal[
    "title_page",
    "heading",
    "action",
    "character",
    "dialogue",
    "parenthetical",
    "lyrics",
    "transition",
    "centered",
    "section",
    "synopsis",
    "page_break",
    "note",
    "boneyard",
]
#: Kinds whose consecutive lines make one element (an action paragraph, one run of a speech).
RUNS = frozenset({"action", "dialogue", "lyrics", "centered"})
#: Kinds inside a speech: the lines under a cue, up to a blank line.
SPEECH = frozenset({"character", "dialogue", "parenthetical", "lyrics"})
LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
#: ``> THE END <``: centred text (a ``>`` alone forces a transition).
CENTERED_RE = re.compile(r"^>\s*(?P<text>.*?)\s*<$")
#: Three or more ``=`` and nothing else.
PAGE_BREAK_RE = re.compile(r"^={3,}$")
SECTION_RE = re.compile(r"^(?P<depth>#+)\s*(?P<text>.*)$")


@dataclass(frozen=True)
class Element:
    """One Fountain element.

    Attributes:
        kind: What the element is.
        text: Its text without forcing marks (``!``, ``@``, ``.``, ``>``, ``~``, ``^``), scene
            numbers or the notes inside it; lines of one element are joined with ``\\n``.
        start: Offset in the text of its first character.
        end: Offset just after its last character.
        dual: Whether it belongs to a dual dialogue (both speeches of the pair).
        depth: A section's level (``#`` is 1, ``##`` is 2); 0 for other kinds.
    """

    kind: ElementKind
    text: str
    start: int
    end: int
    dual: bool = False
    depth: int = 0


@dataclass(frozen=True)
class _Line:
    """A line of the text with its notes and boneyard taken out, and where it lies in the text."""

    text: str
    start: int
    end: int


def _clean_lines(text: str, body: int) -> tuple[list[_Line], list[Element]]:
    """The lines of ``text[body:]`` without markup, and the markup as elements.

    Markup that fills whole lines goes with those lines (the lines around it meet, as if it were
    never written); markup inside a line goes alone, so the text around it joins up.
    """
    kept: list[tuple[int, int]] = []
    markup: list[Element] = []
    position = body
    for found_start, found_end, kind in markup_spans(text[body:]):
        start, end = found_start + body, found_end + body
        opened = text.startswith(("/*", "[["), start)  # not so when a slice begins inside a boneyard
        inner = LINE_BREAK_RE.sub("\n", text[start + 2 * opened : end - 2].strip())
        markup.append(Element("boneyard" if kind == "boneyard" else "note", inner, start, end))
        line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start), body - 1) + 1
        breaks = [at for at in (text.find("\n", end), text.find("\r", end)) if at >= 0]
        line_end = min(breaks) if breaks else len(text)
        if not text[line_start:start].strip() and not text[end:line_end].strip() and line_start >= position:
            start, end = line_start, line_end + (2 if text.startswith("\r\n", line_end) else 1)
        if start > position:
            kept.append((position, start))
        position = max(position, end)
    kept.append((position, len(text)))
    kept = [(a, b) for a, b in kept if b > a]
    clean = "".join(text[a:b] for a, b in kept)
    # Where each kept piece starts in the clean text, to map clean offsets back to the text's.
    clean_starts = list(accumulate((b - a for a, b in kept[:-1]), initial=0))

    def origin(at: int) -> int:
        piece = bisect_right(clean_starts, at) - 1
        return kept[piece][0] + at - clean_starts[piece] if kept else len(text)

    lines: list[_Line] = []
    offset = 0
    for match in [*LINE_BREAK_RE.finditer(clean), None]:
        stop = match.start() if match else len(clean)
        if stop > offset or match:
            first = origin(offset) if offset < len(clean) else len(text)
            last = origin(stop - 1) + 1 if stop > offset else first
            lines.append(_Line(clean[offset:stop], first, last))
        offset = match.end() if match else offset
    return lines, markup


def _is_heading(line: str) -> bool:
    return match_heading(line) is not None


class _Reader:
    """Classifies clean lines one by one, keeping what the next line needs to know."""

    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        plain = [strip_emphasis(line.text) for line in lines]
        self.cues = {found.index for found in cue_candidates(plain, _is_heading)}
        self.elements: list[Element] = []
        self.last_line = -2  # index of the line the last element ended on
        self.speech_start = 0  # index in ``elements`` of the current speech's cue
        self.in_speech = False
        self.dual = False  # whether the current speech is the second of a dual dialogue

    def blank(self, index: int) -> bool:
        return not 0 <= index < len(self.lines) or not self.lines[index].text.strip()

    def add(self, kind: ElementKind, text: str, index: int, *, depth: int = 0) -> None:
        line = self.lines[index]
        last = self.elements[-1] if self.elements else None
        if last is not None and kind in RUNS and last.kind == kind and self.last_line == index - 1:
            self.elements[-1] = replace(last, text=f"{last.text}\n{text}", end=line.end)
        else:
            dual = self.dual and kind in SPEECH and (kind == "character" or self.in_speech)
            self.elements.append(Element(kind, text, line.start, line.end, dual=dual, depth=depth))
        self.last_line = index
        self.in_speech = kind in SPEECH and (kind != "lyrics" or self.in_speech)

    def read(self, index: int) -> None:
        raw = self.lines[index].text
        line = raw.strip()
        if not line:
            # Two spaces keep a speech going over an empty line (Fountain's way to write one).
            if self.in_speech and len(raw) >= 2 and not self.blank(index + 1):
                self.add("dialogue", "", index)
            else:
                self.in_speech = False
            return
        if self.in_speech:
            self.speech(line, index)
        elif not self.forced(line, index):
            self.plain(raw, line, index)

    def speech(self, line: str, index: int) -> None:
        if line.startswith("~"):
            self.add("lyrics", line[1:].strip(), index)
        elif line.startswith("(") and line.endswith(")"):
            self.add("parenthetical", line, index)
        else:
            self.add("dialogue", line, index)

    def forced(self, line: str, index: int) -> bool:
        """Lines whose first character says what they are (Fountain's "power user" marks)."""
        if line.startswith("!"):
            self.add("action", line[1:], index)
        elif line.startswith("~"):
            self.add("lyrics", line[1:].strip(), index)
        elif centered := CENTERED_RE.match(line):
            self.add("centered", centered.group("text"), index)
        elif line.startswith(">"):
            self.add("transition", line[1:].strip(), index)
        elif PAGE_BREAK_RE.match(line):
            self.add("page_break", "", index)
        elif line.startswith("="):
            self.add("synopsis", line[1:].strip(), index)
        elif section := SECTION_RE.match(line):
            self.add("section", section.group("text").strip(), index, depth=len(section.group("depth")))
        elif line.startswith("@") and not self.blank(index + 1):
            self.cue(line[1:], index)
        else:
            return False
        return True

    def plain(self, raw: str, line: str, index: int) -> None:
        alone = self.blank(index - 1) and self.blank(index + 1)
        if alone and (FORCED_HEADING_RE.match(line) or _is_heading(strip_emphasis(line))):
            shown = line[1:].lstrip() if FORCED_HEADING_RE.match(line) else line
            self.add("heading", SCENE_NUMBER_RE.sub("", shown), index)
        elif alone and raw.endswith("TO:") and line.isupper():
            self.add("transition", line, index)  # Fountain: upper case, ending in TO:, alone
        elif self.blank(index - 1) and (
            index in self.cues
            or (not self.blank(index + 1) and parse_english_group_cue(strip_emphasis(line)) is not None)
        ):
            self.cue(line, index)
        else:
            self.add("action", line, index)

    def cue(self, line: str, index: int) -> None:
        before = self.elements[self.speech_start :]
        # ``^`` pairs this speech with the one just before it: both are dual dialogue.
        self.dual = (
            line.rstrip().endswith("^")
            and bool(before)
            and before[0].kind == "character"
            and all(e.kind in SPEECH for e in before)
        )
        if self.dual:
            self.elements[self.speech_start :] = [replace(e, dual=True) for e in before]
        self.speech_start = len(self.elements)
        self.add("character", line.rstrip().removesuffix("^").rstrip(), index)


def fountain_elements(text: str) -> list[Element]:
    """Read ``text`` as Fountain: its title page, then every element in order.

    Args:
        text: A Fountain (or plain-text Hollywood) script.

    Returns:
        The elements ordered by where they start; notes and boneyard come where they are
        written, also when they sit inside another element's line.

    >>> [(e.kind, e.text) for e in fountain_elements("INT. BAR - NIGHT\\n\\nJOE\\n(dry)\\nHi.\\n")]
    [('heading', 'INT. BAR - NIGHT'), ('character', 'JOE'), ('parenthetical', '(dry)'), ('dialogue', 'Hi.')]
    """
    lead = 1 if text.startswith("\ufeff") else 0
    meta, body = parse_title_page(text[lead:])
    found: list[Element] = []
    if meta:
        page = text[lead : lead + body]
        shown = LINE_BREAK_RE.sub("\n", page.strip())
        found.append(Element("title_page", shown, lead, lead + len(page.rstrip())))
    lines, markup = _clean_lines(text, lead + body)
    reader = _Reader(lines)
    for index in range(len(lines)):
        reader.read(index)
    return sorted([*found, *reader.elements, *markup], key=lambda element: element.start)
