"""Reading script files: encodings, line endings, size limits, binary and empty input, folders."""

from __future__ import annotations

import codecs

import pytest

from pipeline.errors import InputError
from pipeline.sources import decode_script, read_scripts, script_from_text

TEXT = "第1集\n1-1 日 内 客厅\n小娟：你好。\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8"),
        (TEXT.encode("utf-16"), "utf-16"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),
        (TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("gb18030"), "gb18030"),
        (TEXT.encode("gbk"), "gb18030"),
    ],
)
def test_encodings_are_detected(data, encoding):
    """UTF-8 with or without BOM, UTF-16 with or without BOM, GB18030 and GBK decode to the same text."""
    assert (TEXT, encoding) == decode_script(data)


CHINESE_ONLY = "秀兰：娘，我考上了。周伯：好孩子！全村都为你高兴。铁蛋（跑来）：真的？" * 8


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_and_with_no_ascii_is_detected(encoding):
    """Chinese text with no ASCII leaves no NUL bytes to spot UTF-16 by; it still decodes, not as binary."""
    assert (CHINESE_ONLY, encoding) == decode_script(CHINESE_ONLY.encode(encoding))


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_chinese_in_utf8_or_gb18030_is_not_taken_for_utf16(encoding):
    """The UTF-16 guess never claims UTF-8 or GB18030 bytes (they decode to Hangul and Yi as UTF-16)."""
    assert CHINESE_ONLY == decode_script(CHINESE_ONLY.encode(encoding))[0]


def test_line_endings_are_normalised():
    """CRLF and CR become LF."""
    assert ("a\nb\nc\n", "utf-8") == decode_script(b"a\r\nb\rc\n")


@pytest.mark.parametrize("data", [b"", b"   \n\n", "\ufeff".encode()])
def test_empty_input_is_refused(data):
    """Empty or blank input is an InputError saying so."""
    with pytest.raises(InputError, match="empty"):
        decode_script(data)


@pytest.mark.parametrize("data", [bytes(range(256)) * 10, b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02" * 100])
def test_binary_input_is_refused(data):
    """Binary data is refused as binary."""
    with pytest.raises(InputError, match="binary"):
        decode_script(data)


def test_oversize_file_is_refused_before_reading(tmp_path):
    """A file over the limit is refused by its size, naming the setting."""
    path = tmp_path / "big.txt"
    path.write_text("x" * 5000)

    with pytest.raises(InputError, match=r"ingest\.max_bytes"):
        read_scripts([path], max_bytes=1000)


def test_folder_files_become_parts_in_natural_name_order(tmp_path):
    """A folder's script files are read in name order (ep2 before ep10), each with its offsets."""
    for name in ("ep10.txt", "ep2.txt", "ep1.txt", "notes.odt"):
        (tmp_path / name).write_text(f"{name} body\n", encoding="utf-8")

    script = read_scripts([tmp_path], max_bytes=10_000)

    assert ["ep1.txt", "ep2.txt", "ep10.txt"] == [s["name"] for s in script.sources]
    for source in script.sources:
        assert script.text[source["start"] : source["end"]].startswith(source["name"])


def test_missing_path_is_an_input_error(tmp_path):
    """A path that does not exist is named in the error."""
    with pytest.raises(InputError, match="no such file"):
        read_scripts([tmp_path / "nope.txt"], max_bytes=10)


def test_text_from_python_is_checked_like_a_file():
    """script_from_text applies the same size limit."""
    with pytest.raises(InputError, match="over the limit"):
        script_from_text("x" * 100, max_bytes=10)


FDX = b"""<?xml version="1.0" encoding="UTF-8"?>
<FinalDraft DocumentType="Script" Template="No" Version="5">
<Content>
<Paragraph Type="Scene Heading"><Text>INT. DINER - NIGHT</Text></Paragraph>
<Paragraph Type="Character"><Text>MAE</Text></Paragraph>
<Paragraph Type="Dialogue"><Text>Coffee's cold.</Text></Paragraph>
</Content>
</FinalDraft>
"""


def test_final_draft_files_are_read_as_screenplay_text(tmp_path):
    """An .fdx file becomes plain screenplay text with its heading, cue and dialogue."""
    path = tmp_path / "diner.fdx"
    path.write_bytes(FDX)

    script = read_scripts([path], max_bytes=10_000)

    assert "fdx" == script.encoding
    assert ["INT. DINER - NIGHT", "MAE", "Coffee's cold."] == [
        line for line in script.text.splitlines() if line.strip()
    ][:3]


def test_malformed_final_draft_names_the_file(tmp_path):
    """Broken FDX XML is an InputError that names the file."""
    path = tmp_path / "broken.fdx"
    path.write_bytes(b"<FinalDraft><Content><Paragraph>")

    with pytest.raises(InputError, match=r"broken\.fdx"):
        read_scripts([path], max_bytes=10_000)


def test_a_folder_of_episodes_is_read_in_the_order_of_their_numbers(tmp_path):
    """第一集 … 第十集, 第11集: by the number, Chinese or Arabic, not by code point."""
    from pipeline.sources import expand_paths

    names = ["第十集.txt", "第二集.txt", "第11集.txt", "第一集.txt", "第九集.txt"]
    for name in names:
        (tmp_path / name).write_text("1-1 日 内 客厅\n小娟：你好。\n", encoding="utf-8")

    order = [p.name for p in expand_paths([tmp_path])]

    assert ["第一集.txt", "第二集.txt", "第九集.txt", "第十集.txt", "第11集.txt"] == order


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        (" \n\t\u3000\n", "empty"),
        ("INT. ROOM - DAY\x00\n", "NUL bytes"),
        ("INT. ROOM - DAY\n" + "\x01\x02\x03\x04", "control characters"),
    ],
)
def test_text_handed_over_gets_a_files_checks(text, words):
    with pytest.raises(InputError, match=words):
        script_from_text(text, name="given.txt", max_bytes=1_000)


def test_text_handed_over_is_normalised_like_a_file_and_measured_in_utf8_bytes():
    given = "\ufeffINT. 客厅 - 夜\r\nMARY\rHi.\n"
    as_file = decode_script(given.encode("utf-8"))[0]
    wrapped = script_from_text(given, max_bytes=1_000)
    assert as_file == wrapped.text == "INT. 客厅 - 夜\nMARY\nHi.\n"
    with pytest.raises(InputError, match="over the limit"):
        script_from_text("客" * 400, max_bytes=1_000)  # 400 characters, 1,200 bytes
