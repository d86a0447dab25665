"""Pure screenplay text cores: language, title page, episodes and scenes (text in, data out)."""

from __future__ import annotations

from stages.screenplay.bios import find_sketches
from stages.screenplay.headings import Heading, match_heading, scene_number
from stages.screenplay.language import detect_language
from stages.screenplay.structure import parse_structure
from stages.screenplay.titlepage import parse_title_page

__all__ = [
    "Heading",
    "detect_language",
    "find_sketches",
    "match_heading",
    "parse_structure",
    "parse_title_page",
    "scene_number",
]
