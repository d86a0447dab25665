"""Find Chinese scene headings inside running text, where a scraped script lost its line breaks.

A heading copied from a web page runs into the text around it: ``…（关上门）2、车站门口：日　外两人
走出车站``, ``…吃饭了。厨房 晚上 内景阿芳：…``, ``…保安场：1景：超市时：日/内人：…``.
:func:`heading_cuts` returns where such a heading starts and ends, so that ``logical_lines`` makes
it a line of its own and the action after it a line of its own too. A candidate must have a
heading's shape (a scene number or a key, a short place, and a time of day or 内/外 next to
it) and must then be read as a heading by :func:`~stages.screenplay.headings.match_heading`:
one rule decides what a heading is, this module only decides where one lies in a long line.
"""

from __future__ import annotations

import re

from stages.screenplay.headings import CN_TIMES, match_heading

_S = r"[ \t\u3000]"
#: What may stand between the parts of a heading.
_SEP = r"[ \t\u3000:：,，、。.．/／]"
_TIME = "(?:" + "|".join(sorted(CN_TIMES, key=len, reverse=True)) + ")"
_IE = r"(?:内外景|内/外景|内/外|外/内|内外|内景|外景|内|外)"
#: 内景 / 外景 written out: distinctive enough to open a heading with no boundary before it.
_IE_WORD = r"(?:内外景|内景|外景)"
_OPEN = r"[\[【（(]"
_CLOSE = r"[\]】）)]"
#: A place: a short run with no sentence punctuation, bracket or space (digits are room numbers: 301家).
_PLACE = (
    r"[^\s\u3000。！？!?，,、：:；;“”\"‘’（）()【】\[\]<>《》△▲…]{1,20}?"
    r"(?:[（(][^\s（）()。！？]{1,8}[）)])?"  # 车间（二楼）
)
#: A place run straight into the action after it (``仓库阿杰推门进来…``): the shortest run that
#: ends in a word for a building, room or spot, with a trailing 间/道/口/顶… kept. Used only
#: where a heading would otherwise have no place at all.
_GLUED_PLACE = (
    r"[\u4e00-\u9fff]{1,8}?[楼顶厅室所巷道间馆店院场园站屋家铺村路街桥库堂殿宫府寺庙港坊]"
    r"[间道口顶里内外上下边旁前后门]?(?![间道口顶里内外上下边旁前后门])"
)
_NUM = r"[0-9０-９零〇一二三四五六七八九十百千两]{1,4}"
#: A scene number opening a heading: ``2、``, ``3：``, ``18 ``, ``1．``, ``（17）``; never part of
#: a longer number, a decimal or a date.
_SCENE_NO = (
    r"(?<![0-9A-Za-z.．/\-－年月])(?:\d{1,3}(?:" + _S + r"*[、，,.．:：]" + _S + r"*|" + _S + r"+)"
    r"|[（(]\d{1,3}[）)]" + _S + r"*)"
)
#: Time of day and 内/外 side by side, in either order, maybe bracketed: ``　夜　内``, `` [日 外]``,
#: ``：日　外``, `` 日内``, ``： 内，日``.
_CLUSTER = (
    rf"(?:{_SEP}*{_OPEN}?{_S}*(?:{_TIME}{_SEP}*{_IE}|{_IE}{_SEP}*{_TIME}){_S}*{_CLOSE}?)"
)
INLINE_HEADING_RE = re.compile(
    "|".join(
        (
            # 2、车站门口：日　外 · 1 河边 [日 外] · （3） 书房： 内，日
            rf"{_SCENE_NO}{_PLACE}{_CLUSTER}",
            # 1、王家门外，傍晚 (a numbered place and a time after a comma, opening a line or sentence)
            rf"(?:(?<=^)|(?<=[。！？!?…”」』）)】\]\s])){_SCENE_NO}{_PLACE}[，,]{_S}*{_TIME}(?![\u4e00-\u9fff]{{0,1}}[，,：:])",
            # 第一场 日 外 仓库 · 第2场 内景：（超市） 日 (not an episode's title: 第2集：第一场直播) · 第二场【背景：山洞】 · 第三场面馆【 · 第一幕：王家客厅
            # (a flashback's or a note's reference to a scene, 【闪回第2场：…】, is none)
            rf"(?<!集)(?<!集[:：])(?<!集 )(?<!闪回)(?<!回忆)(?<!见)(?<!参见)第{_S}*{_NUM}{_S}*[场幕](?!结束|完|终)(?:{_S}*[:：、.．]?{_S}*(?:{_CLUSTER}(?:{_S}*{_PLACE}(?={_S}|$)|{_S}*{_GLUED_PLACE})?"
            rf"|{_IE_WORD}{_S}*[:：]?{_S}*(?:{_OPEN}[^】\])）\n]{{1,20}}{_CLOSE}|{_PLACE}(?={_S}|$))(?:{_S}*{_TIME})?"
            rf"|{_OPEN}[^】\])）\n]{{1,20}}{_CLOSE}|(?:场景|地点|背景){_S}*[:：]{_S}*{_PLACE}(?={_S}|[【（(]|$)"
            rf"|{_PLACE}(?={_S}|[【（(]|出场|人物|$)))?",
            # 1-1公园桥上 晨 外 (episode-scene number, place, time, 内/外; the action runs on after it)
            rf"(?<![0-9０-９])\d{{1,3}}{_S}*[-－—–]{_S}*\d{{1,3}}{_S}*{_PLACE}{_CLUSTER}",
            # 2， 外景 王家 黄昏 · 21， 外景 下午 · 01 外景  晚上  球场
            rf"{_SCENE_NO}{_IE_WORD}(?:{_S}+{_PLACE}{_S}+{_TIME}|{_S}+{_TIME}(?:{_S}+{_PLACE}(?={_S}|$)|{_S}+{_GLUED_PLACE})?)",
            # 外景 山脚下 日 (no number; 内景/外景 opens it)
            rf"{_IE_WORD}{_S}+{_PLACE}{_S}+{_TIME}(?![\u4e00-\u9fff])",
            # 厨房 白天 内景 (place, time, then 内景/外景)
            rf"(?<![\u4e00-\u9fff]){_PLACE}{_S}+{_TIME}{_S}+{_IE_WORD}",
            # 情景二 内景 · 场景3 外 夜
            rf"(?:情景|场景){_S}*{_NUM}(?:{_S}*[、:：.．]?{_S}*{_IE}(?:{_SEP}*{_TIME})?)?",
            # NO-12：夜晚
            rf"NO{_S}*[-－.]?{_S}*\d{{1,3}}{_S}*[:：]{_S}*{_TIME}?",
            # 日，外。菜市场 · 夜，内。小饭馆 (time first, after a sentence)
            rf"(?:(?<=^)|(?<=[。！？!?…”」』）)】\]\s])){_TIME}[，,]{_S}*(?:内外|内|外)[。.．，,]{_S}*"
            rf"(?:{_PLACE}(?=[，,。（(]))?",
            # 场：1景：超市时：日/内 (the 人： list after it is a line of its own)
            rf"场{_S}*[:：]{_S}*\d+{_S}*景{_S}*[:：]{_S}*[^\s:：。！？【（(]{{1,30}}?"
            rf"(?:{_S}*时(?:间)?{_S}*[:：]{_S}*[^\s:：。！？【（(人]{{1,8}})?(?=人|{_S}|[【（(]|$)",
        )
    )
)

#: What every form above needs somewhere (a digit, 第, 景, or a time then 内/外 after a comma): a
#: quick test that spares most lines the full pattern.
MAY_HOLD_HEADING_RE = re.compile(r"[0-9０-９第景]|[日夜晨晚早午天上][，,][ \t\u3000]*[内外]")


def heading_cuts(text: str, start: int, end: int) -> list[int]:
    """Where headings inside ``text[start:end]`` begin and end, for cutting a long line there.

    Args:
        text: The text.
        start: Start of the line.
        end: End of the line.

    Returns:
        Offsets into ``text``, in order: each heading's start (unless it starts the line) and end
        (unless it ends the line).

    >>> line = "（转身）2、车站门口：日　外两人走出来。3：小刘家　夜　内小刘：你好。"
    >>> cuts = heading_cuts(line, 0, len(line))
    >>> [line[a:b] for a, b in zip([0, *cuts], [*cuts, len(line)])]
    ['（转身）', '2、车站门口：日\\u3000外', '两人走出来。', '3：小刘家\\u3000夜\\u3000内', '小刘：你好。']
    """
    cuts: list[int] = []
    if MAY_HOLD_HEADING_RE.search(text, start, end) is None:
        return cuts  # most lines of a long script: nothing a heading needs
    for match in INLINE_HEADING_RE.finditer(text, start, end):
        found = text[match.start() : match.end()]
        if match_heading(found) is None:
            continue
        for at in (match.start(), match.end()):
            if start < at < end and (not cuts or at > cuts[-1]):
                cuts.append(at)
    return cuts
