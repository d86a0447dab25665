"""The offline rule-based extractor: characters, locations and props per scene (pure core)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.chunk import split_into_chunks
from stages.drafts import Mention, SceneSlice
from stages.extract.rules import extract_rules
from stages.screenplay import detect_language, parse_structure

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _en(text: str, number: int = 1, location: str | None = "ROOM") -> list[Mention]:
    return extract_rules([SceneSlice(number, "INT. ROOM - DAY", location, text)], language="en")


def _zh(text: str, listed: tuple[str, ...] = (), location: str | None = "客厅") -> list[Mention]:
    return extract_rules([SceneSlice(1, "1-1 日 内 客厅", location, text, listed)], language="zh")


def _names(mentions: list[Mention], asset_type: str) -> list[str]:
    return [m.name for m in mentions if m.asset_type == asset_type]


def _attrs(mentions: list[Mention], name: str) -> dict[str, Any]:
    return next(m.attributes for m in mentions if m.name == name)


def test_one_location_per_scene() -> None:
    """Each scene with a location gives one location mention, none without a location."""
    slices = [
        SceneSlice(1, "INT. BAR - NIGHT", "BAR", "INT. BAR - NIGHT\nJoe drinks.\n"),
        SceneSlice(2, "", None, "Rain.\n"),
    ]

    mentions = extract_rules(slices, language="en")

    assert [("location", "BAR", 1)] == [(m.asset_type, m.name, m.scene_number) for m in mentions]


def test_english_cues_strip_extensions_and_count_speeches() -> None:
    """Cues lose (V.O.), (O.S.), (CONT'D) and ^; each speech counts once."""
    text = (
        "INT. ROOM - DAY\n\nJOHN (V.O.)\nHello.\n\nMARY (O.S.) (CONT’D)\nHi.\n\n"
        "JOHN (CONT'D)\nAgain.\n\nMARY ^\nBye.\n\nJOHN (ON PHONE)\nWait.\n"
    )

    mentions = _en(text)

    assert ["JOHN", "MARY"] == _names(mentions, "character")
    assert 3 == _attrs(mentions, "JOHN")["dialogue_lines"]
    assert 2 == _attrs(mentions, "MARY")["dialogue_lines"]


def test_forced_cue_keeps_its_case() -> None:
    """An @ cue is a speaker even in mixed case; the cue's surface forms are its aliases."""
    mentions = _en("@McClane\nYippee.\n\n@McCLANE\nAgain.\n")

    assert ["McClane"] == _names(mentions, "character")
    assert ["McClane", "McCLANE"] == _attrs(mentions, "McClane")["aliases"]


def test_transitions_groups_and_headings_are_not_characters() -> None:
    """CUT TO:, FADE IN:, headings and group cues such as ALL or THE CROWD are not characters."""
    text = "FADE IN:\nThe room.\n\nALL\nHooray!\n\nTHE CROWD\nBoo!\n\nCUT TO:\nBlack.\n\nBOB\nHm.\n"

    assert ["BOB"] == _names(_en(text), "character")


def test_shouted_dialogue_is_not_a_cue() -> None:
    """An all-caps dialogue line inside a speech is not another speaker."""
    mentions = _en("BOB\nGET DOWN\nNow!\n")

    assert ["BOB"] == _names(mentions, "character")


def test_english_intro_gives_age_and_links_to_cue() -> None:
    """JOHN SMITH (40s) and MARY (32, a nurse) intros give ages; the full name is an alias."""
    text = "JOHN SMITH (40s), rumpled, enters. MARY (32, a nurse) follows.\n\nJOHN\nMorning.\n"

    mentions = _en(text)

    assert ["JOHN", "MARY"] == _names(mentions, "character")
    assert {"aliases": ["JOHN SMITH", "JOHN"], "dialogue_lines": 1, "age": "40s"} == _attrs(mentions, "JOHN")
    assert ("32", "a nurse", 0) == tuple(
        _attrs(mentions, "MARY")[k] for k in ("age", "description", "dialogue_lines")
    )


def test_english_props_from_handling_verbs_and_caps() -> None:
    """Objects after handling verbs and capitalised nouns in action become normalised props."""
    text = (
        "She picks up a revolver. He grabs the car keys and pulls out a GUN.\nShe hands Mary the envelope.\n"
    )

    assert ["revolver", "car key", "gun", "envelope"] == _names(_en(text), "prop")


def test_english_body_parts_and_breaths_are_not_props() -> None:
    """Takes a deep breath, opens her eyes, opens the door and the GUARD are not props."""
    text = "She takes a deep breath, opens her eyes and opens the door. The GUARD nods. A door SLAMS.\n"

    assert [] == _names(_en(text), "prop")


def test_english_props_in_parentheticals() -> None:
    """A handling verb in a parenthetical under a cue gives a prop; dialogue words do not."""
    text = "RITA\n(pockets the notebook)\nTake the money and run.\n"

    assert ["notebook"] == _names(_en(text), "prop")


def test_chinese_speakers_with_marks_and_spaces() -> None:
    """Alignment spaces, emotion notes and voice marks are stripped from Chinese speakers."""
    text = "小 娟：姐！\n林晚（哭）：你走吧。\n周默（画外音）：我会回来的。\n吴婶OS：哎哟。\n"

    mentions = _zh(text)

    assert ["小娟", "林晚", "周默", "吴婶"] == _names(mentions, "character")
    assert ["小 娟"] == _attrs(mentions, "小娟")["aliases"]


def test_chinese_joint_speakers_are_split() -> None:
    """少游，小花： is one speech for each of the two speakers."""
    mentions = _zh("少游，小花：快跑！\n")

    assert [("少游", 1), ("小花", 1)] == [(m.name, m.attributes["dialogue_lines"]) for m in mentions[1:]]


def test_chinese_non_speakers() -> None:
    """Subtitles, header keys, groups and action lines with a colon are not speakers."""
    text = "【字幕：三年后】\n时间：傍晚\n场景：客厅\n众人：欢迎！\n"
    text += "大家：好！\n他低声说：快走。\n旁白：很久以前。\n"

    assert [] == _names(_zh(text), "character")


def test_listed_characters_are_present_without_lines() -> None:
    """Listed characters appear with zero lines; the 人物 line gives descriptions and ages."""
    text = "1-1 日 内 客厅\n人物：林晚、吴婶（心直口快的家庭妇女，50岁）\n林晚：吴婶！\n"

    mentions = _zh(text, listed=("林晚", "吴婶"))

    assert [("location", "客厅"), ("character", "林晚"), ("character", "吴婶")] == [
        (m.asset_type, m.name) for m in mentions
    ]
    assert (1, 0) == (_attrs(mentions, "林晚")["dialogue_lines"], _attrs(mentions, "吴婶")["dialogue_lines"])
    assert ("心直口快的家庭妇女，50岁", "50") == (
        _attrs(mentions, "吴婶")["description"],
        _attrs(mentions, "吴婶")["age"],
    )


def test_chinese_intro_in_action_gives_age() -> None:
    """An action intro 吴婶（心直口快的家庭妇女，50岁） describes the character."""
    mentions = _zh("△吴婶（心直口快的家庭妇女，50岁）推门进来。\n")

    assert {
        "aliases": ["吴婶"],
        "dialogue_lines": 0,
        "description": "心直口快的家庭妇女，50岁",
        "age": "50",
    } == (_attrs(mentions, "吴婶"))


def test_character_sketch_is_not_dialogue() -> None:
    """Before any heading, a 人物小传 line 林晚：女，二十六岁，设计师。 describes rather than speaks."""
    slices = [SceneSlice(1, "", None, "人物小传\n林晚：女，二十六岁，设计师。\n")]

    mentions = extract_rules(slices, language="zh")

    assert {
        "aliases": ["林晚"],
        "dialogue_lines": 0,
        "description": "女，二十六岁，设计师。",
        "age": "二十六",
    } == {k: v for k, v in _attrs(mentions, "林晚").items() if k != "gender"}
    assert "female" == _attrs(mentions, "林晚")["gender"]


def test_speech_that_starts_with_an_age_is_dialogue_inside_a_scene() -> None:
    """王姐：五十多岁，男性，腹痛三小时。 under a heading is a nurse speaking, not a sketch."""
    mentions = _zh("王姐：五十多岁，男性，腹痛三小时。\n")

    assert {"aliases": ["王姐"], "dialogue_lines": 1} == _attrs(mentions, "王姐")


def test_chinese_props_from_handling_verbs_and_marks() -> None:
    """拿起/掏出/递给…/放下 objects and 【道具：…】 marks are props; hands and doors are not."""
    text = (
        "△林晚拿起桌上的照片看了看，掏出一把钥匙。\n周默（递给林晚一杯水）：喝吧。\n"
        "△她放下了手中的茶杯，握着他的手，打开门。\n【道具：玉佩、旧照片】\n"
    )

    assert ["照片", "钥匙", "水", "茶杯", "玉佩", "旧照片"] == _names(_zh(text), "prop")


def test_chinese_prop_words_in_speech_are_ignored() -> None:
    """A handling verb inside spoken words does not make a prop."""
    assert [] == _names(_zh("林晚：你倒是拿起刀啊！\n"), "prop")


def test_one_mention_per_asset_per_scene_in_scene_order() -> None:
    """Mentions come by scene then first appearance, one per asset per scene."""
    slices = [
        SceneSlice(
            2, "INT. B - DAY", "B", "BOB\nHi.\n\nBOB\nHi again.\n\nHe picks up a cup. He picks up a cup.\n"
        ),
        SceneSlice(1, "INT. A - DAY", "A", "ANN\nHello.\n"),
    ]

    mentions = extract_rules(slices, language="en")

    assert [(1, "A"), (1, "ANN"), (2, "B"), (2, "BOB"), (2, "cup")] == [
        (m.scene_number, m.name) for m in mentions
    ]


def test_extraction_is_deterministic() -> None:
    """The same slices always give the same mentions."""
    text = (EXAMPLES / "逆袭总裁.txt").read_text(encoding="utf-8")
    _, scenes = parse_structure(text)
    slices = [
        SceneSlice(s.number, s.heading, s.location, text[s.start : s.end], s.listed_characters)
        for s in scenes
    ]

    assert extract_rules(slices, language="zh") == extract_rules(slices, language="zh")


def test_unknown_language_is_detected() -> None:
    """A language other than zh/en is detected from the text."""
    mentions = extract_rules([SceneSlice(1, "", None, "林晚：你好。\n")], language="auto")

    assert ["林晚"] == _names(mentions, "character")


def _example_mentions(name: str) -> list[Mention]:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    _, scenes = parse_structure(text)
    slices = [
        SceneSlice(s.number, s.heading, s.location, text[s.start : s.end], s.listed_characters)
        for s in scenes
    ]
    return extract_rules(slices, language=detect_language(text))


def test_heist_example_breakdown() -> None:
    """The heist sample yields its four speakers and its handled props."""
    mentions = _example_mentions("the-heist.fountain")

    assert {"RITA", "TOMMY", "HUGO", "MARCUS"} == set(_names(mentions, "character"))
    assert {"pocket watch", "duffel bag", "stethoscope", "notebook"} <= set(_names(mentions, "prop"))


def test_village_letter_example_breakdown() -> None:
    """The 山村来信 sample yields its characters and its letter props."""
    mentions = _example_mentions("山村来信.txt")

    assert {"秀兰", "周伯", "铁蛋", "秀兰娘", "陈老师"} == set(_names(mentions, "character"))
    assert {"信", "粉笔", "钢笔", "行李箱"} <= set(_names(mentions, "prop"))


def test_million_character_script_extracts_in_linear_time() -> None:
    """A run-together Chinese script of over a million characters parses and extracts chunk by chunk."""
    block = (
        "{n}-1 夜 内 急诊大厅 人物：苏念、老陈 △苏念戴上听诊器迎上去。苏念：什么情况？"
        "老陈（虚弱）：别报警……△王姐递给苏念一把止血钳。" + "△监护仪发出刺耳的报警声。" * 40
    )
    text = "".join(block.format(n=n) for n in range(1, 1700))
    _, scenes = parse_structure(text)
    mentions = []
    for chunk in split_into_chunks(text, scenes, max_chars=6000):
        inside = scenes[chunk.first_scene - 1 : chunk.last_scene]
        slices = [
            SceneSlice(
                s.number, s.heading, s.location, text[max(s.start, chunk.start) : min(s.end, chunk.end)]
            )
            for s in inside
        ]
        mentions += extract_rules(slices, language="zh")

    assert len(text) > 1_000_000
    assert (1699, {"苏念", "老陈"}) == (len(scenes), set(_names(mentions, "character")))
    assert {"听诊器", "止血钳"} == set(_names(mentions, "prop"))


def test_people_introduced_by_a_role_in_caps_are_cast_and_groups_are_background() -> None:
    """A GUARD (who never speaks) is cast; TWO COPS are background; A WOMAN then named is the named one."""
    mentions = _en(
        "A GUARD dozes by the door. TWO COPS lean on the bar.\n\n"
        "A WOMAN in a wet coat hurries in. This is GRACE MARSH (40s).\n\nGRACE\nWhere is he?\n"
    )

    assert (["GRACE", "GUARD"], ["COPS"]) == (
        sorted(_names(mentions, "character")),
        _names(mentions, "background"),
    )
