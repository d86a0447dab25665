"""Metamorphic invariants of the parser on our own samples: changes a scraper, an editor or
another platform makes to a script's text leave its scenes and speakers as they were.

A breakdown (``bench.invariants.breakdown``) is what a user sees: each scene's INT/EXT, location
and time in order, each scene's episode, the characters after dedup and the scenes each is in.
It is taken with the whole script as one extract chunk: the rules extractor learns who speaks per
chunk, so a transform that moves a chunk boundary can move a character's scenes for a reason that
is not the transform's (``python -m bench.invariants`` measures with a job's chunk size too).
``python -m bench.invariants`` applies the same transforms to the development corpus.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.invariants import (
    FULL_PUNCT,
    ONE_CHUNK,
    Breakdown,
    breakdown,
    colon_spaces,
    crlf_bom,
    from_files,
    from_text,
    full_width,
    half_width,
    ideographic_spaces,
    indent,
    join_episodes,
    join_lines,
    new_name,
    rename,
    rename_target,
    renamed,
    split_episodes,
    tabs,
    trailing_whitespace,
)
from pipeline.sources import read_scripts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHINESE = sorted(p.name for p in EXAMPLES.glob("*.txt") if not p.name.endswith(".truth.json"))
ALL = [*CHINESE, *sorted(p.name for p in EXAMPLES.glob("*.fountain"))]
#: Hypothesis: few examples, the same ones every run (each one breaks a whole script down).
FEW = settings(max_examples=4, derandomize=True, deadline=None, database=None)
#: Which lines a transform touches: a seed per example (a drawn set of 2,000 indices is too big).
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
_MAX_BYTES = 10_000_000


@cache
def seen(text: str) -> Breakdown:
    """What a user sees of a script text saved as a file (decoded as ingest decodes it)."""
    return breakdown(from_text(text), chunk_chars=ONE_CHUNK)


@cache
def _read(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def _some_lines(seed: int, text: str) -> set[int]:
    """About half of the text's line indices, picked at random from ``seed``."""
    rng = random.Random(seed)
    return {i for i in range(text.count("\n") + 1) if rng.random() < 0.5}


def _xfail(names: list[str], reasons: dict[str, str]) -> list[object]:
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=reasons[n])) if n in reasons else n
        for n in names
    ]


# --- encoding, line ends, whitespace --------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_crlf_and_a_bom_change_nothing(name: str) -> None:
    """A file saved on Windows, with a byte-order mark, reads (as ingest decodes it) the same."""
    text = _read(name)

    assert seen(text) == seen(crlf_bom(text))


@pytest.mark.parametrize("name", ALL)
def test_trailing_tabs_and_spaces_change_nothing(name: str) -> None:
    """Whitespace an editor leaves at line ends gives the same breakdown."""
    text = _read(name)

    assert seen(text) == seen(trailing_whitespace(text))


@pytest.mark.parametrize("name", CHINESE)
@FEW
@given(seed=SEEDS, by=st.sampled_from(["\t", "\t\t", "   ", " \t"]))
def test_tabs_for_the_spaces_between_words_change_nothing(name: str, seed: int, by: str) -> None:
    """``1-1\\t夜\\t外\\t公司楼下``: tabs or more spaces where (some) lines separate words read the same."""
    text = _read(name)

    assert seen(text) == seen(tabs(text, _some_lines(seed, text), by))


@pytest.mark.parametrize("name", CHINESE)
@FEW
@given(seed=SEEDS)
def test_ideographic_spaces_for_ascii_ones_change_nothing(name: str, seed: int) -> None:
    """U+3000 where (some) lines separate words by ASCII spaces reads the same."""
    text = _read(name)

    assert seen(text) == seen(ideographic_spaces(text, _some_lines(seed, text)))


@pytest.mark.parametrize("name", CHINESE)
@FEW
@given(seed=SEEDS, by=st.sampled_from(["\u3000\u3000", "\t", "    "]))
def test_indenting_lines_changes_nothing(name: str, seed: int, by: str) -> None:
    """Lines indented as web pages and word processors indent paragraphs read the same."""
    text = _read(name)

    assert seen(text) == seen(indent(text, _some_lines(seed, text), by))


# --- punctuation and colons -----------------------------------------------------------------------


@pytest.mark.parametrize("name", CHINESE)
@FEW
@given(chars=st.sets(st.sampled_from(FULL_PUNCT), min_size=1).map("".join))
@example(chars=FULL_PUNCT)
def test_half_width_punctuation_changes_nothing(name: str, chars: str) -> None:
    """``林晚(冷笑):走吧,快!``: any of ：（），；！？ in its half-width form (NFKC's) reads the same."""
    text = _read(name)

    assert seen(text) == seen(half_width(text, chars))


@pytest.mark.parametrize("name", CHINESE)
@FEW
@given(seed=SEEDS)
def test_mixed_width_punctuation_changes_nothing(name: str, seed: int) -> None:
    """A script half of whose lines were typed with half-width punctuation reads the same."""
    text = _read(name)
    lines = _some_lines(seed, text)

    assert seen(text) == seen(
        "\n".join(half_width(line) if i in lines else line for i, line in enumerate(text.split("\n")))
    )


def test_full_width_punctuation_reads_as_half_width() -> None:
    """A script typed with half-width punctuation, widened again, gives the original breakdown."""
    text = _read("逆袭总裁.txt")

    assert seen(half_width(text)) == seen(full_width(half_width(text))) == seen(text)


@pytest.mark.parametrize("name", CHINESE)
def test_spaces_after_full_width_colons_change_nothing(name: str) -> None:
    """``人物： 林晚`` and ``林晚： 走吧`` read as ``人物：林晚`` and ``林晚：走吧``."""
    text = _read(name)

    assert seen(text) == seen(text.replace("：", "： "))


#: Samples where spaces on both sides of colons change the breakdown, and why.
COLON_SPACES_CHANGE: dict[str, str] = {}


@pytest.mark.parametrize("name", _xfail(CHINESE, COLON_SPACES_CHANGE))
def test_spaces_around_colons_change_nothing(name: str) -> None:
    """``林晚 ： 走吧`` and ``人物 ： 林晚`` (a space on both sides) read as without the spaces."""
    text = _read(name)

    assert seen(text) == seen(colon_spaces(text))


def test_spaces_around_half_width_colons_change_nothing() -> None:
    """``林晚 : 走吧`` in a script with line breaks reads as ``林晚：走吧``."""
    text = _read("逆袭总裁.txt")

    assert seen(text) == seen(colon_spaces(half_width(text, "：")))


# --- lines joined (what scrapers do) --------------------------------------------------------------

#: Samples whose joined text still loses a speaker, and why (strict: fixing one fails its mark).
JOIN_LOSES: dict[str, str] = {}


@pytest.mark.parametrize("name", _xfail(CHINESE, JOIN_LOSES))
def test_joining_every_line_into_one_keeps_the_speakers(name: str) -> None:
    """A scraper that drops every line break (the whole script one line) loses no speaker."""
    text = _read(name)
    speakers = seen(text).characters

    joined = seen(join_lines(text)).characters

    assert speakers <= joined | {n for n in speakers if len(n) < 2}


#: Samples whose joined text gains a character, and why.
JOIN_GAINS = {
    "掌勺.txt": (
        "joined, the sketches' 许国栋 and 江海生 are no longer tied to the cues' 老许 and 江董 (two more "
        "characters), and a heading ending in 老街 runs into 人物： so 老街人物 is read as a character "
        "in scenes 40, 42, 79, 111, 127, 141"
    ),
}


@pytest.mark.parametrize("name", _xfail(CHINESE, JOIN_GAINS))
def test_joining_every_line_into_one_adds_no_character(name: str) -> None:
    """The whole script as one line has no character the script with its line breaks lacks."""
    text = _read(name)

    assert seen(join_lines(text)).characters <= seen(text).characters


#: Samples whose joined text has other scenes, and why.
JOIN_MOVES_SCENES: dict[str, str] = {}


@pytest.mark.parametrize("name", _xfail(CHINESE, JOIN_MOVES_SCENES))
def test_joining_every_line_into_one_keeps_the_scenes(name: str) -> None:
    """The whole script as one line has the same scenes (INT/EXT, location, time) in the same episodes."""
    text = _read(name)
    before, after = seen(text), seen(join_lines(text))

    assert (before.scenes, before.episodes) == (after.scenes, after.episodes)


# --- episodes as files ----------------------------------------------------------------------------

MULTI_EPISODE = [n for n in CHINESE if split_episodes(_read(n))]


def test_the_multi_episode_samples_are_found() -> None:
    """逆袭总裁 (three 第N集), 急诊夜 and 掌勺 are the samples cut into episode files."""
    assert {"逆袭总裁.txt", "急诊夜_网页版.txt", "掌勺.txt"} <= set(MULTI_EPISODE)
    assert len(split_episodes(_read("逆袭总裁.txt"))) == 3


@pytest.mark.parametrize("name", MULTI_EPISODE)
def test_a_multi_episode_file_split_into_one_file_per_episode_breaks_down_the_same(
    name: str, tmp_path: Path
) -> None:
    """One file per 第N集 (read from a folder, one source span per file) gives the same scenes,
    episodes, characters and character scenes as the one file."""
    text = _read(name)
    parts = split_episodes(text)

    script = from_files(parts, tmp_path / "episodes")

    assert [s["name"] for s in script.sources] == [n for n, _ in parts]
    assert seen(text) == breakdown(script, chunk_chars=ONE_CHUNK)


def test_episode_files_joined_into_one_file_break_down_the_same(tmp_path: Path) -> None:
    """examples/short-drama (a folder of three episode files) as one file with its 第N集 lines
    gives the same scenes, episodes, characters and character scenes."""
    folder = EXAMPLES / "short-drama"
    script = read_scripts([folder], max_bytes=_MAX_BYTES)
    parts = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.txt"))]

    one = from_files([("short-drama.txt", join_episodes(parts))], tmp_path / "one")

    assert len(script.sources) == 3
    assert len(one.sources) == 1
    assert breakdown(script, chunk_chars=ONE_CHUNK) == breakdown(one, chunk_chars=ONE_CHUNK)


# --- renaming -------------------------------------------------------------------------------------


def test_renaming_a_character_everywhere_renames_it_in_the_output() -> None:
    """秀兰 → 翠花 throughout: the same breakdown with the new name."""
    text = _read("山村来信.txt")
    before = seen(text)

    after = seen(text.replace("秀兰", "翠花"))

    assert [loc for _, loc, _ in after.scenes] == [
        loc and loc.replace("秀兰", "翠花") for _, loc, _ in before.scenes
    ]  # 秀兰家 is 翠花家
    assert renamed(before.characters, "秀兰", "翠花") == after.characters


@pytest.mark.parametrize("name", ALL)
def test_renaming_the_most_present_character_renames_it_everywhere_in_the_output(name: str) -> None:
    """The character in most scenes renamed throughout: the same scenes, characters and character
    scenes under the new name (a location named after them, 老孙家院子, renamed too)."""
    text = _read(name)
    before = seen(text)
    old = rename_target(text, before, "en" if name.endswith(".fountain") else "zh")
    assert old is not None
    new = new_name(text, old)

    after = seen(rename(text, old, new))

    assert after == Breakdown(
        tuple((ie, loc and rename(loc, old, new), time) for ie, loc, time in before.scenes),
        before.episodes,
        renamed(before.characters, old, new),
        frozenset((rename(n, old, new), s) for n, s in before.presence),
    )


# --- reduced cases of what the corpus run finds (own snippets) ------------------------------------

#: A run-on script whose cue names are padded to line up (``工 头：``), as scraped texts pad them.
PADDED_RUN_ON = (
    "1-1 日 内 工地 △工人们在搬砖。工 头：快点干！小 王：好嘞。工 头：别偷懒。小 王：知道了。"
    "工 头：今天干完。小 王：没问题。"
)
#: A character named (not speaking) after a 画面 clause closed by a semicolon.
DEPICTED_THEN_PRESENT = (
    "1-1 日 内 客厅\n老韩：她怎么还不回来？\n阿秀：我回来了。\n\n"
    "1-2 日 内 卧室\n△画面切换：老韩在菜园里等人；阿秀推门进来。\n老韩：你去哪了？\n"
)


def test_a_run_on_script_with_padded_names_has_its_speakers() -> None:
    """``工 头：`` in text without line breaks is the speaker 工头 (the baseline of the next test)."""
    assert seen(PADDED_RUN_ON).characters == {"工头", "小王"}


def test_a_tab_padding_a_run_on_name_changes_nothing() -> None:
    """``工\\t头：`` reads as ``工 头：``."""
    assert seen(PADDED_RUN_ON) == seen(tabs(PADDED_RUN_ON))


def test_a_space_before_a_run_on_colon_changes_nothing() -> None:
    """``工头 ：`` in text without line breaks reads as ``工头：``."""
    text = PADDED_RUN_ON.replace("工 头", "工头").replace("小 王", "小王")

    assert seen(text) == seen(text.replace("：", " ："))


def test_a_half_width_semicolon_ends_a_depicted_clause() -> None:
    """``画面切换：老韩在等人;阿秀推门进来`` puts 阿秀 in the scene as ``；`` does."""
    assert seen(DEPICTED_THEN_PRESENT) == seen(half_width(DEPICTED_THEN_PRESENT, "；"))
