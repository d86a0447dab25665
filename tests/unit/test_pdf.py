"""PDF scripts read into Fountain-style text (pipeline.pdf, pdf_layout, pdf_elements).

No third-party PDFs: the samples in examples/ are rendered with screenplain, and pages in other
layouts are drawn here with reportlab, so every expected value is known from the source.
"""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import letter
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from bench.pdf_roundtrip import Breakdown, breakdown, render_pdf
from pipeline import pdf as pdf_module
from pipeline.errors import InputError
from pipeline.pdf import pdf_to_text
from pipeline.sources import read_scripts
from stages.drafts import SceneSlice
from stages.extract.rules import extract_rules
from stages.screenplay import parse_structure, parse_title_page

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MAX_BYTES = 20_000_000
TOP = letter[1] - 1 * inch
LINE = 12


def _pdf(*pages: list[tuple[str, float, int, str]], font: str = "Courier") -> bytes:
    """Draw pages of ``(align, x inches, line from the top, text)``; align ``r`` ends text at x."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=letter)
    for rows in pages:
        page.setFont(font, 12)
        for align, x, line, text in rows:
            y = TOP - line * LINE
            if align == "r":
                page.drawRightString(x * inch, y, text)
            else:
                page.drawString(x * inch, y, text)
        page.showPage()
    page.save()
    return buffer.getvalue()


def _final_draft_like() -> bytes:
    """Two pages in Final Draft's layout (not screenplain's): numbers, (MORE), (CONT'D), a transition."""
    action, dialogue, paren, cue = 1.5, 2.5, 3.0, 3.7
    first = [
        ("l", 0.75, 0, "12"),
        ("l", action, 0, "INT. DINER - NIGHT"),
        ("r", 7.4, 0, "12"),
        ("l", action, 2, "Rain runs down the glass. RAY eats his pie and stares at the"),
        ("l", action, 3, "door until it opens."),
        ("l", cue, 5, "RAY"),
        ("l", paren, 6, "(quietly)"),
        ("l", dialogue, 7, "Coffee. Black. And then I want"),
        ("l", dialogue, 8, "the check."),
        ("l", cue, 10, "MARGOT"),
        ("l", dialogue, 11, "You always want the check."),
        ("l", action, 13, "He slides a photograph across the counter, face down, and"),
        ("l", action, 14, "waits."),
        ("l", cue, 44, "RAY"),
        ("l", dialogue, 45, "Tell her I"),
        ("l", cue, 46, "(MORE)"),
    ]
    second = [
        ("r", 7.5, -3, "2."),
        ("l", cue, 0, "RAY (CONT'D)"),
        ("l", dialogue, 1, "said so."),
        ("r", 7.5, 3, "CUT TO:"),
        ("l", 1.2, 5, "12A  EXT. STREET - DAY"),  # a number close to its heading
        ("r", 7.4, 5, "12A"),
        ("l", action, 7, "Margot walks."),
    ]
    return _pdf(first, second)


def test_final_draft_layout_becomes_fountain() -> None:
    """Edges measured from the page: numbers to #12#, wraps joined, (MORE)/(CONT'D)/page number gone."""
    expected = (
        "INT. DINER - NIGHT #12#\n\n"
        "Rain runs down the glass. RAY eats his pie and stares at the door until it opens.\n\n"
        "RAY\n(quietly)\nCoffee. Black. And then I want the check.\n\n"
        "MARGOT\nYou always want the check.\n\n"
        "He slides a photograph across the counter, face down, and waits.\n\n"
        "RAY\nTell her I said so.\n\n"
        "CUT TO:\n\n"
        "EXT. STREET - DAY #12A#\n\n"
        "Margot walks.\n"
    )

    assert expected == pdf_to_text(_final_draft_like(), max_bytes=MAX_BYTES)


def test_speech_over_a_page_break_is_one_speech() -> None:
    """The cue repeated with (CONT'D) after a page break is the same speaker, one speech."""
    text = pdf_to_text(_final_draft_like(), max_bytes=MAX_BYTES)
    _, scenes = parse_structure(text)
    slices = [SceneSlice(s.number, s.heading, s.location, text[s.start : s.end]) for s in scenes]
    ray = next(m for m in extract_rules(slices, language="en") if m.name == "RAY")

    assert ["12", "12A"] == [s.heading.rsplit("#", 2)[1] for s in scenes]
    assert 2 == ray.attributes["dialogue_lines"]


def test_running_header_and_continued_marks_are_dropped() -> None:
    """A header with the draft and page number on most pages, CONTINUED: and (CONTINUED) go."""
    pages = []
    for number, name in enumerate(["ANN", "BEN", "CY", "DOT"], start=1):
        rows = [
            ("l", 1.5, -3, "THE DINER - Blue Rev. 3/4/24"),
            ("r", 7.5, -3, f"{number}."),
            ("l", 1.5, 0, "CONTINUED:"),
            ("l", 1.5, 2, f"{name.title()} sits down."),
            ("l", 3.7, 4, name),
            ("l", 2.5, 5, f"I am {name.title()}."),
            ("r", 7.5, 45, "(CONTINUED)"),
        ]
        pages.append(rows if number > 1 else [("l", 1.5, 0, "INT. DINER - NIGHT"), *rows[3:]])

    text = pdf_to_text(_pdf(*pages), max_bytes=MAX_BYTES)

    assert text.startswith("INT. DINER - NIGHT\n\nAnn sits down.\n\nANN\nI am Ann.\n\nBen sits down.\n")
    assert text.endswith("\n\nDOT\nI am Dot.\n")
    assert not any(word in text for word in ("CONTINUED", "Blue", "2."))


def test_bold_drawn_twice_reads_once() -> None:
    """Text drawn twice a hair apart (an exporter's bold) is read once."""
    rows = [
        ("l", 1.5, 0, "INT. HOUSE - DAY"),
        ("l", 1.5 + 0.004, 0, "INT. HOUSE - DAY"),
        ("l", 1.5, 2, "Ann waits."),
    ]

    text = pdf_to_text(_pdf(rows), max_bytes=MAX_BYTES)

    assert text.startswith("INT. HOUSE - DAY")
    assert 1 == text.count("HOUSE")


def _fountain_vs_pdf(name: str, tmp_path: Path) -> tuple[Breakdown, Breakdown, str]:
    source = EXAMPLES / name
    render_pdf(source, tmp_path / "script.pdf")
    text = pdf_to_text((tmp_path / "script.pdf").read_bytes(), max_bytes=MAX_BYTES)
    return breakdown(source.read_text(encoding="utf-8")), breakdown(text), text


@pytest.mark.parametrize("name", ["the-heist.fountain", "low-tide.fountain"])
def test_rendered_example_gives_the_fountain_breakdown(name: str, tmp_path: Path) -> None:
    """Scenes (parts and printed numbers, dual dialogue, a forced @cue) and characters match."""
    direct, via_pdf, _ = _fountain_vs_pdf(name, tmp_path)

    assert direct.scenes == via_pdf.scenes
    assert any(number for *_, number in via_pdf.scenes)
    assert direct.characters == via_pdf.characters


def test_forced_heading_without_a_number_is_lost(tmp_path: Path) -> None:
    """A `.ROOFTOP` heading prints like an action line: the one documented difference."""
    direct, via_pdf, _ = _fountain_vs_pdf("night-shift.fountain", tmp_path)

    assert [s for s in direct.scenes if s[1] != "rooftop"] == list(via_pdf.scenes)
    assert direct.characters == via_pdf.characters


def test_title_page_gives_title_and_author(tmp_path: Path) -> None:
    """A first page with centred lines and no scene becomes Title:/Author: lines."""
    *_, text = _fountain_vs_pdf("the-heist.fountain", tmp_path)

    assert {"title": "The Quiet Vault", "author": "Dana Whitlock"} == parse_title_page(text)[0]


def test_chinese_pdf_comes_out_as_its_lines() -> None:
    """No screenplay indentation: each printed line is a line; a line wrapped at the edge is joined."""
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    lines = [
        "第1集",
        "1-1 日 内 客厅",
        "人物：张三、李四",
        "张三：你好。",
        "△李四放下茶杯，走到窗前，看着外面的大雨，一言不发，过了很久才回",
        "过头来。",
        "李四（低声）：走吧。",
        "1-2 夜 外 街道",
        "张三：等等我！",
    ]
    data = _pdf(
        [("l", 1.0, i * 2 if i >= 7 else i, line) for i, line in enumerate(lines)], font="STSong-Light"
    )

    text = pdf_to_text(data, max_bytes=MAX_BYTES)
    episodes, scenes = parse_structure(text)
    slices = [SceneSlice(s.number, s.heading, s.location, text[s.start : s.end]) for s in scenes]
    speakers = {m.name for m in extract_rules(slices, language="zh") if m.asset_type == "character"}

    assert "△李四放下茶杯，走到窗前，看着外面的大雨，一言不发，过了很久才回过头来。" in text.splitlines()
    assert "李四（低声）：走吧。" in text.splitlines()
    assert [1] == [episode.number for episode in episodes]
    assert ["客厅", "街道"] == [s.location for s in scenes if s.heading]
    assert {"张三", "李四"} == speakers


def test_pdf_without_text_layer_is_refused() -> None:
    """A page with only a drawing (a scan has only an image) is refused: no OCR."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=letter)
    page.rect(1 * inch, 1 * inch, 4 * inch, 6 * inch, fill=1)
    page.showPage()
    page.save()

    with pytest.raises(InputError, match=r"^scan\.pdf: this PDF has no text layer .*does not do OCR"):
        pdf_to_text(buffer.getvalue(), name="scan.pdf", max_bytes=MAX_BYTES)


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF", b"not a pdf at all", _final_draft_like()[:900]],
    ids=["no-root", "not-pdf", "truncated"],
)
def test_damaged_pdf_is_an_input_error_naming_the_file(data: bytes) -> None:
    """Anything pdfminer cannot parse is an InputError with the file's name."""
    with pytest.raises(InputError, match=r"^broken\.pdf: cannot be read as a PDF"):
        pdf_to_text(data, name="broken.pdf", max_bytes=MAX_BYTES)


def test_encrypted_pdf_is_refused() -> None:
    """A PDF that needs a password to open is refused with a message saying so."""
    from reportlab.lib.pdfencrypt import StandardEncryption

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, encrypt=StandardEncryption("secret", canPrint=0))
    page.drawString(72, 700, "INT. HOUSE - DAY")
    page.save()

    with pytest.raises(InputError, match=r"^locked\.pdf: the PDF is encrypted"):
        pdf_to_text(buffer.getvalue(), name="locked.pdf", max_bytes=MAX_BYTES)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda bomb: bomb,
        zlib.compress,
        lambda bomb: base64.a85encode(bomb, adobe=True),
        lambda bomb: base64.b16encode(zlib.compress(bomb)) + b">",
    ],
    ids=["deflate", "deflate-in-deflate", "ascii85", "hex-deflate"],
)
def test_deflate_bomb_is_refused_before_parsing(wrap: Callable[[bytes], bytes]) -> None:
    """A stream that inflates past ten times the byte limit is refused, through any chain of layers."""
    bomb = wrap(zlib.compress(b"\0" * 2_000_000, 9))
    data = b"%PDF-1.4\n1 0 obj << /Filter /FlateDecode >>\nstream\n" + bomb + b"\nendstream\nendobj\n"

    with pytest.raises(InputError, match=r"^bomb\.pdf: its compressed content inflates to over 100,000"):
        pdf_to_text(data, name="bomb.pdf", max_bytes=10_000)


def test_page_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """More pages than DEFAULT_MAX_PAGES are refused before any page is read."""
    monkeypatch.setattr(pdf_module, "DEFAULT_MAX_PAGES", 1)

    with pytest.raises(InputError, match=r"^long\.pdf: 2 pages is over the limit of 1"):
        pdf_to_text(_final_draft_like(), name="long.pdf", max_bytes=MAX_BYTES)


def test_declared_page_count_is_checked_before_pages_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page tree's /Count is read first: a file declaring too many pages is refused by it."""
    monkeypatch.setattr(pdf_module, "DEFAULT_MAX_PAGES", 5)
    data = _final_draft_like()
    assert 1 == data.count(b"/Count 2")

    with pytest.raises(InputError, match=r"^long\.pdf: 9 pages is over the limit of 5"):
        pdf_to_text(data.replace(b"/Count 2", b"/Count 9"), name="long.pdf", max_bytes=MAX_BYTES)


def test_read_scripts_takes_pdf_by_suffix_content_and_folder(tmp_path: Path) -> None:
    """A .pdf file, a PDF without the suffix and a folder's .pdf are read; the encoding says pdf."""
    (tmp_path / "folder").mkdir()
    for path in (tmp_path / "one.pdf", tmp_path / "noext", tmp_path / "folder" / "ep1.pdf"):
        path.write_bytes(_final_draft_like())

    for given in (tmp_path / "one.pdf", tmp_path / "noext", tmp_path / "folder"):
        script = read_scripts([given], max_bytes=MAX_BYTES)
        assert "pdf" == script.encoding
        assert script.text.startswith("INT. DINER - NIGHT #12#\n")


def test_damaged_pdf_in_read_scripts_names_the_path(tmp_path: Path) -> None:
    """read_scripts passes the path into the message."""
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7 and then nothing")

    with pytest.raises(InputError, match=r"broken\.pdf: cannot be read as a PDF"):
        read_scripts([path], max_bytes=MAX_BYTES)

