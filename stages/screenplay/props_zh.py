"""Find props in Chinese action text: objects after handling verbs, 把-objects and 【道具：…】 marks.

Precision comes first: only nouns right after a verb of handling (``拿起``, ``掏出``, ``递给他``,
``点燃``…) or moved with ``把`` (``把信折好``) count, measure words (``一杯``, ``那个``) and
aspect marks (``了``, ``着``, ``过``) are dropped, and body parts, people, doors and abstract
nouns never become props.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from stages.screenplay.words import word_set

#: ``【道具：手机、钥匙】`` and ``[道具: 手机]``.
CN_PROP_MARK_RE = re.compile(r"[【\[]\s*道具\s*[:：]\s*([^】\]]+)[】\]]")
LIST_SPLIT_RE = re.compile(r"[、，,;；\s]+")
CJK_ONLY_RE = re.compile(r"^[A-Za-z]{0,3}[\u4e00-\u9fff]+$")
_MEASURES = (
    "个把张封只支本瓶杯块件条部台串包盒袋份叠沓根枚颗片双套顶副碗盘罐箱捆束粒盏壶桶碟幅卷页盆株朵口辆架面对摞筐篮"
    "听锅勺"
)
_RECIPIENT = r"(?:他们|她们|你们|我们|他|她|你|我|它|[\u4e00-\u9fff]{1,3}?(?=[一两这那半几]))"
_VERBS = (
    r"拿起|拿出|拿着|拿来|拿过|掏出|摸出|取出|翻出|抽出|拔出|亮出|递过|递上|递来|接过|举着|举起|放下|握着|握紧|"
    r"打开|捧着|捧起|抱着|抱起|攥着|攥紧|提着|拎着|拎起|端着|端起|捏着|揣着|翻开|拆开|撕开|展开|戴上|摘下|"
    r"点燃|点起|点上|扔下|丢下|(?<!指)挥舞着|(?<!指)挥着|晃着|擦拭着|拖着|拄着|推着|背着|撑着|别着|咬着|叼着|"
    r"嗑着|扛着|搬着|抬着|挎着|夹着|戴着|骑着|吃着|喝着|抽着|"
    rf"(?:递给|塞给|交给|扔给|丢给|还给){_RECIPIENT}|(?:拿|递)(?=[一两这那半几])"
)
_NOUN = r"([\u4e00-\u9fff]{0,2}[A-Za-z]{1,3}[\u4e00-\u9fff]{1,3}|[\u4e00-\u9fff]{1,5})"
_QUANTITY = rf"(?:另外?)?(?:(?:[一两三四五六七八九十几半每整]|好几)[小大]?[{_MEASURES}]|[这那][{_MEASURES}]?)?"
#: ``拿起手机``, ``掏出一把钥匙``, ``递给林晚一杯水``, ``拿起桌上的照片``, ``放下了他的信``.
CN_HANDLING_RE = re.compile(rf"(?:{_VERBS})(?:了|着|过)?{_QUANTITY}(?:[\u4e00-\u9fff]{{1,4}}?的)?{_NOUN}")
#: ``把信折好``, ``把那个塑料袋塞进口袋``: the object moved.
CN_BA_RE = re.compile(
    rf"把{_QUANTITY}(?:[\u4e00-\u9fff]{{1,4}}?的)?([A-Za-z]{{0,3}}[\u4e00-\u9fff]{{1,5}}?)"
    r"(?=[往朝向在到进入塞放递交扔丢揣藏插摔折撕锁摆搁挂收装举拍推压伸搭埋披抖拿端拎提倒泼拉拖掏擦抹包裹盖铺翻推还]"
    r"|小心|轻轻|慢慢|狠狠|悄悄|猛地|用力|随手|顺手|默默|重重)"
)
#: ``用卷尺量尺寸``, ``用那把钥匙打开``: the instrument used.
CN_USING_RE = re.compile(
    r"(?<![不没有作使享费应信利采试食引运实通常适备专功公家占挪惯])用"
    rf"(?!力|心|尽|劲|不|得|着|处|意|途|法|餐|户|品|功|完|过|于|来|以){_QUANTITY}"
    r"(?:[\u4e00-\u9fff]{1,4}?的)?([A-Za-z]{0,3}[\u4e00-\u9fff]{1,4}?)"
    r"(?=[在给把往对将朝向从一轻慢使狠小猛量画写擦敲砸打切剪挑舀盛捂包扎缝绑系撬拨按点指戳抹刷扇压挡砍劈捅划刻"
    r"涂搅拌捞夹扒拍挠圈蘸沾拿接扶托撑垫盖遮])"
)
#: ``里面是一沓钱和一本存折``, ``纸箱里是她的设计稿``: what a container holds.
CN_CONTAINS_RE = re.compile(
    r"(?:里面|里头|里边|里)(?:是|装着|放着|躺着|塞满了|装满了|摆着)([^。！？；：，,\n]{1,40})"
)
CN_ITEM_SPLIT_RE = re.compile(r"[和、与及]|还有")
CN_ITEM_QUANTITY_RE = re.compile(
    rf"^(?:[一两三四五六七八九十几半好]+[小大]?[{_MEASURES}]|[这那][{_MEASURES}]?)"
)
#: One-character nouns that are props (``信``, ``刀``); any other single character is a stray.
CN_SHORT_PROPS = frozenset(
    "信刀枪笔伞茶酒烟药书碗杯锅壶球钱票表镜绳棍剑弓箭扇包盒箱瓶罐勺叉锁钟琴鼓旗花糖饭面汤蛋肉鱼菜果布线针尺纸画水"
    "证卡章印戒链镯簪帽鞋袜衣裙袍被枕席凳棒斧锤铲锄筷盘"
)
#: Body part + place words, and verbs after a body part: ``手里``, ``手抖``.
CN_BODY_PLACES = word_set(
    """手上 手里 手中 手心 手指 手掌 手背 手臂 手腕 头上 头发 头顶 脸上 脸色 眼里 眼中 眼睛 眼前 嘴里 嘴角
    脚下 脚步 脚边"""
)
CN_BODY_MOVES = frozenset("抖伸搭捂扒按撑握攥指拍挥摆放搓揉摸抓扶托捧举垂")
#: Endings that make a noun a person (``服务员``, ``老师``), not a prop.
CN_PERSON_ENDINGS = tuple("员者师客哥姐弟妹爷奶叔婶姨嫂娘爸妈人")
#: Characters that end a noun taken after a handling verb.
CN_NOUN_STOP = frozenset(
    "了着过的地得看说走向往在和与给放就又也便递对朝到进出起来去上下里中一把被还转摸轻慢用扔塞交念读翻擦从"
    "按拨点喝吃站坐笑哭盯望仔细环顾端详开关跑冲拉推回时，。！？、；：找洒都各"
)
#: Verb-like characters that end a noun once it has two characters (``手机拍`` → ``手机``) but may
#: sit inside a short noun (``照片``, ``戒指``).
CN_NOUN_VERBS = frozenset(
    "看说走跑冲拉推回拍砍写画敲晃挥指照比剪切插挂装穿戴靠贴压伸抬甩捏捂揉搓叫喊问唱哼闻吹尝数查找收藏拆撕扯折捡抓抱挡跟四处"
    "放递交扔丢塞揣掏打往朝向在进入好路经过迎躲闪蹲跪爬钻挤"
)
CN_NOT_PROPS = word_set(
    """手 双手 手指 手腕 拳头 门 房门 大门 车门 窗 窗户 窗帘 灯 眼睛 眼 双眼 嘴 头 脑袋 心 孩子 婴儿 女儿
    儿子 他 她 它 你 我 他们 她们 东西 话 声音 自己 身子 身体 肩 肩膀 脸 脚 腿 胳膊 手臂 时候 瞬间 一刻
    主意 衣角 勇气 眼泪 泪水 目光 视线 口气 一口气 脚步 身段 架子 面子 心思 心事 思绪 记忆 回忆 话题
    车 轿车 汽车 车子 双臂 胸口 额头 头发 耳朵 鼻子 嘴巴 下巴 喉咙 腰 背 后背 事 事情 工作 活 盖子
    抽屉 柜子 衣柜 冰箱 电视 屏幕 对方 那人 这人 众人 大家 所有人 他的手 她的手 其 对话 思路 局面
    嘴唇 牙 牙齿 影子 左手 右手 袖子 衣袖 眼神 力气 脑子 泪 汗 气 天 地 钱包里 架势 样子 姿势"""
)


def _clean(noun: str) -> str:
    for index, char in enumerate(noun):
        if char in CN_NOUN_STOP or (index >= 2 and char in CN_NOUN_VERBS):
            return noun[:index]
    return noun


def _is_prop(noun: str, character_names: Collection[str]) -> bool:
    if len(noun) < 1 or noun in CN_NOT_PROPS or noun[0] in "他她你我它这那" or noun.endswith("门"):
        return False  # 院门, 铁门: a door is the set, not a prop
    if (len(noun) == 1 and noun not in CN_SHORT_PROPS) or noun.endswith(CN_PERSON_ENDINGS):
        return False
    if (
        len(noun) > 1
        and noun[0] in "手脚头脸眼嘴"
        and (noun[:2] in CN_BODY_PLACES or noun[1] in CN_BODY_MOVES)
    ):
        return False  # "手里…", "手抖…": a hand doing something, not a 手枪 or a 手机
    return not any(noun[:size] in character_names for size in range(1, len(noun) + 1))


def chinese_props(line: str, character_names: Collection[str]) -> list[tuple[str, str]]:
    """Find props in a Chinese action line (or a bracketed note in a speech line).

    Args:
        line: The text to search.
        character_names: Known character names, never taken for props.

    Returns:
        ``(name, surface form)`` pairs in order of appearance.

    >>> chinese_props("她掏出一把钥匙开门，拿起桌上的照片，把那封信塞进口袋。", frozenset())
    [('钥匙', '钥匙'), ('照片', '照片'), ('信', '信')]
    """
    found: list[tuple[int, str]] = []
    patterns = [CN_HANDLING_RE]
    if "把" in line:
        patterns.append(CN_BA_RE)
    if "用" in line:
        patterns.append(CN_USING_RE)
    for pattern in patterns:
        for match in pattern.finditer(line):
            noun = _clean(match.group(1))
            if _is_prop(noun, character_names):
                found.append((match.start(1), noun))
    if "里" in line:
        found.extend(item for item in _contained(line) if _is_prop(item[1], character_names))
    if "道具" in line:
        found.extend((match.start(1), name) for match, name in _marked(line))
    found.sort(key=lambda item: item[0])
    return [(name, name) for _, name in found]


def _contained(line: str) -> list[tuple[int, str]]:
    items = []
    for match in CN_CONTAINS_RE.finditer(line):
        offset = match.start(1)
        for part in CN_ITEM_SPLIT_RE.split(match.group(1)):
            item = CN_ITEM_QUANTITY_RE.sub("", part.strip().rsplit("的", 1)[-1])
            if 1 <= len(item) <= 6 and CJK_ONLY_RE.match(item):
                items.append((offset, item))
            offset += len(part) + 1
    return items


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
