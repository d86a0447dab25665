"""Versioned prompt files (``stages/prompts/<name>-v<N>.<lang>.md``) and the scene markup they read.

A prompt's version is its file name without ``.md`` (``extract-v1.zh``); it is stored on every
record the prompt produced and is part of the answer cache key. To change a prompt, add the
next version's file: the highest version of each name is the one used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from stages.drafts import SceneSlice

PROMPTS = Path(__file__).resolve().parent / "prompts"

_VERSION_RE = re.compile(r"-v(\d+)\.")
_SCENE_RE = re.compile(
    r"<<<SCENE (\d+) \| (.*?) \| location: (.*?)(?: \| listed: (.*?))?>>>\n(.*?)\n?<<<END SCENE \1>>>", re.S
)
_KNOWN = {"en": "Known characters", "zh": "已知人物"}


@dataclass(frozen=True)
class Prompt:
    version: str
    text: str

    def system(self, schema: str) -> str:
        """The system message, with the answer's JSON schema in place of ``{schema}``."""
        return self.text.replace("{schema}", schema)


@cache
def load_prompt(name: str, language: str) -> Prompt:
    """The newest version of prompt ``name`` in ``language`` (``zh``, else English)."""
    lang = "zh" if language == "zh" else "en"
    files = list(PROMPTS.glob(f"{name}-v*.{lang}.md"))
    if not files:
        raise FileNotFoundError(f"no prompt {name!r} for language {lang!r} in {PROMPTS}")
    newest = max(files, key=lambda p: int(_VERSION_RE.search(p.name).group(1)))  # type: ignore[union-attr]
    return Prompt(newest.name.removesuffix(".md"), newest.read_text(encoding="utf-8"))


def render_scenes(slices: Sequence[SceneSlice], roster: Sequence[str], language: str) -> str:
    """The user message: the known characters, then each scene slice between markers."""
    parts = []
    if roster:
        sep = "；" if language == "zh" else "; "
        parts.append(f"{_KNOWN['zh' if language == 'zh' else 'en']}: {sep.join(roster)}")
    for s in slices:
        listed = f" | listed: {', '.join(s.listed_characters)}" if s.listed_characters else ""
        heading = s.heading.replace("\n", " ").replace("|", "/")
        location = (s.location or "").replace("|", "/")
        parts.append(
            f"<<<SCENE {s.scene_number} | {heading} | location: {location}{listed}>>>\n{s.text}\n<<<END SCENE {s.scene_number}>>>"
        )
    return "\n\n".join(parts)


def parse_scenes(message: str) -> list[SceneSlice]:
    """The scene slices in a user message made by :func:`render_scenes` (used by the fake LLM)."""
    return [
        SceneSlice(
            scene_number=int(number),
            heading=heading,
            location=location or None,
            text=text,
            listed_characters=tuple(n.strip() for n in listed.split(",")) if listed else (),
        )
        for number, heading, location, listed, text in _SCENE_RE.findall(message)
    ]
