"""Read who speaks or is listed in a line: character cues, ``人物：`` lists, ages in intros."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from stages.screenplay.words import word_set

#: A Chinese cast line under a heading: ``人物：林晚、周默（前男友）``.
CAST_LINE_RE = re.compile(r"^\s*(?:出场人物|登场人物|主要人物|人物|角色|人)\s*[:：]\s*(?P<names>.*)$")
#: A cast list at the end of a heading line: ``场：1 景：青山寨 时：日 人：柱子、翠花``.
CAST_TAIL_RE = re.compile(r"(?:^|\s)(?:出场人物|登场人物|人物|人)\s*[:：]")
#: One entry of a cast line: a name and an optional bracketed description.
CAST_ENTRY_RE = re.compile(r"([^、，,;；\s（(]+)\s*(?:[（(]([^）)]*)[）)])?")
#: Trailing Fountain extensions such as ``(V.O.)``, ``(CONT'D)``, ``(on phone)``.
EN_EXTENSION_RE = re.compile(r"\s*\([^()]*\)\s*$")
EN_CONTD_RE = re.compile(r"\s+CONT['’]D\.?$", re.IGNORECASE)
#: Transitions and other all-caps lines that are not speakers.
EN_TRANSITION_RE = re.compile(
    r"^(?:[A-Z .'’-]+ TO:|FADE (?:IN|OUT)\b.*|FADE TO BLACK.*|CUT TO BLACK.*|THE END.*|INTERCUT.*|"
    r"BACK TO SCENE.*|CONTINUED.*|END OF .*|\(?MORE\)?|TITLE(?: CARD)?:?.*|SUPER:?.*|MONTAGE.*|"
    r"SERIES OF SHOTS.*|END MONTAGE.*|LATER|SILENCE|BLACK(?: SCREEN)?|FLASHBACK.*|END FLASHBACK.*|"
    r"(?:MOMENTS|SECONDS|MINUTES|HOURS|DAYS|WEEKS|YEARS) LATER.*|CONTINUOUS|OMITTED.*|CHYRON.*|"
    r"SUBTITLE.*|SUPERIMPOSE.*|OVER BLACK.*|DISSOLVE.*|WIPE.*|IRIS.*|SMASH CUT.*|MATCH CUT.*|JUMP CUT.*|"
    r"INSERT\b.*|CLOSE[ -]?(?:ON|UP)\b.*|EXTREME CLOSE.*|ANGLE ON\b.*|WIDE (?:ON|SHOT)\b.*|POV\b.*|"
    r".*['’]S POV|ON THE .*|REVERSE ANGLE.*|NEW ANGLE.*|HIGH ANGLE.*|LOW ANGLE.*|AERIAL.*|OVERHEAD.*|"
    r"TRACKING.*|SPLIT SCREEN.*|BACK TO PRESENT.*|PRESENT DAY.*|THE NEXT (?:DAY|MORNING|NIGHT).*|"
    r"TITLE SEQUENCE.*|OPENING CREDITS.*|END CREDITS.*|ROLL CREDITS.*)$"
)
#: Cues that name a group of speakers, not a character.
EN_GROUPS = frozenset(
    {
        "ALL",
        "EVERYONE",
        "EVERYBODY",
        "THE CROWD",
        "CROWD",
        "BOTH",
        "TOGETHER",
        "ALL THREE",
        "ALL FOUR",
        "BOTH OF THEM",
        "THE OTHERS",
        "OTHERS",
        "VOICES",
        "THE GROUP",
        "GROUP",
        "AUDIENCE",
        "THE AUDIENCE",
        "CHORUS",
        "EVERYONE ELSE",
        "THE TWO",
        "THE KIDS",
        "KIDS",
        "STUDENTS",
        "THE STUDENTS",
        "CROWD MEMBERS",
        "ALL OF THEM",
        "THEM",
    }
)
#: The longest all-caps cue still read as a name.
DEFAULT_MAX_CUE_CHARS = 38
#: A Chinese speech line: names, optional bracketed notes (emotion, 画外音), a colon, speech.
CN_CUE_RE = re.compile(
    r"^[ \t\u3000]*(?P<names>[^\s：:（(【\[「“\"'△▲■●◆*#>~\-—][^：:（(【\[「“\"]{0,24}?)[ \t\u3000]*"
    r"(?P<paren>(?:[（(][^）)]{0,40}[）)][ \t\u3000]*)*)"
    # a speech verb after the bracket: 甲，乙（低着头）一起念：…
    r"(?:(?<=[）)])[\u4e00-\u9fff]{0,3}(?:说|道|念|唱|喊|叫|问|答|读|吼)[ \t\u3000]*)?"
    r"[：:](?P<speech>.*)$"
)
CN_JOINT_SPLIT_RE = re.compile(r"[，,、/／&]")
#: Voice marks written after a name without brackets: ``林晚OS``, ``林晚 画外音``; in opera
#: scripts ``任成会唱：`` (he sings) is 任成会's cue.
CN_VOICE_SUFFIX_RE = re.compile(
    r"(?:\(?(?:O\.?S\.?|V\.?O\.?|画外音|旁白|内心独白|独白|内心)\)?|(?<=[\u4e00-\u9fff]{2})唱"
    # a manner written straight after the name, with no bracket (阿杰惊讶：)
    r"|(?<=[\u4e00-\u9fff]{2})(?:惊讶|高兴|生气|大笑|冷笑|微笑|苦笑|自语|小声|大声|低声|愤怒|着急|激动|害怕|紧张"
    r"|疑惑|不屑|无奈|得意|惊恐|犹豫|哽咽|叹气|心想))$",
    re.IGNORECASE,
)
CN_NAME_RE = re.compile(r"^(?:[\u4e00-\u9fff·]{1,6}|[A-Za-z][A-Za-z.'’-]*(?: [A-Za-z][A-Za-z.'’-]*){0,2})$")
#: Characters that never occur in a speaker's name but do in action lines before a colon.
CN_NOT_IN_NAME = frozenset("的了着说他她你我这那在是把被就都又向对")
#: Speech verbs that end an action line before a colon (``他低声说：``).
CN_NOT_LAST = frozenset("说道问喊叫吼答骂笑哭")
#: ``孩子们``, ``学生若干``, ``设计部众人``, ``围观群众`` name groups too.
CN_GROUP_ENDINGS = ("们", "若干", "众人", "群众", "等人")
CN_GROUPS = frozenset(
    {
        "众人",
        "大家",
        "所有人",
        "二人",
        "两人",
        "三人",
        "四人",
        "群众",
        "众",
        "全体",
        "齐声",
        "合",
        "众人齐",
        "大伙",
        "大伙儿",
        # Opera and musical cues: who sings together is the chorus, not a character.
        "合唱",
        "齐唱",
        "伴唱",
        "幕后合唱",
        "幕后伴唱",
    }
)
#: Keys of header and note lines (``时间：``, ``字幕：``) and voice-only speakers.
CN_HEADER_KEYS = word_set(
    """人物 出场人物 登场人物 主要人物 角色 场景 场次 场 景 时间 时 地点 内外 道具 服装 化妆
    人 字幕 字幕卡 旁白 画外音 内心独白 独白 备注 注 说明 提示 剧名 片名 编剧 作者 导演 简介 梗概
    故事梗概 大纲 背景 音乐 配乐 音效 插曲 特效 闪回 回忆 转场 特写 镜头 画面 全景 近景 远景 中景
    空镜 黑屏 标题 片头 片尾 内景 外景 日期 时长 类型 题材 主题 人物小传 人物介绍 看点 卖点 钩子
    叠化 化入 化出 淡入 淡出 切入 切出 定格 插入 插入画面 画面闪现 闪现 自言自语 心声 场外音 音响 效果
    OS VO PS Note Notes http https"""
)
#: Chinese nouns for a role that speaks without a name (小贩：, 收银员：): a cue even when scraped
#: text runs straight into it, as a known speaker's name is.
CN_ROLE_NOUNS = word_set(
    """小贩 摊主 老板 老板娘 服务员 收银员 售货员 店员 经理 秘书 助理 司机 保安 警察 民警 交警 护士 医生
    工作人员 售票员 列车员 乘务员 检票员 营业员 清洁工 门卫 邮递员 导游 教练 裁判 播音员 解说员
    大夫 老师 校长 学生 同学 老同学 邻居 大妈 大爷 大婶 大叔 阿姨 叔叔 奶奶 爷爷 小女孩 小男孩 女孩 男孩
    孩子 老人 老头 老太太 老大爷 老大娘 路人 路人甲 路人乙 村民 村长 记者 主持人 律师 法官 工头 工人
    快递员 外卖员 房东 保姆 管家 伙计 掌柜 店小二 士兵 哨兵 将军 丫鬟 太监 皇上 皇帝 王后 公主 伴娘
    司仪 新郎 新娘 前台 乘客 顾客 客人 病人 患者 主任 局长 队长 班长 厨师 老乡 大哥 大姐 小伙子 姑娘
    船夫 渔夫 农夫 车夫 马夫 樵夫 猎人 商人 书生 道士 和尚 尼姑 郎中 店家 差役 衙役"""
)
#: Words that open a sentence before a colon but never name a speaker (记住：…, 注意：…).
CN_NOT_NAMES = word_set(
    """记住 注意 听着 听好 请看 例如 比如 其实 原来 结果 然后 于是 总之 可是 但是 所以 因为 如果 接着 突然
    这时 此时 最后 后来 还有 另外 其中 就是 也就是"""
)
#: A cast key run into what came before it (``日 内人物：``, ``下午人：``): not a name.
CN_KEY_TAIL_RE = re.compile(r"人物$|^(?:日|夜|晨|晚|早|上午|下午|中午|傍晚|黄昏|凌晨|白天|晚上|内|外)+人$")
#: Words that make another role of the same name: YOUNG JOE is cast apart from JOE (another
#: actor), and so are numbered extras (GUARD #2, COP 2); see :func:`distinct_role`.
EN_VERSIONS = word_set("YOUNG YOUNGER OLD OLDER LITTLE TEEN TEENAGE ADULT ELDERLY FUTURE PAST BABY KID CHILD")
#: Common nouns for a role: MATH TEACHER is not the TEACHER of another scene by that word alone.
EN_ROLE_NOUNS = word_set(
    """TEACHER COP POLICEMAN POLICEWOMAN GUARD NURSE DOCTOR WAITER WAITRESS MAN WOMAN GIRL BOY GUY LADY
    SOLDIER DRIVER REFEREE ANNOUNCER REPORTER STUDENT CLERK BARTENDER CUSTOMER PATRON STRANGER
    RECEPTIONIST SECRETARY MANAGER BOSS PRIEST NEIGHBOR NEIGHBOUR JANITOR CASHIER PASSENGER PILOT
    WORKER FRIEND KID HOST VOICE NARRATOR CROWD DAD MOM MOTHER FATHER SON DAUGHTER WIFE HUSBAND"""
)


def distinct_role(words: Sequence[str]) -> bool:
    """Whether a multi-word English name is a version of someone (YOUNG JOE) or a numbered extra.

    >>> distinct_role("YOUNG JOE".split()), distinct_role(["GUARD", "#2"]), distinct_role(["RITA", "VALE"])
    (True, True, False)
    """
    upper = [word.upper() for word in words]
    return bool(EN_VERSIONS.intersection(upper)) or any(any(c.isdigit() for c in word) for word in upper)


#: Age in an English intro: ``JOHN (40s)``, ``MARY SMITH (32, a nurse)``, ``BOB (late 60s)``.
EN_INTRO_RE = re.compile(
    r"\b([A-Z][A-Z'’.\-]*[A-Z](?:\s+[A-Z][A-Z'’.\-]*){0,3})\s*"
    r"\(\s*((?:early|mid|late)[- ]?\d{1,2}s|\d{1,2}s?)\b\s*[,;]?\s*([^)]*)\)"
)
#: Age in a Chinese description: ``50岁``, ``二十多岁``, ``30出头岁``.
CN_AGE_RE = re.compile(r"([0-9]{1,3}|[一二三四五六七八九十两]{1,4})\s*(多|来|出头)?\s*岁")
CN_PART_SPLIT_RE = re.compile(r"[，,、;；\s]+")
CN_GENDERS = {"男": "male", "男性": "male", "女": "female", "女性": "female"}


@dataclass(frozen=True)
class ChineseCue:
    """A Chinese speech line: the speakers (name, surface form), bracket notes and the speech."""

    speakers: tuple[tuple[str, str], ...]
    notes: str
    speech: str
    #: Group speakers the cue names (众人, 设计部众人), not cast.
    groups: tuple[str, ...] = ()


def parse_cast_line(line: str) -> list[tuple[str, str | None]] | None:
    """Read a ``人物：`` line.

    Args:
        line: One line of a script.

    Returns:
        ``[(name, description or None), ...]`` in order, or ``None`` if it is not a cast line.

    >>> parse_cast_line("人物：林晚、吴婶（心直口快，50岁）")
    [('林晚', None), ('吴婶', '心直口快，50岁')]
    >>> parse_cast_line("人：林晚 吴婶林晚低着头看着地面，向门口走去。")
    [('林晚', None)]
    """
    match = CAST_LINE_RE.match(line)
    if match is None:
        return None
    entries: list[tuple[str, str | None]] = []
    for name, description in CAST_ENTRY_RE.findall(match.group("names")):
        cleaned = name.strip(" \t\u3000.。:：").removesuffix("等")
        if not cleaned:
            continue
        if not _name_like(cleaned):
            break  # the list ran into the action (a scraped line lost its break): names end here
        entries.append((cleaned, description.strip() or None))
    return entries


def parse_english_cue(line: str) -> str | None:
    """Read a Fountain character cue.

    Args:
        line: One line of a script (the caller checks that dialogue follows).

    Returns:
        The speaker as written, without extensions (``(V.O.)``, ``(CONT'D)``), ``@`` or the dual
        dialogue ``^``; ``None`` for anything else, including group cues such as ``ALL``.

    >>> parse_english_cue("JOHN (V.O.) (CONT'D)")
    'JOHN'
    """
    text = line.strip()
    forced = text.startswith("@")
    text = text.removeprefix("@").rstrip("^ \t")
    while (stripped := EN_EXTENSION_RE.sub("", text)) != text:
        text = stripped
    text = " ".join(EN_CONTD_RE.sub("", text).split())
    if not text or len(text) > DEFAULT_MAX_CUE_CHARS or text.upper() in EN_GROUPS:
        return None
    if forced:
        return text
    letters = sum(char.isalpha() for char in text)
    if (
        text != text.upper()
        or letters < 2
        # Digits belong to names (R2D2, AGENT 47) but not most of one (1:30 AM), nor punctuation.
        or sum(char.isdigit() for char in text) > letters
        or (sum(char.isalnum() for char in text) + text.count(" ")) / len(text) < 0.7
        or text.endswith((".", ":", "!", "?", ","))
        or text[0] in "!>=#[~(*_"
        or len(text.split()) > 4
        or EN_TRANSITION_RE.match(text)
    ):
        return None
    return text


def _name_like(name: str) -> bool:
    """Whether a listed entry can be a name (a cue's rules less the header keys: 导演 is cast)."""
    return bool(CN_NAME_RE.match(name)) and (name.isascii() or not set(name) & CN_NOT_IN_NAME)


@lru_cache(maxsize=4096)
def _chinese_name(raw: str) -> str | None:
    surface = raw.strip()
    name = "".join(surface.split()) if not surface.isascii() else " ".join(surface.split())
    if name in CN_HEADER_KEYS or name in CN_NOT_NAMES or CN_KEY_TAIL_RE.search(name):
        return None  # before the suffixes come off: 自言自语 is a direction, not 自言 speaking
    name = CN_VOICE_SUFFIX_RE.sub("", name).strip() if len(name) > 2 else name
    if "的" in name and (role := name.rsplit("的", 1)[1]) and role.endswith(tuple(CN_ROLE_NOUNS)):
        name = role  # 穿制服的售票员: the role, not its description
    if not name or not CN_NAME_RE.match(name) or name in CN_HEADER_KEYS:
        return None
    if not name.isascii() and (set(name) & CN_NOT_IN_NAME or name[-1] in CN_NOT_LAST):
        return None
    return name


def parse_chinese_cue(line: str) -> ChineseCue | None:
    """Read a Chinese speech line such as ``小 娟（哭）：你走吧。`` or ``少游，小花：快跑！``.

    Args:
        line: One line of a script.

    Returns:
        The cue (group speakers such as 众人 are dropped from ``speakers``), or ``None`` when the
        line is not a speech line (header keys such as ``人物：`` or ``字幕：`` are not).
    """
    match = CN_CUE_RE.match(line)
    if match is None:
        return None
    speakers: list[tuple[str, str]] = []
    groups: list[str] = []
    for raw in CN_JOINT_SPLIT_RE.split(match.group("names")):
        name = _chinese_name(raw)
        if name is None:
            return None
        if not is_group(name):
            speakers.append((name, raw.strip()))
        else:
            groups.append(name)
    return ChineseCue(
        tuple(speakers), match.group("paren").strip(), match.group("speech").strip(), tuple(groups)
    )


@lru_cache(maxsize=4096)
def is_group(name: str) -> bool:
    """Tell whether a cue names a group (``ALL``, ``众人``) rather than a character.

    Args:
        name: A speaker name.

    Returns:
        ``True`` for group cues.
    """
    return name.upper() in EN_GROUPS or name in CN_GROUPS or name.endswith(CN_GROUP_ENDINGS)


#: Group cues that are the characters themselves speaking together, not extras.
NOT_BACKGROUND = frozenset(
    {"BOTH", "TOGETHER", "BOTH OF THEM", "THE TWO", "ALL THREE", "ALL FOUR", "THEM"}
    | {"二人", "两人", "三人", "四人", "齐声", "合", "齐唱", "合唱", "伴唱", "幕后合唱", "幕后伴唱"}
)


def background_name(name: str) -> str | None:
    """The background (extras) a group cue or cast entry stands for, or ``None``.

    ``THE CROWD``, ``ALL``, ``众人`` and ``设计部众人`` are people on set who are not cast; ``BOTH`` and
    ``二人`` are cast members speaking together.

    >>> [background_name(n) for n in ("THE CROWD", "all", "众人", "设计部众人", "BOTH", "二人", "林晚")]
    ['THE CROWD', 'ALL', '众人', '设计部众人', None, None, None]
    """
    if not is_group(name):
        return None
    shown = name.upper() if name.isascii() else name
    return None if shown in NOT_BACKGROUND else shown


def parse_english_group_cue(line: str) -> str | None:
    """Read a group cue (``THE CROWD``, ``ALL (O.S.)``) that :func:`parse_english_cue` refuses.

    >>> parse_english_group_cue("THE CROWD (O.S.)"), parse_english_group_cue("JOHN")
    ('THE CROWD', None)
    """
    text = line.strip().removeprefix("@").rstrip("^ \t")
    while (stripped := EN_EXTENSION_RE.sub("", text)) != text:
        text = stripped
    text = " ".join(EN_CONTD_RE.sub("", text).split())
    return text.upper() if text and text == text.upper() and text.upper() in EN_GROUPS else None


def chinese_age(description: str) -> str | None:
    """Find the age in a Chinese description (``心直口快的家庭妇女，50岁`` → ``"50"``).

    Args:
        description: Text from a cast list or an intro bracket.

    Returns:
        The age as written without 岁 (``"50"``, ``"二十多"``), or ``None``.
    """
    match = CN_AGE_RE.search(description)
    return match.group(1) + (match.group(2) or "") if match else None


def chinese_gender(description: str) -> str | None:
    """Find an explicit gender (a ``男``/``女`` part) in a Chinese description.

    Args:
        description: Text from a cast list or an intro bracket.

    Returns:
        ``"male"``, ``"female"`` or ``None``.
    """
    for part in CN_PART_SPLIT_RE.split(description):
        if part in CN_GENDERS:
            return CN_GENDERS[part]
    return None
