"""Tell a script from text that is not one: the ``missing_script_parts`` core.

A job whose text has no scene heading, no character cue and no listed cast would "complete"
with one blank scene and nobody in it; the chunk stage refuses it instead, naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence

from stages.drafts import SceneDraft, SourceSpan
from stages.screenplay.lines import logical_lines
from stages.screenplay.names import parse_chinese_cue, parse_english_cue

#: What the message says a script has.
WHAT_A_SCRIPT_HAS = "no scene headings (INT. … - DAY, 1-1 日 内, 第1场), character cues or dialogue"


def _has_a_cue(text: str) -> bool:
    """Whether some line of ``text`` is a character cue (English: with dialogue under it)."""
    spans = logical_lines(text)
    for index, (start, end) in enumerate(spans):
        line = text[start:end].strip()
        if not line:
            continue
        cue = parse_chinese_cue(line)
        if cue is not None and cue.speakers and cue.speech:
            return True
        if parse_english_cue(line) is not None and index + 1 < len(spans):
            after = text[spans[index + 1][0] : spans[index + 1][1]].strip()
            if after and parse_english_cue(after) is None:
                return True
    return False


def missing_script_parts(
    text: str, scenes: Sequence[SceneDraft], sources: Sequence[SourceSpan] = ()
) -> str | None:
    """Say what is missing from text that is not a script, or ``None`` for a script.

    Each submitted file is judged on its own (a README in a folder of episodes is named).

    >>> missing_script_parts("Hello, this is a letter.\\nRegards.\\n", [])
    'no scene headings (INT. … - DAY, 1-1 日 内, 第1场), character cues or dialogue in 34 characters'
    >>> missing_script_parts("JOE\\nHi there.\\n", []) is None
    True
    """
    parts = [(s.name, s.start, s.end) for s in sources] if len(sources) > 1 else [(None, 0, len(text))]
    for name, start, end in parts:
        inside = [s for s in scenes if s.start < end and s.end > start]
        if any(s.heading or s.listed_characters for s in inside) or _has_a_cue(text[start:end]):
            continue
        where = f"{name}: " if name else ""
        return f"{where}{WHAT_A_SCRIPT_HAS} in {end - start:,} characters"
    return None
