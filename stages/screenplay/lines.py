"""Split text into logical lines, also where scraped Chinese text lost its line breaks.

Scripts copied from web pages often run several scene headers, action lines and speeches into
one physical line. ``logical_lines`` returns ``(start, end)`` spans into the text (never a
rewritten text), cutting a physical line only before something that is clearly a new line: a
scene header ``1-2 日 内``, ``第X集``, ``人物：``, ``△``, or a ``名字：`` cue whose name is a known
speaker or listed character, or which opens a quote. A cut needs a boundary before it: the end
of a sentence (。！？… or a closing quote/bracket) or a space; only ``人物：`` and a ``1-2 日 内``
scene number, which a sentence never contains, are cut where text runs straight into them.
Speakers of a script with no line breaks at all are told by how often they speak
(:func:`run_on_speakers`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stages.screenplay.inline import heading_cuts
from stages.screenplay.names import CN_ROLE_NOUNS, parse_cast_line, parse_chinese_cue
from stages.screenplay.words import word_set

LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
#: Physical lines shorter than this are never cut (a cue and its speech fit in one line).
DEFAULT_MIN_SPLIT_CHARS = 24
#: Shorter lines are not even cut around a heading (no heading and action fit in them).
DEFAULT_MIN_HEADING_CUT_CHARS = 8
#: What ends a sentence or a bracket in scraped text: a cut after one of these needs no space.
_ENDS = r"。！？!?…”」』）)】\].~"
_BOUNDARY = rf"(?:(?<=[{_ENDS}])|(?<=[ \t\u3000]))"
_NUM = r"[0-9０-９零〇一二三四五六七八九十百千两]+"
_TIME = r"(?:日|夜|晨|清晨|黄昏|傍晚|中午|黎明|晚|早|深夜|白天|晚上|夜晚|早晨|上午|下午|凌晨|午后)"
_PLACE = r"(?:内外|内|外|内景|外景)"
#: What may start a logical line in the middle of a physical one (names are added per script).
_STRUCTURAL = (
    rf"\d+\s*[-－—–]\s*\d+[\s.．、]*(?:{_TIME}\s*{_PLACE}|{_PLACE}\s*{_TIME})"
    rf"|[【\[]?第\s*{_NUM}\s*集(?=[\s:：，,、】\]]|$)"
    rf"|[【\[]?第\s*{_NUM}\s*场(?=[\s:：，,、】\]内外]|$)"
    r"|场\s*[:：]\s*\d+(?=\s|景)"
    r"|(?:出场)?人物\s*[:：]"
    r"|△"
    r"|[\u4e00-\u9fff]{1,4}(?:[（(][^）)\n]{0,12}[）)])?[ \t\u3000]*[:：]\s*[“「\"]"
)
#: A ``人物：`` key starts a line even with no boundary before it: a scraped heading runs straight
#: into it (``1-1 日 内 教室人物：秀兰``), and the key is never part of a sentence.
_CAST_KEY = r"(?<=[^\s])(?<!主要)(?<!出场)(?<!登场)(?=人物\s*[:：])"
#: So does a ``1-2 日 内`` scene number: an episode title or the last speech runs into it
#: (``第2集 反击2-1 日 内``), and the pattern is too particular to occur inside a sentence.
_SCENE_KEY = rf"(?<=[^\d\s\-－—–])(?=\d+\s*[-－—–]\s*\d+[\s.．、]*(?:{_TIME}\s*{_PLACE}|{_PLACE}\s*{_TIME}))"
#: So does a front-matter header with its colon (``剧名故事梗概：…``, ``剧名人物介绍：…``), and a
#: sketches header is cut from the first sketch run into it: the words
#: are never part of a sentence, and a title often runs straight into them.
_FRONT_KEY = (
    r"(?<=[^\s])(?=(?:故事梗概|剧情梗概|剧情简介|故事简介|剧情介绍|人物介绍|人物简介|人物小传|角色介绍|编剧)\s*[:：])"
    # a sketches header run into its first sketch (人物小传林晚：女，…) ends there
    r"|(?<=人物小传|人物介绍|人物简介)(?=[\u4e00-\u9fff]{2,4}[（(:：])"
)
#: A role noun with up to six characters describing it before (``男售票员``, ``穿白大褂的护士``).
_ROLE_CUE = (
    r"[\u4e00-\u9fff]{0,6}?(?:"
    + "|".join(re.escape(word) for word in sorted(CN_ROLE_NOUNS, key=len, reverse=True))
    + ")"
)
#: △ opens action wherever it stands (``人：阿牛、三婶△阿牛背着竹筐``): it is never inside a sentence.
_ACTION_KEY = r"(?<=[^\s])(?=[△▲])"
STRUCTURAL_RE = re.compile(
    _BOUNDARY + "(?:" + _STRUCTURAL + ")|" + _CAST_KEY + "|" + _SCENE_KEY + "|" + _FRONT_KEY + "|" + _ACTION_KEY
)
#: Any short name and a colon after a boundary: only then can a known name's cue need a cut.
MAYBE_CUE_RE = re.compile(_BOUNDARY + r"[\u4e00-\u9fff]{1,6}(?:[（(][^）)\n]{0,12}[）)])?[ \t\u3000]*[:：]")
CJK_RE = re.compile(r"[\u4e00-\u9fff]")
#: A short name and a colon after a boundary in the middle of a line: a cue whose line break was
#: lost, if the same name does this often enough (:data:`DEFAULT_MIN_RUN_ON_CUES`).
RUN_ON_CUE_RE = re.compile(
    _BOUNDARY
    + r"(?P<name>[\u4e00-\u9fff]{2,4}|[\u4e00-\u9fff](?:[ \t\u3000][\u4e00-\u9fff]){1,3})"
    + r"(?:[（(][^）)\n]{0,12}[）)])?[ \t\u3000]*[:：]"
)
#: A one-character cue (``周：``, ``甲：``) opening a speech right after a sentence ends (not after a
#: space: ``阿 芳：`` is 阿芳 padded).
SHORT_CUE_RE = re.compile(rf"(?<=[{_ENDS}])(?P<name>[\u4e00-\u9fff])(?:[（(][^）)\n]{0,12}[）)])?[ \t\u3000]*[:：]")
#: How often a one-character name must open a speech that way to be a speaker.
DEFAULT_MIN_SHORT_CUES = 4
#: How often a name must open a run-on speech (after a sentence end, mid-line) to count as a
#: speaker: a scraped script's main speakers speak many times, a phrase before a colon rarely.
DEFAULT_MIN_RUN_ON_CUES = 3
#: Once this many names pass that bar the script is surely run-on, and a name that opens a speech
#: right after a sentence's end (。！？…, a closing bracket or quote) even once is a speaker too.
DEFAULT_RUN_ON_SPEAKERS = 3
#: What a sentence ends with, for the second rule.
_SENTENCE_END = "。！？!?…”」』）).~"
#: A ``人物：`` list anywhere in a line, up to the next △ or sentence end (brackets may hold any).
MID_CAST_RE = re.compile(r"人物\s*[:：]((?:[（(][^）)]*[）)]|[^△。！？\n（(]){1,120})")
CAST_NAME_SPLIT_RE = re.compile(r"[、，,\s]+")
CAST_NAME_RE = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
#: A listed character's bracketed description.
CAST_NOTE_RE = re.compile(r"[（(][^）)]*[）)]")


def physical_lines(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of the lines of ``text``, without their line breaks.

    Args:
        text: Any text.

    Returns:
        One span per line, in order (a trailing line break gives no empty last line).

    >>> physical_lines("ab\\r\\ncd\\n")
    [(0, 2), (4, 6)]
    """
    spans = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        spans.append((offset, offset + len(raw.rstrip(LINE_BREAKS))))
        offset += len(raw)
    return spans


def known_speakers(text: str, spans: Iterable[tuple[int, int]]) -> frozenset[str]:
    """Names that open a speech at the start of some line, or that a ``人物：`` line lists.

    Args:
        text: The script text.
        spans: Its physical lines.

    Returns:
        The names (two characters or more), as parsed.
    """
    names: set[str] = set()
    for start, end in spans:
        line = text[start:end]
        if "：" not in line and ":" not in line:
            continue
        if "人物" in line:
            for listed in MID_CAST_RE.finditer(line):
                bare = CAST_NOTE_RE.sub("", listed.group(1))  # 陈老师（二十五岁，教师） → 陈老师
                names.update(name for name in CAST_NAME_SPLIT_RE.split(bare) if CAST_NAME_RE.match(name))
        cast = parse_cast_line(line)
        if cast is not None:
            names.update(name for name, _ in cast)
            continue
        cue = parse_chinese_cue(line[:60])
        if cue is not None:
            names.update(name for name, _ in cue.speakers)
    return frozenset(name for name in names if len(name) >= 2)


def run_on_speakers(text: str, spans: Iterable[tuple[int, int]]) -> set[str]:
    """Names that open speeches mid-line, after a sentence end, again and again.

    Scraped scripts lose their line breaks, so no cue starts a line and only the repetition
    tells a speaker (``刘易生：`` twenty times) from a phrase before a colon.

    Args:
        text: The script text.
        spans: Its physical lines.

    Returns:
        Names seen at least :data:`DEFAULT_MIN_RUN_ON_CUES` times that read as a cue's name.

    >>> sorted(run_on_speakers("甲：来。乙：好。甲：走。乙：嗯。甲（笑）：行。乙：是。说明：无。", [(0, 31)]))
    []
    >>> line = "屋内 日 小云：来。阿海：好。小云：走。阿海：嗯。小云（笑）：行。阿海：是。他说：无。"
    >>> sorted(run_on_speakers(line, [(0, len(line))]))
    ['小云', '阿海']
    """
    seen: dict[str, int] = {}
    after_sentence: set[str] = set()
    for start, end in spans:
        if end - start < DEFAULT_MIN_SPLIT_CHARS:
            continue
        for match in RUN_ON_CUE_RE.finditer(text, start, end):
            name = "".join(match.group("name").split())  # 阿 芳 is 阿芳, padded to line up
            seen[name] = seen.get(name, 0) + 1
            if match.start() > 0 and text[match.start() - 1] in _SENTENCE_END:
                after_sentence.add(name)
        for match in SHORT_CUE_RE.finditer(text, start, end):
            short = match.group("name")
            seen[short] = seen.get(short, 0) + 1
    valid = {name for name in seen if (cue := parse_chinese_cue(f"{name}：…")) is not None and cue.speakers}
    frequent = {
        name
        for name in valid
        if seen[name] >= (DEFAULT_MIN_RUN_ON_CUES if len(name) > 1 else DEFAULT_MIN_SHORT_CUES)
    }
    if len(frequent) >= DEFAULT_RUN_ON_SPEAKERS:
        frequent |= {name for name in valid & after_sentence if len(name) > 1}
    return frequent


#: ``老师接道：“…``, ``船夫说：“…``: a name, maybe an adverb, a speech verb, a colon and a quote,
#: as literary screenplays write speech inside the action.
QUOTED_SPEECH_RE = re.compile(
    r"(?:^|(?<=[。！？!?…”」』）)】\]，,：:\s]))(?P<name>[\u4e00-\u9fff]{2,4}?)(?:[\u4e00-\u9fff]{1,4}地)?"
    r"(?:又|便|就|也|忙|急忙|连忙|轻声|笑着|接着)?"
    r"(?:说|道|问|喊|叫|答|回道|接道|笑道|骂道|喊道|叫道|问道|答道)[ \t\u3000]*[:：]\s*[“「\"‘]"
)
#: Words that stand where a name would before a speech verb but are adverbs or verbs (sentence
#: openers such as 于是 and 然后 are :data:`~stages.screenplay.names.CN_NOT_NAMES`, which every
#: name found here must pass through :func:`parse_chinese_cue`).
NOT_SPEAKERS = word_set(
    "不断 有人 连连 继续 大声 小声 低声 轻声 只好 一个 高呼 埋怨 苦笑 冷笑 微笑 心中 安慰 急忙 连忙 赶忙 "
    "马上 立刻 随后 哈哈 不住 甜甜 忽然 终于 同时 一起 一边 回头 转身 抬头 低头 点头 摇头 笑着 大家 众人 "
    "自言自语 只见 设计 几位"
)
#: A clause that ends in a colon after a sentence: speech introduced inside the action with no
#: quote (``阿宝一边跑一边回头叫：…``); :data:`SPEECH_VERB_RE` must be in it.
SPEECH_CLAUSE_RE = re.compile(r"(?:^|(?<=[。！？!?…”」』）)】\]\s]))(?P<clause>[\u4e00-\u9fff]{3,22}?)[ \t\u3000]*[:：]")
SPEECH_VERB_RE = re.compile(r"说|道|问|喊|叫|答|嚷|骂|吼|念|告诉|对着?[\u4e00-\u9fff]{1,3}$")
#: What follows a name somewhere in a text when the name stands alone (小梅说, 小梅，…).
_AFTER_NAME = r"(?:[^\u4e00-\u9fff]|[说道问喊叫答的在和与把对被给向从也又便就都还才正已将要笑看望听走来去站坐拿回转跑])"
#: What no name starts with (有人说, 另一个说, 不一会, 这时说).
NOT_NAME_START = frozenset("有另不这那一每各某第")
#: How often a name must be said to speak that way before it counts as a speaker, unless it is a
#: role noun (老人) or the text names it :data:`DEFAULT_MIN_MENTIONS` times anyway.
DEFAULT_MIN_QUOTED = 2
DEFAULT_MIN_MENTIONS = 3


def _subject(clause: str, text: str, cache: dict[str, tuple[int, bool]]) -> str | None:
    """The name a clause opens with: two to four characters the text names often, cut where the
    text also goes on with a word that follows names (秦晓岚, not 秦晓; 小梅, not 小梅看).
    ``cache`` keeps each prefix's count and standing, so a long text is searched once per prefix."""
    for size in (2, 3, 4):
        name = clause[:size]
        if len(name) < size:
            return None
        if name not in cache:
            count = text.count(name)
            alone = count >= DEFAULT_MIN_MENTIONS and re.search(re.escape(name) + _AFTER_NAME, text) is not None
            cache[name] = (count, alone)
        count, alone = cache[name]
        if count < DEFAULT_MIN_MENTIONS:
            return None
        if alone:
            return name
    return None


def quoted_speakers(text: str) -> set[str]:
    """Names that speak inside the action (``船夫说：“…”``), often enough or named often enough.

    >>> sorted(quoted_speakers("船夫说：“来。”阿芳笑着说：“好。”船夫又问：“走吗？”于是说：“走。”阿芳道：“嗯。”"))
    ['船夫', '阿芳']
    """
    seen: dict[str, int] = {}
    for match in QUOTED_SPEECH_RE.finditer(text):
        name = match.group("name")
        seen[name] = seen.get(name, 0) + 1
    prefixes: dict[str, tuple[int, bool]] = {}
    for match in SPEECH_CLAUSE_RE.finditer(text):
        # 阿宝一边跑一边回头叫：… — the clause's subject, if the text names it often
        clause = match.group("clause")
        if not SPEECH_VERB_RE.search(clause, 2):
            continue
        if (name := _subject(clause, text, prefixes)) is not None and SPEECH_VERB_RE.search(clause, len(name)):
            seen[name] = seen.get(name, 0) + 1
    return {
        name
        for name, count in seen.items()
        if (count >= DEFAULT_MIN_QUOTED or name in CN_ROLE_NOUNS or text.count(name) >= DEFAULT_MIN_MENTIONS)
        and name not in NOT_SPEAKERS
        and name[0] not in NOT_NAME_START
        and not name.endswith("地")  # 甜甜地说：an adverb, not a name
        and (cue := parse_chinese_cue(f"{name}：…")) is not None
        and cue.speakers
    }


def needs_split(text: str, spans: Iterable[tuple[int, int]]) -> bool:
    """Tell whether some line is long enough, and not plain ASCII, to be worth cutting.

    Args:
        text: The text.
        spans: Its physical lines.

    Returns:
        ``True`` when ``logical_lines`` might cut a line.
    """
    return any(
        end - start >= DEFAULT_MIN_SPLIT_CHARS and not text[start:end].isascii() for start, end in spans
    )


def may_cut_at_cue(text: str, spans: Iterable[tuple[int, int]]) -> bool:
    """Tell whether some long line has ``名字：`` after a sentence end (a cue run into it).

    Args:
        text: The text.
        spans: Its physical lines.

    Returns:
        ``True`` when known speaker names are worth collecting to cut lines at cues.
    """
    return any(
        end - start >= DEFAULT_MIN_SPLIT_CHARS and MAYBE_CUE_RE.search(text, start + 1, end) is not None
        for start, end in spans
    )


def splitter(speakers: frozenset[str]) -> re.Pattern[str]:
    """The pattern of places where a long line is cut, given the names that may open a cue.

    Args:
        speakers: Known speaker and listed names.

    Returns:
        A compiled pattern for :func:`split_spans`.
    """
    known = {name for name in speakers if CJK_RE.search(name)}
    if not known:
        return STRUCTURAL_RE
    # In a script with Chinese speakers a role noun's cue after a boundary (。小贩：) is cut off like
    # a known name's; a name may be padded with a space between its characters (阿 芳：).
    cjk_names = sorted(known, key=len, reverse=True)
    padded = ["[ \t\u3000]?".join(map(re.escape, name)) for name in cjk_names]
    names = "|".join(padded)
    # a role noun may carry a short description before it (。卖鱼的男摊主：, 。穿制服的售票员：)
    names += "|" + _ROLE_CUE
    # A known name of two characters or more and a colon is a cue even run straight into the text
    # before it (走吧阿芳：好的…); a one-character name or a role noun needs the boundary (修路工人：
    # is not 工人 speaking).
    glued = "|".join(pattern for name, pattern in zip(cjk_names, padded, strict=True) if len(name) > 1)
    return re.compile(
        _BOUNDARY
        + "(?:"
        + _STRUCTURAL
        + rf"|(?:{names})(?:[（(][^）)\n]{{0,12}}[）)])?[ \t\u3000]*[:：])|"
        + _CAST_KEY
        + "|"
        + _SCENE_KEY
        + "|"
        + _FRONT_KEY
        + "|"
        + _ACTION_KEY
        + (rf"|(?<=[\u4e00-\u9fff])(?:{glued})(?:[（(][^）)\n]{{0,12}}[）)])?[ \t\u3000]*[:：]" if glued else "")
    )


def logical_lines(text: str, speakers: frozenset[str] | None = None) -> list[tuple[int, int]]:
    """Split ``text`` into logical lines, cutting run-together Chinese lines conservatively.

    Args:
        text: Script text (a whole script or one scene).
        speakers: Names whose ``名字：`` cues may start a line mid-line; by default those that
            start some line of ``text`` or that its ``人物：`` lines list.

    Returns:
        ``(start, end)`` spans into ``text``, in order; they cover every non-break character.

    >>> text = "1-1 日 内 客厅 人物：林晚 △雨。林晚：走吧。"
    >>> [text[a:b] for a, b in logical_lines(text)]
    ['1-1 日 内 客厅 ', '人物：林晚 ', '△雨。', '林晚：走吧。']
    """
    spans = physical_lines(text)
    long_lines = [
        (start, end)
        for start, end in spans
        if end - start >= DEFAULT_MIN_SPLIT_CHARS and not text[start:end].isascii()
    ]
    if not long_lines:
        return split_spans(text, spans, STRUCTURAL_RE)  # headings run into short lines only
    if speakers is None:
        maybe = any(MAYBE_CUE_RE.search(text, start + 1, end) for start, end in long_lines)
        speakers = known_speakers(text, spans) | run_on_speakers(text, spans) if maybe else frozenset()
    return split_spans(text, spans, splitter(speakers))


def split_spans(
    text: str, spans: Iterable[tuple[int, int]], pattern: re.Pattern[str]
) -> list[tuple[int, int]]:
    """Cut the long non-ASCII lines among ``spans`` where ``pattern`` matches.

    Args:
        text: The text the spans index.
        spans: Line spans, in order.
        pattern: From :func:`splitter`.

    Returns:
        The logical line spans, in order.
    """
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if end - start < DEFAULT_MIN_HEADING_CUT_CHARS or text[start:end].isascii():
            out.append((start, end))
            continue
        # a short line is cut only around a heading run into it (1-2大堂 日 内前台：早。)
        short = end - start < DEFAULT_MIN_SPLIT_CHARS
        cuts = set() if short else {match.start() for match in pattern.finditer(text, start + 1, end)}
        cuts.update(heading_cuts(text, start, end))
        cut = start
        for at in sorted(cuts):
            if at > cut:
                out.append((cut, at))
                cut = at
        out.append((cut, end))
    return out
