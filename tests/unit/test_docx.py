"""Word (DOCX) scripts read into Fountain-style text (pipeline.docx); documents built here."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE

from pipeline import docx as docx_module
from pipeline.docx import docx_to_text, is_docx
from pipeline.errors import InputError
from pipeline.sources import read_scripts
from stages.drafts import SceneSlice
from stages.extract.rules import extract_rules
from stages.screenplay import find_sketches, parse_structure

MAX_BYTES = 20_000_000
SCREENPLAY_STYLES = (
    "Scene Heading",
    "Action",
    "Character",
    "Parenthetical",
    "Dialogue",
    "Transition",
    "Shot",
)


def _save(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _breakdown(text: str, language: str) -> tuple[list[tuple[str | None, str | None]], set[str]]:
    _, scenes = parse_structure(text)
    slices = [
        SceneSlice(s.number, s.heading, s.location, text[s.start : s.end], s.listed_characters)
        for s in scenes
    ]
    mentions = extract_rules(slices, language=language, sketches=find_sketches(text))
    return (
        [(s.int_ext, s.location) for s in scenes if s.heading],
        {m.name for m in mentions if m.asset_type == "character"},
    )


def _styled() -> bytes:
    """An English script typed with a screenplay template's paragraph styles."""
    document = docx.Document()
    for name in SCREENPLAY_STYLES:
        document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    custom = document.styles.add_style("Character (mine)", WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = document.styles["Character"]
    for style, text in [
        ("Scene Heading", "int. diner - night"),
        ("Action", "Rain on the glass. RAY eats."),
        ("Character", "Ray"),
        ("Parenthetical", "quietly"),
        ("Dialogue", "Coffee."),
        ("Dialogue", ""),
        ("Character (mine)", "Margot"),
        ("Dialogue", "Again?"),
        ("Shot", "EXT. CITY"),
        ("Transition", "Cut to:"),
        ("Scene Heading", "EXT. STREET - DAY"),
        ("Action", "Margot walks."),
    ]:
        document.add_paragraph(text, style=style)
    return _save(document)


def test_screenplay_styles_become_fountain_elements() -> None:
    """Styles (also one based on a template style) tell headings, cues, parentheticals and dialogue."""
    expected = (
        "INT. DINER - NIGHT\n\nRain on the glass. RAY eats.\n\nRAY\n(quietly)\nCoffee.\n\n"
        "MARGOT\nAgain?\n\nANGLE ON EXT. CITY\n\nCUT TO:\n\nEXT. STREET - DAY\n\nMargot walks.\n"
    )

    text = docx_to_text(_styled(), max_bytes=MAX_BYTES)

    assert expected == text
    assert ([("INT", "DINER"), ("EXT", "STREET")], {"RAY", "MARGOT"}) == _breakdown(text, "en")


def test_plain_english_paragraphs_are_lines() -> None:
    """Without screenplay styles each paragraph is a line; empty paragraphs are the blank lines."""
    document = docx.Document()
    for text in ["INT. KITCHEN - NIGHT", "", "Ann cooks.", "", "ANN", "Dinner!", "", "BEN (O.S.)", "Coming."]:
        document.add_paragraph(text)

    text = docx_to_text(_save(document), max_bytes=MAX_BYTES)

    assert "INT. KITCHEN - NIGHT\n\nAnn cooks.\n\nANN\nDinner!\n\nBEN (O.S.)\nComing.\n" == text
    assert ([("INT", "KITCHEN")], {"ANN", "BEN"}) == _breakdown(text, "en")


def test_chinese_script_with_cast_table() -> None:
    """A Chinese script: 场 headings, 人物 lines and cue lines; the cast list kept in a table."""
    document = docx.Document()
    document.add_paragraph("人物小传")
    table = document.add_table(rows=2, cols=2)
    cast = [("林晚", "女，26岁，急诊科医生"), ("许国栋", "男，58岁，人称老许")]
    for row, (name, sketch) in zip(table.rows, cast, strict=True):
        row.cells[0].text, row.cells[1].text = name, sketch
    for text in [
        "第1场 内景：急诊室 夜",
        "人物：林晚、老许",
        "△林晚冲进急诊室。",
        "林晚：病人呢？",
        "老许（喘着气）：在……在里面。",
        "",
        "第2场 外景：医院门口 日",
        "林晚：走吧。",
    ]:
        document.add_paragraph(text)

    text = docx_to_text(_save(document), max_bytes=MAX_BYTES)
    scenes, characters = _breakdown(text, "zh")

    assert "林晚：女，26岁，急诊科医生" in text.splitlines()
    assert [("INT", "急诊室"), ("EXT", "医院门口")] == scenes
    assert {"林晚", "老许"} <= characters


def test_zip_bomb_is_refused_before_parsing() -> None:
    """Members that unpack past ten times the byte limit are refused from the zip's directory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<w:document/>" + b" " * 5_000_000)

    with pytest.raises(
        InputError, match=r"^bomb\.docx: unpacks to 5,000,013 bytes, over the limit of 100,000"
    ):
        docx_to_text(buffer.getvalue(), name="bomb.docx", max_bytes=10_000)


def test_too_many_members_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip with more parts than DEFAULT_MAX_MEMBERS is refused."""
    monkeypatch.setattr(docx_module, "DEFAULT_MAX_MEMBERS", 3)

    with pytest.raises(InputError, match=r"^many\.docx: \d+ parts inside the document"):
        docx_to_text(_styled(), name="many.docx", max_bytes=MAX_BYTES)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 this is no zip", "cannot be read as a Word document"),
        (b"just text", "cannot be read as a Word document"),
        (None, "no word/document.xml"),
    ],
    ids=["damaged-zip", "not-zip", "other-zip"],
)
def test_damaged_docx_is_an_input_error_naming_the_file(data: bytes | None, message: str) -> None:
    """A damaged file, or a zip that is not a Word document, is refused by name."""
    if data is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("content.xml", "<office:document/>")
        data = buffer.getvalue()

    with pytest.raises(InputError, match=rf"^bad\.docx: .*{message}"):
        docx_to_text(data, name="bad.docx", max_bytes=MAX_BYTES)


def test_broken_document_xml_is_an_input_error() -> None:
    """A zip with a word/document.xml that is not XML is refused by name, not a traceback."""
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_styled())) as source, zipfile.ZipFile(damaged, "w") as target:
        for member in source.infolist():
            body = b"<w:document" if member.filename == "word/document.xml" else source.read(member)
            target.writestr(member, body)

    with pytest.raises(InputError, match=r"^bad\.docx: cannot be read as a Word document \(damaged\?\)"):
        docx_to_text(damaged.getvalue(), name="bad.docx", max_bytes=MAX_BYTES)


def test_empty_document_is_refused() -> None:
    """A document with no text says so."""
    with pytest.raises(InputError, match=r"^empty\.docx: the document has no text"):
        docx_to_text(_save(docx.Document()), name="empty.docx", max_bytes=MAX_BYTES)


def test_read_scripts_takes_docx_by_suffix_content_and_folder(tmp_path: Path) -> None:
    """A .docx, a Word file without the suffix and a folder's .docx are read; the encoding says docx."""
    (tmp_path / "folder").mkdir()
    for path in (tmp_path / "one.docx", tmp_path / "noext", tmp_path / "folder" / "ep1.docx"):
        path.write_bytes(_styled())

    for given in (tmp_path / "one.docx", tmp_path / "noext", tmp_path / "folder"):
        script = read_scripts([given], max_bytes=MAX_BYTES)
        assert "docx" == script.encoding
        assert script.text.startswith("INT. DINER - NIGHT\n")
    assert is_docx(_styled())


def test_old_word_doc_is_refused_with_advice(tmp_path: Path) -> None:
    """A Word 97-2003 file (OLE2) is named and the user told to save it as .docx."""
    path = tmp_path / "old.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)

    with pytest.raises(
        InputError, match=r"old\.doc: a Word 97-2003 \.doc file is not read; save it as \.docx"
    ):
        read_scripts([path], max_bytes=MAX_BYTES)

