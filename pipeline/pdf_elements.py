"""Write a PDF screenplay's rows as Fountain-style elements, each row's kind told by its indentation.

Given the edges ``pipeline.pdf_layout.measure`` found, a row at the margin is action (a scene
heading when it reads as one or had a scene number printed beside it), an ALL-CAPS row at the cue
edge opens a speech, indented rows under it are its parentheticals and dialogue, an ALL-CAPS row
right of the cue edge is a transition. Rows side by side at the speech edges are dual dialogue.
The output is what the Fountain parser reads: headings upper-case between blank lines, a cue with
its parentheticals and dialogue right under it, blank lines between elements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.pdf_layout import (
    BLANK_GAP,
    CONTD_RE,
    HEADING_RE,
    Edges,
    Row,
    cue_like,
    dual_columns,
    is_caps,
    join_text,
    measure,
    plain_text,
    speaker,
    speech_lines,
    title_page,
    wrapped,
)

#: A first page with more rows than this is never taken for a title page.
DEFAULT_TITLE_PAGE_ROWS = 30


@dataclass
class Block:
    """One element of the output: its kind, its lines (a speech's raw rows), its speaker."""

    kind: str
    lines: list[str] = field(default_factory=list)
    speaker: str = ""

    def text(self) -> str:
        if self.kind == "speech":
            lines = speech_lines(self.lines)
            return "\n".join([lines[0] if is_caps(lines[0]) else f"@{lines[0]}", *lines[1:]])
        return "\n".join(self.lines)


class _Writer:
    """Classifies rows in reading order and gathers them into blocks."""

    def __init__(self, edges: Edges) -> None:
        self.edges = edges
        self.blocks: list[Block] = []
        self.prev: Row | None = None
        self.dual_last = False

    @property
    def speaking(self) -> bool:
        return bool(self.blocks) and self.blocks[-1].kind == "speech"

    def kind(self, row: Row) -> str:
        e = self.edges
        if row.x0 <= e.left + 1.5 * e.char:
            return "heading" if row.scene_no or HEADING_RE.match(row.text) else "action"
        if is_caps(row.text) and row.x0 > e.cue + 3 * e.char:
            return "transition"
        if cue_like(row.text) and row.x0 >= e.cue - 2 * e.char:
            return "cue"
        if self.speaking and row.x0 >= e.dialogue - 1.5 * e.char:
            return "speech"
        return "action"

    def add(self, row: Row, *, page_start: bool) -> None:
        kind = self.kind(row)
        prev, self.prev, self.dual_last = self.prev, row, False
        if (
            kind == "cue"
            and page_start
            and self.speaking
            and CONTD_RE.search(row.text)
            and speaker(row.text) == self.blocks[-1].speaker
        ):
            return  # the same speech, carried over a page break
        gap = prev is None or page_start or row.top - prev.top > BLANK_GAP * self.edges.pitch
        last = self.blocks[-1] if self.blocks else None
        if kind == "cue":
            self.blocks.append(Block("speech", [row.text], speaker(row.text)))
        elif kind == "speech" and last is not None:
            last.lines.append(row.text)
        elif kind == "action" and last is not None and last.kind == "action" and not gap:
            if prev is not None and wrapped(prev, row, self.edges.right, self.edges.char):
                last.lines[-1] = join_text(last.lines[-1], row.text)
            else:
                last.lines.append(row.text)
        elif kind == "action" and page_start and last is not None and last.kind == "action":
            last.lines.append(row.text)  # a paragraph carried over a page break
        elif kind == "heading":
            text = row.text.upper() if HEADING_RE.match(row.text) else f".{row.text}"  # forced heading
            self.blocks.append(Block("heading", [text + (f" #{row.scene_no}#" if row.scene_no else "")]))
        else:
            self.blocks.append(Block(kind, [row.text]))

    def dual(self, rows: Sequence[Row], *, page_start: bool) -> None:
        """Two speeches side by side: the left one, then the right one marked ``^``.

        Rows of a dual dialogue that a page break split (no cues above them at the top of the
        next page) continue the two speeches before the break.
        """
        left, right = dual_columns(rows)
        pair = self.blocks[-2:] if self.dual_last else []
        if page_start and len(pair) == 2 and not (cue_like(left[0]) and right and cue_like(right[0])):
            pair[0].lines.extend(left)
            pair[1].lines.extend(right)
        else:
            for texts, mark in ((left, ""), (right, " ^")):
                if texts:
                    self.blocks.append(Block("speech", [texts[0] + mark, *texts[1:]], speaker(texts[0])))
        self.prev = rows[-1]
        self.dual_last = True


def _is_title_page(page: Sequence[Row], edges: Edges) -> bool:
    """A short first page that opens off the margin and holds no heading and no speech."""
    indented = edges.left + 2 * edges.char
    if not page or len(page) > DEFAULT_TITLE_PAGE_ROWS or page[0].x0 <= indented:
        return False
    for row, below in zip(page, [*page[1:], None], strict=True):
        if row.scene_no or (row.x0 <= indented and HEADING_RE.match(row.text)):
            return False
        speech_below = below is not None and abs(below.x0 - edges.dialogue) <= 1.5 * edges.char
        if abs(row.x0 - edges.cue) <= 2 * edges.char and is_caps(row.text) and speech_below:
            return False
    return True


def _is_dual(row: Row, edges: Edges) -> bool:
    return len(row.parts) > 1 and row.x0 > edges.left + 2 * edges.char and not row.scene_no


def screenplay_text(pages: Sequence[Sequence[Row]], edges: Edges) -> str:
    """Write a screenplay layout as Fountain-style text.

    Args:
        pages: Each page's rows (page numbers, ``(MORE)`` and ``CONTINUED`` already dropped).
        edges: The layout's edges, from ``measure``.

    Returns:
        Headings upper-case between blank lines (``#12#`` after them when the page printed a
        scene number), a cue with its parentheticals and dialogue right under it, blank lines
        between elements; a title page as ``Title:``/``Author:``. A speech carried over a page
        break (its cue repeated with ``(CONT'D)``) stays one speech.
    """
    writer = _Writer(edges)
    head: list[str] = []
    for index, page in enumerate(pages):
        if index == 0 and len(pages) > 1 and _is_title_page(page, edges):
            head = [*title_page(page), "", ""]
            continue
        at = 0
        while at < len(page):
            if _is_dual(page[at], edges):
                end = at + 1
                while (
                    end < len(page)
                    and page[end].x0 > edges.left + 2 * edges.char
                    and page[end].top - page[end - 1].top <= BLANK_GAP * edges.pitch
                ):
                    end += 1
                writer.dual(page[at:end], page_start=at == 0)
                at = end
                continue
            writer.add(page[at], page_start=at == 0)
            at += 1
    body = "\n\n".join(block.text() for block in writer.blocks)
    return "\n".join(head) + body + "\n" if body else ""


def rows_to_text(pages: Sequence[Sequence[Row]]) -> str:
    """Fountain-style text of a screenplay layout, else the lines of the text.

    Args:
        pages: Each page's rows, top to bottom, page marks dropped.

    Returns:
        The text, ending with one line break (empty when there are no rows).
    """
    edges = measure(pages)
    return screenplay_text(pages, edges) if edges is not None else plain_text(pages)


__all__ = ["rows_to_text", "screenplay_text"]
