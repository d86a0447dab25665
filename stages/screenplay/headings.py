"""Recognise one scene heading line (English/Fountain or Chinese) and read its parts."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pipeline.numerals import chinese_number
from stages.drafts import IntExt
from stages.screenplay.names import CAST_TAIL_RE
from stages.screenplay.words import word_set

#: ``INT. KITCHEN - NIGHT``, ``12 EXT. ROAD - DAY 12``, ``I/E CAR``, ``int. hall`` (dot needed
#: when the prefix is lower case, so an action line starting "Est" is not a heading).
EN_HEADING_RE = re.compile(
    r"^\s*(?:(?P<num>\d+[A-Z]?)\s+)?"
    r"(?P<prefix>INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\s*/\s*E|INT|EXT|EST)(?P<sep>\.\s*|\s+|$)(?P<rest>.*)$",
    re.IGNORECASE,
)
#: A forced Fountain heading: one dot, then a letter (``..`` and ``...`` are not headings).
FORCED_HEADING_RE = re.compile(r"^\s*\.(?=[^\W\d_])(?P<rest>.*)$")
#: Forced lines that are shots inside a scene, not new scenes.
SHOT_RE = re.compile(r"^(?:POV|INSERT|CLOSE[ -]ON|CLOSE[ -]UP|ANGLE ON|WIDE ON|BACK TO SCENE)\b", re.I)
#: ``BOILER ROOM - NIGHT``: a slug line with no INT./EXT., upper case, ending in a time of day.
EN_BARE_SLUG_RE = re.compile(
    r"^\s*(?P<place>[A-Z0-9][A-Z0-9 '’.&/()]*?[A-Z0-9.)])\s*(?:\s-{1,2}\s|--|–|—)\s*(?P<time>[A-Z'’. ]+?)"
    r"(?P<no>\s*#[\w.\-]+#)?\s*$"
)
#: Fountain scene number at the end of a heading: ``#12#``, ``#1A#``.
SCENE_NUMBER_RE = re.compile(r"\s*#[\w.\-]+#\s*$")
#: The separator before the time of day: `` - ``, ``--`` with or without spaces (or an en/em dash).
EN_TIME_SEP_RE = re.compile(r"\s+(?:-{1,2}|–|—)\s+|\s*(?:--|–|—)\s*|\s*,\s+")
EN_TIME_WORDS = word_set(
    "DAY NIGHT MORNING EVENING AFTERNOON DUSK DAWN SUNSET SUNRISE NOON MIDNIGHT LATER CONTINUOUS "
    "SAME MOMENTS LATE EARLY MAGIC HOUR TWILIGHT MIDDAY NIGHTFALL DAYBREAK SIMULTANEOUS CONTINUING "
    "PRESENT FLASHBACK LATER. CONT'D CONT"
)
EN_WORD_RE = re.compile(r"[A-Z'.]+")
#: Brackets dropped from a location (their content stays).
BRACKETS_RE = re.compile(r"[\[\]【】（）()《》<>「」]")
#: Characters trimmed from both ends of a location.
LOCATION_TRIM = " \t\u3000.-–—:：,，、;；#·"

#: ``1-1 日 内 客厅``, ``1-1日 内 地点``, ``3－12 夜 外 街道``.
CN_EPISODE_SCENE_RE = re.compile(r"^\s*\d+\s*[-－—–_]\s*\d+(?![\d.])[\s.．、:：]*(?P<rest>.*)$")
#: ``第1场 内景：（县城商场）``, ``【第十二场】 …``; a stage play's ``第一幕：王家客厅`` too.
CN_SCENE_ORDINAL_RE = re.compile(
    r"^\s*[【\[（(]?\s*第\s*[0-9０-９零〇一二三四五六七八九十百千两]+\s*[场幕](?!结束|完|终)\s*[】\]）)]?[\s.．、:：]*(?P<rest>.*)$"
)
#: ``场：1 景：青山寨 时：日`` and ``场景1：客厅 日 内``.
CN_KEYED_RE = re.compile(r"^\s*(?P<rest>(?:场|场景\s*\d*)\s*[:：].*)$")
#: The keys of keyed headings (with the scene number after ``场：``), removed before reading.
CN_KEY_RE = re.compile(r"(?:场次|场)\s*[:：]\s*\d*|(?:场景\s*\d*|背景|景|时间|地点|时|内外)\s*[:：]")
#: ``20、卫生间 日 内``, ``3．医院走廊 夜 内``, ``1 郊外 [日 外]`` (needs a time or 内/外 word).
CN_NUMBERED_RE = re.compile(r"^\s*\d+\s*(?:[、.．:：，,]|\s)\s*(?P<rest>.*)$")
#: ``（17） 阁楼 内 夜`` (a bracketed scene number; needs a time or 内/外 word too).
CN_BRACKET_NUMBERED_RE = re.compile(r"^\s*[（(]\d{1,3}[）)]\s*(?P<rest>.*)$")
#: ``情景二 内景``, ``场景3 外 夜``: a numbered scene label.
CN_SCENE_LABEL_RE = re.compile(
    r"^\s*(?:情景|场景)\s*[0-9０-９零〇一二三四五六七八九十百千两]{1,4}(?![:：])[\s、.．]*(?P<rest>.*)$"
)
#: ``NO-12：夜晚``: a scene number in a TV script's own style.
CN_NO_RE = re.compile(r"^\s*NO\s*[-－.]?\s*\d{1,3}\s*[:：](?P<rest>.*)$")
#: ``内景 李家 中午`` (needs a time or 内/外 word too).
CN_INT_EXT_FIRST_RE = re.compile(r"^\s*(?P<rest>(?:内外景|内景|外景|内/外景)[\s:：].*)$")
#: The value of a ``时：`` key, up to the next key: all of it is the time of day.
CN_TIME_KEY_RE = re.compile(r"(?:时间|(?<![场景])时)\s*[:：]\s*([^:：]*?)\s*(?=(?:景|场|地点|人物|人|内外)\s*[:：]|$)")
#: Splits the rest of a Chinese heading into words.
CN_TOKEN_SPLIT_RE = re.compile(r"[\s\u3000/／,，、。:：;；·\[\]【】（）()《》<>「」—－-]+")
CN_TIMES = word_set(
    "日 夜 晨 清晨 黄昏 傍晚 中午 黎明 晚 早 午后 深夜 白天 晚上 夜晚 早晨 上午 下午 凌晨 午 正午 早上 "
    "半夜 夜里 日景 夜景 晨曦"
)
CN_INT_EXT: dict[str, IntExt] = {
    "内": "INT",
    "内景": "INT",
    "外": "EXT",
    "外景": "EXT",
    "内外": "INT/EXT",
    "外内": "INT/EXT",
    "内外景": "INT/EXT",
    "内/外": "INT/EXT",
    "内/外景": "INT/EXT",
}
_TIMES_ALT = "|".join(sorted(CN_TIMES, key=len, reverse=True))
#: ``内 日 客厅`` / ``夜 外 街道``: a bare 内/外 only counts next to a time word.
CN_BARE_INT_EXT_RE = re.compile(
    rf"^\s*(?P<rest>(?:内外|内|外)\s+(?:{_TIMES_ALT})\s.*|(?:{_TIMES_ALT})\s+(?:内外|内|外)\s.*)$"
)
#: ``日内``, ``夜外``, ``内夜`` written as one word.
CN_TIME_INT_EXT_RE = re.compile(rf"^(?:({_TIMES_ALT})(内外|内|外)|(内外|内|外)({_TIMES_ALT}))$")
CN_FIRST_TIME_CHARS = frozenset(word[0] for word in CN_TIMES)
#: A place with a one-character time of day run into its end (``经理室日``).
CN_TIME_SUFFIX_RE = re.compile(r"^(.{2,})(日|夜|晨)$")
#: ``日，外。菜市场``: time, then 内/外, then the place, split by commas or full stops.
CN_TIME_FIRST_RE = re.compile(
    rf"^\s*(?P<rest>(?:{_TIMES_ALT})[\s，,、。]+(?:内外|内|外)(?:[\s，,、。].{{0,30}})?)$"
)
#: ``厨房 白天 内景``: place, time, then 内景/外景 written out.
CN_PLACE_FIRST_RE = re.compile(
    rf"^\s*(?P<rest>[^\s:：。！？，,]{{1,20}}[\s\u3000]+(?:{_TIMES_ALT})[\s\u3000]+(?:内外景|内景|外景)\s*)$"
)
#: Notes in a heading that are neither place nor time.
CN_SKIPPED = word_set("回忆 闪回 续 接上场 同上")
#: A heading never ends like a sentence.
SENTENCE_END = ("。", "！", "？", "…", "!", "?", "”", '"', ".")
#: Longest Chinese heading rest worth reading.
DEFAULT_MAX_CN_HEADING = 40


@dataclass(frozen=True)
class Heading:
    """What a heading line says: interior/exterior, time of day and location."""

    int_ext: IntExt | None
    time: str | None
    location: str | None


def clean_location(raw: str) -> str | None:
    """Trim brackets, scene numbers and punctuation from a location; ``None`` if nothing is left.

    Args:
        raw: The location part of a heading.

    Returns:
        The location with single spaces, or ``None``.
    """
    text = SCENE_NUMBER_RE.sub("", raw)
    text = BRACKETS_RE.sub(" ", text)
    text = " ".join(text.split()).strip(LOCATION_TRIM)
    return text or None


def _en_int_ext(prefix: str) -> IntExt:
    letters = prefix.upper().replace(".", "").replace(" ", "")
    if "/" in letters:
        return "INT/EXT"
    return "INT" if letters == "INT" else "EXT"


def _split_en_time(rest: str) -> tuple[str, str | None]:
    """Split ``PLACE - DAY`` (and ``PLACE - DAY - FLASHBACK``: every trailing time part) at its time."""
    times: list[str] = []
    while separators := list(EN_TIME_SEP_RE.finditer(rest)):
        last = separators[-1]
        time = rest[last.end() :].strip()
        words = set(EN_WORD_RE.findall(time.upper()))
        if not time or not (words & EN_TIME_WORDS or any(char.isdigit() for char in time)):
            break
        times.insert(0, time)
        rest = rest[: last.start()]
    return rest, " - ".join(times) or None


def _english(line: str) -> Heading | None:
    match = EN_HEADING_RE.match(line)
    if match is None:
        return None
    prefix, sep, rest = match.group("prefix"), match.group("sep"), match.group("rest")
    if not prefix.isupper() and (
        not sep.startswith(".") or prefix.upper() == "EST" or rest.endswith(SENTENCE_END)
    ):
        return None  # lower-case "Est." or "int." opening a sentence is prose, not a heading
    rest = SCENE_NUMBER_RE.sub("", rest)
    number = match.group("num")
    if number and rest.rstrip().endswith(f" {number}"):
        rest = rest.rstrip()[: -len(number)]
    place, time = _split_en_time(rest)
    return Heading(_en_int_ext(prefix), time, clean_location(place))


def _bare_slug(line: str) -> Heading | None:
    match = EN_BARE_SLUG_RE.match(line)
    if match is None or not set(EN_WORD_RE.findall(match.group("time"))) <= EN_TIME_WORDS:
        return None
    return Heading(None, match.group("time").strip(), clean_location(match.group("place")))


def _forced(line: str) -> Heading | None:
    match = FORCED_HEADING_RE.match(line)
    if match is None or SHOT_RE.match(match.group("rest")):
        return None
    rest = match.group("rest")
    inner = _english(rest) or _chinese(rest)
    if inner is not None:
        return inner
    place, time = _split_en_time(SCENE_NUMBER_RE.sub("", rest))
    return Heading(None, time, clean_location(place))


def _read_words(
    words: list[str], time: str | None, int_ext: IntExt | None
) -> tuple[str | None, IntExt | None, list[str]]:
    """Sort a heading's words into its time, its 内/外 and the rest (the place, as a rule)."""
    rest: list[str] = []
    for word in words:
        combined = CN_TIME_INT_EXT_RE.match(word)
        if word in CN_TIMES:
            time = time or word
        elif word in CN_INT_EXT:
            int_ext = int_ext or CN_INT_EXT[word]
        elif combined:
            time = time or combined.group(1) or combined.group(4)
            int_ext = int_ext or CN_INT_EXT[combined.group(2) or combined.group(3)]
        elif word not in CN_SKIPPED:
            rest.append(word)
    return time, int_ext, rest


def _chinese_parts(rest: str, *, strong: bool) -> Heading | None:
    cast = CAST_TAIL_RE.search(rest)
    rest = (rest[: cast.start()] if cast else rest).strip()
    if len(rest) > DEFAULT_MAX_CN_HEADING or rest.endswith(SENTENCE_END):
        return None
    int_ext: IntExt | None = None
    time: str | None = None
    keyed = CN_TIME_KEY_RE.search(rest)
    if keyed is not None:  # 时：春天 下午 / 时：日/内: the key's words are the time (and 内/外)
        rest = rest[: keyed.start()] + " " + rest[keyed.end() :]
        words = [word for word in CN_TOKEN_SPLIT_RE.split(keyed.group(1)) if word]
        time, int_ext, other = _read_words(words, None, None)
        time = time or " ".join(other) or None
    tokens = [token for token in CN_TOKEN_SPLIT_RE.split(CN_KEY_RE.sub(" ", rest)) if token]
    time, int_ext, place = _read_words(tokens, time, int_ext)
    if not strong and ((time is None and int_ext is None) or len(place) > 3):
        return None
    if time is None and int_ext is not None and place and (glued := CN_TIME_SUFFIX_RE.match(place[-1])):
        place[-1], time = glued.group(1), glued.group(2)  # 经理室日 内: the time ran into the place
    return Heading(int_ext, time, clean_location(" ".join(place)))


def _chinese(line: str) -> Heading | None:
    for pattern, strong in (
        (CN_EPISODE_SCENE_RE, True),
        (CN_SCENE_ORDINAL_RE, True),
        (CN_KEYED_RE, True),
        (CN_SCENE_LABEL_RE, True),
        (CN_NO_RE, True),
        (CN_NUMBERED_RE, False),
        (CN_BRACKET_NUMBERED_RE, False),
        (CN_INT_EXT_FIRST_RE, False),
        (CN_BARE_INT_EXT_RE, False),
        (CN_PLACE_FIRST_RE, False),
        (CN_TIME_FIRST_RE, False),
    ):
        match = pattern.match(line)
        if match:
            return _chinese_parts(match.group("rest"), strong=strong)
    return None


#: Where a heading carries the script's own scene number, as written.
_SCENE_NO_RES = (
    re.compile(r"#(?P<no>[\w.\-]+)#\s*$"),  # Fountain: INT. HOUSE - DAY #12A#
    re.compile(r"^\s*\.?\s*(?P<no>\d+[A-Z]?)\s+(?:INT|EXT|EST|I\s*/\s*E)", re.IGNORECASE),  # 12 INT. …
    re.compile(r"^\s*(?P<no>\d+\s*[-－—–_]\s*\d+)(?![\d.])"),  # 1-1 日 内
    re.compile(r"^\s*[【\[（(]?\s*第\s*(?P<no>[0-9０-９零〇一二三四五六七八九十百千两]+)\s*[场幕]"),  # 第3场
    re.compile(r"^\s*(?:场次|场)\s*[:：]\s*(?P<no>\d+)"),  # 场：5
    re.compile(r"^\s*(?P<no>\d+)\s*[、.．，,:：]"),  # 20、卫生间 日 内 · 2， 外景 王家
    re.compile(r"^\s*[（(](?P<no>\d+)[）)]"),  # （17） 阁楼 内 夜
    re.compile(r"^\s*(?:情景|场景)\s*(?P<no>[0-9０-９零〇一二三四五六七八九十百千两]+)"),  # 情景二 内景
    re.compile(r"^\s*NO\s*[-－.]?\s*(?P<no>\d+)"),  # NO-12：夜晚
)


def scene_number(line: str) -> str | None:
    """The script's own number of the scene a heading opens, as written, if it has one.

    >>> [scene_number(h) for h in ("INT. HOUSE - DAY #12A#", "12 EXT. ROAD - DAY 12", "1-3 日 内 客厅")]
    ['12A', '12', '1-3']
    >>> [scene_number(h) for h in ("第三场 内景：书房", "场： 5 景：院子", "20、卫生间 日 内", "INT. BAR")]
    ['3', '5', '20', None]
    """
    for pattern in _SCENE_NO_RES:
        if (match := pattern.search(line)) is not None:
            number = unicodedata.normalize("NFKC", "".join(match.group("no").split()))
            written = chinese_number(number)
            return str(written) if written is not None else number
    return None


def match_heading(line: str) -> Heading | None:
    """Read ``line`` as a scene heading.

    Args:
        line: One line of a script, with or without its line break.

    Returns:
        The heading's parts, or ``None`` when the line is not a scene heading (shots such as
        ``.POV`` or ``.INSERT`` are not headings).

    >>> match_heading("INT. KITCHEN - NIGHT #3#")
    Heading(int_ext='INT', time='NIGHT', location='KITCHEN')
    >>> match_heading("1-1 日 内 客厅")
    Heading(int_ext='INT', time='日', location='客厅')
    """
    stripped = line.lstrip(" \t\u3000\ufeff")
    if not stripped:
        return None
    first = stripped[0]
    if first == ".":
        return _forced(line)
    found = _english(line) if first in "IiEe" or first.isdigit() else None
    if found is None and (first.isdigit() or first in "第【[（(场内外情N" or first in CN_FIRST_TIME_CHARS):
        found = _chinese(line)
    elif found is None and "\u4e00" <= first <= "\u9fff" and "景" in line:
        found = _chinese(line)  # 厨房 白天 内景: any place first, but 内景/外景 written out
    if found is None and "A" <= first <= "Z":
        found = _bare_slug(line)
    return found
