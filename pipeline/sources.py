"""Reading script files for submission: size limits before reading, encoding detection, clean text.

This is the ingest stage's input side. It runs where the files are (the submitting process),
so bad input fails at the caller with a clear message and nothing is written.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.docx import docx_to_text, is_docx
from pipeline.errors import InputError
from pipeline.fdx import fdx_to_text, is_fdx
from pipeline.numerals import CN_NUMERAL_RE, chinese_number
from pipeline.pdf import is_pdf, pdf_to_text

#: File name endings read from a folder (other files in it are ignored).
SCRIPT_SUFFIXES = (".txt", ".fountain", ".spmd", ".md", ".text", ".fdx", ".pdf", ".docx")
#: The start of an OLE2 compound file: a Word 97-2003 ``.doc`` (or ``.xls``), which is not read.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BLOCK = 1 << 20
_NATURAL = re.compile(r"(\d+)")
_CONTROL_OK = {"\n", "\r", "\t", "\f", "\v", "\x1b"}


@dataclass(frozen=True)
class ScriptText:
    """A script ready to store: normalised text, where each file's part is, and what was read."""

    text: str
    encoding: str
    byte_count: int
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """Hash of the normalised text."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def natural_key(path: Path) -> list[Any]:
    """Sort key by the numbers in a file name, Arabic or Chinese: ``ep2`` before ``ep10``,
    ``第九集`` before ``第十集`` before ``第10集``'s ``第11集``.

    >>> names = ["第十集.txt", "第二集.txt", "第一集.txt", "ep10.txt", "ep2.txt", "第11集.txt"]
    >>> [p.name for p in sorted(map(Path, names), key=natural_key)]
    ['ep2.txt', 'ep10.txt', '第一集.txt', '第二集.txt', '第十集.txt', '第11集.txt']
    """
    name = CN_NUMERAL_RE.sub(lambda m: str(chinese_number(m.group())), path.name)
    return [(0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in _NATURAL.split(name)]


def expand_paths(paths: list[Path]) -> list[Path]:
    """Turn files and folders into the ordered list of files that make one job.

    Raises:
        InputError: a path does not exist, or a folder holds no script files.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SCRIPT_SUFFIXES),
                key=natural_key,
            )
            if not found:
                raise InputError(f"{path}: folder holds no script files ({', '.join(SCRIPT_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    if not files:
        raise InputError("no script files given")
    return files


def read_limited(path: Path, max_bytes: int) -> bytes:
    """Read a file, refusing it before reading it whole if it is larger than ``max_bytes``.

    Raises:
        InputError: the file is too large or unreadable.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"{path}: {size:,} bytes is over the limit of {max_bytes:,} (ingest.max_bytes)")
        parts: list[bytes] = []
        total = 0
        with path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                total += len(block)
                if total > max_bytes:  # the file grew while we read it
                    raise InputError(f"{path}: over the limit of {max_bytes:,} bytes (ingest.max_bytes)")
                parts.append(block)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return b"".join(parts)


#: Share of a sample's characters that must be what scripts are made of for BOM-less UTF-16.
DEFAULT_UTF16_PLAUSIBLE = 0.9


def _script_char(char: str) -> bool:
    """Whether ``char`` is what scripts are written in: CJK, its punctuation, Latin, whitespace."""
    code = ord(char)
    return (
        0x20 <= code < 0x7F
        or char in "\n\r\t"
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3000 <= code <= 0x303F  # CJK punctuation
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x2010 <= code <= 0x2027  # dashes, quotes, ellipsis
        or 0xA0 <= code <= 0x24F  # Latin accents
    )


def _plausible_utf16(data: bytes) -> list[str]:
    """BOM-less UTF-16 with too few NUL bytes to show (Chinese with little ASCII), if it decodes so.

    UTF-8 and GB18030 bytes read as UTF-16 land in Hangul, Yi and private-use blocks, never
    mostly in CJK ideographs and punctuation; so a sample that does is UTF-16.
    """
    sample = data[:4096] if len(data) > 4096 else data
    sample = sample[: len(sample) // 2 * 2]
    for encoding in ("utf-16-le", "utf-16-be"):
        text = sample.decode(encoding, errors="replace")
        if text and sum(map(_script_char, text)) / len(text) >= DEFAULT_UTF16_PLAUSIBLE:
            return [encoding]
    return []


def _looks_utf16(data: bytes) -> str | None:
    """Guess BOM-less UTF-16 from the NUL bytes ASCII and CJK text leave in one byte column."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0) / (len(sample) / 2)
    odd = sample[1::2].count(0) / (len(sample) / 2)
    if odd > 0.3 and even < 0.05:
        return "utf-16-le"
    if even > 0.3 and odd < 0.05:
        return "utf-16-be"
    return None


def decode_script(data: bytes, *, name: str = "script") -> tuple[str, str]:
    """Decode script bytes: UTF-8 (with or without BOM), UTF-16 (BOM or not), GB18030/GBK.

    Args:
        data: the file's bytes.
        name: the file name, for messages.

    Returns:
        (normalised text, encoding name). Line endings become ``\\n``; a BOM is dropped.

    Raises:
        InputError: the data is empty, binary, or in none of those encodings.
    """
    if not data.strip():
        raise InputError(f"{name}: the file is empty")
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif utf16 := _looks_utf16(data):
        candidates = [utf16]
    elif b"\x00" in data[:8192]:
        raise InputError(f"{name}: looks like a binary file, not a script (it contains NUL bytes)")
    else:
        candidates = ["utf-8", *_plausible_utf16(data), "gb18030"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        break
    else:
        raise InputError(f"{name}: not text in UTF-8, UTF-16 or GB18030/GBK")
    return _checked_text(text, name), "gb18030" if encoding == "gb18030" else encoding.replace("-sig", "")


def _checked_text(text: str, name: str) -> str:
    """Decoded script text with ``\n`` line endings, no BOM, in NFC.

    Raises:
        InputError: it is empty, or has the control characters of a binary file.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff"))
    sample = text[:20000]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in _CONTROL_OK)
    if controls > max(2, len(sample) // 100):
        raise InputError(f"{name}: looks like a binary file, not a script ({controls} control characters)")
    if not text.strip():
        raise InputError(f"{name}: the file is empty")
    return text


def join_scripts(parts: list[tuple[str, str]], *, encoding: str, byte_count: int) -> ScriptText:
    """Join (name, text) parts into one text, recording each part's offsets."""
    pieces: list[str] = []
    sources: list[dict[str, Any]] = []
    offset = 0
    for index, (name, text) in enumerate(parts):
        if index:
            pieces.append("\n\n")
            offset += 2
        body = text.rstrip("\n") + "\n"
        sources.append({"name": name, "start": offset, "end": offset + len(body)})
        pieces.append(body)
        offset += len(body)
    return ScriptText("".join(pieces), encoding, byte_count, sources)


def read_script(path: Path, data: bytes, *, max_bytes: int) -> tuple[str, str]:
    """Turn one file's bytes into script text, by its content first and its name ending second.

    PDF (``%PDF-``), Word (a zip with ``word/document.xml``) and Final Draft (``<FinalDraft``)
    files become Fountain-style text; anything else is decoded as text.

    Returns:
        (text, what was read: ``pdf``, ``docx``, ``fdx`` or the text encoding).

    Raises:
        InputError: the file cannot be read as what it is; the message names the file.
    """
    suffix = path.suffix.lower()
    if is_pdf(data) or suffix == ".pdf":
        return pdf_to_text(data, name=str(path), max_bytes=max_bytes), "pdf"
    if is_docx(data) or suffix == ".docx":
        return docx_to_text(data, name=str(path), max_bytes=max_bytes), "docx"
    if data.startswith(OLE2_MAGIC):
        raise InputError(f"{path}: a Word 97-2003 .doc file is not read; save it as .docx, PDF or text")
    if suffix == ".fdx" or is_fdx(data):
        try:
            return fdx_to_text(data), "fdx"
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    return decode_script(data, name=str(path))


def read_scripts(paths: list[Path], *, max_bytes: int) -> ScriptText:
    """Read files and folders into one script whose episodes are the files in name order.

    Raises:
        InputError: a file is missing, too large (alone or together), empty, binary or undecodable.
    """
    files = expand_paths(paths)

    def contents() -> Iterator[tuple[Path, bytes]]:
        total = 0
        for path in files:
            data = read_limited(path, max_bytes - total)
            total += len(data)
            yield path, data

    return script_from_files(contents(), max_bytes=max_bytes)


def script_from_files(files: Iterable[tuple[Path, bytes]], *, max_bytes: int) -> ScriptText:
    """One script whose episodes are the given files' contents in the order given (an upload's
    parts); each is read as :func:`read_script` reads a file of that name.

    Raises:
        InputError: no file, more than ``max_bytes`` together, or a file that is empty, binary,
            undecodable or not readable as what it is; the message names the file.
    """
    parts: list[tuple[str, str]] = []
    encodings: set[str] = set()
    total = 0
    for path, data in files:
        total += len(data)
        if total > max_bytes:
            raise InputError(
                f"{path}: the files are over the limit of {max_bytes:,} bytes together (ingest.max_bytes)"
            )
        text, encoding = read_script(path, data, max_bytes=max_bytes)
        encodings.add(encoding)
        parts.append((path.name, text))
    if not parts:
        raise InputError("no script file given")
    return join_scripts(parts, encoding="+".join(sorted(encodings)), byte_count=total)


def script_from_text(text: str, *, name: str = "script.txt", max_bytes: int) -> ScriptText:
    """Wrap text handed over by a Python caller, with the same checks as a file.

    Raises:
        InputError: the text is empty, too large or binary.
    """
    data = text.encode("utf-8")
    if len(data) > max_bytes:
        raise InputError(f"{name}: {len(data):,} bytes is over the limit of {max_bytes:,} (ingest.max_bytes)")
    # Text already: no encoding to find (guessing one was 6% of an API submit's time), the
    # rest of a file's checks.
    if "\x00" in text[:8192]:
        raise InputError(f"{name}: looks like a binary file, not a script (it contains NUL bytes)")
    return join_scripts([(name, _checked_text(text, name))], encoding="utf-8", byte_count=len(data))
