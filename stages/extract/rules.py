"""The offline rule-based extractor: characters, locations and props from scene text.

A chunk's slices are read twice: first to learn who speaks (cues, ``人物：`` lists, 人物小传
sketches, intros), then scene by scene to tally who is present, how often each speaks and
which objects are handled. The screenplay rules live in ``stages.screenplay``
(``english``/``chinese`` readers, ``cues``, ``names``, ``props``, ``props_zh``, ``bios``).
"""

from __future__ import annotations

from collections.abc import Sequence

from stages.drafts import Mention, SceneSlice
from stages.screenplay.chinese import ChineseContext, chinese_scene
from stages.screenplay.english import english_context, english_scene, prepared_lines
from stages.screenplay.language import detect_language
from stages.screenplay.names import is_group
from stages.screenplay.tally import SceneTally


def extract_rules(slices: Sequence[SceneSlice], *, language: str, sketches: str = "") -> list[Mention]:
    """Extract characters, locations and props from scene slices without any model.

    Args:
        slices: The scene slices of one chunk.
        language: ``"zh"`` or ``"en"`` (anything else is detected from the slices' text).
        sketches: The script's character sketches (``stages.screenplay.bios.find_sketches`` of
            the whole text): with them every chunk knows full names, nicknames, descriptions,
            ages and genders that only the front matter states.

    Returns:
        Mentions ordered by scene number, then first appearance: one location per scene with a
        location, one character per speaker or listed/introduced/named character (attributes
        ``dialogue_lines``, ``aliases`` and, when stated, ``age``/``description``/``gender``),
        one prop per handled or marked object (attribute ``aliases``).

    >>> [(m.asset_type, m.name) for m in extract_rules(
    ...     [SceneSlice(1, "INT. BAR", "BAR", "INT. BAR\\n\\nJOE\\nHi.\\n")], language="en")]
    [('location', 'BAR'), ('character', 'JOE')]
    """
    if language not in ("zh", "en"):
        language = detect_language("\n".join(piece.text for piece in slices))
    scenes: dict[int, SceneTally] = {}

    def tally(piece: SceneSlice) -> SceneTally:
        scene = scenes.setdefault(piece.scene_number, SceneTally(piece.scene_number))
        if piece.location:
            scene.add("location", piece.location, piece.location)
        return scene

    if language == "zh":
        zh = ChineseContext.build(slices, sketches)
        for piece, parsed in zip(slices, zh.lines, strict=True):
            chinese_scene(tally(piece), piece, parsed, zh)
    else:
        all_lines = [prepared_lines(piece.text) for piece in slices]
        en = english_context(all_lines)
        for piece, lines, cues in zip(slices, all_lines, en.cues, strict=True):
            scene = tally(piece)
            for name in piece.listed_characters:
                if not is_group(name):
                    en.add(scene, name)
            english_scene(scene, lines, cues, en)
    return [mention for number in sorted(scenes) for mention in scenes[number].mentions()]
