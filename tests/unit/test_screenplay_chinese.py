"""Chinese scripts: headers, 人物 lists, cues, 人物小传 sketches, scraped text and Chinese props."""

from __future__ import annotations

from typing import Any

import pytest

from stages.drafts import Mention, SceneSlice
from stages.extract.rules import extract_rules
from stages.screenplay import parse_structure, scene_number
from stages.screenplay.bios import find_sketches, parse_bio
from stages.screenplay.lines import logical_lines
from stages.screenplay.names import parse_chinese_cue
from stages.screenplay.props_zh import chinese_props


def _breakdown(text: str, sketches: str = "") -> list[Mention]:
    _, scenes = parse_structure(text)
    slices = [
        SceneSlice(s.number, s.heading, s.location, text[s.start : s.end], s.listed_characters)
        for s in scenes
    ]
    return extract_rules(slices, language="zh", sketches=sketches)


def _characters(mentions: list[Mention], scene: int | None = None) -> list[str]:
    return [m.name for m in mentions if m.asset_type == "character" and scene in (None, m.scene_number)]


def _attrs(mentions: list[Mention], name: str) -> dict[str, Any]:
    return next(m.attributes for m in mentions if m.name == name)


def test_episode_markers_with_titles_and_chinese_numerals() -> None:
    """第一集/第12集 with titles start episodes; 第二集 inside speech does not."""
    text = "第一集 重逢\n1-1 日 内 客厅\n林晚：你看第二集了吗？\n【第12集】反击\n12-1 夜 外 街道\n雨。\n"

    episodes, _ = parse_structure(text)

    assert [(1, "重逢"), (2, "反击")] == [(e.number, e.title) for e in episodes]


def test_keyed_heading_with_cast_on_the_same_line() -> None:
    """场：1 景：青山寨 时：日 人：柱子、翠花 gives the place and lists the cast."""
    _, scenes = parse_structure("场：1 景：青山寨 时：日 人：柱子、翠花\n柱子：走。\n")

    assert ("青山寨", "日", ("柱子", "翠花")) == (
        scenes[0].location,
        scenes[0].time,
        scenes[0].listed_characters,
    )


def test_cast_line_descriptions_give_ages() -> None:
    """人物：吴婶（心直口快的家庭妇女50岁），少游 describes 吴婶 with her age."""
    mentions = _breakdown("1-1 日 内 客厅\n人物：吴婶（心直口快的家庭妇女50岁），少游\n吴婶：来了？\n")

    assert ("心直口快的家庭妇女50岁", "50") == (
        _attrs(mentions, "吴婶")["description"],
        _attrs(mentions, "吴婶")["age"],
    )
    assert ["吴婶", "少游"] == _characters(mentions)


def test_cues_groups_voice_marks_and_brackets() -> None:
    """Joint cues split, 二人/众人 are groups, (OS)/(画外音) are stripped, 【】 and 旁白 are not people."""
    text = (
        "1-1 日 内 客厅\n少游，小花：快跑！\n二人：好！\n小 娟（画外音）：等等。\n小花（OS）：嗯。\n"
        "【字幕：三年后】\n【闪回】\n旁白：很久以前。\n"
    )

    mentions = _breakdown(text)

    assert ["少游", "小花", "小娟"] == _characters(mentions)
    assert 2 == _attrs(mentions, "小花")["dialogue_lines"]


def test_names_ending_like_verbs_are_speakers() -> None:
    """苏念 ends in 念 but is a name: 苏念：他是谁？ is her speech."""
    assert {"aliases": ["苏念"], "dialogue_lines": 1} == _attrs(
        _breakdown("1-1 夜 内 走廊\n苏念：他是谁？\n"), "苏念"
    )


def test_sketch_gives_age_gender_and_nickname() -> None:
    """许国栋（58岁）：男，…人称老许 is a sketch with age, gender and the nickname 老许."""
    bio = parse_bio("许国栋（58岁）：男，许记饭馆掌勺，人称老许。", in_block=False)

    assert bio is not None
    assert ("58", "male", ("老许",)) == (bio.age, bio.gender, bio.nicknames)


def test_front_matter_is_not_a_scene() -> None:
    """A title, 编剧 line and 人物小传 block before the first episode make no scene."""
    text = "《急诊》\n编剧：何满\n\n人物小传\n林晚（26岁）：女，急诊科医生。\n陈默然（30岁）：男，警察。\n\n"
    text += "第1集\n1-1 夜 内 急诊大厅\n陈默：林晚！\n"

    _, scenes = parse_structure(text)

    assert ["1-1 夜 内 急诊大厅"] == [scene.heading for scene in scenes]


def test_sketches_link_full_names_to_short_cues() -> None:
    """With the script's sketches, the cue 陈默 carries 陈默然 as an alias and his description."""
    text = "人物小传\n林晚（26岁）：女，急诊科医生。\n陈默然（30岁）：男，警察，人称老陈。\n\n"
    text += "1-1 夜 内 急诊大厅\n人物：林晚、陈默然\n陈默：林晚！\n林晚：你来了。\n"

    mentions = _breakdown(text, sketches=find_sketches(text))

    assert ["林晚", "陈默"] == _characters(mentions)
    attributes = _attrs(mentions, "陈默")
    assert ("陈默然" in attributes["aliases"], attributes["age"], attributes["gender"]) == (
        True,
        "30",
        "male",
    )


def test_a_relative_is_not_a_short_name() -> None:
    """桃子妈 listed next to the speaker 桃子 stays her own character."""
    mentions = _breakdown("1-1 日 内 饭馆\n人物：桃子、桃子妈\n桃子：妈！\n桃子妈：哎。\n")

    assert ["桃子", "桃子妈"] == _characters(mentions)


def test_scraped_lines_are_cut_before_headers_cast_actions_and_known_cues() -> None:
    """A run-together scraped line splits at 1-1 headers, 人物：, △ and known speakers' cues."""
    text = "第1集 1-1 夜 内 大厅 人物：苏念、老陈 △灯很亮。苏念：什么情况？"
    text += "老陈（虚弱）：别报警……1-2 夜 内 抢救室 △静。"

    pieces = [text[a:b].strip() for a, b in logical_lines(text)]
    _, scenes = parse_structure(text)

    assert ["第1集", "1-1 夜 内 大厅", "人物：苏念、老陈", "△灯很亮。", "苏念：什么情况？"] == pieces[:5]
    assert ["老陈（虚弱）：别报警……", "1-2 夜 内 抢救室", "△静。"] == pieces[5:]
    assert [("大厅", ("苏念", "老陈")), ("抢救室", ())] == [(s.location, s.listed_characters) for s in scenes]


def test_quoted_speech_is_cut_even_from_an_unknown_speaker() -> None:
    """名字：“…” after a sentence end starts a line even when 名字 was never seen before."""
    text = "△他推门进来，屋里很黑，什么也看不见。阿杰：“有人吗？”"

    assert ["△他推门进来，屋里很黑，什么也看不见。", "阿杰：“有人吗？”"] == [
        text[a:b] for a, b in logical_lines(text)
    ]


def test_names_in_action_are_present_unless_only_pictured() -> None:
    """周默 named in △ action is present; 林晚 seen only in a photo is not."""
    text = "1-1 日 内 客厅\n林晚：我走了。\n周默：嗯。\n1-2 日 内 书房\n△周默坐下。桌上的照片里是林晚。\n"

    mentions = _breakdown(text)

    assert (["林晚", "周默"], ["周默"]) == (_characters(mentions, 1), _characters(mentions, 2))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("△她掏出一把钥匙，拿起桌上的照片，递给他一杯茶。", ["钥匙", "照片", "茶"]),
        ("△苏念戴上听诊器，摘下口罩，点燃一支烟。", ["听诊器", "口罩", "烟"]),
        ("△他翻开日记本，撕开信封，塞给她一沓钱。", ["日记本", "信封", "钱"]),
        ("△小赵把一个U盘插进电脑。周伯把信小心放进邮包。", ["U盘", "信"]),
        ("△何姨打开红布包，里面是一沓钱和一本存折。", ["红布包", "钱", "存折"]),
        ("△小花用卷尺量尺寸，嘴里咬着一支铅笔。", ["卷尺", "铅笔"]),
        ("△陆川猛地拔出手枪冲出门去。", ["手枪"]),
        ("【道具：玉佩、旧照片】", ["玉佩", "旧照片"]),
    ],
)
def test_chinese_props(line: str, expected: list[str]) -> None:
    """Objects after handling verbs, moved with 把, used with 用, held in containers or marked are props."""
    assert expected == [name for name, _ in chinese_props(line, frozenset({"林晚"}))]


@pytest.mark.parametrize(
    "line",
    [
        "△她握着他的手，打开门，放下心来。",
        "△老许擦着手从后厨出来。桃子端着盘子路过。",
        "△他抱着孩子，咬着嘴唇，指挥着三个新来的服务员。",
        "△桃子端着茶壶的手抖了一下。他用力推开窗户。",
    ],
)
def test_chinese_non_props(line: str) -> None:
    """Hands, doors, people, body movements and adverbs never become props."""
    assert [] == [name for name, _ in chinese_props(line, frozenset()) if name != "茶壶" and name != "盘子"]


def test_a_one_line_script_with_keyed_headers_splits_into_its_scenes() -> None:
    """``场：N 景：… 时：… 人：…`` headers run together with the action (scraped text): each is a scene."""
    from stages.screenplay import parse_structure

    text = (
        "场：1 景：小院 时：日 人：阿梅 阿福阿梅在扫地。阿福：我回来了。阿梅：饭在锅里。阿福：好。"
        "场：2 景：河边 时：夜 人：阿梅阿梅洗衣服。阿梅：月亮真圆。场：3 景：小院 时：晨 人：阿福阿福劈柴。"
    )

    _, scenes = parse_structure(text)

    assert [("小院", "日"), ("河边", "夜"), ("小院", "晨")] == [(s.location, s.time) for s in scenes]


def test_speakers_of_a_script_with_no_line_breaks_are_found_by_how_often_they_speak() -> None:
    """Cues run into each other after sentence ends: frequent names are speakers, phrases are not."""
    from stages.drafts import SceneSlice
    from stages.extract.rules import extract_rules

    text = (
        "△屋里。阿梅：你回来了？阿福：（放下锄头）回来了。阿梅：洗手吃饭。阿福：好。阿梅：慢点吃。"
        "阿福：嗯。他想了想：不对。奶奶（咳嗽）：谁来了？小宝：我！奶奶：乖。阿梅：小宝，先洗手。"
        "奶奶：听你娘的。阿福：吃饭。"
    )

    mentions = extract_rules([SceneSlice(1, "", None, text)], language="zh")

    assert {"阿梅", "阿福", "奶奶", "小宝"} == {m.name for m in mentions if m.asset_type == "character"}


def test_an_opera_cue_that_sings_is_the_singer_and_a_chorus_is_no_one() -> None:
    """``王后唱：`` is 王后's line; ``合唱：`` and ``齐唱：`` name groups."""
    from stages.screenplay.names import parse_chinese_cue

    cues = [parse_chinese_cue(line) for line in ("王后唱：月儿弯弯。", "合唱：啊。", "齐唱：好。")]

    assert [(("王后", "王后唱"),), (), ()] == [cue.speakers for cue in cues if cue is not None]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # numbered, U+3000 separators, the action glued on
        ("（关门）2、车站门口：日\u3000外两人走出来。3：小刘的家\u3000夜\u3000内小刘：睡吧。",
         [("车站门口", "日", "EXT", "2"), ("小刘的家", "夜", "INT", "3")]),
        # place, time, then 内景 written out, after a sentence
        ("阿芳：好。（离去）厨房 白天 内景阿芳：（进门）妈！院子 晚上 外景（风很大）",
         [("厨房", "白天", "INT", None), ("院子", "晚上", "EXT", None)]),
        # 内景/外景 first, no number, even with no boundary before it
        ("他们走远了……外景 山脚下 日【雪停了。】好了好了，快去内景 灶房 夜【锅里冒着气】",
         [("山脚下", "日", "EXT", None), ("灶房", "夜", "INT", None)]),
        # bracketed numbers with full stops between the parts
        ("（1） 渡口。外。日。岸边很热闹。（2） 书房 内，夜。灯亮着。",
         [("渡口", "日", "EXT", "1"), ("书房", "夜", "INT", "2")]),
        # keyed headers run into the text before them, with a 人： list after
        ("客串：保安场：1景：银行时：日/内人：阿梅【阿梅排队。】场：2景：街口时：夜/外人：阿梅",
         [("银行", "日", "INT", "1"), ("街口", "夜", "EXT", "2")]),
        # 第N场 glued to the text before it and to the place after it
        ("司机第一场 日 外 天台 阿杰来了。大家：好！第二场【背景：山洞】阿杰：走！",
         [("天台", "日", "EXT", "1"), ("山洞", None, None, "2")]),
        # time first, then 内/外, then the place
        ("大家都笑了。日，外。菜市场，人很多。老王：买菜。夜，内。小饭馆（很吵）。老王：喝！",
         [("菜市场", "日", "EXT", None), ("小饭馆 很吵", "夜", "INT", None)]),
        # a one-character time run into the place, and a bracketed sub-place
        ("1、经理室日 内△经理在看报。2、车间（二楼）日内△小周跑进来。",
         [("经理室", "日", "INT", "1"), ("车间 二楼", "日", "INT", "2")]),
        # a TV script's own numbering
        ("片名NO-07：夜晚。渔村码头。船灯亮着。NO-08：清晨。码头。",
         [(None, "夜晚", None, "07"), (None, "清晨", None, "08")]),
    ],
)
def test_headings_inside_a_run_on_line_open_scenes(
    text: str, expected: list[tuple[str | None, str | None, str | None, str | None]]
) -> None:
    """A scraped line with headings inside it gets one scene per heading, its parts read."""
    _, scenes = parse_structure(text)

    assert expected == [
        (s.location, s.time, s.int_ext, scene_number(s.heading)) for s in scenes if s.heading
    ]


def test_a_stage_play_act_is_a_scene() -> None:
    """第一幕：place opens a scene (a stage play's acts are its scenes); 第一幕结束 does not."""
    _, scenes = parse_structure("第一幕：王家客厅 出场人物：王婶\n王婶：来了。\n第一幕结束\n第二幕：街上\n王婶：走。\n")

    assert [("王家客厅", "1"), ("街上", "2")] == [(s.location, scene_number(s.heading)) for s in scenes]


def test_numbers_inside_sentences_are_not_headings() -> None:
    """A list item, a date or a count with a time word in it opens no scene."""
    text = (
        "1、阿梅：女，二十岁，学生。2、阿杰：男。阿梅：我等了3、4个小时，今天晚上必须在三日内交。"
        "2003年5月，夜里很冷。"
    )

    _, scenes = parse_structure(text)

    assert [""] == [s.heading for s in scenes]


def test_a_place_run_into_the_action_ends_at_its_building_word() -> None:
    """第一场 日 外 仓库阿杰… reads 仓库: the place ends at a word for a building or room."""
    text = "序。第一场 日 外 仓库阿杰推门进来，四处看看。第二场 日 内 小会议室例会开始了，很安静。"

    _, scenes = parse_structure(text)

    assert ["仓库", "小会议室"] == [s.location for s in scenes if s.heading]


def test_a_dash_between_place_and_time_is_a_separator() -> None:
    """场：1景：院内——日外 reads place 院内, time 日, exterior."""
    _, scenes = parse_structure("场：1景：院内——日外人：阿婆△阿婆在院子里晒被子，太阳很好。阿婆：来。\n")

    assert [("院内", "日", "EXT")] == [(s.location, s.time, s.int_ext) for s in scenes]


def test_a_known_name_cuts_a_line_even_glued_or_padded() -> None:
    """A known speaker's cue starts a line when run straight into text (走吧阿芳：) or padded (老 周：)."""
    text = "周：雨停了，我们出发吧，走吧阿芳：好的，等我拿伞。老 周：（开门）快一点，车来了。"

    pieces = [text[a:b] for a, b in logical_lines(text, frozenset({"阿芳", "老周", "周"}))]

    assert ["周：雨停了，我们出发吧，走吧", "阿芳：好的，等我拿伞。", "老 周：（开门）快一点，车来了。"] == pieces


def test_a_one_character_name_said_often_is_a_speaker() -> None:
    """周： opening speech after speech is the speaker 周; 阿 芳： is 阿芳, not 芳."""
    text = (
        "1、客厅 日 内 周：来了。阿 芳：（开门）你好。周：我找人。阿 芳：她不在。周：那我走了。"
        "阿 芳：慢走。周：再见。老王：等等！周：怎么了？老王：没事。老王：走吧。"
    )

    mentions = _breakdown(text)

    assert {"周", "阿芳", "老王"} == set(_characters(mentions))


def test_a_name_with_run_on_text_after_it_is_that_speaker() -> None:
    """阿杰点头： and a 人物 list's 李婶上午 are 阿杰 and 李婶; 小美妈妈 stays her own person."""
    text = (
        "1、楼梯口 日 内\n人物：阿杰、李婶上午\n阿杰：早。\n李婶：早啊。\n阿杰点头：对，对。\n"
        "小美：妈！\n小美妈妈：哎。\n"
    )

    mentions = _breakdown(text)

    assert ["阿杰", "李婶", "小美", "小美妈妈"] == _characters(mentions)


def test_speech_written_inside_the_action_names_its_speakers() -> None:
    """船夫说：“…” said twice makes 船夫 a speaker; 于是说：“…” does not make 于是 one."""
    text = (
        "1、江边 日 外 船夫说：“上船。”阿芳好奇地问：“去哪儿？”船夫又说：“对岸。”"
        "于是说：“走。”阿芳道：“好。”于是说：“嗯。”\n"
    )

    mentions = _breakdown(text)

    assert ["船夫", "阿芳"] == sorted(_characters(mentions))


def test_a_synopsis_run_into_the_title_is_front_matter_not_a_scene() -> None:
    """《剧名》故事梗概：… and 人物介绍：… before the first heading open no scene and cast nobody."""
    text = (
        "短剧《回声》故事梗概：阿远和小青是邻居，一场误会让两人反目，最后和好。人物介绍：阿远，青年。小青，护士。"
        "场：1景：楼道时：日/内人：阿远、小青【阿远开门。】阿远：早。小青：早。"
    )

    _, scenes = parse_structure(text)

    assert ["楼道"] == [s.location for s in scenes]


def test_a_role_that_speaks_once_after_a_sentence_is_a_speaker() -> None:
    """。邻居：… in run-on text is the speaker 邻居; 修路工人： glued to text is not 工人 speaking."""
    text = (
        "1、楼道 日 内 阿芳：早。老周：早啊。阿芳：出门？老周：上班。阿芳：慢走。老周：好。"
        "门开了。邻居：你们小点声！阿芳：对不起。\n"
    )

    mentions = _breakdown(text)

    assert {"阿芳", "老周", "邻居"} == set(_characters(mentions))


def test_action_in_square_brackets_counts_as_action() -> None:
    """【…】 action, alone or written into a speech, yields props and people; 【闪回】 is only a label."""
    text = (
        "场：1景：银行时：日/内人：阿芳\n【闪回】\n【阿芳掏出一张银行卡，老周也到了。】\n"
        "阿芳：怎么办？【掏出一个钱包翻了翻】\n老周：别急。\n"
    )

    mentions = _breakdown(text)

    assert {"阿芳", "老周"} == set(_characters(mentions))
    assert {"银行卡", "钱包"} == {m.name for m in mentions if m.asset_type == "prop"}


def test_joint_speakers_with_a_shared_bracket_and_a_speech_verb() -> None:
    """阿大，阿二（低着头）一起念：… is a cue of both."""
    cue = parse_chinese_cue("阿大，阿二（低着头）一起念：一二三")

    assert cue is not None
    assert ["阿大", "阿二"] == [name for name, _ in cue.speakers]


def test_short_lines_with_a_heading_run_into_them_and_action_glued_to_a_cast_list() -> None:
    """1-2大堂 日 内前台：早。 is a heading and a cue; 人：阿牛、三婶△… ends the list at △."""
    text = (
        "1-1公园桥上 晨 外林晚走上桥，看着河水。\n1-2公司大堂 日 内前台：早。\n"
        "场： 3 景： 村口 时： 日 人： 阿牛、三婶△阿牛背着竹筐走过。三婶（放下篮子）：回来啦？阿牛：嗯。\n"
    )

    _, scenes = parse_structure(text)
    mentions = _breakdown(text)

    assert ["公园桥上", "公司大堂", "村口"] == [s.location for s in scenes]
    assert {"前台", "阿牛", "三婶"} <= set(_characters(mentions))


def test_an_episode_title_that_says_first_scene_is_no_heading() -> None:
    """第2集：第一场直播 is an episode titled 第一场直播, not a scene."""
    episodes, scenes = parse_structure("第2集：第一场直播\n\n1-1 夜 内 堂屋\n阿芳：开始吧。\n")

    assert (["第一场直播"], ["堂屋"]) == ([e.title for e in episodes], [s.location for s in scenes])


@pytest.mark.parametrize("line", ["下午人：阿芳、阿杰", "日 内人物：阿芳", "记住：一定要回来", "注意：前面有车"])
def test_a_key_or_a_word_before_a_colon_is_no_speaker(line: str) -> None:
    """A cast key run into a time (下午人：) and words such as 记住 or 注意 are not cues."""
    assert parse_chinese_cue(line) is None


def test_a_name_that_speaks_once_inside_the_action_and_is_named_often_is_a_speaker() -> None:
    """阿芳说：“…” once, with 阿芳 named three times, makes her a speaker; 甜甜地说 and 有人说 do not."""
    text = (
        "1、江边 日 外 阿芳走到江边。阿芳看着对岸。阿芳说：“船来了。”甜甜地说：“好。”有人说：“快上。”"
        "船夫说：“坐稳。”\n"
    )

    mentions = _breakdown(text)

    assert ["船夫", "阿芳"] == sorted(_characters(mentions))


def test_the_scripts_own_numbering_finds_a_heading_without_a_time() -> None:
    """（2） 山顶 between （1） and （3） headings opens scene 2; a （7） in the action does not."""
    text = (
        "（1） 村口 外 日 阿芳来了。（2） 山顶 阿芳喘着气往下看。"
        "她想起（7） 班的同学。（3） 家 内 夜 阿芳睡了。"
    )

    _, scenes = parse_structure(text)

    assert [("村口", "1"), ("山顶", "2"), ("家", "3")] == [(s.location, scene_number(s.heading)) for s in scenes]


def test_a_reference_to_a_scene_is_no_heading() -> None:
    """【闪回第2场：…】 inside the action refers to scene 2 and opens nothing."""
    text = "1、楼梯口 日 内 阿杰停下脚步，喊：快看！【闪回第2场：阿杰在楼下等车。】阿杰：糟了。2、医院 日 内 护士：请坐。"

    _, scenes = parse_structure(text)

    assert ["楼梯口", "医院"] == [s.location for s in scenes]


def test_a_described_role_speaks_once_after_a_sentence() -> None:
    """。卖菜的女摊主：… and 。穿制服的售票员：… are speakers (女摊主, 售票员)."""
    text = (
        "1、菜市场 日 外 阿芳：多少钱？老周：不知道。阿芳：问问吧。老周：好。阿芳：快点。老周：来了。"
        "大家都笑了。卖菜的女摊主：三块一斤。门口站着穿制服的售票员。穿制服的售票员：请排队。\n"
    )

    mentions = _breakdown(text)

    assert {"阿芳", "老周", "女摊主", "售票员"} == set(_characters(mentions))


def test_speech_introduced_inside_the_action_without_quotes_names_its_speaker() -> None:
    """阿宝一边跑一边回头叫：… makes 阿宝 a speaker when the text names 阿宝 often; 秦晓岚 is not 秦晓."""
    text = (
        "1、河边 日 外 阿宝跑在前面。阿宝回头看看。阿宝一边跑一边回头叫：快跟上！"
        "秦晓岚站在岸上。秦晓岚摇摇头。秦晓岚轻声对阿宝说：我不下去。\n"
    )

    mentions = _breakdown(text)

    assert ["秦晓岚", "阿宝"] == sorted(_characters(mentions))


def test_a_door_is_no_prop() -> None:
    """打开院门 names no prop (a door is the set); 拿起钱包 does."""
    text = "1、院子 日 外 阿芳打开院门，拿起钱包。\n"

    mentions = _breakdown(text)

    assert ["钱包"] == [m.name for m in mentions if m.asset_type == "prop"]
