"""Fountain and plain-text Hollywood scripts: markup, headings, shots, cues and English props."""

from __future__ import annotations

from typing import Any

import pytest

from stages.drafts import Mention, SceneSlice
from stages.extract.rules import extract_rules
from stages.screenplay import Heading, match_heading, parse_structure, parse_title_page
from stages.screenplay.markup import mask_markup
from stages.screenplay.props import english_props


def _breakdown(text: str) -> list[Mention]:
    _, scenes = parse_structure(text)
    slices = [SceneSlice(s.number, s.heading, s.location, text[s.start : s.end]) for s in scenes]
    return extract_rules(slices, language="en")


def _names(mentions: list[Mention], asset_type: str) -> list[str]:
    return [m.name for m in mentions if m.asset_type == asset_type]


def _lines(mentions: list[Mention]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for m in mentions:
        if m.asset_type == "character":
            totals[m.name] = totals.get(m.name, 0) + m.attributes["dialogue_lines"]
    return totals


def _attrs(mentions: list[Mention], name: str) -> dict[str, Any]:
    return next(m.attributes for m in mentions if m.name == name)


def test_title_page_is_skipped_and_read() -> None:
    """Title and Author are read; the title page is not a scene."""
    text = "Title: **BLUE LINE**\nAuthor: Sam Ortiz\n\nFADE IN:\n\nEXT. PIER - NIGHT\n\nFog.\n"

    meta, _ = parse_title_page(text)
    _, scenes = parse_structure(text)

    assert ("BLUE LINE", "Sam Ortiz") == (meta["title"], meta["author"])
    assert ["EXT. PIER - NIGHT"] == [scene.heading for scene in scenes]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("EXT. PIER 39, NIGHT", ("EXT", "NIGHT", "PIER 39")),
        ("INT. HALL -- LATER", ("INT", "LATER", "HALL")),
        ("I/E TRUCK - DAY", ("INT/EXT", "DAY", "TRUCK")),
        ("**INT. VAULT - NIGHT**", ("INT", "NIGHT", "VAULT")),
    ],
)
def test_more_heading_forms(line: str, expected: tuple[str, str, str]) -> None:
    """Times after a comma or --, I/E and emphasised headings are read."""
    _, scenes = parse_structure(line + "\n\nAction.\n")

    assert expected == (scenes[0].int_ext, scenes[0].time, scenes[0].location)


@pytest.mark.parametrize(
    "shot", ["INSERT - THE PHOTOGRAPH", "CLOSE ON her hands", "ANGLE ON THE DOOR", ".POV"]
)
def test_shot_lines_stay_inside_the_scene(shot: str) -> None:
    """INSERT -, CLOSE ON, ANGLE ON lines and a forced .POV do not start scenes."""
    assert match_heading(shot) is None
    assert 1 == len(parse_structure(f"INT. LAB - NIGHT\n\nShe reads.\n\n{shot}\n\nBACK TO SCENE\n")[1])


def test_boneyard_and_notes_are_ignored() -> None:
    """A heading and cue inside /* */ (across lines) and a [[note]] make no scene or character."""
    text = "INT. BAR - NIGHT\n\n/* cut\nINT. GONE - DAY\n\nBOB\nNever said.\n*/\n[[check BOB]]\n\nJOE\nHi.\n"

    mentions = _breakdown(text)

    assert ["BAR"] == _names(mentions, "location")
    assert ["JOE"] == _names(mentions, "character")
    assert len(text) == len(mask_markup(text))


def test_sections_synopses_page_breaks_and_centered_text_are_not_story() -> None:
    """# sections, = synopses, ===, > THE END < and ~lyrics give no characters or props."""
    text = (
        "# ACT ONE\n\n= Rita picks up the gun.\n\nINT. ROOM - DAY\n\n===\n\n> THE END <\n\n"
        "RITA\n~Row, row, row the BOAT\n\n> SMASH CUT TO:\n"
    )

    mentions = _breakdown(text)

    assert (["RITA"], []) == (_names(mentions, "character"), _names(mentions, "prop"))


def test_cue_extensions_and_forced_cues() -> None:
    """(V.O.), (O.C.), (CONT'D), (ON PHONE) and ^ are stripped; @McCLANE is a cue."""
    text = (
        "INT. ROOM - DAY\n\nRITA (V.O.) (CONT'D)\nOne.\n\nHUGO (O.C.)\nTwo.\n\nRITA (ON PHONE)\nThree.\n\n"
        "HUGO ^\nFour.\n\n@McCLANE\nYippee.\n"
    )

    assert {"RITA": 2, "HUGO": 2, "McCLANE": 1} == _lines(_breakdown(text))


def test_single_spaced_dialogue_keeps_every_cue() -> None:
    """With no blank line between speeches, each ALL-CAPS cue line still starts a speech."""
    text = "INT. CAR - DAY\n\nRITA\nDrive.\nTOMMY (O.S.)\nWhere?\nRITA\n(pointing)\nThere.\nTOMMY\nFine.\n"

    assert {"RITA": 2, "TOMMY": 2} == _lines(_breakdown(text))


def test_shouted_dialogue_is_not_a_cue_when_single_spaced() -> None:
    """An ALL-CAPS line inside a speech whose words never speak elsewhere is dialogue."""
    text = "INT. CAR - DAY\n\nRITA\nListen.\nGET DOWN\nNow!\n\nTOMMY\nOkay.\n"

    assert {"RITA": 1, "TOMMY": 1} == _lines(_breakdown(text))


def test_transitions_are_not_cues() -> None:
    """CUT TO:, SMASH CUT TO: and FADE OUT. followed by text are not speakers."""
    text = "INT. A - DAY\n\nCUT TO:\nRain.\n\nSMASH CUT TO:\nBlack.\n\nBOB\nHm.\n\nFADE OUT.\n"

    assert ["BOB"] == _names(_breakdown(text), "character")


def test_honorific_and_intro_forms_merge_in_a_chunk() -> None:
    """DR. SMITH and SMITH are one character; RITA VALE (40s) is RITA aged 40s."""
    text = (
        "INT. LAB - DAY\n\nRITA VALE (40s), sharp, enters.\n\nDR. SMITH\nSit.\n\nDR. SMITH\nPlease.\n\n"
        "SMITH\nNow.\n\nRITA\nNo.\n"
    )

    mentions = _breakdown(text)

    assert ["RITA", "DR. SMITH"] == _names(mentions, "character")
    assert {"aliases": ["DR. SMITH", "SMITH"], "dialogue_lines": 3} == _attrs(mentions, "DR. SMITH")
    assert ("40s", ["RITA VALE", "RITA"]) == (
        _attrs(mentions, "RITA")["age"],
        _attrs(mentions, "RITA")["aliases"],
    )


def test_characters_named_in_action_are_present() -> None:
    """A speaker named in mixed case in another scene's action is present there; a possessive is not."""
    text = "INT. A - DAY\n\nRITA\nGo.\n\nINT. B - DAY\n\n"
    text += "Rita waits. Tommy's jacket hangs on a hook.\n\nTOMMY\nHm.\n"

    mentions = _breakdown(text)

    assert [(1, "RITA"), (2, "RITA"), (2, "TOMMY")] == [
        (m.scene_number, m.name) for m in mentions if m.asset_type == "character"
    ]


def test_people_on_screens_are_not_present() -> None:
    """On the monitors, the GUARD, MARCUS, shuffles: Marcus is watched, not in the room."""
    text = "INT. OFFICE - NIGHT\n\nHUGO\nGo.\n\nOn the monitors, the GUARD, MARCUS, shuffles past.\n"

    assert ["HUGO"] == _names(_breakdown(text), "character")


def test_group_cues_are_not_characters() -> None:
    """ALL, EVERYONE, BOTH and THE CROWD speak as groups."""
    text = "INT. HALL - DAY\n\nALL\nYes!\n\nEVERYONE\nNo!\n\nBOTH\nMaybe.\n\nTHE CROWD\nBoo!\n\nANN\nQuiet.\n"

    assert ["ANN"] == _names(_breakdown(text), "character")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("She lights a *cigarette* and pours a glass of whiskey.", ["cigarette", "whiskey glass"]),
        ("He pulls out a .38 REVOLVER and tosses it to Rita.", ["revolver"]),
        ("Margot pulls a thick ENVELOPE out of her bodice.", ["envelope"]),
        ("She unfolds the map, dials her phone and slams the laptop shut.", ["map", "phone", "laptop"]),
        ("Officer Kim steps out, flashlight in hand. Jo sweeps with a broom.", ["flashlight", "broom"]),
        ("Pike pulls on a pair of latex gloves.", ["latex gloves"]),
        ("Inside: a brass KEY, and a torn half of a photograph.", ["brass key", "photograph"]),
        ("The radio CRACKLES. A door SLAMS.", ["radio"]),
        ("He grabs cash and pockets the keys.", ["cash", "key"]),
    ],
)
def test_english_props_from_handling_and_caps(line: str, expected: list[str]) -> None:
    """Handled, held, used, contained and sounding objects become normalised props."""
    assert expected == [name for name, _ in english_props(line.replace("*", ""), frozenset({"RITA"}))]


@pytest.mark.parametrize(
    "line",
    [
        "She takes a deep breath, opens her eyes and takes a seat.",
        "He grabs Tommy's arm and holds her gaze. She nods with a smile.",
        "A dozen LOCALS crowd the pier with her engine dead.",
        "Rita grabs Tommy.",
        "He opens the door and picks up speed.",
    ],
)
def test_english_non_props(line: str) -> None:
    """Breaths, body parts, people, doors and abstract nouns are never props."""
    assert [] == english_props(line, frozenset({"TOMMY", "RITA"}))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("BOILER ROOM - NIGHT", Heading(None, "NIGHT", "BOILER ROOM")),
        ("CHAPEL--NIGHT", Heading(None, "NIGHT", "CHAPEL")),
        ("EXT. CHAPEL--DAY", Heading("EXT", "DAY", "CHAPEL")),
        ("INT. GARAGE, MOMENTS LATER", Heading("INT", "MOMENTS LATER", "GARAGE")),
        ("EXT. GARDEN - DAY - FLASHBACK", Heading("EXT", "DAY - FLASHBACK", "GARDEN")),
        ("INT. HOUSE - KITCHEN - NIGHT", Heading("INT", "NIGHT", "HOUSE - KITCHEN")),
        ("BANG - BOOM", None),
        ("JOHN", None),
        ("Dining room - day", None),
    ],
)
def test_slug_lines_without_a_prefix_or_spaces_around_the_dash(line: str, expected: Heading | None) -> None:
    """An upper-case PLACE - DAY slug is a heading without INT./EXT.; ``--`` needs no spaces."""
    assert expected == match_heading(line)


def test_a_younger_self_speaks_as_a_character_of_its_own() -> None:
    """YOUNG ANNA's cue is not merged into ANNA's: another actor plays her."""
    text = (
        "INT. GYM - DAY\n\nANNA\nAgain.\n\nEXT. YARD - DAY - FLASHBACK\n\nYOUNG ANNA\nOne more time.\n\n"
        "YOUNG ANNA\nPlease.\n\nGUARD #2\nTime!\n\nGUARD\nBreak.\n"
    )
    _, scenes = parse_structure(text)
    slices = [SceneSlice(s.number, s.heading, s.location, text[s.start : s.end]) for s in scenes]

    names = {m.name for m in extract_rules(slices, language="en") if m.asset_type == "character"}

    assert {"ANNA", "YOUNG ANNA", "GUARD", "GUARD #2"} == names


def test_a_bare_place_after_a_transition_opens_a_scene() -> None:
    """CUT TO:, then GARAGE alone, opens a scene at GARAGE; BLACK there does not."""
    text = (
        "Title: Test\n\nBOILER ROOM - NIGHT\n\nAnna waits.\n\n    CUT TO:\n\nGARAGE\n\n"
        "ANNA\nHere.\n\n    CUT TO:\n\nBLACK\n\nA door slams.\n"
    )

    _, scenes = parse_structure(text)

    assert ["BOILER ROOM", "GARAGE"] == [s.location for s in scenes]


def test_an_indented_title_page_is_a_title_page() -> None:
    """A title page centred with spaces is read, and opens no heading-less scene."""
    text = "        Title: Test\n        Author: Ann\n\n===\n\nINT. HALL - DAY\n\nAnna waits.\n"

    meta, _ = parse_title_page(text)
    _, scenes = parse_structure(text)

    assert ({"title": "Test", "author": "Ann"}, ["HALL"]) == (meta, [s.location for s in scenes])


def test_props_end_at_their_noun_and_punches_are_no_props() -> None:
    """'grabs a sliding panel leading out' is a sliding panel; 'throws a jab' and 'surrounded' are none."""
    text = "INT. GYM - DAY\n\nAnna grabs a sliding panel leading out. Bob throws a jab. Bob picks up a wedding ring.\n"
    _, scenes = parse_structure(text)
    slices = [SceneSlice(s.number, s.heading, s.location, text[s.start : s.end]) for s in scenes]

    props = {m.name for m in extract_rules(slices, language="en") if m.asset_type == "prop"}

    assert {"sliding panel", "wedding ring"} == props
