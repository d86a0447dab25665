"""Episodes, scenes, headings, title pages and language of screenplay text (pure cores)."""

from __future__ import annotations

import doctest
import importlib
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.drafts import SceneDraft, SourceSpan
from stages.screenplay import detect_language, match_heading, parse_structure, parse_title_page

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _contiguous(scenes: list[SceneDraft]) -> bool:
    return all(a.end == b.start for a, b in pairwise(scenes))


def test_detect_language_english() -> None:
    """Fountain text is English."""
    assert "en" == detect_language("INT. KITCHEN - NIGHT\n\nJOHN\nHello there.\n")


def test_detect_language_chinese() -> None:
    """A Chinese script with a few Latin letters is Chinese."""
    assert "zh" == detect_language("1-1 日 内 客厅\n林晚：Tony，你来了。\n")


def test_detect_language_without_letters() -> None:
    """Text without letters falls back to English."""
    assert "en" == detect_language("1234 ... !!")


def test_title_page_keys_and_body_start() -> None:
    """Title page keys are lowercased and the body starts after the blank line."""
    text = "Title: The Vault\nAuthor: Dana\nDraft date: 1/2/2024\n\nINT. BANK - DAY\n"

    meta, body_start = parse_title_page(text)

    assert {"title": "The Vault", "author": "Dana", "draft date": "1/2/2024"} == meta
    assert "INT. BANK - DAY\n" == text[body_start:]


def test_title_page_indented_continuation_lines() -> None:
    """Indented lines continue the previous value and emphasis marks are dropped."""
    text = "Title:\n    _**BRICK & STEEL**_\n    _**FULL RETIRED**_\nContact:\n    a@b.c\n    555\n\nBody"

    meta, _ = parse_title_page(text)

    assert "BRICK & STEEL\nFULL RETIRED" == meta["title"]
    assert "a@b.c\n555" == meta["contact"]


def test_no_title_page() -> None:
    """A script that opens with a transition or heading has no title page."""
    assert ({}, 0) == parse_title_page("FADE IN:\n\nINT. BANK - DAY\n")
    assert ({}, 0) == parse_title_page("INT. BANK - DAY\n")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("INT. KITCHEN - NIGHT", ("INT", "NIGHT", "KITCHEN")),
        ("EXT. JOHN'S APARTMENT - KITCHEN - DAY", ("EXT", "DAY", "JOHN'S APARTMENT - KITCHEN")),
        ("INT. JOHN'S APARTMENT - KITCHEN", ("INT", None, "JOHN'S APARTMENT - KITCHEN")),
        ("INT./EXT. CAR -- MOVING -- DAY", ("INT/EXT", "DAY", "CAR -- MOVING")),
        ("INT/EXT PORCH - DUSK", ("INT/EXT", "DUSK", "PORCH")),
        ("I/E VAN - NIGHT", ("INT/EXT", "NIGHT", "VAN")),
        ("EST. CITY SKYLINE - DAWN", ("EXT", "DAWN", "CITY SKYLINE")),
        ("INT. HOUSE - NIGHT #12A#", ("INT", "NIGHT", "HOUSE")),
        ("12 INT. BAR - NIGHT 12", ("INT", "NIGHT", "BAR")),
        ("EXT. ROUTE 66 - DAY", ("EXT", "DAY", "ROUTE 66")),
        ("int. hall - day", ("INT", "day", "hall")),
        (".ROOFTOP", (None, None, "ROOFTOP")),
        (".SNIPER NEST - NIGHT", (None, "NIGHT", "SNIPER NEST")),
    ],
)
def test_english_headings(line: str, expected: tuple[str | None, str | None, str | None]) -> None:
    """English and Fountain headings give interior/exterior, time and location."""
    heading = match_heading(line)

    assert heading is not None
    assert expected == (heading.int_ext, heading.time, heading.location)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1-1 日 内 客厅", ("INT", "日", "客厅")),
        ("1-1日 内 地点", ("INT", "日", "地点")),
        ("12－3 夜 外 后巷", ("EXT", "夜", "后巷")),
        ("20、卫生间 日 内", ("INT", "日", "卫生间")),
        ("1 郊外 [日 外]", ("EXT", "日", "郊外")),
        ("第1场 内景：（县城商场）", ("INT", None, "县城商场")),
        ("第十二场 外景：（码头） 黄昏", ("EXT", "黄昏", "码头")),
        ("场：1 景：青山寨 时：日", (None, "日", "青山寨")),
        ("场：2 景：李家 时：夜 内外：内", ("INT", "夜", "李家")),
        ("场：6 景：河边 时：春天 下午", (None, "下午", "河边")),
        ("第3场 时间：2003年秋 地点：车站", (None, "2003年秋", "车站")),
        ("内景 李家 中午", ("INT", "中午", "李家")),
        ("3．医院走廊 夜 内", ("INT", "夜", "医院走廊")),
        ("2-3 夜外 后巷（回忆）", ("EXT", "夜", "后巷")),
        ("5. 天台 深夜 内外", ("INT/EXT", "深夜", "天台")),
    ],
)
def test_chinese_headings(line: str, expected: tuple[str | None, str | None, str | None]) -> None:
    """Chinese headings give 内/外 as INT/EXT, the time word and the location without brackets."""
    heading = match_heading(line)

    assert heading is not None
    assert expected == (heading.int_ext, heading.time, heading.location)


@pytest.mark.parametrize(
    "line",
    [
        ".POV - THROUGH THE SCOPE",
        ".INSERT - THE LETTER",
        ".CLOSE ON her hands",
        ".ANGLE ON THE DOOR",
        "...and then nothing.",
        "Interesting, she thinks.",
        "Est. 1920, the hotel still stands.",
        "3个人走进来。",
        "1、他拿起刀，冲了出去。",
        "外面下雨了。",
        "林晚：1-1 这是我的房间号。",
    ],
)
def test_lines_that_are_not_headings(line: str) -> None:
    """Shots, ellipses, action and dialogue lines are not scene headings."""
    assert match_heading(line) is None


def test_scenes_are_contiguous_and_numbered() -> None:
    """Each scene runs from its heading to the next heading; numbers count from 1."""
    text = "INT. BAR - NIGHT\nJoe drinks.\n\nEXT. STREET - DAY\nRain.\n\nINT. CAR - DAY\nSilence.\n"

    episodes, scenes = parse_structure(text)

    assert [(1, None, 0, len(text))] == [(e.number, e.title, e.start, e.end) for e in episodes]
    assert [1, 2, 3] == [scene.number for scene in scenes]
    assert ["BAR", "STREET", "CAR"] == [scene.location for scene in scenes]
    assert "INT. BAR - NIGHT\nJoe drinks.\n\n" == text[scenes[0].start : scenes[0].end]
    assert len(text) == scenes[-1].end
    assert _contiguous(scenes)


def test_shot_inside_scene_is_not_a_scene() -> None:
    """A forced .INSERT shot stays inside the current scene."""
    text = "INT. LAB - NIGHT\nShe reads.\n\n.INSERT - THE NOTE\nIt says RUN.\n\nBACK TO SCENE\n"

    _, scenes = parse_structure(text)

    assert 1 == len(scenes)


def test_title_page_is_not_a_scene() -> None:
    """The title page and FADE IN: before the first heading do not make a scene."""
    text = "Title: Heist\nAuthor: Ann\n\nFADE IN:\n\nINT. BANK - DAY\nQuiet.\n"

    _, scenes = parse_structure(text)

    assert ["INT. BANK - DAY"] == [scene.heading for scene in scenes]
    assert text.index("INT. BANK") == scenes[0].start


def test_text_before_first_heading_becomes_a_scene() -> None:
    """Story text before the first heading is kept as a scene with an empty heading."""
    text = "Rain falls on the city.\nA siren wails.\n\nINT. BANK - DAY\nQuiet.\n"

    _, scenes = parse_structure(text)

    assert [("", 0), ("INT. BANK - DAY", text.index("INT."))] == [(s.heading, s.start) for s in scenes]
    assert _contiguous(scenes)


def test_lone_title_line_is_not_a_scene() -> None:
    """A script title alone before the first episode marker does not make a scene."""
    text = "逆袭总裁\n\n第1集 重逢\n1-1 日 内 客厅\n林晚：你好。\n"

    _, scenes = parse_structure(text)

    assert ["1-1 日 内 客厅"] == [scene.heading for scene in scenes]


def test_no_headings_gives_one_scene_per_episode() -> None:
    """A script without headings has one heading-less scene per episode."""
    text = "第1集\n林晚回到家。\n第2集\n林晚离开了。\n"

    episodes, scenes = parse_structure(text)

    assert 2 == len(episodes)
    assert [(1, 1, ""), (2, 2, "")] == [(s.number, s.episode, s.heading) for s in scenes]


def test_chinese_episode_markers_with_titles() -> None:
    """第X集 markers with Chinese or Arabic numerals start episodes; the text after is the title."""
    text = "第一集 重逢\n1-1 日 内 客厅\n林晚：你好。\n第12集：反击\n12-1 夜 外 街道\n雨。\n"

    episodes, scenes = parse_structure(text)

    assert [(1, "重逢"), (2, "反击")] == [(e.number, e.title) for e in episodes]
    assert text.index("第12集") == episodes[1].start
    assert [1, 2] == [scene.episode for scene in scenes]
    assert [1, 2] == [scene.number for scene in scenes]


def test_closing_episode_marks_are_not_episodes() -> None:
    """（第一集完） and 第一集 完 close an episode rather than open one."""
    text = "第一集\n1-1 日 内 客厅\n雨。\n（第一集完）\n第二集\n2-1 日 内 书房\n晴。\n第二集 完\n"

    episodes, _ = parse_structure(text)

    assert [1, 2] == [episode.number for episode in episodes]


def test_mid_line_episode_marker_in_scraped_text() -> None:
    """A 第X集 marker after a sentence end in the middle of a line starts an episode there."""
    text = "1-1 日 内 客厅\n他转身离开。第2集 2-1 夜 外 街道\n雨下个不停。\n"

    episodes, scenes = parse_structure(text)

    assert [0, text.index("第2集")] == [episode.start for episode in episodes]
    assert ["1-1 日 内 客厅", "2-1 夜 外 街道"] == [scene.heading for scene in scenes]
    assert text.index("2-1 夜") == scenes[1].start


def test_english_episode_markers() -> None:
    """EPISODE 2 and Episode Two: Title lines start episodes."""
    text = "EPISODE 1\n\nINT. BAR - NIGHT\nA.\n\nEpisode Two: The Return\n\nEXT. DOCK - DAY\nB.\n"

    episodes, scenes = parse_structure(text)

    assert [(1, None), (2, "The Return")] == [(e.number, e.title) for e in episodes]
    assert [1, 2] == [scene.episode for scene in scenes]


def test_dialogue_mentioning_an_episode_is_not_a_marker() -> None:
    """你看第二集了吗 inside dialogue does not start an episode."""
    episodes, _ = parse_structure("1-1 日 内 客厅\n林晚：你看第二集了吗？\n")

    assert 1 == len(episodes)


def test_each_source_file_is_an_episode() -> None:
    """With several files, each is an episode titled by its marker or else its file name."""
    first, second = "第1集 归乡\n1-1 日 外 村口\n风。\n", "2-1 夜 内 堂屋\n灯。\n"
    text = first + "\n" + second
    spans = [
        SourceSpan("drama/ep01.txt", 0, len(first)),
        SourceSpan("drama/ep02.txt", len(first) + 1, len(text)),
    ]

    episodes, scenes = parse_structure(text, spans)

    assert [(1, "归乡", 0, len(first)), (2, "ep02", len(first) + 1, len(text))] == [
        (e.number, e.title, e.start, e.end) for e in episodes
    ]
    assert [(1, 1, len(first)), (2, 2, len(text))] == [(s.number, s.episode, s.end) for s in scenes]


def test_cast_line_fills_listed_characters() -> None:
    """A 人物： line after a Chinese heading lists its characters without descriptions or groups."""
    text = "1-1 日 内 客厅\n人物：林晚（女，28岁）、吴婶（心直口快，50岁），周默 村民若干\n林晚：你好。\n"

    _, scenes = parse_structure(text)

    assert ("林晚", "吴婶", "周默") == scenes[0].listed_characters


def test_cast_line_far_from_heading_is_not_listed() -> None:
    """A 人物： line deep inside a scene does not belong to its heading."""
    text = "1-1 日 内 客厅\n雨。\n风。\n林晚：你好。\n周默：嗯。\n人物：林晚\n"

    _, scenes = parse_structure(text)

    assert () == scenes[0].listed_characters


@pytest.mark.parametrize(
    ("name", "episodes", "scenes"),
    [
        ("the-heist.fountain", 1, 8),
        ("night-shift.fountain", 1, 7),
        ("山村来信.txt", 1, 7),
        ("逆袭总裁.txt", 3, 9),
        ("县城商场.txt", 1, 8),
        ("急诊夜_网页版.txt", 3, 10),
    ],
)
def test_examples_parse(name: str, episodes: int, scenes: int) -> None:
    """The sample scripts parse into the episodes and scenes they were written with."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")

    found_episodes, found_scenes = parse_structure(text)

    assert (episodes, scenes) == (len(found_episodes), len(found_scenes))
    for episode in found_episodes:
        assert _contiguous([scene for scene in found_scenes if scene.episode == episode.number])


def test_short_drama_files_are_episodes() -> None:
    """The three short-drama files give three titled episodes of three scenes each."""
    parts = [(EXAMPLES / "short-drama" / f"ep0{n}.txt").read_text(encoding="utf-8") for n in (1, 2, 3)]
    text, spans = "", []
    for number, part in enumerate(parts, start=1):
        spans.append(SourceSpan(f"ep0{number}.txt", len(text), len(text) + len(part)))
        text += part + "\n"

    episodes, scenes = parse_structure(text, spans)

    assert ["归乡", "第一场直播", "竹篮出山"] == [episode.title for episode in episodes]
    assert [1, 1, 1, 2, 2, 2, 3, 3, 3] == [scene.episode for scene in scenes]


def test_large_script_parses() -> None:
    """A synthesized script of over a million characters parses into all its scenes."""
    block = (
        "INT. ROOM {n} - NIGHT\n\nJOHN\nHello there, how are you today?\n\n" + "Action line. " * 60 + "\n\n"
    )
    text = "".join(block.format(n=n) for n in range(1200))

    episodes, scenes = parse_structure(text)

    assert len(text) > 1_000_000
    assert (1, 1200) == (len(episodes), len(scenes))
    assert _contiguous(scenes)
    assert len(text) == scenes[-1].end


LINES = st.sampled_from(
    ["INT. A - DAY", "EXT. B - NIGHT", "1-1 日 内 客厅", "第2集 反击", "林晚：你好。", "He runs.", "", "   "]
)


@settings(database=None, max_examples=150)
@given(st.lists(LINES, max_size=30))
def test_scenes_always_contiguous_inside_text(lines: list[str]) -> None:
    """Whatever the lines, scenes are ordered, contiguous within an episode and inside the text."""
    text = "\n".join(lines)

    episodes, scenes = parse_structure(text)

    assert [n + 1 for n in range(len(scenes))] == [scene.number for scene in scenes]
    assert all(0 <= scene.start <= scene.end <= len(text) for scene in scenes)
    for episode in episodes:
        inside = [scene for scene in scenes if scene.episode == episode.number]
        assert inside
        assert _contiguous(inside)
        assert all(episode.start <= s.start and s.end <= episode.end for s in inside)


def test_windows_line_endings_and_bom() -> None:
    """CRLF line endings and a byte-order mark change neither episodes nor scenes."""
    text = "\ufeff第1集 重逢\r\n1-1 日 内 客厅\r\n林晚：你好。\r\n\r\n1-2 夜 外 街道\r\n雨。\r\n"

    episodes, scenes = parse_structure(text)

    assert ["重逢"] == [episode.title for episode in episodes]
    assert [("客厅", text.index("1-1")), ("街道", text.index("1-2"))] == [
        (s.location, s.start) for s in scenes
    ]


@pytest.mark.parametrize(
    "module",
    [
        "stages.screenplay.episodes",
        "stages.screenplay.headings",
        "stages.screenplay.language",
        "stages.screenplay.names",
        "stages.screenplay.props",
        "stages.screenplay.structure",
        "stages.screenplay.titlepage",
        "stages.screenplay.words",
        "stages.screenplay.bios",
        "stages.screenplay.cues",
        "stages.screenplay.lines",
        "stages.screenplay.markup",
        "stages.screenplay.props_zh",
        "stages.extract.rules",
        "pipeline.fdx",
        "pipeline.sources",
        "pipeline.numerals",
        "pipeline.settings",
        "pipeline.jobs",
        "stages.screenplay.chinese",
        "stages.screenplay.verdict",
        "stages.screenplay.inline",
        "stages.screenplay.sequence",
        "stages.screenplay.episodes",
        "stages.screenplay.elements",
        "stages.dedup.merge",
        "bench.metrics",
        "pipeline.pdf",
        "pipeline.pdf_layout",
        "pipeline.pdf_elements",
        "pipeline.docx",
    ],
)
def test_docstring_examples_hold(module: str) -> None:
    """The docstring examples of the text cores and the file readers run as written."""
    assert 0 == doctest.testmod(importlib.import_module(module)).failed
