"""Find props in action text: handled objects, Fountain ALL-CAPS nouns and 【道具：…】 marks."""

from __future__ import annotations

import re

from stages.screenplay.words import word_set

_EN_VERBS = (
    r"pick(?:s|ing|ed)?\s+up|grab(?:s|bing|bed)?|hold(?:s|ing)?(?:\s+up)?|pull(?:s|ing|ed)?\s+out|"
    r"hand(?:s|ing|ed)?(?:\s+over)?|take(?:s|ing)?(?:\s+out)?|open(?:s|ing|ed)?|pocket(?:s|ing|ed)?|"
    r"clutch(?:es|ing|ed)?|carr(?:ies|ying|y)|draw(?:s|ing)?|produce(?:s|ing)?|lift(?:s|ing)?|"
    r"unfold(?:s|ing)?|load(?:s|ing)?|raise(?:s|ing)?"
)
_EN_DETERMINERS = r"an?|the|his|her|their|its|my|your|our|this|that|some"
#: ``picks up a revolver``, ``hands Mary the envelope``, ``grabs his car keys``.
EN_HANDLING_RE = re.compile(
    rf"\b(?:{_EN_VERBS})\s+(?:(?:him|her|them|me|us|[A-Z][a-z]+)\s+)?(?:{_EN_DETERMINERS})\s+"
    r"([a-z][a-z'’-]*)(?:\s+([a-z][a-z'’-]*))?",
    re.IGNORECASE,
)
#: A Fountain-style capitalised prop used as a noun: ``a REVOLVER``, ``the BLACK BRIEFCASE``.
EN_CAPS_RE = re.compile(
    r"\b(?:[Aa]n?|[Tt]he|[Hh]is|[Hh]er|[Tt]heir|[Ii]ts|[Mm]y|[Yy]our|[Oo]ur|[Tt]his|[Tt]hat)\s+"
    r"([A-Z][A-Z0-9'’&-]+(?:\s+[A-Z][A-Z0-9'’&-]+){0,2})\b(?![a-z])"
)
#: Words after a handling verb that are not props (body parts, set pieces, "takes a breath").
EN_NOT_PROPS = word_set(
    """breath step steps seat look glance sip moment beat pause deep long turn chance hand hands arm
    arms eye eyes mouth head face door doors window windows gaze hold note notice place time lead bow
    stand position ground floor one it lot bit second minute break shower walk drag bite swig gulp
    shot aim cover call way stage room deal offer job risk care picture lips fist fists finger fingers
    palm shoulder shoulders knee knees leg legs foot feet heart mind voice hair other another last
    first next same few whole rest side sides fire wall attention advantage"""
)
#: Words that end a noun phrase instead of belonging to it.
EN_STOP_WORDS = word_set(
    """and or but to from off out of in on at with into onto for as then back away up down over that
    which while before after it is toward towards across through under behind beside around against
    by again too close tight aside high open shut he she they we i you his her its their"""
)
#: Capitalised nouns that name people (``the GUARD``, ``A WOMAN``): extras, not props.
EN_PEOPLE = word_set(
    """MAN MEN WOMAN WOMEN GUY GUARD GUARDS BOY BOYS GIRL GIRLS KID KIDS CHILD CHILDREN OFFICER OFFICERS
    COP COPS NURSE DOCTOR DRIVER WAITER WAITRESS BARTENDER CLERK STRANGER SOLDIER SOLDIERS AGENT AGENTS
    DETECTIVE TEEN TEENAGER CROWD PATIENT CUSTOMER MOTHER FATHER BABY TEACHER STUDENT STUDENTS PRIEST
    THUG THUGS BOSS COUPLE FIGURE VOICE VOICES"""
)
#: Plural-looking words that are singular (``thermos``, ``glasses``).
EN_KEEP_S = word_set(
    "thermos glasses sunglasses scissors pants jeans trousers binoculars pliers tongs news series lens canvas"
)
#: Capitalised words that are not props: agencies, camera and editing terms.
EN_CAPS_STOP = word_set(
    "FBI CIA NSA TV OK POV VO OS CONT'D USA UK NYPD LAPD DNA ID CEO INT EXT END SUPER TITLE"
)
#: ``【道具：手机、钥匙】`` and ``[道具: 手机]``.
CN_PROP_MARK_RE = re.compile(r"[【\[]\s*道具\s*[:：]\s*([^】\]]+)[】\]]")
LIST_SPLIT_RE = re.compile(r"[、，,;；\s]+")
_CN_MEASURES = "个把张封只支本瓶杯块件条部台串包盒袋份叠沓根枚颗片双套顶副碗盘袋罐箱"
#: ``拿起手机``, ``掏出一把钥匙``, ``递给林晚一杯水``, ``拿起桌上的照片``, ``放下了他的信``.
CN_HANDLING_RE = re.compile(
    r"(?:拿起|拿出|拿着|拿来|掏出|递过|递上|递来|举着|举起|放下|握着|握紧|打开|捧着|抱着|攥着|提着|翻开|拆开|"
    r"递给(?:他们|她们|你们|我们|他|她|你|我|它|[\u4e00-\u9fff]{1,3}?(?=[一两这那]))|拿(?=[一两这那]))"
    r"(?:了|着|过)?"
    rf"(?:[一两三几半]?[{_CN_MEASURES}]|[这那][{_CN_MEASURES}]?)?"
    r"(?:[\u4e00-\u9fff]{1,4}?的)?"
    r"([\u4e00-\u9fff]{0,2}[A-Za-z]{1,3}[\u4e00-\u9fff]{1,3}|[\u4e00-\u9fff]{1,5})"
)
#: Characters that end a Chinese noun taken after a handling verb.
CN_NOUN_STOP = frozenset(
    "了着过的地得看说走向往在和与给放就又也便递对朝到进出起来去上下里中一把被还转摸轻慢用扔塞交念读翻擦"
    "按拨点喝吃站坐笑哭盯望仔细环顾端详开关跑冲拉推回时"
)
#: Verb-like characters that end a noun once it has two characters (``手机拍`` → ``手机``) but may
#: sit inside a short noun (``照片``, ``戒指``).
CN_NOUN_VERBS = frozenset(
    "看说走跑冲拉推回拍砍写画敲晃挥指照比剪切插挂装穿戴靠贴压伸抬甩捏捂揉搓叫喊问唱哼闻吹尝数查找收藏拆撕扯折捡抓抱挡跟四处"
)
CN_NOT_PROPS = word_set(
    """手 双手 门 房门 大门 车门 窗 窗户 眼睛 眼 嘴 头 心 孩子 婴儿 女儿 儿子 他 她 它 你 我
    东西 话 声音 自己 身子 身体 肩 脸 脚 腿 胳膊 手臂 时候 瞬间 一刻 主意 衣角"""
)


def singular(word: str) -> str:
    """Lowercase an English word and drop a plural ending (``keys`` → ``key``).

    Args:
        word: One English word.

    Returns:
        The lowercased, roughly singular word.
    """
    lower = word.lower()
    if lower in EN_KEEP_S:
        return lower
    if len(lower) > 4 and lower.endswith("ies"):
        return lower[:-3] + "y"
    if len(lower) > 4 and lower.endswith(("ches", "shes", "sses", "xes")):
        return lower[:-2]
    if len(lower) > 3 and lower.endswith("s") and not lower.endswith(("ss", "us", "is", "'s", "’s")):
        return lower[:-1]
    return lower


def _normalise_english(words: list[str]) -> str:
    return " ".join([word.lower() for word in words[:-1]] + [singular(words[-1])])


def english_props(line: str, character_names: frozenset[str]) -> list[tuple[str, str]]:
    """Find props in an English action line.

    Args:
        line: An action line (or a parenthetical).
        character_names: Upper-cased character names, never taken for props.

    Returns:
        ``(normalised name, surface form)`` pairs in order of appearance.

    >>> english_props("He picks up a revolver and grabs the BLACK BRIEFCASE.", frozenset())
    [('revolver', 'revolver'), ('black briefcase', 'BLACK BRIEFCASE')]
    """
    found: list[tuple[int, str, str]] = []
    for match in EN_HANDLING_RE.finditer(line):
        words = [match.group(1)]
        second = match.group(2)
        if second and second.lower() not in EN_STOP_WORDS and not second.lower().endswith("ly"):
            words.append(second)
        if any(word.lower() in EN_NOT_PROPS or word.lower() in EN_STOP_WORDS for word in words):
            continue
        if " ".join(words).upper() in character_names:
            continue
        found.append((match.start(1), _normalise_english(words), " ".join(words)))
    for match in EN_CAPS_RE.finditer(line):
        phrase = match.group(1)
        words = phrase.split()
        if phrase in character_names or words[-1] in EN_PEOPLE or any(word in EN_CAPS_STOP for word in words):
            continue
        if sum(char.isalpha() for char in phrase) < 3:
            continue
        found.append((match.start(1), _normalise_english(words), phrase))
    unique = {start: (name, surface) for start, name, surface in sorted(found, reverse=True)}
    return [unique[start] for start in sorted(unique)]


def chinese_props(line: str, character_names: frozenset[str]) -> list[tuple[str, str]]:
    """Find props in a Chinese action line (or a bracketed note in a speech line).

    Args:
        line: The text to search.
        character_names: Known character names, never taken for props.

    Returns:
        ``(name, surface form)`` pairs in order of appearance.

    >>> chinese_props("她掏出一把钥匙开门，拿起桌上的照片。", frozenset())
    [('钥匙', '钥匙'), ('照片', '照片')]
    """
    found: list[tuple[int, str]] = []
    for match in CN_HANDLING_RE.finditer(line):
        noun = match.group(1)
        for index, char in enumerate(noun):
            if char in CN_NOUN_STOP or (index >= 2 and char in CN_NOUN_VERBS):
                noun = noun[:index]
                break
        if not noun or noun in CN_NOT_PROPS or any(noun.startswith(name) for name in character_names):
            continue
        found.append((match.start(1), noun))
    found.extend((match.start(1), name) for match, name in _marked(line))
    found.sort(key=lambda item: item[0])
    return [(name, name) for _, name in found]


def _marked(line: str) -> list[tuple[re.Match[str], str]]:
    marks = []
    for match in CN_PROP_MARK_RE.finditer(line):
        for name in LIST_SPLIT_RE.split(match.group(1)):
            if name.strip():
                marks.append((match, name.strip()))
    return marks


def marked_props(line: str) -> list[tuple[str, str]]:
    """Find props named in ``【道具：…】`` marks (used for English scripts too).

    Args:
        line: One line of a script.

    Returns:
        ``(name, surface form)`` pairs in order.
    """
    return [(name, name) for _, name in _marked(line)]
