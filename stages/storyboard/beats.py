"""Read screenplay layout for the storyboard: a scene's beats and the parts of its heading.

A helper of the storyboard planner: it knows screenplay layout (English cue lines, Chinese
``名字：台词`` lines and ``△`` action lines, headings) but nothing about shots.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

BeatKind = Literal["action", "dialogue"]

#: Longest speaker name accepted from a cue line; longer all-caps lines are action.
MAX_CUE_CHARS = 40
#: Longest unknown Chinese speaker name before a ``…：…`` line is taken for action.
MAX_ZH_SPEAKER_CHARS = 8

#: A Han character: text holding one is matched and split the Chinese way.
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
#: The mark that opens an action line in Chinese scripts.
ACTION_MARK = re.compile(r"^[△▲]\s*")
#: English headings (optionally numbered, or Fountain's forced ``.HEADING``) and Chinese ones.
SCENE_HEADING = re.compile(
    r"^(?:\.(?=[^.\s])|(?:\d+[A-Z]?\.?\s+)?(?:INT\.?/EXT|EXT\.?/INT|INT|EXT|EST|I/E)[.\s])"
    r"|^第[\d一二三四五六七八九十百零〇两]+[集场幕]"
    r"|^\d+\s*[-－—–.．]\s*\d+(?:[\s、.．]|$)",
    re.IGNORECASE,
)
#: Chinese header lines that list the scene's cast, place or time.
HEADER_LABEL = re.compile(r"^(?:出场人物|出场|人物|角色|场景|地点|时间|道具|服装|集数|场次)\s*[：:]")
#: Transitions (``CUT TO:``, ``切至``) and Fountain's forced ``>`` lines.
TRANSITION = re.compile(
    r"^(?:>.*|[A-Z][A-Z .']*TO:|FADE (?:IN|OUT)[.:]?|FADE TO BLACK\.?|THE END\.?"
    r"|(?:切至|切到|转场|黑场|淡入|淡出)[：:。.]?)$"
)
#: Fountain notes, boneyard, sections, synopses and page breaks.
NOTE = re.compile(r"^(?:\[\[.*\]\]|/\*.*\*/|#+\s|={1,2}\s|={3,}$)")
#: A cue line: optional ``@``, the name, any ``(V.O.)``/``(CONT'D)``, optional dual-dialogue ``^``.
CUE = re.compile(r"^(?P<force>@)?(?P<name>[^(@^]+?)\s*(?P<ext>(?:\([^)]*\)\s*)*)\^?$")
CUE_NAME = re.compile(r"^[^\W\d_][\w .'\-&#]*$")
#: ``名字：台词`` and ``名字（情绪）：台词``, full- or half-width.
COLON_SPEECH = re.compile(
    r"^(?P<name>[^\s：:（）()△▲][^：:（）()△▲]{0,19}?)\s*(?P<ext>[（(][^）)]{0,20}[）)])?\s*[：:]\s*(?P<line>.*)$"
)
#: A cue extension or parenthetical saying the speaker is heard, not seen (V.O., O.S., 画外音…).
OFF_SCREEN = re.compile(
    r"V\.?\s?O\.?|O\.?\s?[SC]\.?|VOICE[- ]?OVER|OFF[- ]?(?:SCREEN|CAMERA)|画外音?|旁白|内心独白|心声",
    re.IGNORECASE,
)
#: One parenthetical, half- or full-width; group 1 is what it says.
PARENTHETICAL = re.compile(r"[（(]\s*([^（）()]*?)\s*[）)]")
#: Speakers that are a voice by nature, never on screen.
NARRATORS = frozenset({"旁白", "画外音", "narrator"})
#: Labels written like a speaker that are not one (captions, notes), so their lines are action.
NOT_SPEAKERS = frozenset({"字幕", "注", "备注", "画面", "镜头", "特写", "提示", "说明"})
#: A Chinese "name" ending in a speech verb is narration that quotes someone (``他说：…``).
SPEECH_VERB_END = re.compile(r"[说道问喊叫想写答骂吼]$|写着$")

#: What precedes the place in an English heading: scene number and INT./EXT.
HEADING_PREFIX = re.compile(
    r"^\s*(?:\d+[A-Z]?\.?\s+)?(?:INT\.?/EXT|EXT\.?/INT|INT|EXT|EST|I/E)\.?\s*|^\s*\.(?=\S)", re.IGNORECASE
)
HEADING_DASH = re.compile(r"\s+[-–—]+\s+")
TRAILING_SCENE_NUMBER = re.compile(r"\s+\d+[A-Z]?\s*$")
#: Fountain's scene number at the end of a heading: ``#1#``, ``#12A#``, ``#I-1-A#``.
FOUNTAIN_SCENE_NUMBER = re.compile(r"\s*#[\w.\-]+#\s*$")
ZH_TOKEN_SPLIT = re.compile(r"[\s、，,/|｜（）()【】\[\]]+")
ZH_SCENE_NUMBER = re.compile(r"^(?:\d+\s*[-－—–.．]\s*\d+|第[\d一二三四五六七八九十百零〇两]+[集场幕]|\d+)$")
#: A leading label or scene number (``场景：``, ``3．``, ``1-2、``) before a Chinese heading's place.
ZH_LABEL = re.compile(r"^(?:(?:场景|地点)\s*[：:]|\d+(?:\s*[-－—–]\s*\d+)?\s*[.．、:：]?)\s*")
EN_TIMES = frozenset(
    {"DAY", "NIGHT", "MORNING", "AFTERNOON", "EVENING", "DUSK", "DAWN", "SUNSET", "SUNRISE", "NOON"}
    | {"MIDNIGHT", "CONTINUOUS", "LATER", "MOMENTS LATER", "SAME TIME", "SAME", "DAY/NIGHT"}
)
ZH_TIMES = frozenset(
    {"日", "夜", "晨", "昏", "早", "晚", "午", "白天", "夜晚", "夜间", "清晨", "早晨", "上午", "中午", "下午"}
    | {"午后", "傍晚", "黄昏", "凌晨", "深夜", "黎明", "日景", "夜景"}
)
ZH_INT_EXT = frozenset({"内", "外", "内外", "外内", "内/外", "INT", "EXT", "INT/EXT"})


@dataclass(frozen=True)
class Beat:
    """One beat: an action paragraph, or one speech with ``speaker`` as written (no extension).

    ``text`` is the action or the spoken words; ``aside`` holds a speech's parentheticals;
    ``voice`` is the off-screen mark as written (``V.O.``, ``画外音``, or the speaker's name for
    a narrator), empty when the speaker is seen.
    """

    kind: BeatKind
    text: str
    speaker: str | None = None
    aside: str = ""
    voice: str = ""


class _Reader:
    """Accumulates the lines of the beat being read and flushes it into ``beats``."""

    def __init__(self) -> None:
        self.beats: list[Beat] = []
        self.action: list[str] = []
        self.speaker: str | None = None
        self.spoken: list[str] = []
        self.asides: list[str] = []
        self.voice = ""

    def flush(self) -> None:
        if self.action:
            self.beats.append(Beat("action", " ".join(self.action)))
        if self.speaker is not None:
            spoken, asides = " ".join(self.spoken), " ".join(self.asides)
            self.beats.append(Beat("dialogue", spoken, self.speaker, asides, self.voice))
        self.action, self.speaker, self.spoken, self.asides, self.voice = [], None, [], [], ""

    def start_speech(self, speaker: str, first_line: str = "", extension: str = "") -> None:
        self.flush()
        self.speaker = speaker
        self.voice = off_screen(speaker, extension)
        lead = PARENTHETICAL.match(first_line)
        if not self.voice and lead is not None and OFF_SCREEN.fullmatch(lead[1]):
            # ``林夏：（画外音）…``: the mark opens the line instead of following the name.
            self.voice, first_line = lead[1], first_line[lead.end() :].strip()
        if first_line:
            self.add_speech(first_line)

    def add_speech(self, line: str) -> None:
        is_aside = line[:1] in "(（" and line[-1:] in ")）"
        (self.asides if is_aside else self.spoken).append(line)


def split_beats(scene_text: str, *, heading: str = "", known_speakers: Collection[str] = ()) -> list[Beat]:
    """Split a scene's text into action and dialogue beats, in reading order.

    Headings, Chinese header lines (``人物：…``), transitions and Fountain notes are skipped.

    Args:
        scene_text: The scene as written, possibly starting with its heading line.
        heading: The scene's heading line; a line equal to it is not a beat.
        known_speakers: Casefolded names that may speak; such a name followed by a colon is
            always a speech, even in English.

    Returns:
        The beats; a speech's ``speaker`` is the name as written, without ``(V.O.)`` etc.
    """
    lines = [line.strip() for line in scene_text.splitlines()]
    reader = _Reader()
    heading_line = heading.strip()
    for i, line in enumerate(lines):
        if not line:
            reader.flush()
            continue
        if line == heading_line or _is_skipped(line):
            reader.flush()
            continue
        mark = ACTION_MARK.match(line)
        if mark:
            reader.flush()
            reader.action.append(line[mark.end() :])
            continue
        speech = _colon_speech(line, known_speakers)
        if speech is not None:
            reader.start_speech(*speech)
            if speech[1]:
                # Chinese formats give one speech per line; an empty ``名字：`` line opens a
                # speech that runs on until a blank line instead.
                reader.flush()
            continue
        if reader.speaker is not None:
            reader.add_speech(line)
            continue
        cue = _cue_name(line, known_speakers)
        after_blank = i == 0 or not lines[i - 1] or _is_skipped(lines[i - 1]) or lines[i - 1] == heading_line
        followed = i + 1 < len(lines) and bool(lines[i + 1])
        if cue is not None and followed and (after_blank or cue[0].casefold() in known_speakers):
            reader.start_speech(*cue)
            continue
        if reader.action and CJK.search(line) and CJK.search(reader.action[-1]):
            # Chinese scripts are not hard-wrapped: each line is a paragraph of its own.
            reader.flush()
        reader.action.append(line)
    reader.flush()
    return reader.beats


def _is_skipped(line: str) -> bool:
    return any(pattern.match(line) for pattern in (SCENE_HEADING, HEADER_LABEL, TRANSITION, NOTE))


def off_screen(speaker: str, extension: str) -> str:
    """The off-screen mark of a speech: the cue extension that says so, or a narrator's name.

    >>> off_screen("MARY", "(V.O.) (CONT'D)"), off_screen("林夏", "（画外音）"), off_screen("旁白", "")
    ('V.O.', '画外音', '旁白')
    >>> off_screen("JOHN", "(CONT'D)")
    ''
    """
    for aside in PARENTHETICAL.finditer(extension):
        if OFF_SCREEN.fullmatch(aside[1]):
            return aside[1]
    return speaker.strip() if speaker.strip().casefold() in NARRATORS else ""


def _colon_speech(line: str, known_speakers: Collection[str]) -> tuple[str, str, str] | None:
    match = COLON_SPEECH.match(line)
    if match is None:
        return None
    name = match["name"].strip()
    if name.casefold() not in known_speakers:
        if not CJK.search(name) or name in NOT_SPEAKERS or SPEECH_VERB_END.search(name):
            return None
        if len(name) > MAX_ZH_SPEAKER_CHARS or any(ch.isspace() for ch in name):
            return None
    return name, match["line"].strip(), match["ext"] or ""


def _cue_name(line: str, known_speakers: Collection[str]) -> tuple[str, str] | None:
    match = CUE.match(line)
    if match is None:
        return None
    name = match["name"].strip()
    if not name or len(name) > MAX_CUE_CHARS or CJK.search(name):
        return None
    if match["force"] or (CUE_NAME.match(name) and name == name.upper()):
        return name, match["ext"]
    return None


def split_heading(heading: str) -> tuple[str, str | None]:
    """Split a scene heading into its place and time of day, dropping INT/EXT and scene numbers.

    Args:
        heading: An English (``INT. KITCHEN - NIGHT``) or Chinese (``1-2 客厅 夜 内``) heading.

    Returns:
        ``(place, time)``; ``time`` is None when the heading names no time of day.
    """
    heading = FOUNTAIN_SCENE_NUMBER.sub("", heading)
    if CJK.search(heading):
        tokens = [t for t in ZH_TOKEN_SPLIT.split(ZH_LABEL.sub("", heading.strip())) if t]
        tokens = [t for t in tokens if not ZH_SCENE_NUMBER.match(t) and t.upper() not in ZH_INT_EXT]
        times = [t for t in tokens if t in ZH_TIMES]
        return " ".join(t for t in tokens if t not in ZH_TIMES), (times[0] if times else None)
    rest = TRAILING_SCENE_NUMBER.sub("", HEADING_PREFIX.sub("", heading.strip()))
    parts = HEADING_DASH.split(rest)
    if len(parts) > 1 and parts[-1].split("(")[0].strip().upper() in EN_TIMES:
        return " - ".join(parts[:-1]).strip(), parts[-1].strip()
    return rest.strip(), None
