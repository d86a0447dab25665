"""Guess whether a script is written in Chinese or English from its share of CJK characters."""

from __future__ import annotations

import re

#: CJK unified ideographs (with extension A and compatibility ideographs).
CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
#: Latin letters, the competing script in our inputs.
LATIN_RE = re.compile(r"[A-Za-z]")
#: One CJK character carries about a word, so a modest share already means a Chinese script.
DEFAULT_CJK_SHARE = 0.2
#: Characters looked at; a script's language does not change after its first pages.
DEFAULT_SAMPLE_CHARS = 200_000


def detect_language(text: str) -> str:
    """Tell Chinese scripts from English ones.

    Args:
        text: The script text (only its first ``DEFAULT_SAMPLE_CHARS`` characters are read).

    Returns:
        ``"zh"`` when CJK characters make up at least ``DEFAULT_CJK_SHARE`` of the letters,
        else ``"en"`` (also for text without letters).

    >>> detect_language("INT. KITCHEN - NIGHT")
    'en'
    >>> detect_language("1-1 日 内 客厅")
    'zh'
    """
    sample = text[:DEFAULT_SAMPLE_CHARS]
    cjk = len(CJK_RE.findall(sample))
    latin = len(LATIN_RE.findall(sample))
    if cjk == 0:
        return "en"
    return "zh" if cjk / (cjk + latin) >= DEFAULT_CJK_SHARE else "en"
