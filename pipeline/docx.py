"""Read a Word (``.docx``) script into Fountain-style plain text.

python-docx gives the body's paragraphs and tables in order. A paragraph whose style names a
screenplay element (``Scene Heading``, ``Character``, ``Dialogue``, ``Parenthetical``,
``Transition``, ``Shot``, ``Action``: the styles screenplay templates and exporters use, also as
the base of a style) is written the way ``pipeline.fdx`` writes that element; any other paragraph
is its lines of text, which is how Chinese scripts are typed. A table row (a cast list kept in a
table) becomes one line, ``name：description``. Before anything is parsed, the zip's members
are checked: more than ``DEFAULT_MAX_MEMBERS`` of them, or an uncompressed total over
``DEFAULT_INFLATE_FACTOR`` times the byte limit (a zip bomb), is refused.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document
from docx.styles.style import ParagraphStyle
from docx.table import Table
from docx.text.paragraph import Paragraph

from pipeline.errors import InputError

#: The members a script's .docx has are a few dozen; many thousands is a crafted file.
DEFAULT_MAX_MEMBERS = 5000
#: The members may inflate to this many times the byte limit: Word's XML compresses about 10x.
DEFAULT_INFLATE_FACTOR = 10
#: Style names (case-folded) that say which screenplay element a paragraph is.
STYLE_KINDS = {
    "scene heading": "heading",
    "slugline": "heading",
    "character": "cue",
    "dialogue": "dialogue",
    "dialog": "dialogue",
    "parenthetical": "paren",
    "transition": "transition",
    "shot": "shot",
    "action": "action",
    "general": "action",
}
#: A shot whose text would read as a scene heading (``EXT. CITY``) gets a prefix.
HEADING_LIKE_RE = re.compile(r"^\s*(?:INT|EXT|EST|I\s*/\s*E)(?:[./\s]|$)", re.IGNORECASE)
_CJK_RE = re.compile(r"[\u3400-\u9fff]")


def is_docx(data: bytes) -> bool:
    """Tell whether a file's bytes are a Word document: a zip holding ``word/document.xml``.

    >>> is_docx(b"PK\\x03\\x04 not really a zip"), is_docx(b"INT. BAR - NIGHT")
    (False, False)
    """
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return False


def check_zip(data: bytes, limit: int, name: str) -> None:
    """Refuse a zip that is damaged, has too many members, or inflates past ``limit`` bytes.

    The sizes are the ones the zip declares; Python's zipfile stops reading a member at its
    declared size, so a member that lies about it cannot inflate further.

    Raises:
        InputError: the file is not a readable zip with ``word/document.xml``, or is too big inside.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InputError(
            f"{name}: cannot be read as a Word document (damaged or not a .docx): {exc}"
        ) from None
    if len(members) > DEFAULT_MAX_MEMBERS:
        raise InputError(f"{name}: {len(members):,} parts inside the document; refused (a zip bomb?)")
    size = sum(member.file_size for member in members)
    if size > limit:
        raise InputError(
            f"{name}: unpacks to {size:,} bytes, over the limit of {limit:,}; refused (a zip bomb?)"
        )
    if not any(member.filename == "word/document.xml" for member in members):
        raise InputError(f"{name}: not a Word document (no word/document.xml inside)")


def _kind(style: ParagraphStyle | None) -> str | None:
    """The screenplay element a paragraph style (or the style it is based on) stands for."""
    for _ in range(4):  # custom styles are based on the template's ones, a level or two deep
        if style is None:
            return None
        kind = STYLE_KINDS.get(" ".join((style.name or "").casefold().split()))
        if kind is not None:
            return kind
        style = style.base_style
    return None


def _clean(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("\r", "")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return "\n".join(line.rstrip() for line in unicodedata.normalize("NFC", text).split("\n"))


def _row_line(cells: list[str]) -> str:
    """One table row as a line: ``name：description`` (``name: description`` in Latin text)."""
    if len(cells) < 2:
        return "".join(cells)
    cjk = any(_CJK_RE.search(cell) for cell in cells)
    return cells[0] + ("：" if cjk else ": ") + ("，" if cjk else ", ").join(cells[1:])


def _items(document: Document) -> Iterator[tuple[str | None, str]]:
    """``(element kind or None, text)`` for each paragraph and table row, in order."""
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            yield _kind(block.style), _clean(block.text)
        elif isinstance(block, Table):
            for row in block.rows:
                seen: set[int] = set()
                cells = []
                for cell in row.cells:  # a merged cell is listed once per grid column it spans
                    if id(cell._tc) in seen:
                        continue
                    seen.add(id(cell._tc))
                    if text := " ".join(_clean(cell.text).split()):
                        cells.append(text)
                yield None, _row_line(cells)


def _write(items: Iterator[tuple[str | None, str]]) -> str:
    lines: list[str] = []
    in_speech = False

    def block(*texts: str, after: bool = True) -> None:
        if lines and lines[-1]:
            lines.append("")
        lines.extend(texts)
        if after:
            lines.append("")

    for kind, text in items:
        if kind is not None and not text.strip():
            continue  # an empty styled paragraph is spacing, not an element
        if kind in ("paren", "dialogue") and in_speech:
            lines.append(f"({text.strip().strip('()')})" if kind == "paren" else text)
            continue
        if in_speech:
            lines.append("")
        in_speech = kind == "cue"
        if kind in ("heading", "transition", "cue"):
            block(text.upper(), after=kind != "cue")
        elif kind == "shot":
            shot = text.upper()
            block(f"ANGLE ON {shot}" if HEADING_LIKE_RE.match(shot) else shot)
        elif kind is not None:
            block(*text.split("\n"))
        else:
            lines.extend(text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def docx_to_text(data: bytes, *, name: str = "script.docx", max_bytes: int) -> str:
    """Convert a Word document to Fountain-style plain text.

    Args:
        data: The ``.docx`` file's bytes.
        name: The file name, for messages.
        max_bytes: The byte limit (``ingest.max_bytes``); the zip's members may unpack to
            ``DEFAULT_INFLATE_FACTOR`` times it.

    Returns:
        The script as text, ending with one line break.

    Raises:
        InputError: The file is not a readable Word document, is a zip bomb, or has no text.
            Each message names the file.
    """
    check_zip(data, max_bytes * DEFAULT_INFLATE_FACTOR, name)
    try:
        document = docx.Document(io.BytesIO(data))
        text = _write(_items(document))
    except Exception as exc:  # python-docx and lxml raise many kinds on damaged parts
        raise InputError(f"{name}: cannot be read as a Word document (damaged?): {exc}") from None
    if not text.strip():
        raise InputError(f"{name}: the document has no text")
    return text + "\n"


__all__ = ["check_zip", "docx_to_text", "is_docx"]
