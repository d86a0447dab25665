"""Find which known characters and props a piece of script text names (pure: no I/O).

Chinese forms match as substrings (Chinese puts no spaces between words); Latin forms match as
whole words, props case-insensitively (and in the plural), characters only when capitalised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stages.storyboard.beats import CJK

#: Common words holding a one-character prop or name in another sense (信 in 相信, 表 in 表示):
#: a one-character Chinese form is not seen inside them. Kept short and conservative.
CJK_WORDS = frozenset(
    {"相信", "信任", "信心", "自信", "信息", "信号", "迷信", "信用", "诚信", "确信", "坚信", "深信"}
    | {"信念", "信仰", "不信", "微信", "短信", "通信", "信誉", "威信", "信赖"}
    | {"表示", "表情", "表现", "表达", "表演", "代表", "发表", "表面", "外表", "表白", "表格", "报表"}
    | {"表哥", "表姐", "表弟", "表妹", "表态", "表扬", "书记", "秘书", "书房", "证书", "书法"}
    | {"花钱", "花费", "花园", "花心", "花样", "眼花", "火花", "花生", "包括", "包含", "包围"}
    | {"包容", "包庇", "面包", "酒店", "酒吧", "车站", "车库", "车祸", "车间", "灯光", "部门"}
    | {"专门", "画面", "画外", "动画", "镜头", "锁定", "封锁", "火车", "发火"}
    | {"火锅", "水平", "薪水", "口水", "泪水", "烟花", "烟雾", "刀疤", "药店"}
)
#: Characters that may not touch a Latin form on either side: it must stand as a whole word.
LATIN_BEFORE = r"(?<![0-9A-Za-z\u00c0-\u024f])"
LATIN_AFTER = r"(?![0-9A-Za-z\u00c0-\u024f])"


@dataclass(frozen=True)
class _Form:
    """One surface form to look for, and the asset it names."""

    pattern: re.Pattern[str]
    canonical: str
    kind: str
    length: int
    #: Latin character names count only when capitalised, so ``will`` is not WILL.
    capitalised: bool


@dataclass(frozen=True)
class AssetMatcher:
    """The surface forms of a scene's characters and props, ready to search text with.

    Build it with ``AssetMatcher.build``; ``speakers`` maps a casefolded surface form of a
    character to its canonical name.
    """

    forms: tuple[_Form, ...]
    speakers: Mapping[str, str]

    @classmethod
    def build(
        cls, characters: Mapping[str, Sequence[str]], props: Mapping[str, Sequence[str]]
    ) -> AssetMatcher:
        """Compile the surface forms of characters and props.

        Args:
            characters: Canonical character name → surface forms (the name itself is added).
            props: Canonical prop name → surface forms (the name itself is added).

        Returns:
            A matcher whose results do not depend on the mappings' order.
        """
        forms = _forms(characters, "character") + _forms(props, "prop")
        # Longest first, so a long form claims its span before a shorter one inside it.
        forms.sort(key=lambda form: (-form.length, form.kind, form.canonical))
        speakers: dict[str, str] = {}
        for canonical in sorted(characters):
            for surface in sorted({canonical, *characters[canonical]}):
                if surface.strip():
                    speakers.setdefault(surface.strip().casefold(), canonical)
        return cls(tuple(forms), speakers)

    def speaker(self, name: str) -> str:
        """Return the canonical character a speaker name stands for, or the name as written.

        Args:
            name: A speaker name from a cue or a ``名字：`` line.

        Returns:
            The canonical name, or ``name`` when it is no known character's surface form.
        """
        return self.speakers.get(name.strip().casefold(), name)

    def find(self, text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Find the characters and props that ``text`` names.

        A longer form claims its span first, so ``王总`` inside ``王总监`` is not counted.

        Args:
            text: Any script text (an action paragraph, a speech).

        Returns:
            ``(characters, props)``: canonical names, each in order of first appearance.
        """
        taken = bytearray(len(text))  # 1 where a longer form already matched
        first: dict[tuple[str, str], int] = {}
        for form in self.forms:
            for match in form.pattern.finditer(text):
                start, end = match.span()
                if form.capitalised and not _is_capitalised(match.group()):
                    continue
                if any(taken[start:end]):
                    continue
                if form.length == 1 and CJK.match(match.group()) and _inside_word(text, start):
                    continue
                taken[start:end] = b"\x01" * (end - start)
                key = (form.kind, form.canonical)
                first[key] = min(start, first.get(key, start))
        ordered = sorted(first, key=lambda key: (first[key], key))
        return (
            tuple(name for kind, name in ordered if kind == "character"),
            tuple(name for kind, name in ordered if kind == "prop"),
        )


def _forms(assets: Mapping[str, Sequence[str]], kind: str) -> list[_Form]:
    forms: list[_Form] = []
    for canonical in sorted(assets):
        for surface in sorted({canonical, *assets[canonical]}):
            text = surface.strip()
            if not text:
                continue
            latin = not CJK.search(text)
            if latin:
                plural = r"(?:e?s)?" if kind == "prop" else ""
                pattern = LATIN_BEFORE + re.escape(text) + plural + LATIN_AFTER
            else:
                pattern = re.escape(text)
            compiled = re.compile(pattern, re.IGNORECASE)
            forms.append(_Form(compiled, canonical, kind, len(text), latin and kind == "character"))
    return forms


def _is_capitalised(word: str) -> bool:
    """Whether a Latin name is written as a name (``John``/``JOHN``), not as a word (``will``)."""
    first_letter = next((ch for ch in word if ch.isalpha()), "A")
    return first_letter.isupper()


def _inside_word(text: str, index: int) -> bool:
    """Whether the one character at ``index`` is part of a word in ``CJK_WORDS``.

    >>> _inside_word("我相信你", 2), _inside_word("一封信", 2)
    (True, False)
    """
    for word, offset in _WORDS_BY_CHAR.get(text[index], ()):
        if index >= offset and text.startswith(word, index - offset):
            return True
    return False


def _words_by_char() -> dict[str, tuple[tuple[str, int], ...]]:
    found: dict[str, list[tuple[str, int]]] = {}
    for word in sorted(CJK_WORDS):
        for offset, char in enumerate(word):
            found.setdefault(char, []).append((word, offset))
    return {char: tuple(words) for char, words in found.items()}


#: Each character of ``CJK_WORDS`` → the words holding it and where.
_WORDS_BY_CHAR = _words_by_char()
