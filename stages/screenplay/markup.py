"""Fountain markup that carries no story: boneyard, notes, emphasis, sections and other marks.

``markup_spans`` finds ``/* … */`` and ``[[ … ]]``; ``mask_markup`` blanks them with spaces
(line breaks kept), so every offset into the masked text still indexes the original;
``strip_emphasis`` drops ``*`` and ``_`` before names and props are matched; ``is_markup_line``
tells lines to skip.
"""

from __future__ import annotations

import re

#: Fountain emphasis: ``*italic*``, ``**bold**``, ``***both***``, ``_underline_`` (and escapes).
EMPHASIS_RE = re.compile(r"\\?[*_]+")
#: Lines that are markup only: sections ``# Act``, synopses ``= text``, page breaks ``===``,
#: centred text ``> THE END <``, forced transitions ``> CUT TO:``, lyrics ``~la la``.
MARKUP_LINE_RE = re.compile(r"^[ \t\u3000]*(?:#(?![\d]+#)|=|>|~)")
#: Shot lines that stay inside a scene: ``INSERT - THE NOTE``, ``CLOSE ON``, ``ANGLE ON``, POV.
SHOT_LINE_RE = re.compile(
    r"^[ \t]*\.?(?:INSERT\b|CLOSE[ -]?(?:ON|UP)\b|EXTREME CLOSE|ECU\b|ANGLE ON\b|WIDE (?:ON|SHOT)\b|"
    r"POV\b|[A-Z'’ ]+['’]S POV\b|BACK TO SCENE\b|ON THE\b|OVERHEAD\b|AERIAL\b|TRACKING\b|"
    r"REVERSE ANGLE\b|NEW ANGLE\b|HIGH ANGLE\b|LOW ANGLE\b|MOVING\b|SERIES OF SHOTS\b|MONTAGE\b|"
    r"INTERCUT\b|SPLIT SCREEN\b|FLASHBACK\b|END FLASHBACK\b|BACK TO PRESENT\b)"
)
#: ``INSERT - THE LETTER`` / ``INSERT: A PHOTOGRAPH``: the object of an insert shot.
INSERT_RE = re.compile(r"^[ \t]*\.?INSERT\s*(?:[-–—:]\s*)(?:THE|AN?|HIS|HER|THEIR)\s+(.+?)\s*$", re.I)


#: A blank line (empty or one space): a note cannot run across one (Fountain: a note that needs
#: an empty line puts two spaces on it), so a stray ``[[`` cannot hide the paragraphs after it.
NOTE_BREAK_RE = re.compile(r"(?:\r\n|\r(?!\n)|\n)[ \t]?(?:\r\n|\r(?!\n)|\n)")


def markup_spans(text: str) -> list[tuple[int, int, str]]:
    """Where the boneyard (``/* … */``) and the notes (``[[ … ]]``) of ``text`` are.

    An unclosed ``/*`` or ``[[``, and a ``[[`` whose ``]]`` comes only after a blank line, are
    text (a stray mark must not hide the rest of a script); a ``*/`` with no opener before it
    ends a boneyard that began before ``text`` (a scene slice cut out of a longer script).

    Args:
        text: Script text.

    Returns:
        ``(start, end, kind)`` in order, ``kind`` ``"boneyard"`` or ``"note"``; ``end`` is just
        after the closing mark.

    >>> markup_spans("A /* gone */ B [[note]] C [[no\\n\\nnote]]")
    [(2, 12, 'boneyard'), (15, 23, 'note')]
    """
    if "/*" not in text and "*/" not in text and "[[" not in text:
        return []
    spans: list[tuple[int, int, str]] = []
    position = 0
    close = text.find("*/")
    if close >= 0 and not 0 <= text.find("/*") < close:
        spans.append((0, close + 2, "boneyard"))
        position = close + 2
    while position < len(text):
        boneyard, note = text.find("/*", position), text.find("[[", position)
        starts = [at for at in (boneyard, note) if at >= 0]
        if not starts:
            break
        start = min(starts)
        closing = "*/" if start == boneyard else "]]"
        end = text.find(closing, start + 2)
        if end < 0 or (closing == "]]" and NOTE_BREAK_RE.search(text, start + 2, end)):
            position = start + 2
            continue
        spans.append((start, end + 2, "boneyard" if closing == "*/" else "note"))
        position = end + 2
    return spans


def mask_markup(text: str) -> str:
    """Blank out boneyard (``/* … */``) and notes (``[[ … ]]``), keeping every offset.

    Which marks count is :func:`markup_spans`'s rule.

    Args:
        text: Script text.

    Returns:
        Text of the same length and line breaks, markup replaced by spaces.

    >>> mask_markup("A /* gone\\nstill */ B [[note]] C")
    'A        \\n         B          C'
    """
    spans = markup_spans(text)
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for start, end, _ in spans:
        out.append(text[position:start])
        out.append("".join(char if char in "\r\n" else " " for char in text[start:end]))
        position = end
    out.append(text[position:])
    return "".join(out)


def strip_emphasis(line: str) -> str:
    """Drop Fountain emphasis marks so names and props match (``*cigarette*`` → ``cigarette``).

    Args:
        line: One line of a script.

    Returns:
        The line without ``*`` and ``_``.

    >>> strip_emphasis("She lights a **cigarette** and _smiles_.")
    'She lights a cigarette and smiles.'
    """
    if "*" not in line and "_" not in line:
        return line
    return EMPHASIS_RE.sub("", line)


def is_markup_line(line: str) -> bool:
    """Tell Fountain sections, synopses, page breaks, centred text, forced transitions, lyrics.

    Args:
        line: One line of a script.

    Returns:
        ``True`` for lines that are neither action nor dialogue nor a cue.

    >>> is_markup_line("# ACT ONE"), is_markup_line("> THE END <"), is_markup_line("He runs.")
    (True, True, False)
    """
    return MARKUP_LINE_RE.match(line) is not None


def is_shot_line(line: str) -> bool:
    """Tell a shot line (``INSERT - THE NOTE``, ``CLOSE ON``, ``ANGLE ON``, ``.POV``).

    Args:
        line: One line of a script.

    Returns:
        ``True`` for shot directions, which stay inside the current scene.
    """
    return SHOT_LINE_RE.match(line) is not None


def insert_object(line: str) -> str | None:
    """The object an ``INSERT - THE LETTER`` shot shows, as written (``LETTER``).

    Args:
        line: One line of a script.

    Returns:
        The object's words, or ``None`` when the line is not such an insert.
    """
    match = INSERT_RE.match(line)
    return match.group(1).rstrip(".") if match else None
