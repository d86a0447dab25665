"""Read a Fountain title page (``Key: value`` lines at the very top of a script)."""

from __future__ import annotations

import re

#: A title page key line: ``Title: Brick & Steel`` (the value may start on the next lines).
KEY_LINE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9 _\-]{0,30}):[ \t]*(.*?)\s*$")
#: A continuation line of a multi-line value is indented (three spaces or a tab).
CONTINUATION_RE = re.compile(r"^(?: {3,}|\t)\s*(\S.*?)\s*$")
#: Fountain's emphasis marks around a value (``_**BRICK & STEEL**_``).
EMPHASIS_RE = re.compile(r"^[*_]+|[*_]+$")
#: Keys that may open a title page; others are only read once the page has begun, so that a
#: script opening with ``FADE IN:`` is not taken for a title page.
OPENING_KEYS = frozenset(
    {
        "title",
        "credit",
        "author",
        "authors",
        "source",
        "draft date",
        "date",
        "contact",
        "copyright",
        "notes",
        "revision",
        "episode",
        "series",
        "format",
        "written by",
    }
)


def _clean(value: str) -> str:
    return EMPHASIS_RE.sub("", value.strip()).strip()


def parse_title_page(text: str) -> tuple[dict[str, str], int]:
    """Read the Fountain title page at the top of ``text``.

    Args:
        text: The script text.

    Returns:
        ``(metadata, body_start)``: keys are lowercased with inner whitespace collapsed
        (``"title"``, ``"author"``, ``"draft date"``); multi-line values are joined with
        ``"\\n"``. ``body_start`` is the offset just after the blank line that ends the page
        (``len(text)`` if the page runs to the end). Without a title page: ``({}, 0)``.

    >>> parse_title_page("Title: Heist\\nAuthor: Ann\\n\\nINT. BANK - DAY\\n")
    ({'title': 'Heist', 'author': 'Ann'}, 26)
    """
    meta: dict[str, str] = {}
    key: str | None = None
    offset = 0
    started = False
    for line in text.splitlines(keepends=True):
        end = offset + len(line)
        if not line.strip():
            if started:
                return meta, end
            offset = end  # blank lines before the page
            continue
        match = KEY_LINE_RE.match(line)
        if match is None and (indented := KEY_LINE_RE.match(line.lstrip())) is not None:
            # An indented key line (some writers centre the page with spaces) is a key when the
            # page opens with it or when it is a known key; else it continues a value.
            known = " ".join(indented.group(1).lower().split()) in OPENING_KEYS
            match = indented if known or not started else None
        if match:
            name = " ".join(match.group(1).lower().split())
            if not started and name not in OPENING_KEYS:
                return {}, 0
            started = True
            key = name
            meta[key] = _clean(match.group(2))
        elif started and key is not None and (cont := CONTINUATION_RE.match(line)):
            value = _clean(cont.group(1))
            meta[key] = f"{meta[key]}\n{value}" if meta[key] else value
        else:
            return ({}, 0) if not started else (meta, offset)
        offset = end
    return (meta, len(text)) if started else ({}, 0)
