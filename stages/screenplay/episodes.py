"""Find episode markers (``第3集 重逢``, ``EPISODE 2: Title``) inside one line of a script."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.numerals import chinese_number
from stages.screenplay.words import word_list

_NUM = r"[0-9０-９零〇一二三四五六七八九十百千两]+"
#: ``第一集 重逢`` / ``【第12集】`` at the start of a line.
CN_EPISODE_START_RE = re.compile(
    rf"^[ \t\u3000\ufeff]*[【\[（(「]?[ \t]*第[ \t]*({_NUM})[ \t]*集[ \t]*[】\]）)」]?"
)
#: ``第2集`` later in a line of scraped text: only after sentence-ending punctuation or a space,
#: and followed by a separator or a short title and a bracket (``第一集进城路上（…``), so
#: ``你看第二集了吗`` is not a marker.
CN_EPISODE_MID_RE = re.compile(
    rf"(?<=[。！？!?…」”』）)\]\s])[【\[（(「]?第[ \t]*({_NUM})[ \t]*集[】\]）)」]?(?=[\s:：，,、]|$|第|[^\s。！？]{{1,12}}[（(【])"
)
_EN_WORDS = word_list(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
#: ``EPISODE 2``, ``Episode Two: Title``, ``# Episode 3 - Title`` as a whole line.
EN_EPISODE_RE = re.compile(
    rf"^\s*(?:#+\s*)?EPISODE\s+(\d+|{'|'.join(_EN_WORDS)})\b\s*(?:[:.\-–—]\s*(.*?))?\s*$",
    re.IGNORECASE,
)
#: What follows a closing marker such as ``第一集完`` or ``（第一集 终）``.
END_MARK_RE = re.compile(r"\s*[（(]?\s*(?:完|终|结束|全剧终|end)\s*[)）】\]。!！]*\s*$", re.IGNORECASE)
#: Separators and brackets trimmed from a title.
TITLE_TRIM = " \t\u3000:：-—–.．、,，《》「」『』“”\"'【】[]()（）"
#: Longest text after a marker still read as the episode's title.
DEFAULT_MAX_TITLE_CHARS = 40


@dataclass(frozen=True)
class EpisodeMarker:
    """An episode marker found in a line; offsets are relative to the line."""

    start: int
    number: int | None
    rest_start: int
    rest_end: int


def parse_number(written: str) -> int | None:
    """Read an Arabic, full-width or Chinese numeral.

    Args:
        written: ``"12"``, ``"１２"``, ``"十二"``, ``"一百零五"`` or an English word up to twenty.

    Returns:
        The number, or ``None`` when ``written`` is not a numeral.

    >>> parse_number("二十三"), parse_number("12"), parse_number("Two")
    (23, 12, 2)
    """
    if written.isdigit():
        return int(written)
    if written.lower() in _EN_WORDS:
        return _EN_WORDS.index(written.lower()) + 1
    return chinese_number(written)


def clean_title(rest: str) -> str | None:
    """Trim separators from the text after a marker; ``None`` when no title-like text is left.

    Args:
        rest: The text after the marker on its line.

    Returns:
        The title, or ``None`` if empty, longer than ``DEFAULT_MAX_TITLE_CHARS`` or a sentence.
    """
    title = rest.strip(TITLE_TRIM)
    if not title or len(title) > DEFAULT_MAX_TITLE_CHARS or title.endswith(("。", "！", "？")):
        return None
    return title


def find_episode_markers(line: str) -> list[EpisodeMarker]:
    """Find the episode markers in one line (without its line break).

    Args:
        line: One line of the script.

    Returns:
        The markers in order; each one's rest runs to the next marker or the line's end.
        Closing markers (``第一集完``) are left out.
    """
    found: list[tuple[int, int, str]] = []
    english = EN_EPISODE_RE.match(line)
    if english:
        rest = english.start(2) if english.group(2) is not None else len(line)
        found.append((len(line) - len(line.lstrip()), rest, english.group(1)))
    elif "集" in line:
        start = CN_EPISODE_START_RE.match(line)
        if start:
            found.append((len(line) - len(line.lstrip(" \t\u3000\ufeff")), start.end(), start.group(1)))
        for mid in CN_EPISODE_MID_RE.finditer(line, start.end() if start else 0):
            found.append((mid.start(), mid.end(), mid.group(1)))
    markers: list[EpisodeMarker] = []
    for index, (begin, rest_start, number) in enumerate(found):
        rest_end = found[index + 1][0] if index + 1 < len(found) else len(line)
        if END_MARK_RE.match(line, rest_start, rest_end):
            continue
        markers.append(EpisodeMarker(begin, parse_number(number), rest_start, rest_end))
    return markers
