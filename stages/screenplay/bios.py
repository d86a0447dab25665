"""Read Chinese character sketches (人物小传) that open a script, and the front matter around them.

A sketch names a character and says who they are: ``林晚（26岁）：女，急诊科医生…``,
``许国栋：男，58岁，…人称老许``. It is not dialogue. Cues later use short names (``陈默`` for
``陈默然``, ``小唐`` for ``秘书小唐``) or the nickname the sketch gives (``老许``), so the sketch's
full name becomes an alias of the cue name.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from stages.screenplay.headings import match_heading
from stages.screenplay.names import CN_HEADER_KEYS, chinese_age, chinese_gender, is_group

#: A line that opens a block of sketches: ``人物小传``, ``【主要人物】``, ``人物介绍：``.
BIO_HEADER_RE = re.compile(
    r"^[ \t\u3000]*[【\[]?(?:人物小传|人物介绍|人物简介|人物设定|人物表|主要人物|主要角色|角色介绍|角色小传|"
    r"角色设定|出场人物|登场人物|人物关系|人物)[】\]]?[ \t\u3000]*[:：]?[ \t\u3000]*$"
)
#: One sketch: an optional number, a name, an optional bracket, then ``：`` or ``，``.
BIO_LINE_RE = re.compile(
    r"^[ \t\u3000]*(?:\d+[.、．)]\s*)?(?P<name>[\u4e00-\u9fff·]{1,6})[ \t\u3000]*"
    r"(?:[（(](?P<paren>[^）)]{0,30})[）)])?[ \t\u3000]*[:：，,][ \t\u3000]*(?P<desc>\S.*)$"
)
#: A description that reads as a sketch: it opens with a gender or an age.
SKETCH_START_RE = re.compile(
    r"^[（(]?(?:男|女)性?(?:[，,、。;；\s）)]|$)|^[0-9一二三四五六七八九十两]+(?:多|来)?岁"
)
#: A nickname a sketch gives: ``人称老许``, ``外号“胖婶”``, ``小名丫丫``.
NICKNAME_RE = re.compile(
    r"(?:人称|外号|绰号|小名|昵称|又名|又称|江湖人称|大家都叫他|大家都叫她|大家叫他|大家叫她)[“「\"]?"
    r"([\u4e00-\u9fff]{2,4}?)[”」\"]?(?=[，,。；;、）)\s]|$)"
)
#: Front-matter lines that are neither story nor sketch: ``编剧：…``, ``《片名》``, ``第三稿``.
CN_FRONT_MATTER_RE = re.compile(
    r"^[ \t\u3000]*(?:《[^》]*》|[（(][^）)]*(?:剧本|短剧|短片|电影|网剧|竖屏)[^）)]*[）)]|"
    r"(?:编剧|作者|导演|原著|出品|监制|制片|策划|总字数|字数|集数|类型|题材|片长|时长|总集数|版本)\s*[:：]|"
    r"第[一二三四五六七八九十\d]+稿|总字数|全\s*\d+\s*集)"
)

#: A line that opens front matter running to the first heading: sketches, synopsis, cast list.
FRONT_HEADER_RE = re.compile(
    r"^[ \t\u3000]*[【\[]?(?:故事梗概|剧情梗概|剧情简介|故事简介|剧情介绍|梗概|简介|剧情大纲|故事大纲|大纲|分集大纲|"
    r"人物介绍|人物简介|人物小传|角色介绍|"
    r"创作说明|剧本说明|创作阐述|故事背景|世界观|人物关系|"
    r"CAST OF CHARACTERS|CHARACTERS|CAST|SYNOPSIS|LOGLINE|DRAMATIS PERSONAE)[】\]]?[ \t\u3000]*(?:[:：].*)?$",
    re.IGNORECASE,
)

#: Kinship words: ``桃子妈`` is 桃子's mother, not 桃子.
CN_KIN = frozenset("妈爸娘爹哥姐弟妹叔婶姨舅奶爷嫂媳儿女婆公母父子孙伯")


@dataclass(frozen=True)
class Bio:
    """One character sketch: the name, what it says, and the nicknames it gives."""

    name: str
    description: str
    age: str | None
    gender: str | None
    nicknames: tuple[str, ...] = ()


def is_bio_header(line: str) -> bool:
    """Tell a line that opens a block of sketches (``人物小传``, ``主要人物``).

    Args:
        line: One line of a script.

    Returns:
        ``True`` for a sketch-block header.
    """
    return BIO_HEADER_RE.match(line) is not None


def is_front_header(line: str) -> bool:
    """Tell a line that opens front matter (``人物小传``, ``故事梗概：``, ``CAST OF CHARACTERS``).

    Args:
        line: One line of a script.

    Returns:
        ``True`` when the lines after it, up to the first heading, are not story.
    """
    return BIO_HEADER_RE.match(line) is not None or FRONT_HEADER_RE.match(line) is not None


def is_front_matter(line: str) -> bool:
    """Tell a title-page line of a Chinese script (``编剧：宋一禾``, ``《掌勺》``, ``第三稿``).

    Args:
        line: One line of a script.

    Returns:
        ``True`` for front-matter lines that carry no story.
    """
    return CN_FRONT_MATTER_RE.match(line) is not None


def parse_bio(line: str, *, in_block: bool) -> Bio | None:
    """Read a character sketch line.

    Args:
        line: One line of the front matter.
        in_block: Whether the line follows a sketch-block header; outside one, the
            description must open with a gender or an age (``林晚：女，二十六岁…``) or the bracket
            must give an age (``林晚（26岁）：急诊科医生``).

    Returns:
        The sketch, or ``None`` when the line is not one.

    >>> bio = parse_bio("许国栋（58岁）：男，许记饭馆掌勺，人称老许。", in_block=False)
    >>> bio.name, bio.description, bio.age, bio.gender, bio.nicknames
    ('许国栋', '男，许记饭馆掌勺，人称老许。', '58', 'male', ('老许',))
    """
    match = BIO_LINE_RE.match(line)
    if match is None:
        return None
    name, paren, description = match.group("name"), match.group("paren") or "", match.group("desc").strip()
    if name in CN_HEADER_KEYS or is_group(name):
        return None
    paren_age = chinese_age(paren)
    if not in_block and not (SKETCH_START_RE.match(description) or paren_age):
        return None
    info = f"{paren}，{description}" if paren else description
    nicknames = tuple(dict.fromkeys(nick for nick in NICKNAME_RE.findall(description) if nick != name))
    return Bio(name, description, paren_age or chinese_age(description), chinese_gender(info), nicknames)


def find_sketches(text: str) -> str:
    """The character sketches of a script's front matter, one per line (for the extractor).

    Sketch blocks (after ``人物小传``/``主要人物``…) and sketch lines before the first scene
    heading are kept; the scan stops at the first heading, so the cost is that of the front.

    Args:
        text: The whole script.

    Returns:
        The sketch lines, one per line (empty when there are none).

    >>> find_sketches("人物小传\\n林晚（26岁）：女，医生。\\n\\n1-1 日 内 客厅\\n林晚：你好。")
    '林晚（26岁）：女，医生。'
    """
    found: list[str] = []
    in_block = False
    for line in text.splitlines():
        if match_heading(line) is not None:
            break
        if is_bio_header(line):
            in_block = True
        elif parse_bio(line, in_block=in_block) is not None:
            found.append(line.strip())
        elif FRONT_HEADER_RE.match(line):
            in_block = False
    return "\n".join(found)


def short_name(full: str, nicknames: Collection[str], speakers: Collection[str]) -> str | None:
    """The one speaker name a sketch's full name is used as (``陈默`` for ``陈默然``), if any.

    Args:
        full: The sketch's name.
        nicknames: The nicknames the sketch gives.
        speakers: The names that speak in the script part at hand.

    Returns:
        The speaker name when exactly one speaker is the full name, a nickname, or a prefix
        or suffix of two characters or more of the full name; else ``None``.

    >>> short_name("陈默然", (), {"陈默", "林晚"}), short_name("许国栋", ("老许",), {"老许"})
    ('陈默', '老许')
    """
    if full in speakers:
        return full
    found = {nick for nick in nicknames if nick in speakers}
    found.update(speaker for speaker in speakers if shortens(full, speaker))
    return found.pop() if len(found) == 1 else None


def shortens(full: str, short: str) -> bool:
    """Tell whether ``short`` is a short form of the name ``full`` (not a relative of theirs).

    ``陈默`` shortens ``陈默然`` and ``小唐`` shortens ``秘书小唐``, but ``桃子`` does not shorten
    ``桃子妈`` nor ``秀兰`` ``秀兰娘``: a kinship word left over names another person.

    Args:
        full: The longer name.
        short: The candidate short form (two characters or more).

    Returns:
        ``True`` when ``short`` starts ``full`` leaving one non-kin character, or ends it
        leaving no kinship word.

    >>> shortens("陈默然", "陈默"), shortens("秘书小唐", "小唐"), shortens("桃子妈", "桃子")
    (True, True, False)
    """
    if len(short) < 2 or len(short) >= len(full):
        return False
    if full.startswith(short):
        rest = full[len(short) :]
        return len(rest) == 1 and rest not in CN_KIN
    if full.endswith(short):
        rest = full[: -len(short)]
        return not any(word in rest for word in CN_KIN)
    return False
