"""Read English scene lines: who speaks, who is introduced or named, which objects are handled.

``english_context`` learns a chunk's speakers first (cues, merged name forms such as ``DR.
SMITH``/``SMITH``, intros such as ``RITA VALE (40s)``); ``english_scene`` then tallies one
scene: speeches per character, characters named in action, props in action and parentheticals,
and the objects of ``INSERT`` shots.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from stages.screenplay.cues import EN_HONORIFICS, cue_candidates, merge_speakers, select_cues, surely_speaking
from stages.screenplay.headings import match_heading
from stages.screenplay.markup import insert_object, is_markup_line, is_shot_line, mask_markup, strip_emphasis
from stages.screenplay.names import (
    EN_GROUPS,
    EN_INTRO_RE,
    background_name,
    is_group,
    parse_english_group_cue,
)
from stages.screenplay.prop_words import EN_CAPS_STOP, EN_PEOPLE
from stages.screenplay.props import english_props, normalise
from stages.screenplay.props_zh import marked_props
from stages.screenplay.tally import SceneTally

#: A capitalised word in an action line that may name a character (``Rita``, ``RITA``, ``Rita's``).
NAME_TOKEN_RE = re.compile(r"\b[A-Z][A-Za-z'’.\-]*[A-Za-z]")
POSSESSIVE_RE = re.compile(r"['’][Ss]$")
#: What shows a person without them being there: ``On the monitors, MARCUS…``, ``a photo of Leo``.
EN_DEPICTED_RE = re.compile(
    r"\b(?:on\s+(?:the\s+|a\s+|his\s+|her\s+)?(?:monitors?|screens?|tv|television|video|footage|laptop|phone)|"
    r"(?:photo(?:graph)?s?|pictures?|portrait|posters?|footage|video|image|drawing|sketch)\s+of)\b",
    re.IGNORECASE,
)
CAPS_PAIR_RE = re.compile(r"[A-Z][A-Z]")
SENTENCE_END_RE = re.compile(r"[.!?]\s")
#: ``Eli's body``, ``Rita's hand``: a possessive that still puts the person in the scene.
BODY_AFTER_RE = re.compile(
    r"\s+(?:\w+\s+)?(?:body|corpse|remains|hands?|face|eyes|head|arms?|shoulders?|feet|legs?|wrist|neck|chest|"
    r"pupils|pulse|breath|lips|back)\b"
)
#: A first appearance without an age: ``MARCUS, the night guard,`` or ``and JO KIM, 30,``.
EN_COMMA_INTRO_RE = re.compile(
    r"(?:^|(?<=[.!?;:,]\s)|(?<=\band\s)|(?<=\bwith\s)|(?<=\bmeet\s))"
    r"([A-Z][A-Z'’\-]*[A-Z](?:\s+[A-Z][A-Z'’.\-]*[A-Z]){0,2})(?=,\s*(?:[a-z0-9]|(?:early|mid|late)\b))"
)


def _is_heading(line: str) -> bool:
    return match_heading(line) is not None


@dataclass
class EnglishContext:
    """What one chunk of an English script says about its characters."""

    cues: list[dict[int, str]]
    merged: dict[str, str]
    display: dict[str, str]
    words: dict[str, str]
    names: frozenset[str]

    def key(self, name: str) -> str:
        upper = name.upper()
        if upper in self.display:
            return self.merged.get(upper, upper)
        if upper in self.words:
            return self.words[upper]
        return next(
            (self.words[w] for w in upper.split() if w in self.words and w not in EN_HONORIFICS), upper
        )

    def add(self, scene: SceneTally, name: str) -> str:
        key = self.key(name)
        scene.add("character", key, self.display.get(key, key), name)
        return key


def _intro_names(line: str) -> list[tuple[str, str | None, str | None]]:
    if ("(" not in line and "," not in line) or not CAPS_PAIR_RE.search(line):
        return []
    found = [(m.group(1), m.group(2), m.group(3).strip(" ,;") or None) for m in EN_INTRO_RE.finditer(line)]
    for match in EN_COMMA_INTRO_RE.finditer(line):
        words = match.group(1).split()
        if not any(w in EN_PEOPLE or w in EN_CAPS_STOP or w in EN_GROUPS for w in words):
            found.append((match.group(1), None, None))
    return found


def english_context(all_lines: Sequence[list[str]]) -> EnglishContext:
    candidates = [cue_candidates(lines, _is_heading) for lines in all_lines]
    known = surely_speaking(candidates)
    cues = [select_cues(lines, found, known) for lines, found in zip(all_lines, candidates, strict=True)]
    counts = Counter(name.upper() for scene in cues for name in scene.values())
    display: dict[str, str] = {}
    for scene in cues:
        for name in scene.values():
            display.setdefault(name.upper(), name)
    merged = merge_speakers(counts)
    owners: dict[str, set[str]] = {}
    for upper in display:
        key = merged.get(upper, upper)
        owners.setdefault(upper, set()).add(key)
        for word in upper.split():
            if len(word) >= 3 and word not in EN_HONORIFICS:
                owners.setdefault(word, set()).add(key)
    unique = {word: next(iter(keys)) for word, keys in owners.items() if len(keys) == 1}
    context = EnglishContext(cues, merged, display, unique, frozenset())
    for lines, scene_cues in zip(all_lines, cues, strict=True):
        for index, line in enumerate(lines):
            if index in scene_cues:
                continue
            for name, _, _ in _intro_names(line):
                key = context.key(name)
                for form in {name, *(w for w in name.split() if len(w) >= 3 and w not in EN_HONORIFICS)}:
                    owners.setdefault(form, set()).add(key)
    context.words = {word: next(iter(keys)) for word, keys in owners.items() if len(keys) == 1}
    context.names = frozenset(context.words) | frozenset(display)
    return context


def english_scene(scene: SceneTally, lines: list[str], cues: dict[int, str], context: EnglishContext) -> None:
    in_dialogue = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or _is_heading(line):
            in_dialogue = False
        elif (speaker := cues.get(index) or _group_cue(lines, index)) is not None:
            _speaker(scene, speaker, context)
            in_dialogue = True  # what a group says is dialogue too, not action
        elif is_markup_line(stripped):
            in_dialogue = in_dialogue and stripped.startswith("~")
        elif in_dialogue:
            if stripped.startswith("("):
                for name, surface in english_props(stripped, context.names):
                    scene.add("prop", name, name, surface)
        elif is_shot_line(stripped):
            shown = insert_object(stripped)
            prop = normalise(shown.split()) if shown and shown.upper() not in context.names else None
            if prop:
                scene.add("prop", prop, prop, shown)
        else:
            _english_action(scene, stripped, context)


def _speaker(scene: SceneTally, name: str, context: EnglishContext) -> None:
    """Count a cue's line for its character, or put the group it names in the background."""
    if not is_group(name):
        scene.assets[("character", context.add(scene, name))].lines += 1
    elif (extras := background_name(name)) is not None:
        scene.add("background", extras, extras)


def _group_cue(lines: list[str], index: int) -> str | None:
    """A group cue (THE CROWD, ALL) on ``lines[index]`` with its speech under it, if it is one."""
    line = lines[index]
    if not line.strip()[:1].isupper() or index + 1 >= len(lines) or not lines[index + 1].strip():
        return None
    return parse_english_group_cue(line)


#: A person introduced in CAPS by their role, without a name: ``A GUARD dozes``, ``two COPS``.
EN_ROLE_INTRO_RE = re.compile(
    r"\b(?i:an?|the|one|two|three|four|some|several|a\s+few|a\s+couple\s+of)\s+"
    r"((?:[A-Z]{3,}\s+)?([A-Z]{3,}))\b(?!['’])"
)
#: Role words that name more than one person: they are background (extras), not cast.
EN_PEOPLE_GROUPS = frozenset(
    w for w in EN_PEOPLE if (w.endswith("S") and w[:-1] in EN_PEOPLE) or w.endswith("MEN")
) | {"CHILDREN", "CROWD", "COUPLE", "GANG", "FAMILY", "TEAM", "CREW", "MOURNERS", "PEOPLE", "TWINS"}
#: Role words that are not someone on set (a voice, a shape).
EN_NOT_ON_SET = frozenset({"VOICE", "VOICES", "FIGURE", "PERSON"})


def _role_intros(scene: SceneTally, line: str, context: EnglishContext) -> None:
    """A GUARD, THE WAITER: non-speaking people introduced by a role are cast; TWO COPS, background."""
    for match in EN_ROLE_INTRO_RE.finditer(line):
        phrase, role = match.group(1), match.group(2)
        if role not in EN_PEOPLE or role in EN_NOT_ON_SET or _depicted(line, match.start()):
            continue
        if role in EN_PEOPLE_GROUPS:
            scene.add("background", phrase, phrase)
        else:
            context.add(scene, phrase)


def _english_action(scene: SceneTally, line: str, context: EnglishContext) -> None:
    intros = _intro_names(line)
    if not intros and CAPS_PAIR_RE.search(line):  # "A WOMAN … This is GRACE MARSH (40s)": one person
        _role_intros(scene, line, context)
    for name, age, description in intros:
        if _depicted(line, line.find(name)):
            continue
        key = context.add(scene, name)
        scene.describe(key, description, age, None)
    for match in NAME_TOKEN_RE.finditer(line):
        owned = POSSESSIVE_RE.search(match.group(0)) and not BODY_AFTER_RE.match(line, match.end())
        if owned or _depicted(line, match.start()):
            continue  # "Leo's mother" or "On the monitors, MARCUS" do not put Leo or Marcus here
        token = POSSESSIVE_RE.sub("", match.group(0)).upper()
        if token in context.words and (match.group(0).isupper() or match.group(0)[1:].islower()):
            key = context.words[token]
            scene.add("character", key, context.display.get(key, key), None)
    for name, surface in english_props(line, context.names) + marked_props(line):
        scene.add("prop", name, name, surface)


def _depicted(line: str, position: int) -> bool:
    starts = [match.end() for match in SENTENCE_END_RE.finditer(line, 0, position)]
    return EN_DEPICTED_RE.search(line, starts[-1] if starts else 0, position) is not None


def prepared_lines(text: str) -> list[str]:
    return [strip_emphasis(line) for line in mask_markup(text).splitlines()]
