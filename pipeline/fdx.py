"""Read Final Draft (``.fdx``) scripts into Fountain-style plain text.

An FDX file is XML: ``<FinalDraft><Content>`` holds ``<Paragraph Type="…">`` elements whose
``<Text>`` runs make up the paragraph. ``fdx_to_text`` writes each type the way a Fountain
script would: scene headings upper-case between blank lines, a character cue upper-case with
its parentheticals and dialogue right under it, transitions and shots upper-case on lines of
their own. The title page (``<TitlePage>``) becomes ``Title:``/``Author:`` lines. Parsing goes
through defusedxml, so entity-expansion and external-entity tricks are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import cast
from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree as SafeElementTree

from pipeline.errors import InputError

#: ``defusedxml.ElementTree.fromstring`` with its type (defusedxml ships none).
_fromstring = cast(Callable[[bytes], Element], SafeElementTree.fromstring)
#: How far into a file the ``<FinalDraft`` root is looked for.
DEFAULT_SNIFF_BYTES = 4096
#: Paragraph types that belong to a speech (they follow the cue with no blank line).
SPEECH_TYPES = frozenset({"Parenthetical", "Dialogue", "Lyrics"})
#: A shot whose text would read as a scene heading (``EXT. CITY``) gets a prefix.
HEADING_LIKE_RE = re.compile(r"^\s*(?:INT|EXT|EST|I\s*/\s*E)(?:[./\s]|$)", re.IGNORECASE)
#: Title-page lines that announce the author on the next line.
BY_LINE_RE = re.compile(r"^\s*(?:written\s+)?by\s*:?\s*$", re.IGNORECASE)


def is_fdx(data: bytes) -> bool:
    """Tell whether a file's bytes are a Final Draft document.

    Args:
        data: The file's bytes (only the first ``DEFAULT_SNIFF_BYTES`` are read).

    Returns:
        ``True`` when the ``<FinalDraft`` root element opens near the start.

    >>> is_fdx(b'<?xml version="1.0"?>\\n<FinalDraft Version="5"><Content/></FinalDraft>')
    True
    """
    return b"<FinalDraft" in data[:DEFAULT_SNIFF_BYTES]


def _text(paragraph: Element) -> str:
    runs = "".join(run.text or "" for run in paragraph.findall("Text"))
    return " ".join(runs.replace("\u00a0", " ").split())


def _paragraphs(content: Element) -> Iterable[tuple[str, str]]:
    """``(type, text)`` of each paragraph, dual dialogue unwrapped, empty ones left out."""
    for paragraph in content.iter("Paragraph"):
        if paragraph.find(".//Paragraph") is not None:
            continue  # a wrapper around <DualDialogue>: its inner paragraphs come next
        text = _text(paragraph)
        if text:
            yield paragraph.get("Type") or "Action", text


def _title_page(root: Element) -> list[str]:
    content = root.find("TitlePage/Content")
    if content is None:
        return []
    texts = [text for _, text in _paragraphs(content)]
    if not texts:
        return []
    lines = [f"Title: {texts[0]}"]
    for index, text in enumerate(texts[1:-1], start=1):
        if BY_LINE_RE.match(text):
            lines.append(f"Author: {texts[index + 1]}")
            break
    return [*lines, ""]


def _parse(data: bytes) -> Element:
    try:
        root = _fromstring(data)
    except ParseError as exc:
        raise InputError(f"The Final Draft file is not well-formed XML: {exc}") from exc
    except ValueError as exc:  # defusedxml refuses DTDs with entities and external references
        raise InputError(f"The Final Draft file uses XML features that are refused: {exc}") from exc
    if root.tag != "FinalDraft":
        raise InputError(f"Not a Final Draft document: the root element is <{root.tag}>, not <FinalDraft>.")
    return root


def fdx_to_text(data: bytes) -> str:
    """Convert a Final Draft document to Fountain-style plain text.

    Args:
        data: The ``.fdx`` file's bytes.

    Returns:
        The script as text, ending with one line break.

    Raises:
        InputError: If the bytes are not well-formed XML, use refused XML features (entity
            declarations, external references), or are not a ``<FinalDraft>`` document with a
            ``<Content>`` element.

    >>> fdx_to_text(b'<FinalDraft><Content><Paragraph Type="Scene Heading"><Text>int. bar</Text>'
    ...     b'</Paragraph><Paragraph Type="Character"><Text>Joe</Text></Paragraph>'
    ...     b'<Paragraph Type="Dialogue"><Text>Hi </Text><Text>there.</Text></Paragraph>'
    ...     b'</Content></FinalDraft>')
    'INT. BAR\\n\\nJOE\\nHi there.\\n'
    """
    root = _parse(data)
    content = root.find("Content")
    if content is None:
        raise InputError("Not a Final Draft script: the document has no <Content> element.")
    lines: list[str] = _title_page(root)
    in_speech = False

    def block(*texts: str) -> None:
        if lines and lines[-1]:
            lines.append("")
        lines.extend(texts)

    for kind, text in _paragraphs(content):
        if kind in SPEECH_TYPES and in_speech:
            lines.append(_speech_line(kind, text))
            continue
        in_speech = kind == "Character"
        if kind in ("Scene Heading", "Transition", "Character"):
            block(text.upper())
        elif kind == "Shot":
            shot = text.upper()
            block(f"ANGLE ON {shot}" if HEADING_LIKE_RE.match(shot) else shot)
        elif kind in SPEECH_TYPES:
            block(_speech_line(kind, text))
        else:
            block(text)
        if kind != "Character":
            lines.append("")
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def _speech_line(kind: str, text: str) -> str:
    if kind == "Parenthetical":
        return f"({text.strip('()')})"
    return f"~{text}" if kind == "Lyrics" else text


__all__ = ["fdx_to_text", "is_fdx"]
