"""Unit tests of the storyboard planner's pure core (stages.storyboard.plan_shots)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from stages.drafts import ShotDraft
from stages.storyboard.stage import DEFAULT_MAX_SHOTS, MAX_DESCRIPTION_CHARS, plan_shots

KITCHEN = """INT. KITCHEN - NIGHT

Rain hammers the window. JOHN (40s) stirs a pot while Mary watches.

JOHN
(without turning)
You're late. I said seven.

MARY
Traffic.

JOHN (CONT'D)
Again?

The knife glints on the table.

BOB bursts in with Mary's coat, followed by ALICE and John.

CUT TO:
"""
EN_CHARACTERS = {"JOHN": ["John"], "MARY": ["Mary"], "BOB": ["Bob"], "ALICE": ["Alice"]}
EN_PROPS = {"knife": ["knife"], "coat": ["coat"]}

LIVING_ROOM = """1-2 客厅 夜 内
人物：林夏、陈默、王妈
△ 林夏坐在沙发上，手里攥着一封信件。
△ 桌上放着一杯凉掉的咖啡。
陈默（冷笑）：你还知道回来？
林夏：我只是想拿回我的东西。
陈默：那封信呢？
林夏(低声)：烧了。
王妈：饭好了。
△ 陈默、小夏和王妈面面相觑。
"""
ZH_CHARACTERS = {"林夏": ["林夏", "小夏"], "陈默": ["陈默"], "王妈": ["王妈"]}
ZH_PROPS = {"信": ["信", "信件"], "咖啡": ["咖啡"]}


def plan(
    text: str,
    *,
    heading: str = "",
    location: str | None = None,
    characters: Mapping[str, Sequence[str]] | None = None,
    props: Mapping[str, Sequence[str]] | None = None,
    language: str = "en",
    max_shots: int = DEFAULT_MAX_SHOTS,
) -> list[ShotDraft]:
    """Call plan_shots with empty defaults so each test names only what it is about."""
    return plan_shots(
        text,
        heading=heading,
        location=location,
        characters=characters or {},
        props=props or {},
        language=language,
        max_shots=max_shots,
    )


def test_english_scene_becomes_establishing_shot_then_one_shot_per_beat() -> None:
    """An English scene plans an establishing shot, then its action and speeches in order."""
    shots = plan(
        KITCHEN,
        heading="INT. KITCHEN - NIGHT",
        location="KITCHEN",
        characters=EN_CHARACTERS,
        props=EN_PROPS,
    )

    assert [
        ShotDraft(1, "establishing", "Establishing: KITCHEN, NIGHT"),
        ShotDraft(2, "medium", "Rain hammers the window.", ("JOHN", "MARY")),
        ShotDraft(3, "over-the-shoulder", "JOHN: You're late.", ("JOHN", "MARY")),
        ShotDraft(4, "over-the-shoulder", "MARY: Traffic.", ("MARY", "JOHN")),
        ShotDraft(5, "over-the-shoulder", "JOHN: Again?", ("JOHN", "MARY")),
        ShotDraft(6, "insert", "The knife glints on the table.", (), ("knife",)),
        ShotDraft(
            7, "wide", "BOB bursts in with Mary's coat, followed by ALICE and John.",
            ("BOB", "MARY", "ALICE", "JOHN"), ("coat",),
        ),
    ] == shots  # fmt: skip


def test_chinese_scene_becomes_establishing_shot_then_one_shot_per_beat() -> None:
    """A Chinese scene's △ lines are action, 名字（情绪）：台词 lines speeches, header lines no beat."""
    shots = plan(
        LIVING_ROOM,
        heading="1-2 客厅 夜 内",
        location="客厅",
        characters=ZH_CHARACTERS,
        props=ZH_PROPS,
        language="zh",
    )

    assert [
        ShotDraft(1, "establishing", "全景：客厅（夜）"),
        ShotDraft(2, "medium", "林夏坐在沙发上，手里攥着一封信件。", ("林夏",), ("信",)),
        ShotDraft(3, "insert", "桌上放着一杯凉掉的咖啡。", (), ("咖啡",)),
        ShotDraft(4, "over-the-shoulder", "陈默：你还知道回来？", ("陈默", "林夏")),
        ShotDraft(5, "over-the-shoulder", "林夏：我只是想拿回我的东西。", ("林夏", "陈默")),
        ShotDraft(6, "over-the-shoulder", "陈默：那封信呢？", ("陈默", "林夏"), ("信",)),
        ShotDraft(7, "over-the-shoulder", "林夏：烧了。", ("林夏", "陈默")),
        ShotDraft(8, "close-up", "王妈：饭好了。", ("王妈",)),
        ShotDraft(9, "wide", "陈默、小夏和王妈面面相觑。", ("陈默", "林夏", "王妈")),
    ] == shots


def test_establishing_shot_wording_follows_the_language() -> None:
    """The establishing description is English or Chinese by ``language``, whatever the heading."""
    english = plan("", heading="EXT. BEACH - DAY", location="BEACH", language="en")
    chinese = plan("", heading="场景：医院走廊 日 内", location=None, language="zh-CN")

    assert [ShotDraft(1, "establishing", "Establishing: BEACH, DAY")] == english
    assert [ShotDraft(1, "establishing", "全景：医院走廊（日）")] == chinese


def test_establishing_shot_keeps_the_time_of_a_fountain_numbered_heading() -> None:
    """A Fountain scene number (``#1#``) after the time does not hide the time of day."""
    shots = plan("", heading="EXT. HARBOR CITY SAVINGS BANK - NIGHT #1#", location="HARBOR CITY SAVINGS BANK")

    assert [ShotDraft(1, "establishing", "Establishing: HARBOR CITY SAVINGS BANK, NIGHT")] == shots


def test_establishing_shot_without_location_reads_the_heading() -> None:
    """Without a location the place comes from the heading, scene numbers and INT/EXT dropped."""
    shots = plan("", heading="12 INT./EXT. CAR - MOVING - NIGHT 12")

    assert [ShotDraft(1, "establishing", "Establishing: CAR - MOVING, NIGHT")] == shots


def test_establishing_shot_without_time_of_day_names_only_the_place() -> None:
    """A heading with no time of day gives an establishing shot naming the place alone."""
    shots = plan("", heading="INT. BEACH HOUSE", location="BEACH HOUSE")

    assert [ShotDraft(1, "establishing", "Establishing: BEACH HOUSE")] == shots


def test_chinese_headings_give_place_and_time_without_scene_numbers() -> None:
    """Chinese heading layouts all yield the place and time, minus numbers, labels and 内/外."""
    headings = ["第1场 客厅 夜 内", "1-1、客厅（夜）", "3．客厅 夜 外", "场景：客厅 夜", "12-3 夜 内 客厅"]

    expected = ["全景：客厅（夜）"] * len(headings)
    assert expected == [plan("", heading=heading, language="zh")[0].description for heading in headings]


def test_no_heading_and_no_location_means_no_establishing_shot() -> None:
    """Text before any heading, with no location, starts directly with its first beat."""
    shots = plan("Nobody is here.")

    assert [ShotDraft(1, "wide", "Nobody is here.")] == shots


def test_empty_text_without_heading_plans_nothing() -> None:
    """An empty scene with neither heading nor location has no shots."""
    expected = []
    assert expected == plan("   \n\n")


def test_action_type_follows_how_many_characters_it_names() -> None:
    """Action naming 1–2 characters is medium, 3+ or none is wide, only a prop is an insert."""
    text = "JOHN waits.\n\nJOHN and MARY argue.\n\nJOHN, MARY and BOB leave.\n\nSilence.\n\nThe knife falls."
    shots = plan(text, characters=EN_CHARACTERS, props=EN_PROPS)

    expected = ["medium", "medium", "wide", "wide", "insert"]
    assert expected == [shot.type for shot in shots]


def test_single_speech_is_a_close_up_of_the_speaker() -> None:
    """A lone speech is a close-up of its speaker; the cue's (CONT'D) and the parenthetical are dropped."""
    text = "JOHN waits.\n\nMARY (CONT'D)\n(softly)\nI'm outside. Open up.\n\nJOHN opens the door."
    shots = plan(text, characters=EN_CHARACTERS)

    assert ShotDraft(2, "close-up", "MARY: I'm outside.", ("MARY",)) == shots[1]


def test_voice_over_is_a_shot_of_who_is_on_screen_not_of_the_speaker() -> None:
    """A V.O. or O.S. speech is a medium shot of the characters seen so far, noting the mark."""
    text = "JOHN waits by the phone.\n\nMARY (V.O.)\nI'm outside.\n\nJOHN\nCome in.\n\nBOB (O.S.)\nWho is it?"
    shots = plan(text, characters=EN_CHARACTERS)

    assert [
        ShotDraft(1, "medium", "JOHN waits by the phone.", ("JOHN",)),
        ShotDraft(2, "medium", "MARY (V.O.): I'm outside.", ("JOHN",)),
        ShotDraft(3, "close-up", "JOHN: Come in.", ("JOHN",)),
        ShotDraft(4, "medium", "BOB (O.S.): Who is it?", ("JOHN",)),
    ] == shots


def test_chinese_off_screen_voices_and_narrators_get_no_close_up() -> None:
    """（画外音）, （OS）, a leading （画外音） and a 旁白 speaker are heard over the scene, not shown."""
    text = (
        "旁白：那一年，她离开了。\n△ 林夏推门而入。\n"
        "陈默（画外音）：你回来了。\n陈默（OS）：别走。\n王妈：（画外音）吃饭了！"
    )
    shots = plan(text, characters=ZH_CHARACTERS, language="zh")

    assert [
        ShotDraft(1, "wide", "旁白：那一年，她离开了。"),
        ShotDraft(2, "medium", "林夏推门而入。", ("林夏",)),
        ShotDraft(3, "medium", "陈默（画外音）：你回来了。", ("林夏",)),
        ShotDraft(4, "medium", "陈默（OS）：别走。", ("林夏",)),
        ShotDraft(5, "medium", "王妈（画外音）：吃饭了！", ("林夏",)),
    ] == shots


def test_third_speaker_ends_the_over_the_shoulder_run() -> None:
    """A B A C: the A–B–A run is over-the-shoulder, the third speaker's line a close-up."""
    text = "A: One.\nB: Two.\nA: Three.\nC: Four."
    shots = plan(text, characters={"A": ["A"], "B": ["B"], "C": ["C"]})

    expected = [
        ("over-the-shoulder", ("A", "B")),
        ("over-the-shoulder", ("B", "A")),
        ("over-the-shoulder", ("A", "B")),
        ("close-up", ("C",)),
    ]
    assert expected == [(shot.type, shot.characters) for shot in shots]


def test_action_between_speeches_breaks_the_exchange() -> None:
    """Speeches separated by action are separate exchanges, so each is a close-up."""
    text = "林夏：走吧。\n△ 陈默没动。\n陈默：不。"
    shots = plan(text, characters=ZH_CHARACTERS, language="zh")

    expected = ["close-up", "medium", "close-up"]
    assert expected == [shot.type for shot in shots]


def test_speech_interrupted_by_a_cont_d_cue_is_one_shot() -> None:
    """The same speaker twice in a row (a CONT'D cue) is one speech, hence one shot."""
    text = "SARAH\nHello?\n\nSARAH (CONT'D)\n(louder)\nAnyone home?"
    shots = plan(text, characters={"SARAH": ["Sarah"]})

    assert [ShotDraft(1, "close-up", "SARAH: Hello?", ("SARAH",))] == shots


def test_chinese_speech_on_the_line_after_an_empty_colon_line_is_recognised() -> None:
    """``名字：`` alone on a line opens a speech that runs on to the next blank line."""
    text = "林夏：\n今天天气真好。\n我们出去走走吧。\n\n△ 陈默摇头。"
    shots = plan(text, characters=ZH_CHARACTERS, language="zh")

    assert [
        ShotDraft(1, "close-up", "林夏：今天天气真好。", ("林夏",)),
        ShotDraft(2, "medium", "陈默摇头。", ("陈默",)),
    ] == shots


def test_chinese_narration_that_quotes_someone_is_action() -> None:
    """``他说：“…”`` is narration, not a speaker called 他说."""
    shots = plan("他说：“走吧。”", language="zh")

    assert [ShotDraft(1, "wide", "他说：“走吧。”")] == shots


def test_unmarked_chinese_lines_are_separate_paragraphs() -> None:
    """Chinese scripts are not hard-wrapped, so each unmarked line is its own action beat."""
    shots = plan("林夏推门而入。\n陈默抬起头。", characters=ZH_CHARACTERS, language="zh")

    expected = [("林夏",), ("陈默",)]
    assert expected == [shot.characters for shot in shots]


def test_wrapped_english_action_lines_form_one_paragraph() -> None:
    """English action wrapped over several lines is one beat until a blank line."""
    shots = plan("JOHN crosses the room\nand sits down. He sighs.", characters=EN_CHARACTERS)

    assert [ShotDraft(1, "medium", "JOHN crosses the room and sits down.", ("JOHN",))] == shots


def test_transitions_headings_and_notes_are_not_beats() -> None:
    """Transitions, a repeated heading, Chinese header lines and Fountain notes make no shots."""
    text = (
        "FADE IN:\n\nINT. HALL - DAY\n\n人物：林夏\n\n[[check the lighting]]\n\nCUT TO:\n\n切至\n\nJOHN sits."
    )
    shots = plan(text, characters=EN_CHARACTERS)

    assert [ShotDraft(1, "medium", "JOHN sits.", ("JOHN",))] == shots


def test_all_caps_action_line_is_not_a_cue_without_dialogue_after_it() -> None:
    """An all-caps line followed by a blank line is action, not a character cue."""
    shots = plan("BANG\n\nJOHN ducks.", characters=EN_CHARACTERS)

    expected = ["BANG", "JOHN ducks."]
    assert expected == [shot.description for shot in shots]


def test_aliases_resolve_to_canonical_names_in_order_of_first_appearance() -> None:
    """Surface forms map to canonical names, listed by where they first appear in the beat."""
    shots = plan(
        "Johnny hands Mare the blade.",
        characters={"MARY": ["Mare"], "JOHN": ["Johnny"]},
        props={"knife": ["blade"]},
    )

    assert ShotDraft(1, "medium", "Johnny hands Mare the blade.", ("JOHN", "MARY"), ("knife",)) == shots[0]


def test_lowercase_word_is_not_a_character_name() -> None:
    """A character called WILL is not seen in the word ``will``: names must be capitalised."""
    shots = plan("The dog will bark.\n\nWill Smith barks.", characters={"WILL": ["Will"]})

    expected = [(), ("WILL",)]
    assert expected == [shot.characters for shot in shots]


def test_props_match_case_insensitively_on_word_boundaries_with_plurals() -> None:
    """``gun`` is seen in GUNS and Gun, never inside ``gunshot``."""
    shots = plan("A gunshot.\n\nTwo GUNS on the bed.\n\nGun drawn.", props={"gun": ["gun"]})

    expected = [(), ("gun",), ("gun",)]
    assert expected == [shot.props for shot in shots]


def test_one_character_chinese_prop_is_not_seen_inside_a_common_word() -> None:
    """The prop 信 (letter) is not in 相信 (believe), but is in 一封信 and 那封信."""
    text = "△ 林夏说她相信陈默。\n△ 林夏拿出一封信。\n△ 陈默不信。"
    shots = plan(text, characters=ZH_CHARACTERS, props=ZH_PROPS, language="zh")

    expected = [(), ("信",), ()]
    assert expected == [shot.props for shot in shots]


def test_latin_name_inside_chinese_text_is_found() -> None:
    """An English name written next to Chinese characters still matches."""
    shots = plan("Lily走进房间。", characters={"Lily": ["Lily"]}, language="zh")

    expected = ("Lily",)
    assert expected == shots[0].characters


def test_longer_chinese_name_wins_over_its_prefix() -> None:
    """王总监 is not also counted as 王总: the longer form claims its characters first."""
    shots = plan("王总监走进来。", characters={"王总": ["王总"], "王总监": ["王总监"]}, language="zh")

    expected = ("王总监",)
    assert expected == shots[0].characters


def test_unknown_speaker_is_kept_as_written() -> None:
    """A speaker that is no known character appears under the name in the cue."""
    shots = plan("BARTENDER\nLast call.", characters=EN_CHARACTERS)

    assert [ShotDraft(1, "close-up", "BARTENDER: Last call.", ("BARTENDER",))] == shots


def test_hostile_text_is_kept_verbatim_for_the_renderer_to_escape() -> None:
    """The planner does not alter markup in the script; escaping is the report's job."""
    shots = plan("<script>alert(1)</script> JOHN grins.", characters=EN_CHARACTERS)

    expected = "<script>alert(1)</script> JOHN grins."
    assert expected == shots[0].description


def test_descriptions_are_one_line_of_at_most_120_characters() -> None:
    """Long action and speeches are cut to 120 characters, on one line, ending with an ellipsis."""
    text = "JOHN\n" + "word " * 60 + "\n\n" + "A very long wrapped\nline " * 40
    shots = plan(text, heading="INT. " + "VERY LONG PLACE " * 20 + "- NIGHT", characters=EN_CHARACTERS)

    expected = [(True, True, False)] * 3
    assert expected == [
        (len(s.description) <= MAX_DESCRIPTION_CHARS, s.description.endswith("…"), "\n" in s.description)
        for s in shots
    ]


def test_long_scene_is_capped_and_keeps_its_establishing_shot() -> None:
    """A scene of 100 action lines fits in max_shots, establishing shot first, numbered 1..n."""
    text = "\n".join(f"△ 林夏走了{i}步。" for i in range(100))
    shots = plan(
        text, heading="1-1 客厅 夜 内", location="客厅", characters=ZH_CHARACTERS, language="zh", max_shots=5
    )

    expected = [1, 2, 3, 4, 5]
    assert expected == [shot.number for shot in shots]
    assert ShotDraft(1, "establishing", "全景：客厅（夜）") == shots[0]
    assert shots[1].description.startswith("林夏走了0步。林夏走了1步。")


def test_capping_merges_action_before_dialogue() -> None:
    """Over the cap, consecutive action shots merge first and the speeches keep their own shots."""
    text = "JOHN sits.\n\nMARY sits.\n\nBOB sits.\n\nJOHN: Hi.\nMARY: Hello."
    shots = plan(text, characters=EN_CHARACTERS, max_shots=3)

    assert [
        ShotDraft(1, "wide", "JOHN sits. MARY sits. BOB sits.", ("JOHN", "MARY", "BOB")),
        ShotDraft(2, "over-the-shoulder", "JOHN: Hi.", ("JOHN", "MARY")),
        ShotDraft(3, "over-the-shoulder", "MARY: Hello.", ("MARY", "JOHN")),
    ] == shots


def test_speech_heavy_scene_is_capped_by_grouping_neighbours() -> None:
    """Speeches alone over the cap are grouped evenly, so the shot count still fits."""
    text = "\n".join(f"{'林夏' if i % 2 else '陈默'}：第{i}句。" for i in range(50))
    shots = plan(text, heading="1-1 客厅 夜 内", characters=ZH_CHARACTERS, language="zh", max_shots=10)

    expected = (10, "establishing")
    assert expected == (len(shots), shots[0].type)


def test_max_shots_below_one_is_rejected() -> None:
    """max_shots must leave room for at least one shot."""
    with pytest.raises(ValueError, match="max_shots"):
        plan("JOHN sits.", max_shots=0)


def test_plan_is_deterministic_whatever_the_mapping_order() -> None:
    """The same scene gives the same shots, however the asset mappings happen to be ordered."""
    reversed_characters = dict(reversed(list(EN_CHARACTERS.items())))
    reversed_props = dict(reversed(list(EN_PROPS.items())))
    kwargs = {"heading": "INT. KITCHEN - NIGHT", "location": "KITCHEN"}

    first = plan(KITCHEN, characters=EN_CHARACTERS, props=EN_PROPS, **kwargs)
    second = plan(KITCHEN, characters=reversed_characters, props=reversed_props, **kwargs)

    assert first == second
