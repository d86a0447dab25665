"""Find English character cues in scene lines, also in single-spaced scripts, and merge names.

A cue is an ALL-CAPS line with dialogue under it. After a blank line (or an action line) any
such line is a cue. Inside a speech, where single-spaced scripts put the next cue with no blank
line, an ALL-CAPS line is a cue only when it is clearly one: its name also speaks elsewhere, or
it carries an extension (``(V.O.)``), a forced ``@`` or a dual-dialogue ``^``, or a
parenthetical follows it. Shouted dialogue (``GET DOWN``) stays dialogue.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from stages.screenplay.markup import is_markup_line, is_shot_line
from stages.screenplay.names import EN_ROLE_NOUNS, distinct_role, parse_english_cue
from stages.screenplay.words import word_set

#: Titles that do not change who a speaker is (``DR. SMITH`` is ``SMITH``).
EN_HONORIFICS = word_set(
    """DR DR. DOCTOR MR MR. MRS MRS. MS MS. MISS PROF PROF. PROFESSOR SIR OFFICER DETECTIVE DET.
    SGT SGT. SERGEANT CAPT CAPT. CAPTAIN LT LT. LIEUTENANT AGENT NURSE FATHER SISTER UNCLE AUNT
    COACH JUDGE MAYOR CHIEF"""
)
CUE_MARK_RE = re.compile(r"\(|\^\s*$|^\s*@")
#: What a cue never starts with: quotes and brackets (a sign's words, a parenthetical), markup
#: marks, dashes and dots. A digit or ``$`` may start one (``2ND COP``, a ``$LEFT`` placeholder).
NOT_CUE_START = frozenset("\"'“‘”’([{<>!=#~*_-–—.…")


@dataclass(frozen=True)
class Candidate:
    """An ALL-CAPS line with text under it: its index, name, and whether it is surely a cue."""

    index: int
    name: str
    strong: bool


def cue_candidates(lines: Sequence[str], is_heading: Callable[[str], bool]) -> list[Candidate]:
    """Every line that could be a cue, in order.

    Args:
        lines: The scene's lines (emphasis stripped).
        is_heading: Tells scene headings, which are never cues nor dialogue.

    Returns:
        The candidates; ``strong`` when a blank line, a heading or nothing comes before, or the
        line has an extension, ``@`` or ``^``, or a parenthetical comes after.
    """
    found = []
    for index, line in enumerate(lines):
        first = line.lstrip()[:1]
        if first != "@" and (
            not first or first.islower() or first in NOT_CUE_START or not any(c.isupper() for c in line)
        ):
            continue  # upper case needs a cased letter (你好 is no cue); @ forces any name
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if not following or (is_markup_line(following) and not following.startswith("~")):
            continue
        name = parse_english_cue(line)
        if name is None or is_shot_line(line) or is_heading(line) or is_heading(following):
            continue
        before = lines[index - 1].strip() if index else ""
        strong = not before or is_heading(before) or bool(CUE_MARK_RE.search(line)) or following[0] == "("
        found.append(Candidate(index, name, strong))
    return found


def select_cues(
    lines: Sequence[str], candidates: Sequence[Candidate], known: frozenset[str]
) -> dict[int, str]:
    """Decide which candidates are cues, reading the lines in order.

    Args:
        lines: The scene's lines.
        candidates: From :func:`cue_candidates`.
        known: Upper-cased names that are surely speakers somewhere in the script part.

    Returns:
        ``{line index: speaker}``.
    """
    by_index = {candidate.index: candidate for candidate in candidates}
    cues: dict[int, str] = {}
    in_dialogue = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or (is_markup_line(stripped) and not stripped.startswith("~")):
            in_dialogue = False
            continue
        candidate = by_index.get(index)
        if candidate is not None and (not in_dialogue or candidate.strong or candidate.name.upper() in known):
            cues[index] = candidate.name
            in_dialogue = True
        elif is_shot_line(stripped):
            in_dialogue = False
    return cues


def surely_speaking(candidates: Sequence[Sequence[Candidate]]) -> frozenset[str]:
    """Names that are surely speakers: a strong cue somewhere, or a candidate twice.

    Args:
        candidates: The candidates of each scene.

    Returns:
        Upper-cased names.
    """
    counts = Counter(c.name.upper() for scene in candidates for c in scene)
    strong = {c.name.upper() for scene in candidates for c in scene if c.strong}
    return frozenset(strong | {name for name, count in counts.items() if count >= 2})


def _bare(name: str) -> str:
    words = name.split()
    while len(words) > 1 and words[0] in EN_HONORIFICS:
        words = words[1:]
    return " ".join(words)


def merge_speakers(counts: Mapping[str, int]) -> dict[str, str]:
    """Map cue names that are one character (``DR. SMITH``/``SMITH``, ``RITA VALE``/``RITA``).

    Args:
        counts: Upper-cased cue name → number of speeches.

    Returns:
        ``{name: canonical name}`` for the names that merge into another; the canonical name
        is the form used most (ties: the longer, then the first in sort order).

    >>> merge_speakers({"DR. SMITH": 3, "SMITH": 1, "JOHN": 2})
    {'SMITH': 'DR. SMITH'}
    """
    links: dict[str, list[str]] = {}
    for name in sorted(counts):
        bare = _bare(name)
        words = bare.split()
        if distinct_role(words):
            continue  # YOUNG JOE and GUARD #2 are roles of their own
        targets = ({bare, words[0], words[-1]} & counts.keys()) - {name} - EN_ROLE_NOUNS
        if len(targets) == 1:
            links.setdefault(targets.pop(), []).append(name)
    merged: dict[str, str] = {}
    for target, names in sorted(links.items()):
        if len(names) != 1 or target in merged or names[0] in merged:
            continue  # JOHN SMITH and JOHN DOE both end in JOHN: no telling which one is meant
        pair = sorted((target, names[0]), key=lambda member: (-counts[member], -len(member), member))
        merged[pair[1]] = pair[0]
    return merged
