"""Read a PDF script's text layer into Fountain-style plain text.

pdfplumber gives each word with its position (pypdf's text extraction gives lines without
reliable x positions, and element types in a screenplay PDF are told by indentation). Words
become rows, a row's parts are split at wide gaps (a scene number in the margin, the two columns
of dual dialogue); page numbers, ``(MORE)`` and ``CONTINUED`` marks are dropped here, and
``pipeline.pdf_elements`` writes the rest. There is no OCR: a PDF without a text layer is refused,
and so are encrypted and damaged ones, documents over ``DEFAULT_MAX_PAGES`` pages and ones whose
compressed streams would inflate past ``DEFAULT_INFLATE_FACTOR`` times the byte limit.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import itertools
import re
import statistics
import unicodedata
import zlib
from collections import Counter
from dataclasses import replace
from typing import Any

import pdfplumber
from pdfplumber.pdf import PDF
from pdfplumber.utils.pdfinternals import resolve

from pipeline.errors import InputError
from pipeline.pdf_elements import rows_to_text
from pipeline.pdf_layout import HEADING_RE, Part, Row

#: More pages than any script has (a feature is ~120, a season of episodes in one file ~600).
DEFAULT_MAX_PAGES = 2000
#: Compressed streams may inflate to this many times the byte limit: text and fonts compress
#: 3-10x, a deflate bomb 1000x, and pdfminer inflates every stream whole, with no bound of its own.
DEFAULT_INFLATE_FACTOR = 10
#: Filters a stream may chain (deflate inside deflate inside ASCII85 …) that the check follows.
DEFAULT_MAX_LAYERS = 4
#: Share of ``(cid:N)`` glyphs (fonts with no Unicode map) above which the text is unreadable.
DEFAULT_MAX_CID_SHARE = 0.3
#: What to do instead, when a PDF's text cannot be read.
EXPORT_HINT = "export the script as text, PDF with text, FDX or Fountain"
NO_TEXT = f"this PDF has no text layer (a scan?); Juben does not do OCR: {EXPORT_HINT}"
#: A page number alone at the top or bottom of a page: ``12.``, ``Page 3``, ``- 4 -``, ``5/98``.
PAGE_NO_RE = re.compile(r"^(?:page\s*)?[-–(]?\s*\d{1,4}\s*[.)\-–]?\s*(?:/\s*\d{1,4}|of\s+\d{1,4})?$", re.I)
#: Page-break marks of scenes and speeches: ``(MORE)``, ``CONTINUED:``, ``(CONTINUED)``.
MORE_RE = re.compile(r"^\(MORE\)$|^\(?CONTINUED(?::\s*(?:\(\d+\))?|\))?$", re.IGNORECASE)
#: A scene number printed in the margin beside a heading: ``12``, ``12A``, ``A12``, ``12.``.
SCENE_NO_RE = re.compile(r"^[A-Z]?\d{1,4}[A-Z]{0,2}\.?$")
#: Revision marks in the right margin.
REVISION_RE = re.compile(r"^\*+$")
#: A hex-encoded stream (``ASCIIHexDecode``): hex digits and white space.
HEX_RE = re.compile(rb"[0-9A-Fa-f\s]+")
PDF_HEADER_RE = re.compile(rb"%PDF-\d")
DIGITS_RE = re.compile(r"\d+")
_CID_RE = re.compile(r"\(cid:\d+\)")
#: Text that breaks between any two characters (CJK ideographs, kana, full-width punctuation).
_CJK_RE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
#: A gap between words wider than this many character widths splits a row into parts.
PART_GAP = 3.0


def is_pdf(data: bytes) -> bool:
    """Tell whether a file's bytes are a PDF: a ``%PDF-1.x`` header near the start, and objects.

    Readers accept the header anywhere in the first 1024 bytes; the objects are asked for too,
    so that a text file that happens to mention ``%PDF-1.4`` near its top stays a text file.

    >>> is_pdf(b"%PDF-1.7\\n1 0 obj <<>> endobj"), is_pdf(b"Notes: %PDF-1.4 files.\\nINT. BAR - NIGHT")
    (True, False)
    """
    return PDF_HEADER_RE.search(data[:1024]) is not None and b" obj" in data[:65536]


def check_inflated(data: bytes, limit: int, name: str) -> None:
    """Refuse a PDF whose compressed streams would inflate to more than ``limit`` bytes.

    Each stream is inflated as far as the budget left allows (``max_length``: memory stays
    bounded whatever the ratio), layer after layer: a deflated stream deflated again, or one
    wrapped in ASCII85 or hex text, is followed down to its last layer.

    Raises:
        InputError: the streams inflate past ``limit``.
    """
    total = 0
    at = data.find(b"stream")
    while at != -1:
        body = at + 6
        if data[at - 3 : at] == b"end":
            at = data.find(b"stream", body)
            continue
        body += 2 if data[body : body + 2] == b"\r\n" else 1
        end = data.find(b"endstream", body)
        if end == -1:
            break
        total += _inflated(data[body:end], limit - total + 1)
        if total > limit:
            raise InputError(f"{name}: its compressed content inflates to over {limit:,} bytes; refused")
        at = data.find(b"stream", end + 9)


def _inflated(chunk: bytes, budget: int) -> int:
    """How many bytes a stream's deflate layers inflate to, counting up to ``budget``."""
    total = 0
    for _ in range(DEFAULT_MAX_LAYERS):
        chunk = _unwrap_text(chunk)
        try:
            chunk = zlib.decompressobj().decompress(chunk, budget - total)
        except zlib.error:
            break  # not deflated (an image, a font in another filter): the byte limit bounds it
        total += len(chunk)
        if total >= budget or not chunk:
            break
    return total


def _unwrap_text(chunk: bytes) -> bytes:
    """A stream's bytes out of an ASCII85 (``…~>``) or hex (``…>``) text layer, else as they are."""
    stripped = chunk.strip()
    with contextlib.suppress(ValueError):
        if stripped.endswith(b"~>"):
            return base64.a85decode(stripped, adobe=stripped.startswith(b"<~"), ignorechars=b" \t\r\n")
        if stripped.endswith(b">") and HEX_RE.fullmatch(stripped[:-1]):
            hexdigits = b"".join(stripped[:-1].split())
            return binascii.unhexlify(hexdigits + b"0" * (len(hexdigits) % 2))
    return chunk


def _parts(words: list[dict[str, Any]], char: float) -> tuple[Part, ...]:
    parts: list[list[dict[str, Any]]] = [[words[0]]]
    for before, word in itertools.pairwise(words):
        if word["x0"] - before["x1"] > PART_GAP * char:
            parts.append([word])
        else:
            parts[-1].append(word)
    return tuple(
        Part(run[0]["x0"], run[-1]["x1"], " ".join(w["text"] for w in run), _first_width(run[0]))
        for run in parts
    )


def _first_width(word: dict[str, Any]) -> float:
    """The width of what a line could break after: the word, or one character of CJK text."""
    width = float(word["x1"] - word["x0"])
    return width / len(word["text"]) if _CJK_RE.search(word["text"]) else width


def _row(words: list[dict[str, Any]], *, edge: bool) -> Row:
    """A row from its words; ``edge`` for a page's first and last printed lines."""
    words.sort(key=lambda w: w["x0"])
    char = statistics.median((w["x1"] - w["x0"]) / max(1, len(w["text"])) for w in words)
    parts = _parts(words, char)
    number = None
    if len(parts) > 1 and REVISION_RE.match(parts[-1].text):
        parts = parts[:-1]
    if edge and len(parts) > 1 and PAGE_NO_RE.match(parts[-1].text) and parts[0].text != parts[-1].text:
        parts = parts[:-1]  # ``CONTINUED:      12.``: a page number, not a scene number (one side only)
    if len(parts) > 1 and SCENE_NO_RE.match(parts[-1].text):
        number, parts = parts[-1].text.rstrip("."), parts[:-1]
    if len(parts) > 1 and SCENE_NO_RE.match(parts[0].text):
        number, parts = parts[0].text.rstrip("."), parts[1:]
    first, _, rest = parts[0].text.partition(" ")
    if SCENE_NO_RE.match(first) and HEADING_RE.match(rest) and number in (None, first.rstrip(".")):
        # ``12  INT. HOUSE``: the number printed close to the heading, not split from it by a gap
        number, parts = first.rstrip("."), (replace(parts[0], text=rest), *parts[1:])
    return Row(words[0]["top"], parts, char, number)


def page_rows(words: list[dict[str, Any]]) -> list[Row]:
    """Group a page's words into rows, top to bottom, page marks dropped.

    Args:
        words: pdfplumber's words (``x0``, ``x1``, ``top``, ``bottom``, ``text``).

    Returns:
        The rows, without page numbers at the top or bottom and without ``(MORE)`` and
        ``CONTINUED`` marks.
    """
    lines: list[list[dict[str, Any]]] = []
    for word in sorted(words, key=lambda w: (w["top"], w["x0"])):
        height = word["bottom"] - word["top"]
        if lines and abs(word["top"] - lines[-1][0]["top"]) <= max(1.0, height * 0.4):
            lines[-1].append(word)
        else:
            lines.append([word])
    rows = [_row(line, edge=index in (0, len(lines) - 1)) for index, line in enumerate(lines)]
    rows = [row for row in rows if not MORE_RE.match(row.text.strip())]
    while rows and PAGE_NO_RE.match(rows[0].text.strip()):
        rows.pop(0)
    while rows and PAGE_NO_RE.match(rows[-1].text.strip()):
        rows.pop()
    return rows


def drop_running(pages: list[list[Row]]) -> list[list[Row]]:
    """Drop a running header or footer: the same first or last row, numbers aside, on most pages.

    >>> rows = lambda *texts: [Row(i * 12.0, (Part(0.0, 9.0, t, 9.0),), 6.0) for i, t in enumerate(texts)]
    >>> pages = [rows(f"DRAFT 3/4 p{n}", "INT. X", f"Line {'ABCD'[n]}") for n in range(4)]
    >>> [row.text for row in drop_running(pages)[1]]
    ['INT. X', 'Line B']
    """
    if len(pages) < 3:
        return pages
    for end in (0, -1):
        keys = Counter(_running_key(page[end]) for page in pages if page)
        for key, count in keys.items():
            if count >= max(3, len(pages) // 2):
                pages = [
                    [
                        row
                        for index, row in enumerate(page)
                        if index != end % len(page) or _running_key(row) != key
                    ]
                    for page in pages
                ]
    return pages


def _running_key(row: Row) -> str:
    return DIGITS_RE.sub("#", row.text).strip().casefold()


def _clean(text: str) -> str:
    """NFC, ligatures (``ﬁ``) spelt out, control characters dropped."""
    text = "".join(unicodedata.normalize("NFKC", ch) if "\ufb00" <= ch <= "\ufb06" else ch for ch in text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return unicodedata.normalize("NFC", text)


def _doubled(chars: list[dict[str, Any]]) -> bool:
    """Whether some character is drawn twice at (about) one place: pdfplumber's dedupe is slow."""
    spots = {(char["text"], round(char["x0"]), round(char["top"])) for char in chars}
    return len(spots) < len(chars)


def _declared_pages(pdf: PDF) -> int:
    """The page count the document's page tree declares (``/Count``), 0 when it declares none."""
    tree = resolve(pdf.doc.catalog.get("Pages"))
    count = resolve(tree.get("Count")) if isinstance(tree, dict) else None
    return count if isinstance(count, int) else 0


def _read_pages(data: bytes, name: str) -> list[list[Row]]:
    """Each page's rows, page marks and running headers dropped; pdfminer's errors pass through."""
    pages: list[list[Row]] = []
    cids = chars = 0
    # pages=: pdfplumber builds a Page for each page it lists; one past the limit is enough to tell.
    with pdfplumber.open(io.BytesIO(data), pages=list(range(1, DEFAULT_MAX_PAGES + 2))) as pdf:
        count = _declared_pages(pdf)
        if max(count, len(pdf.pages)) > DEFAULT_MAX_PAGES:
            shown = f"{count:,}" if count > DEFAULT_MAX_PAGES else f"over {DEFAULT_MAX_PAGES:,}"
            raise InputError(f"{name}: {shown} pages is over the limit of {DEFAULT_MAX_PAGES:,}")
        for page in pdf.pages:
            # Some exporters draw bold as the same text twice, a hair apart.
            source = page.dedupe_chars() if _doubled(page.chars) else page
            words = [w for w in source.extract_words() if w.get("upright", True)]
            page.close()  # frees the page's parsed objects: memory stays one page deep
            for word in words:
                word["text"] = _clean(word["text"])
                chars += len(word["text"])
                cids += sum(len(m) for m in _CID_RE.findall(word["text"]))
            pages.append(page_rows([w for w in words if w["text"].strip()]))
    pages = drop_running(pages)
    if chars and cids / chars > DEFAULT_MAX_CID_SHARE:
        raise InputError(f"{name}: this PDF's fonts do not say which letters they draw: {EXPORT_HINT}")
    return pages


def pdf_to_text(data: bytes, *, name: str = "script.pdf", max_bytes: int) -> str:
    """Convert a PDF script's text layer to Fountain-style plain text.

    Args:
        data: The PDF file's bytes.
        name: The file name, for messages.
        max_bytes: The byte limit (``ingest.max_bytes``); compressed content may inflate to
            ``DEFAULT_INFLATE_FACTOR`` times it.

    Returns:
        The script as text, ending with one line break.

    Raises:
        InputError: The PDF has no text layer, is encrypted, damaged, over the page limit, or
            inflates past its limit. Each message names the file.
    """
    check_inflated(data, max_bytes * DEFAULT_INFLATE_FACTOR, name)
    try:
        pages = _read_pages(data, name)
    except InputError:
        raise
    except Exception as exc:  # pdfminer raises many kinds (PSEOF, KeyError, …) on damaged files
        if b"/Encrypt" in data:
            raise InputError(f"{name}: the PDF is encrypted; export it again without a password") from None
        raise InputError(f"{name}: cannot be read as a PDF (damaged or not a PDF): {exc}") from None
    text = rows_to_text(pages)
    if sum(not ch.isspace() for ch in text) < 2:
        raise InputError(f"{name}: {NO_TEXT}")
    return text


__all__ = ["NO_TEXT", "check_inflated", "drop_running", "is_pdf", "page_rows", "pdf_to_text"]
