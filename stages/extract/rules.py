"""The offline rule-based extractor: characters, locations and props from scene text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stages.drafts import AssetType, Mention, SceneSlice
from stages.screenplay.headings import match_heading
from stages.screenplay.language import detect_language
from stages.screenplay.names import (
    EN_INTRO_RE,
    chinese_age,
    chinese_gender,
    is_group,
    parse_cast_line,
    parse_chinese_cue,
    parse_english_cue,
)
from stages.screenplay.props import chinese_props, english_props, marked_props
from stages.screenplay.words import word_set

#: A run of capitalised words in an action line (``JOHN``, ``MARY SMITH``, ``JOHN'S``).
EN_CAPS_RUN_RE = re.compile(r"\b[A-Z][A-Z'’.\-]*[A-Z](?:\s+[A-Z][A-Z'’.\-]*[A-Z])*\b")
POSSESSIVE_RE = re.compile(r"['’]S$")
#: A bracketed note inside a Chinese speech: ``林晚：（拿起照片）这是谁？``.
CN_BRACKET_RE = re.compile(r"[（(]([^）)]*)[）)]")
#: A Chinese intro with an age: ``吴婶（心直口快的家庭妇女，50岁）`` after a boundary.
CN_INTRO_RE = re.compile(r"(?:^|(?<=[\s，。、：；！？△▲]))([\u4e00-\u9fff]{2,4})[（(]([^）)]*岁[^）)]*)[）)]")
#: A character sketch written like speech (``林晚：女，二十六岁，设计师。``), not dialogue.
CN_BIO_RE = re.compile(r"^(?:[（(]?(?:男|女)性?[，,、）)]|[0-9一二三四五六七八九十两]+(?:多|来)?岁[，,、])")
#: Bracket notes that are voice or emotion marks, not descriptions.
CN_NOTES = word_set("画外音 旁白 内心独白 独白 OS VO 哭 笑 冷笑 怒 急 小声 低声 大声")


@dataclass
class _Asset:
    """One asset seen in one scene while the slices are read."""

    asset_type: AssetType
    name: str
    lines: int = 0
    aliases: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    def attributes(self) -> dict[str, Any]:
        if self.asset_type == "location":
            return {}
        attributes: dict[str, Any] = {"aliases": list(self.aliases)}
        if self.asset_type == "character":
            attributes["dialogue_lines"] = self.lines
        attributes.update(self.extra)
        return attributes


@dataclass
class _Scene:
    """The assets of one scene, in order of first appearance."""

    number: int
    assets: dict[tuple[str, str], _Asset] = field(default_factory=dict)

    def add(self, asset_type: AssetType, key: str, name: str, surface: str | None = None) -> _Asset:
        asset = self.assets.setdefault((asset_type, key), _Asset(asset_type, name))
        if surface and surface not in asset.aliases:
            asset.aliases.append(surface)
        return asset


def _describe(asset: _Asset, description: str | None, age: str | None, gender: str | None) -> None:
    for key, value in (("description", description), ("age", age), ("gender", gender)):
        if value and key not in asset.extra:
            asset.extra[key] = value


def _english_cues(lines: list[str]) -> list[tuple[int, str]]:
    """``(line index, speaker)`` for every cue: an all-caps line with dialogue under it."""
    cues = []
    in_dialogue = False
    for index, line in enumerate(lines):
        if not line.strip() or match_heading(line):
            in_dialogue = False
            continue
        if in_dialogue:
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.strip() and not match_heading(following):
            cue = parse_english_cue(line)
            if cue is not None:
                cues.append((index, cue))
                in_dialogue = True
    return cues


def _english_scene(scene: _Scene, text: str, known: frozenset[str], speakers: frozenset[str]) -> None:
    lines = text.splitlines()
    cues = dict(_english_cues(lines))
    in_dialogue = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or match_heading(line):
            in_dialogue = False
            continue
        if index in cues:
            scene.add("character", cues[index].upper(), cues[index], cues[index]).lines += 1
            in_dialogue = True
            continue
        if in_dialogue:
            if stripped.startswith("("):
                for name, surface in english_props(stripped, known):
                    scene.add("prop", name, name, surface)
            continue
        _english_action(scene, line, known, speakers)


def _speaker_for(name: str, speakers: frozenset[str]) -> str:
    """The cue name an intro such as ``NURSE BEN ADEYEMI`` refers to (``BEN``), else the name."""
    if name in speakers:
        return name
    return next((word for word in name.split() if word in speakers), name)


def _english_action(scene: _Scene, line: str, known: frozenset[str], speakers: frozenset[str]) -> None:
    for match in EN_INTRO_RE.finditer(line):
        name, age, description = match.group(1), match.group(2), match.group(3).strip(" ,;")
        key = _speaker_for(name, speakers)
        character = scene.add("character", key, key, name)
        _describe(character, description or None, age, None)
    for match in EN_CAPS_RUN_RE.finditer(line):
        run = POSSESSIVE_RE.sub("", match.group(0))
        key = _speaker_for(run, speakers)
        if run in known and ("character", key) not in scene.assets:
            scene.add("character", key, key, run)
    for name, surface in english_props(line, known) + marked_props(line):
        scene.add("prop", name, name, surface)


def _chinese_key(name: str, speakers: frozenset[str]) -> str:
    """The speaker a listed name such as ``秘书小唐`` refers to (``小唐``), else the name."""
    if name in speakers:
        return name
    return next((other for other in sorted(speakers) if len(other) >= 2 and name.endswith(other)), name)


def _chinese_scene(scene: _Scene, text: str, known: frozenset[str], speakers: frozenset[str]) -> None:
    for line in text.splitlines():
        if not line.strip() or match_heading(line):
            continue
        cast = parse_cast_line(line)
        if cast is not None:
            for name, description in cast:
                if not is_group(name):
                    key = _chinese_key(name, speakers)
                    character = scene.add("character", key, key, name)
                    info = description or ""
                    _describe(character, description, chinese_age(info), chinese_gender(info))
            continue
        cue = parse_chinese_cue(line)
        if cue is not None and CN_BIO_RE.match(cue.speech):
            for name, surface in cue.speakers:
                info = cue.speech
                _describe(
                    scene.add("character", name, name, surface), info, chinese_age(info), chinese_gender(info)
                )
            continue
        if cue is not None:
            for name, surface in cue.speakers:
                scene.add("character", name, name, surface).lines += 1
            notes = cue.notes + "".join(CN_BRACKET_RE.findall(cue.speech))
            for name, surface in chinese_props(notes, known):
                scene.add("prop", name, name, surface)
            continue
        _chinese_action(scene, line, known)


def _chinese_action(scene: _Scene, line: str, known: frozenset[str]) -> None:
    for match in CN_INTRO_RE.finditer(line):
        name, description = match.group(1), match.group(2)
        if name in known or not any(name.startswith(other) for other in known):
            character = scene.add("character", name, name, name)
            _describe(character, description, chinese_age(description), chinese_gender(description))
    for name in known:
        at = line.find(f"{name}（")
        if len(name) >= 2 and at >= 0 and ("character", name) in scene.assets:
            close = line.find("）", at)
            description = line[at + len(name) + 1 : close] if close > 0 else ""
            if len(description) >= 4 and description not in CN_NOTES:
                _describe(scene.assets[("character", name)], description, chinese_age(description), None)
    for name, surface in chinese_props(line, known):
        scene.add("prop", name, name, surface)


def _known_names(slices: Sequence[SceneSlice], chinese: bool) -> tuple[frozenset[str], frozenset[str]]:
    """``(all character names, speakers)`` seen anywhere in the slices.

    Props and presences are told apart from characters with these names.
    """
    speakers: set[str] = set()
    names: set[str] = set()
    for piece in slices:
        names.update(piece.listed_characters)
        lines = piece.text.splitlines()
        if chinese:
            for line in lines:
                cue = parse_chinese_cue(line)
                if cue is not None and not CN_BIO_RE.match(cue.speech):
                    speakers.update(name for name, _ in cue.speakers)
        else:
            speakers.update(cue.upper() for _, cue in _english_cues(lines))
            names.update(match.group(1) for line in lines for match in EN_INTRO_RE.finditer(line))
    return frozenset(names | speakers), frozenset(speakers)


def extract_rules(slices: Sequence[SceneSlice], *, language: str) -> list[Mention]:
    """Extract characters, locations and props from scene slices without any model.

    Args:
        slices: The scene slices of one chunk.
        language: ``"zh"`` or ``"en"`` (anything else is detected from the slices' text).

    Returns:
        Mentions ordered by scene number, then first appearance: one location per scene with a
        location, one character per speaker or listed/introduced character (attributes
        ``dialogue_lines``, ``aliases`` and, when stated, ``age``/``description``/``gender``),
        one prop per handled or marked object (attribute ``aliases``).

    >>> [(m.asset_type, m.name) for m in extract_rules(
    ...     [SceneSlice(1, "INT. BAR", "BAR", "INT. BAR\\n\\nJOE\\nHi.\\n")], language="en")]
    [('location', 'BAR'), ('character', 'JOE')]
    """
    if language not in ("zh", "en"):
        language = detect_language("\n".join(piece.text for piece in slices))
    chinese = language == "zh"
    known, speakers = _known_names(slices, chinese)
    scenes: dict[int, _Scene] = {}
    for piece in slices:
        scene = scenes.setdefault(piece.scene_number, _Scene(piece.scene_number))
        if piece.location:
            scene.add("location", piece.location, piece.location)
        for name in piece.listed_characters:
            if not is_group(name):
                key = _chinese_key(name, speakers) if chinese else name.upper()
                scene.add("character", key, key, name)
        (_chinese_scene if chinese else _english_scene)(scene, piece.text, known, speakers)
    return [
        Mention(asset.asset_type, asset.name, scene.number, asset.attributes())
        for scene in sorted(scenes.values(), key=lambda item: item.number)
        for asset in scene.assets.values()
    ]
