"""Fountain elements: each kind, the rules that tell them apart, and the markup that is not story."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.screenplay.elements import Element, fountain_elements
from stages.screenplay.markup import markup_spans, mask_markup
from stages.screenplay.names import parse_english_cue


def _kinds(text: str) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in fountain_elements(text)]


def test_a_scene_with_every_speech_part() -> None:
    """Heading, action, cue, parenthetical, dialogue and a transition, each alone where it must be."""
    text = (
        "EXT. HARBOUR WALL - DUSK\n\nGulls wheel over the nets.\nThe tide turns.\n\n"
        "MARGIT (O.S.)\n(calling)\nTobias! Supper!\n\nCUT TO:\n\nINT. NET LOFT - NIGHT\n"
    )

    assert [
        ("heading", "EXT. HARBOUR WALL - DUSK"),
        ("action", "Gulls wheel over the nets.\nThe tide turns."),
        ("character", "MARGIT (O.S.)"),
        ("parenthetical", "(calling)"),
        ("dialogue", "Tobias! Supper!"),
        ("transition", "CUT TO:"),
        ("heading", "INT. NET LOFT - NIGHT"),
    ] == _kinds(text)


def test_forcing_marks_decide_the_kind() -> None:
    """! action, @ cue, . heading, > transition, > < centred, ~ lyrics; the marks are dropped."""
    text = (
        ".WHEELHOUSE\n\n!OVERBOARD\nShe grabs the rail.\n\n@deWitt\nSteady.\n\n"
        "> SMASH TO WHITE\n\n> INTERMISSION <\n\n~Haul away, haul away\n"
    )

    assert [
        ("heading", "WHEELHOUSE"),
        ("action", "OVERBOARD\nShe grabs the rail."),
        ("character", "deWitt"),
        ("dialogue", "Steady."),
        ("transition", "SMASH TO WHITE"),
        ("centered", "INTERMISSION"),
        ("lyrics", "Haul away, haul away"),
    ] == _kinds(text)


def test_sections_synopses_and_page_breaks() -> None:
    """# and ## are sections with their depth, = a synopsis, === (or more) a page break."""
    elements = fountain_elements("# PART ONE\n\n## The Storm\n\n= Boats come home early.\n\n====\n\nRain.\n")

    assert [("section", 1), ("section", 2), ("synopsis", 0), ("page_break", 0), ("action", 0)] == [
        (e.kind, e.depth) for e in elements
    ]
    assert "Boats come home early." == elements[2].text


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Rain.\n\nINT. LOFT - NIGHT\nTobias sleeps.\n", ["action", "action"]),  # no blank after
        ("Rain.\nINT. LOFT - NIGHT\n\nTobias sleeps.\n", ["action", "action"]),  # no blank before
        ("Rain.\n\nTOBIAS\n\nSleeps.\n", ["action", "action", "action"]),  # a cue needs text under it
        ("TOBIAS\nAhoy.\nMARGIT\nHush.\n", ["character", "dialogue"]),  # inside a speech: dialogue
        ("Rain.\n\nCUT TO:  \n\nDawn.\n", ["action", "action", "action"]),  # not ending in TO:
        ("Rain.\n\nthen cut to:\n\nDawn.\n", ["action", "action", "action"]),  # not upper case
        ("Rain.\n\nCUT TO:\nDawn.\n", ["action", "action"]),  # not alone
        ("Rain.\n\n!INT. LOFT - NIGHT\n\nDawn.\n", ["action", "action", "action"]),  # forced action
        ("...and then\n\nthe tide.\n", ["action", "action"]),  # an ellipsis is no forced heading
    ],
)
def test_what_needs_blank_lines_around_it(text: str, kinds: list[str]) -> None:
    """Headings and transitions stand alone; a cue has a blank line before and text after it."""
    assert kinds == [kind for kind, _ in _kinds(text)]


def test_lyrics_in_a_speech_and_two_spaces_keep_the_speech_going() -> None:
    """~ inside a speech is lyrics; a line of two spaces joins the speech's paragraphs."""
    elements = fountain_elements("MARGIT\n~Lullay, lullay\nSleep now.\n  \nThe boats are in.\n\nDawn.\n")

    assert ["character", "lyrics", "dialogue", "action"] == [e.kind for e in elements]
    assert "Sleep now.\n\nThe boats are in." == elements[2].text


def test_dual_dialogue_marks_both_speeches() -> None:
    """A ^ cue pairs its speech with the one before; a ^ with nothing before it pairs nothing."""
    text = "KEEPER^\nWho goes?\n\nMARGIT\nFriend.\n\nTOBIAS ^\n(together)\nFriend!\n\nRain.\n"

    assert [
        ("character", False),
        ("dialogue", False),
        ("character", True),
        ("dialogue", True),
        ("character", True),
        ("parenthetical", True),
        ("dialogue", True),
        ("action", False),
    ] == [(e.kind, e.dual) for e in fountain_elements(text)]
    assert ["KEEPER", "MARGIT", "TOBIAS"] == [
        e.text for e in fountain_elements(text) if e.kind == "character"
    ]


def test_group_cues_and_names_with_digits_are_cues() -> None:
    """THE CROWD (a group), R2D2 and a $LEFT placeholder speak; 1:30 AM, 23, "NO" and 你好 do not."""
    text = (
        "Noise.\n\nTHE CROWD\nBoo!\n\nK9 UNIT\nWoof.\n\n$LEFT\nHere.\n\n1:30 AM\nStill dark.\n\n"
        '23 (O.S.)\nHello?\n\n"NO ENTRY"\nsays the sign.\n\n你好\nsays the card.\n'
    )

    kinds = _kinds(text)

    assert [("character", "THE CROWD"), ("character", "K9 UNIT"), ("character", "$LEFT")] == [
        k for k in kinds if k[0] == "character"
    ]
    assert ["R2D2", None, None] == [parse_english_cue(cue) for cue in ("R2D2", "1:30 AM", "23 (O.S.)")]


def test_notes_and_boneyard_are_their_own_elements() -> None:
    """Markup alone on its lines leaves no gap; inside a line the text around it joins up."""
    text = (
        "/* old\nopening */\nINT. LOFT - NIGHT\n\nTobias [[check\nname]] sleeps.\n\n[[whole note]]\n\nDawn.\n"
    )

    assert [
        ("boneyard", "old\nopening"),
        ("heading", "INT. LOFT - NIGHT"),
        ("action", "Tobias  sleeps."),
        ("note", "check\nname"),
        ("note", "whole note"),
        ("action", "Dawn."),
    ] == _kinds(text)


def test_a_note_does_not_cross_a_blank_line() -> None:
    """[[ with its ]] only after an empty line is text, for the pipeline's masking too."""
    text = "Rain [[falls\n\non the]] roof. [[ok]]\n"

    assert [(text.index("[[ok"), len(text) - 1, "note")] == markup_spans(text)
    assert mask_markup(text).startswith("Rain [[falls\n\non the]] roof.")
    assert [("action", "Rain [[falls"), ("action", "on the]] roof."), ("note", "ok")] == _kinds(text)


def test_title_page_then_body_with_offsets_into_crlf_text() -> None:
    """The title page is one element; offsets index the text as given (BOM, CRLF)."""
    text = "\ufeffTitle: Nets\r\nAuthor: A. Fisher\r\n\r\nEXT. PIER - DAY\r\n\r\nRain.\r\n"

    elements = fountain_elements(text)

    assert ["title_page", "heading", "action"] == [e.kind for e in elements]
    assert ["EXT. PIER - DAY", "Rain."] == [text[e.start : e.end] for e in elements[1:]]


def test_scene_numbers_and_emphasis_in_headings() -> None:
    """A scene number leaves the heading's text; an emphasised heading is still one."""
    assert [("heading", "INT. LOFT - NIGHT"), ("heading", "**EXT. PIER - DAY**")] == _kinds(
        "INT. LOFT - NIGHT #4A#\n\n**EXT. PIER - DAY**\n"
    )


LINES = [
    "",
    "",
    "  ",
    "INT. LOFT - NIGHT",
    ".DECK",
    "TOBIAS",
    "MARGIT^",
    "@deWitt",
    "Ahoy there.",
    "(quietly)",
    "CUT TO:",
    "> FADE OUT.",
    "> THE END <",
    "~la la",
    "# Act",
    "= summary",
    "===",
    "!LOUD",
    "A [[note]] here.",
    "[[note",
    "ends]]",
    "/* cut",
    "cut */",
    "Title: Nets",
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(LINES), st.text(alphabet="aB /*[]^@!~>#=.()", max_size=12)),
        max_size=25,
    ),
    st.sampled_from(["\n", "\r\n"]),
)
def test_elements_are_ordered_and_cover_each_line_once(lines: list[str], newline: str) -> None:
    """Story elements do not overlap, come in order, and each non-blank line is in exactly one
    of them or lies in markup; CRLF reads as LF does."""
    text = newline.join(lines)
    elements = fountain_elements(text)
    story = [e for e in elements if e.kind not in ("note", "boneyard")]
    markup = [e for e in elements if e.kind in ("note", "boneyard")]

    assert elements == sorted(elements, key=lambda e: e.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(story))
    offset = 1 if text.startswith("\ufeff") else 0
    for line in text.split(newline):
        start, end = offset + len(line) - len(line.lstrip()), offset + len(line.rstrip())
        offset += len(line) + len(newline)
        if not line.strip() or all(m.start <= start and end <= m.end for m in _around(markup, start, end)):
            continue
        assert 1 == sum(e.start < end and start < e.end for e in story), repr(line)
    if newline == "\r\n":
        assert [(e.kind, e.text) for e in fountain_elements(text.replace("\r\n", "\n"))] == [
            (e.kind, e.text) for e in elements
        ]


def _around(markup: list[Element], start: int, end: int) -> list[Element]:
    """The markup touching a line; an empty list makes ``all`` true, so require one."""
    touching = [m for m in markup if m.start < end and start < m.end]
    return touching or [Element("note", "", end, end)]
