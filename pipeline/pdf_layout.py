"""Measure a PDF's screenplay layout from its positioned text rows: the edges each element starts at.

A screenplay page sets each element at its own left edge: action and scene headings at the
margin, dialogue indented, parentheticals further in, character cues furthest, transitions
flush right. The edges differ between exporters (Final Draft, WriterDuet, Highland, Celtx), so
they are measured per document: the margin is the leftmost well-used edge, the cue edge the most
common edge of ALL-CAPS lines with indented text right under them, the dialogue edge the most
common edge of the other indented lines. A document without such indentation (a Chinese script,
prose) is written as its lines of text. This module measures and holds the plain data (``Row``);
``pipeline.pdf_elements`` writes the elements, ``pipeline.pdf`` reads the PDF.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

#: An English scene heading (upper-cased in the output, with blank lines around it).
HEADING_RE = re.compile(r"^(?:INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\s*/\s*E|INT|EXT|EST)[.\s]", re.IGNORECASE)
#: ``(CONT'D)`` and its spellings on a cue repeated after a page break.
CONTD_RE = re.compile(r"\(\s*CONT(?:['’]?D|\.|INUED|INUING)\s*\)", re.IGNORECASE)
#: A cue's extensions, dropped to compare speakers: ``(V.O.)``, ``(CONT'D)``.
EXTENSION_RE = re.compile(r"\s*\([^)]*\)\s*")
#: The line before a title page's author: ``Written by``, ``Screenplay by``.
BY_RE = re.compile(r"^\s*(?:(?:written|screenplay|teleplay|story)\s+)?by\s*:?\s*$", re.IGNORECASE)
#: A gap before a row wider than this many line pitches stands for a blank line in the source.
BLANK_GAP = 1.5
#: What starts a line of its own in a Chinese script, even after a full line: a cue
#: (``张三：``, ``张三（低声）：``), an action or note mark, a number, ``第…``.
LINE_START_RE = re.compile(r"^(?:[△▲■●◆【\[（(第]|\d|[\u4e00-\u9fff·]{1,8}(?:[（(][^）)]{0,20}[）)])?[：:])")
_CJK_RE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class Part:
    """A run of words on a row with no wide gap inside: where it starts and ends, its text."""

    x0: float
    x1: float
    text: str
    first_width: float


@dataclass(frozen=True)
class Row:
    """One printed line: its top (points from the page top), its parts, its character width."""

    top: float
    parts: tuple[Part, ...]
    char: float
    scene_no: str | None = None

    @property
    def x0(self) -> float:
        return self.parts[0].x0

    @property
    def x1(self) -> float:
        return self.parts[-1].x1

    @property
    def text(self) -> str:
        return " ".join(part.text for part in self.parts)

    @property
    def first_width(self) -> float:
        return self.parts[0].first_width


@dataclass(frozen=True)
class Edges:
    """A screenplay layout's element edges and measures, in points."""

    left: float
    dialogue: float
    cue: float
    char: float
    pitch: float
    right: float


def is_caps(text: str) -> bool:
    """Whether ``text`` has upper-case letters and no lower-case ones (``RITA (V.O.)``)."""
    return any(ch.isupper() for ch in text) and not any(ch.islower() for ch in text)


def cue_like(text: str) -> bool:
    """Whether a row at the cue edge reads as a cue: mostly capitals (``RITA``, ``McCANN (V.O.)``)."""
    name = EXTENSION_RE.sub(" ", text)
    letters = [ch for ch in name if ch.isalpha()]
    return bool(letters) and len(name) <= 50 and sum(ch.isupper() for ch in letters) >= 0.6 * len(letters)


def join_text(before: str, after: str) -> str:
    """Join a wrapped line to the one it continues: with a space, none between CJK characters."""
    if before and after and _CJK_RE.match(before[-1]) and _CJK_RE.match(after[0]):
        return before + after
    return f"{before} {after}"


def _mode(values: Sequence[float], step: float) -> float | None:
    """The most common value, binned to ``step`` (the smallest bin on a tie)."""
    if not values:
        return None
    counts = Counter(round(value / step) for value in values)
    best = max(counts.values())
    return min(key for key, count in counts.items() if count == best) * step


def _pitch(pages: Sequence[Sequence[Row]]) -> float:
    deltas = [b.top - a.top for page in pages for a, b in itertools.pairwise(page) if b.top > a.top]
    return _mode(deltas, 0.5) or 12.0


def _high(values: Sequence[float], share: int) -> float:
    """A high value of ``values`` that ignores the top 1/``share`` as outliers."""
    ordered = sorted(values)
    return ordered[-max(1, len(ordered) // share)]


def measure(pages: Sequence[Sequence[Row]]) -> Edges | None:
    """Find the element edges of a screenplay layout.

    Args:
        pages: Each page's rows, top to bottom.

    Returns:
        The edges; ``None`` when the text has no screenplay layout (fewer than two cues at one
        indentation with indented text right under them).
    """
    rows = [row for page in pages for row in page]
    if not rows:
        return None
    char = _mode([row.char for row in rows], 0.1) or 6.0
    starts = sorted(row.x0 for row in rows)
    floor = max(2, len(rows) // 30)  # a stray line further left is not the margin
    left = next(
        (x for x in starts if bisect_right(starts, x + char) - bisect_left(starts, x - char) >= floor),
        starts[0],
    )
    pitch = _pitch(pages)
    cues = [
        row.x0
        for page in pages
        for row, below in itertools.pairwise(page)
        if row.x0 > left + 4 * char
        and cue_like(row.text)
        and below.x0 > left + 2 * char
        and below.top - row.top <= BLANK_GAP * pitch
    ]
    cue = _mode(cues, char)
    if cue is None or sum(abs(x - cue) <= char for x in cues) < 2:
        return None
    spoken = [r.x0 for r in rows if left + 2 * char < r.x0 < cue - char and not is_caps(r.text)]
    dialogue = _mode(spoken, char) or left + (cue - left) * 0.45
    right = _high([row.x1 for row in rows if row.x0 <= left + char] or [row.x1 for row in rows], 50)
    return Edges(left, dialogue, cue, char, pitch, right)


def speaker(cue: str) -> str:
    """The speaker of a cue, extensions dropped: ``RITA (CONT'D)`` is ``RITA``."""
    return " ".join(EXTENSION_RE.sub(" ", cue).split()).upper()


def wrapped(prev: Row, row: Row, right: float, char: float) -> bool:
    """Whether ``row`` continues ``prev``: its first word would not have fitted at the end of it."""
    return prev.x1 + char + row.first_width > right + 0.5 * char


def speech_lines(texts: Sequence[str]) -> list[str]:
    """A speech's lines: the cue, then parentheticals and dialogue, wrapped lines joined."""
    lines = [texts[0]]
    paren_open = False
    for text in texts[1:]:
        if paren_open or (not text.startswith("(") and len(lines) > 1 and not lines[-1].startswith("(")):
            lines[-1] = join_text(lines[-1], text)
        else:
            lines.append(text)
        paren_open = lines[-1].startswith("(") and lines[-1].count("(") > lines[-1].count(")")
    return lines


def dual_columns(rows: Sequence[Row]) -> tuple[list[str], list[str]]:
    """Split the rows of a dual dialogue into the left and the right speech's texts."""
    split_rows = [row for row in rows if len(row.parts) > 1]
    left_end = max(row.parts[0].x1 for row in split_rows)
    right_start = min(row.parts[-1].x0 for row in split_rows)
    middle = (left_end + right_start) / 2
    left: list[str] = []
    right: list[str] = []
    for row in rows:
        for part in row.parts:
            (left if part.x0 < middle else right).append(part.text)
    return left, right


def title_page(rows: Sequence[Row]) -> list[str]:
    """``Title:``/``Author:`` lines from a title page's rows (the first row is the title)."""
    texts = [row.text for row in rows]
    lines = [f"Title: {texts[0]}"]
    for index, text in enumerate(texts[:-1]):
        if BY_RE.match(text):
            lines.append(f"Author: {texts[index + 1]}")
            break
    return lines


def plain_text(pages: Sequence[Sequence[Row]]) -> str:
    """Write text with no screenplay layout as its lines of text.

    A row joins the one above when it starts at the same edge or further left, no wider gap sits
    between them, its first word (or character) would not have fitted on the row above, and it
    does not open a line of a Chinese script (``LINE_START_RE``); a wider gap is a blank line.
    Each page ends a paragraph.
    """
    rows = [row for page in pages for row in page]
    if not rows:
        return ""
    char = _mode([row.char for row in rows], 0.1) or 6.0
    right = _high([row.x1 for row in rows], 20)
    pitch = _pitch(pages)
    lines: list[str] = []
    for page in pages:
        prev: Row | None = None
        for row in page:
            if prev is not None and row.top - prev.top > BLANK_GAP * pitch:
                lines.append("")
            elif (
                prev is not None
                and row.x0 - prev.x0 <= char  # a paragraph's first line may be indented, not the next
                and wrapped(prev, row, right, char)
                and not LINE_START_RE.match(row.text)
            ):
                lines[-1] = join_text(lines[-1], row.text)
                prev = row
                continue
            lines.append(row.text)
            prev = row
        lines.append("")
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


__all__ = [
    "Edges",
    "Part",
    "Row",
    "cue_like",
    "dual_columns",
    "is_caps",
    "join_text",
    "measure",
    "plain_text",
    "speaker",
    "speech_lines",
    "title_page",
    "wrapped",
]
