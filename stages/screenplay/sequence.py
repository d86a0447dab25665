"""Find the scenes a numbered script's own sequence implies where a heading has no time of day.

A script that numbers its scenes ``（12） 客厅 内 日`` sometimes writes a heading with the place
alone (``（13） 山顶``), which on its own reads like any bracketed number and is not taken as a
heading. When headings numbered N and N+k were found in that style, the text between them is
searched for N+1 … N+k-1 in the same style, each followed by a short place: the script's own
numbering is the evidence, so nothing else in the text can be mistaken for a scene.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: Numbering styles that a sequence is followed in: ``（12）`` and ``12、``.
_STYLES = {
    "bracket": (re.compile(r"^\s*[（(](\d{1,3})[）)]"), r"[（(]{n}[）)]"),
    "comma": (re.compile(r"^\s*(\d{1,3})、"), r"{n}、"),
}
#: A place after the number: a short run up to a space or a sentence mark.
_PLACE = r"[ \t\u3000]*(?P<place>[\u4e00-\u9fff][^\s\u3000。！？，,、：:；;“”（）()【】△]{0,11})(?=[ \t\u3000。，,])"
#: What may come right before a scene number inside a line.
_BEFORE = r"(?:(?<=^)|(?<=[\n。！？!?…”」』）)】\]\s]))"
#: The longest gap in a numbering that is filled (a larger one is a renumbering, not a miss).
DEFAULT_MAX_GAP = 5


@dataclass(frozen=True)
class Numbered:
    """A heading the sequence implies: where it starts, its text and its place."""

    start: int
    text: str
    place: str


def _style(heading: str) -> tuple[str, int] | None:
    for name, (pattern, _) in _STYLES.items():
        if (match := pattern.match(heading)) is not None:
            return name, int(match.group(1))
    return None


def fill_numbered_gaps(text: str, headings: Sequence[tuple[int, str]]) -> list[Numbered]:
    """The headings missing from a numbered sequence, found between the ones that were.

    Args:
        text: The script text the heading offsets point into.
        headings: ``(start, heading text)`` of the headings found, in order.

    Returns:
        The implied headings, in order.

    >>> text = "（1） 村口 外 日 阿芳来了。（2） 山顶 阿芳喘气。（3） 家 内 夜 睡了。"
    >>> [(n.text, n.place) for n in fill_numbered_gaps(text, [(0, "（1） 村口 外 日"), (24, "（3） 家 内 夜")])]
    [('（2） 山顶', '山顶')]
    """
    found: list[Numbered] = []
    starts = [start for start, _ in headings] + [len(text)]
    for index, (start, heading) in enumerate(headings[:-1]):
        here, after = _style(heading), _style(headings[index + 1][1])
        if here is None or after is None or here[0] != after[0] or not 1 < after[1] - here[1] <= DEFAULT_MAX_GAP:
            continue
        template = _STYLES[here[0]][1]
        cursor = start + len(heading)
        for number in range(here[1] + 1, after[1]):
            pattern = re.compile(_BEFORE + template.format(n=number) + _PLACE)
            match = pattern.search(text, cursor, starts[index + 1])
            if match is None:
                continue
            found.append(Numbered(match.start(), text[match.start() : match.end()].strip(), match.group("place")))
            cursor = match.end()
    return found
