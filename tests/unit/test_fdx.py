"""Final Draft (FDX) scripts read into Fountain-style text (pipeline.fdx)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.fdx import fdx_to_text, is_fdx
from stages.drafts import SceneSlice
from stages.extract.rules import extract_rules
from stages.screenplay import parse_structure, parse_title_page

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _fdx(*paragraphs: str, title_page: str = "") -> bytes:
    body = "".join(paragraphs)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
        f'<FinalDraft DocumentType="Script" Version="5"><Content>{body}</Content>{title_page}</FinalDraft>'
    ).encode()


def _p(kind: str, *runs: str) -> str:
    return f'<Paragraph Type="{kind}">' + "".join(f"<Text>{run}</Text>" for run in runs) + "</Paragraph>"


def test_is_fdx_sniffs_the_root_element() -> None:
    """Bytes with a <FinalDraft root are FDX; Fountain text is not."""
    assert (True, False) == (is_fdx(_fdx()), is_fdx(b"INT. BAR - NIGHT\n\nJOE\nHi.\n"))


def test_paragraph_types_become_fountain_lines() -> None:
    """Headings and cues go upper-case, runs join, parentheticals get brackets, transitions stand alone."""
    data = _fdx(
        _p("Scene Heading", "int. diner - night"),
        _p("Action", "Rain on the glass. ", "RAY eats."),
        _p("Character", "Ray"),
        _p("Parenthetical", "quietly"),
        _p("Dialogue", "Coffee."),
        _p("Transition", "Cut to:"),
        _p("General", "Later."),
    )

    expected = (
        "INT. DINER - NIGHT\n\nRain on the glass. RAY eats.\n\nRAY\n(quietly)\nCoffee.\n\nCUT TO:\n\nLater.\n"
    )
    assert expected == fdx_to_text(data)


def test_title_page_gives_title_and_author() -> None:
    """The <TitlePage> becomes Title:/Author: lines that the title-page reader understands."""
    page = "<TitlePage><Content>" + _p("Action", "THE LAST FARE") + _p("Action", "Written by")
    page += _p("Action", "Hal B.") + "</Content></TitlePage>"

    meta, _ = parse_title_page(fdx_to_text(_fdx(_p("Scene Heading", "EXT. ST - DAY"), title_page=page)))

    assert {"title": "THE LAST FARE", "author": "Hal B."} == meta


def test_shot_paragraph_is_not_a_scene() -> None:
    """A Shot paragraph stays inside its scene, even one whose text reads like a heading."""
    data = _fdx(
        _p("Scene Heading", "INT. CAB - NIGHT"),
        _p("Shot", "ANGLE ON THE SHOEBOX"),
        _p("Shot", "EXT. CITY"),
        _p("Action", "It rains."),
    )

    _, scenes = parse_structure(fdx_to_text(data))

    assert ["INT. CAB - NIGHT"] == [scene.heading for scene in scenes]


def test_dual_dialogue_is_unwrapped() -> None:
    """Both speeches of a <DualDialogue> come out as cues with their lines."""
    dual = "<Paragraph><DualDialogue>" + _p("Character", "MARGOT") + _p("Dialogue", "So did I.")
    dual += _p("Character", "DANNY") + _p("Dialogue", "So did you.") + "</DualDialogue></Paragraph>"

    assert "INT. BAR\n\nMARGOT\nSo did I.\n\nDANNY\nSo did you.\n" == fdx_to_text(
        _fdx(_p("Scene Heading", "INT. BAR"), dual)
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<FinalDraft><Content><Paragraph>", "not well-formed"),
        (b'<?xml version="1.0"?><html><body/></html>', "root element is <html>"),
        (b"<FinalDraft><Other/></FinalDraft>", "no <Content>"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            b"<FinalDraft><Content>&b;</Content></FinalDraft>",
            "refused",
        ),
    ],
)
def test_bad_documents_raise_input_error(data: bytes, message: str) -> None:
    """Malformed XML, other documents and entity tricks raise InputError with a clear message."""
    with pytest.raises(InputError, match=message):
        fdx_to_text(data)


def test_fdx_example_breaks_down() -> None:
    """The FDX sample gives its eight scenes, its speakers and its handled props."""
    text = fdx_to_text((EXAMPLES / "the-last-fare.fdx").read_bytes())
    _, scenes = parse_structure(text)
    slices = [SceneSlice(s.number, s.heading, s.location, text[s.start : s.end]) for s in scenes]

    mentions = extract_rules(slices, language="en")

    assert 8 == len(scenes)
    assert {"RAY", "MARGOT", "SAL", "OFFICER KIM", "JUNE", "DANNY"} == {
        m.name for m in mentions if m.asset_type == "character"
    }
    assert {"shoebox", "envelope", "handset"} <= {m.name for m in mentions if m.asset_type == "prop"}
