"""Sort scenes as a production board does: INT or EXT, and day or night (pure: no I/O).

A scene's sheet and strip are coloured by these two: INT day white, EXT day yellow, INT night
blue, EXT night green, and dawn or dusk (DAWN, DUSK, SUNSET, MAGIC HOUR, 黎明, 黄昏, 傍晚) a class
of its own, light orange inside and orange outside: those scenes are shot in a short window of
light that is neither day nor night, and a schedule groups them apart. Time words are read in
English and Chinese; a continuity time (CONTINUOUS, 接上) takes the scene before's light.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

#: Sheet colour class → background, by (INT/EXT, day/night).
SHEET_COLOURS: Mapping[str, str] = {
    "int-day": "#ffffff",
    "ext-day": "#fff176",
    "int-night": "#90caf9",
    "ext-night": "#a5d6a7",
    "int-twilight": "#ffe0b2",
    "ext-twilight": "#ffb74d",
    "unsorted": "#e0e0e0",
}
#: Time words, English and Chinese: day-ish, night-ish, or "as the scene before" (continuity).
DAY_WORDS = frozenset(
    {"DAY", "DAYTIME", "MORNING", "AFTERNOON", "NOON"}
    | {"日", "晨", "清晨", "早晨", "早上", "早", "上午", "中午", "午", "下午", "午后", "白天", "日景", "白日"}
)
NIGHT_WORDS = frozenset(
    {"NIGHT", "EVENING", "MIDNIGHT", "PREDAWN", "NIGHTTIME"}
    | {"夜", "晚", "深夜", "凌晨", "夜晚", "夜间", "夜景", "午夜", "半夜", "晚上"}
)
#: Dawn and dusk: ``MAGIC`` stands for MAGIC HOUR (time words are read one Latin word at a time).
TWILIGHT_WORDS = frozenset(
    {"DAWN", "DUSK", "SUNSET", "SUNRISE", "TWILIGHT", "MAGIC", "DAYBREAK", "NIGHTFALL"}
    | {"黎明", "黄昏", "傍晚", "拂晓", "破晓", "晨曦", "日落", "日出", "薄暮", "昏"}
)
SAME_WORDS = frozenset(
    {"CONTINUOUS", "CONT", "LATER", "SAME", "MOMENTS", "SIMULTANEOUS"}
    | {"同前", "接上", "稍后", "同时", "连续"}
)
LATIN_WORD = re.compile(r"[A-Za-z]+")
LONGEST_ZH_WORD = max(len(w) for w in DAY_WORDS | NIGHT_WORDS | TWILIGHT_WORDS | SAME_WORDS)


def side(int_ext: Any) -> str | None:
    """``INT`` or ``EXT`` from a scene's INT/EXT field (内 and 外 too); a mixed scene is EXT.

    A scene partly outside is coloured as an exterior: daylight and weather govern it.

    >>> side("INT"), side("内"), side("INT/EXT"), side("外景"), side(None)
    ('INT', 'INT', 'EXT', 'EXT', None)
    """
    text = str(int_ext or "").upper()
    if "EXT" in text or "外" in text or text in {"I/E", "E/I"}:
        return "EXT"
    return "INT" if "INT" in text or "内" in text else None


def light(time: Any) -> str | None:
    """``day``, ``night``, ``twilight`` (dawn or dusk), ``same`` (continuity: as the scene
    before) or None, from a time field.

    The first time word wins; Chinese words are matched longest first, so 傍晚 is dusk, not 晚
    (night).

    >>> light("NIGHT"), light("EARLY MORNING"), light("黄昏"), light("深夜"), light("CONTINUOUS")
    ('night', 'day', 'twilight', 'night', 'same')
    >>> light("DAWN"), light("MAGIC HOUR"), light("黎明"), light("傍晚")
    ('twilight', 'twilight', 'twilight', 'twilight')
    """
    text = str(time or "").upper()
    i = 0
    while i < len(text):
        latin = LATIN_WORD.match(text, i)
        if latin is not None:
            found, i = _kind(latin.group()), latin.end()
        else:
            sizes = range(LONGEST_ZH_WORD, 0, -1)
            found, i = next((k for n in sizes if (k := _kind(text[i : i + n])) is not None), None), i + 1
        if found is not None:
            return found
    return None


def _kind(token: str) -> str | None:
    if token in DAY_WORDS:
        return "day"
    if token in NIGHT_WORDS:
        return "night"
    if token in TWILIGHT_WORDS:
        return "twilight"
    return "same" if token in SAME_WORDS else None


def classify(scenes: Sequence[Mapping[str, Any]]) -> list[tuple[str | None, str | None]]:
    """Each scene's ``(INT/EXT, day/night)``; a continuity time takes the scene before's light.

    Args:
        scenes: The report's scenes, in order.

    Returns:
        One pair per scene; either part may be None when the script does not say.
    """
    found: list[tuple[str | None, str | None]] = []
    previous: str | None = None
    for scene in scenes:
        lit = light(scene.get("time"))
        if lit == "same":
            lit = previous
        found.append((side(scene.get("int_ext")), lit))
        previous = lit
    return found


def colour_class(kind: tuple[str | None, str | None]) -> str:
    """The sheet colour class of a scene's ``(INT/EXT, day/night)`` (``unsorted`` if either is unknown)."""
    inside, lit = kind
    return f"{inside.lower()}-{lit}" if inside and lit else "unsorted"
