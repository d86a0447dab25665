"""Fit a scene's planned shots to size: one-line descriptions cut to length, runs merged to a cap.

A helper of the storyboard planner (``stages.storyboard``), pure like it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from stages.drafts import ShotDraft

#: Longest shot description, in characters.
MAX_DESCRIPTION_CHARS = 120

#: The end of a sentence, English (not after Mr, Dr …) or Chinese, closing quotes included.
SENTENCE_END = re.compile(
    r"(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bJr)(?<!\bSr)(?<!\bvs)[.!?]+[\"'”’)]*(?=\s|$)"
    r"|[。！？]+[”’」』）)]*"
)


@dataclass(frozen=True)
class Planned:
    """A shot before numbering; ``action`` says whether it came from action (and may be merged)."""

    shot: ShotDraft
    action: bool


def action_type(characters: Sequence[str], props: Sequence[str]) -> str:
    """The shot type of action naming these characters and props.

    >>> action_type(["JOHN"], []), action_type(["A", "B", "C"], []), action_type([], ["knife"])
    ('medium', 'wide', 'insert')
    """
    if not characters:
        return "insert" if props else "wide"
    return "medium" if len(characters) <= 2 else "wide"


def first_sentence(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """The first sentence of ``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    match = SENTENCE_END.search(text)
    if match is not None:
        text = text[: match.end()]
    return clip(text, limit)


def clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, at a space when one is near, ending with an ellipsis.

    >>> clip("The rain falls on the roof.", 16)
    'The rain falls…'
    """
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def cap(planned: list[Planned], budget: int) -> list[Planned]:
    """Fit ``planned`` into ``budget`` shots, keeping their order.

    Neighbouring action shots are merged pairwise, pass after pass, so a long run of short
    action lines shrinks evenly; if speeches alone still overflow, neighbours are grouped evenly.
    """
    if budget <= 0:
        return []
    while len(planned) > budget:
        excess = len(planned) - budget
        merged: list[Planned] = []
        fresh = False  # whether merged[-1] was already merged in this pass
        for item in planned:
            if excess and item.action and merged and merged[-1].action and not fresh:
                merged[-1] = merge([merged[-1], item])
                excess -= 1
                fresh = True
            else:
                merged.append(item)
                fresh = False
        if len(merged) == len(planned):
            break
        planned = merged
    if len(planned) <= budget:
        return planned
    size = -(-len(planned) // budget)
    return [merge(planned[i : i + size]) for i in range(0, len(planned), size)]


def merge(group: Sequence[Planned]) -> Planned:
    """One shot standing for ``group``: descriptions joined (then clipped), everyone's assets."""
    first = group[0].shot
    description = first.description
    for item in group[1:]:
        # Chinese sentences run on without a space; Latin ones take one.
        sep = "" if description and ord(description[-1]) >= 0x2E80 else " "
        description += sep + item.shot.description
    chars = tuple(dict.fromkeys(name for p in group for name in p.shot.characters))
    props = tuple(dict.fromkeys(name for p in group for name in p.shot.props))
    action = all(p.action for p in group)
    kind = action_type(chars, props) if action else first.type
    shot = ShotDraft(0, kind, clip(description, MAX_DESCRIPTION_CHARS), chars, props)
    return Planned(shot, action)
