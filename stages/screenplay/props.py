"""Find props in English action text: objects handled (``picks up a revolver``) and ALL-CAPS nouns.

Precision comes first: a prop is the noun phrase right after a verb of handling, or a
capitalised noun after a determiner (``a DUFFEL BAG``), normalised to lower case, singular,
without articles, possessives or generic adjectives. Body parts, people, set pieces (doors,
windows), sounds and abstract nouns (``takes a breath``) are never props.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from stages.screenplay.prop_words import (
    EN_ARTICLES,
    EN_CAPS_STOP,
    EN_CONTAINERS,
    EN_GENERIC,
    EN_KEEP_PARTICIPLES,
    EN_KEEP_S,
    EN_NOT_PROPS,
    EN_PEOPLE,
    EN_QUANTITIES,
    EN_STOP_WORDS,
)
from stages.screenplay.props_zh import CN_PROP_MARK_RE, chinese_props, marked_props

__all__ = ["CN_PROP_MARK_RE", "chinese_props", "english_props", "marked_props", "normalise", "singular"]

_BASES = (
    "pick:up grab hold:up? pull:out? hand:over? take:out? open pocket drop raise load light pour read "
    "put:down set:down lay:down slide toss throw clutch unfold dial slam lift draw produce carry wield "
    "brandish aim point cock wave swing grip snatch tuck stuff unwrap unlock unzip uncork sip tear:open "
    "rip:open flip:open flick strike sign count hide show give pass offer catch retrieve fish:out dig:out "
    "cradle grasp juggle shuffle polish wipe sharpen examine inspect study hang:up answer plant shove hurl "
    "pry:open crack:open eat smoke drink munch dry reach:for fumble:for wheel:in? push hug:to? clasp "
    "pull:on fold crumple pat:down? shake:out scan rap"
)
_IRREGULAR = {
    "hold": "held",
    "take": "took taken",
    "put": "put",
    "set": "set",
    "lay": "laid",
    "throw": "threw thrown",
    "draw": "drew drawn",
    "read": "read",
    "light": "lit",
    "swing": "swung",
    "tear": "tore torn",
    "strike": "struck",
    "hide": "hid hidden",
    "show": "shown",
    "give": "gave given",
    "catch": "caught",
    "dig": "dug",
    "hang": "hung",
    "eat": "ate eaten",
    "drink": "drank drunk",
    "shake": "shook",
    "slide": "slid",
}


def _forms(base: str) -> list[str]:
    """``grab`` → grab, grabs, grabbed, grabbing (good enough for the verbs listed above)."""
    stem = base[:-1] if base.endswith("e") else base
    double = base + base[-1] if re.search(r"[^aeiou][aeiou][bdgmnprt]$", base) and len(base) <= 5 else base
    third = base + "es" if base.endswith(("sh", "ch", "ss", "x")) else base + "s"
    third = base[:-1] + "ies" if base.endswith("y") and base[-2] not in "aeiou" else third
    past = base[:-1] + "ied" if base.endswith("y") and base[-2] not in "aeiou" else stem + "ed"
    forms = {
        base,
        third,
        past if base == double else double + "ed",
        (double if base != double else stem) + "ing",
    }
    forms.update(_IRREGULAR.get(base, "").split())
    return sorted(forms, key=len, reverse=True)


def _verbs() -> str:
    alternatives: list[str] = []
    for entry in _BASES.split():
        base, _, particle = entry.partition(":")
        for form in _forms(base):
            if particle:
                alternatives.append(rf"{form}\s+{particle.rstrip('?')}")
            if not particle or particle.endswith("?"):
                alternatives.append(form)
    return "|".join(sorted(alternatives, key=len, reverse=True))


#: First words of the verbs above: a word must be one before the verb pattern is tried there.
VERB_FIRST_WORDS = frozenset(form for entry in _BASES.split() for form in _forms(entry.partition(":")[0]))
WORD_RE = re.compile(r"\b[a-z]+\b")

_DETERMINERS = (
    r"an?|the|his|her|their|its|my|your|our|this|that|these|those|some|two|three|four|several|both|"
    r"another|[A-Z][a-z]+['’]s"
)
_WORD = r"(?:\.?\d+[\w.]*|[A-Za-z][A-Za-z'’-]*)"
_OBJECT = r"(?:him|her|them|me|us|himself|herself|themselves|[A-Z][a-z]+)"
#: ``picks up a revolver``, ``hands Mary the envelope``, ``pulls out a .38 REVOLVER``.
EN_HANDLING_RE = re.compile(
    rf"(?:{_verbs()})\s+(?:(?:up|out|on|down|back|open|in|away)\s+)?(?:{_OBJECT}\s+)?"
    rf"(?:{_DETERMINERS})\s+({_WORD}(?:\s+{_WORD}){{0,4}})"
)
#: An object held or used: ``a flashlight in one hand``, ``bus ticket in hand``, ``with a broom``.
EN_HELD_RE = re.compile(
    rf"(?:(?:\b(?:{_DETERMINERS})|,)\s+({_WORD}(?:\s+{_WORD}){{0,2}})\s+in\s+(?:one\s+|each\s+|his\s+|her\s+|"
    rf"their\s+|both\s+)?hands?\b)|\bwith\s+an?\s+({_WORD}(?:\s+{_WORD}){{0,2}})"
)
#: A thing making a Fountain sound cue: ``The radio CRACKLES.``, ``Her phone BUZZES``.
EN_SOUNDING_RE = re.compile(
    r"(?<!on )(?<!in )(?<!at )(?<!by )(?<!from )(?<!under )(?<!over )(?<!behind )(?<!of )"
    r"\b(?:[Tt]he|[Aa]n?|[Hh]is|[Hh]er|[Tt]heir)\s+([a-z][a-z-]+(?:\s+[a-z][a-z-]+)?)\s+"
    r"(?!(?:LOCAL|VILLAGER|WORKER|GUARD|COP|KID|MAN|WOMAN|MEN|WOMEN|PEOPLE)S?\b)[A-Z]{3,}(?:S|ES)\b(?![a-z])"
)
#: ``Inside: a brass KEY…`` or ``Inside the tackle box: a bundle of ledgers, and…``: the contents.
EN_INSIDE_RE = re.compile(
    r"\bInside(?:\s+(?:the|a|an|his|her)\s+([a-z][a-z-]*(?:\s+[a-z][a-z-]*)?))?\s*:\s*([^.!?]+)"
)
EN_ITEM_RE = re.compile(
    rf"(?:^\s*|,\s*(?:and\s+)?|\band\s+)(?:(?:{_DETERMINERS})\s+)?({_WORD}(?:\s+{_WORD}){{0,6}})"
)
#: Verbs whose bare object is still a thing: ``grabs cash``, ``pours coffee``, ``loads shells``.
EN_BARE_RE = re.compile(
    r"\b(?:picks up|grabs|pockets|clutches|pours|loads|unfolds|tosses|snatches|pulls out|takes out|"
    r"brandishes|wields|stuffs|counts out|fishes out)\s+(?:himself\s+|herself\s+)?"
    rf"(?!(?:{_DETERMINERS}|it|him|her|them|up|out|on|off|in|into|onto|over|away|back|down|at|to)\b)([a-z][a-z'’-]*(?:\s+[a-z][a-z'’-]*){{0,3}})"
)
#: A Fountain-style capitalised prop used as a noun: ``a REVOLVER``, ``the BLACK BRIEFCASE``,
#: ``a thick ENVELOPE``, ``the ship's LOGBOOK``, ``dozens of LETTERS``.
EN_CAPS_RE = re.compile(
    r"\b(?:(?:[Aa]n?|[Tt]he|[Hh]is|[Hh]er|[Tt]heir|[Ii]ts|[Mm]y|[Yy]our|[Oo]ur|[Tt]his|[Tt]hat|[a-z]+['’]s)"
    r"(?:\s+[a-z][a-z'’-]+){0,2}|\bof)\s+"
    r"((?:\.?\d+\s+)?[A-Z][A-Z0-9'’&-]+(?:\s+[A-Z][A-Z0-9'’&-]+){0,2})\b(?![a-z(])(?!\s+\()"
)
CAPS_WORD_RE = re.compile(r"[A-Z][A-Z]{2}")
#: The word after a capitalised phrase: ``the WORLD'S BEST DAD mug`` makes the phrase a modifier.
NEXT_WORD_RE = re.compile(r"\s+([a-z]+)\b")


def singular(word: str) -> str:
    """Lowercase an English word and drop a plural ending (``keys`` → ``key``).

    Args:
        word: One English word.

    Returns:
        The lowercased, roughly singular word.
    """
    lower = word.lower()
    if lower in EN_KEEP_S:
        return lower
    if len(lower) > 4 and lower.endswith("ies"):
        return lower[:-3] + "y"
    if len(lower) > 4 and lower.endswith(("ches", "shes", "sses", "xes")):
        return lower[:-2]
    if len(lower) > 3 and lower.endswith("s") and not lower.endswith(("ss", "us", "is", "'s", "’s")):
        return lower[:-1]
    return lower


def _phrase(words: list[str]) -> list[str]:
    """The noun phrase at the start of ``words``: up to the first stop word or adverb."""
    kept: list[str] = []
    for word in words:
        lower = word.lower()
        if lower in EN_STOP_WORDS and not (lower == "of" and kept):
            break
        if lower.endswith("ly") and len(lower) > 4 and lower not in ("family", "jelly", "belly"):
            break
        kept.append(word)
    while kept and kept[-1].lower() == "of":
        kept.pop()
    return kept


def normalise(words: list[str]) -> str | None:
    """Turn a noun phrase into a prop name, or ``None`` when it names no prop.

    Args:
        words: The phrase's words as written.

    Returns:
        Lower case, singular head, no generic adjectives or numbers; ``None`` for excluded heads.

    >>> normalise(["battered", "PHOTOGRAPHS"]), normalise(["glass", "of", "whiskey"]), normalise(["hand"])
    ('photograph', 'whiskey glass', None)
    """
    lower = [word.lower().strip("'’") for word in words if word.lower() not in EN_ARTICLES]
    if "of" in lower:
        at = lower.index("of")
        head, tail = lower[:at], lower[at + 1 :]
        if not head or not tail:
            return None
        if head[-1] == "pair":
            return " ".join(word for word in tail if word not in EN_GENERIC) or None
        if head[-1] in EN_QUANTITIES:
            lower = tail
        elif head[-1] in EN_CONTAINERS:
            lower = [*tail[:-1], singular(tail[-1]), head[-1]]
        else:
            lower = head
    kept = [
        word
        for word in lower
        if word not in EN_GENERIC
        and not word[:1].isdigit()
        and word[:1] != "."
        and not word.endswith(("'s", "’s"))
    ]
    while len(kept) > 1 and kept[-1].endswith(("ing", "ed")) and kept[-1] not in EN_KEEP_PARTICIPLES:
        kept.pop()  # "sliding door leading (to the yard)": the phrase ends at its noun
    if (
        not kept
        or singular(kept[-1]) in EN_NOT_PROPS
        or kept[-1] in EN_NOT_PROPS
        or (kept[-1].endswith("ed") and kept[-1] not in EN_KEEP_PARTICIPLES)
    ):
        return None
    if len(kept) > 3 or any(word in EN_STOP_WORDS for word in kept):
        return None
    return " ".join([*kept[:-1], singular(kept[-1])])


def _inside(line: str) -> list[tuple[int, list[str]]]:
    """The container and the listed contents of ``Inside the box: a key, and a photograph``."""
    found = []
    for match in EN_INSIDE_RE.finditer(line):
        if match.group(1):
            found.append((match.start(1), match.group(1).split()))
        for item in EN_ITEM_RE.finditer(match.group(2)):
            found.append((match.start(2) + item.start(1), item.group(1).split()))
    return found


def _phrases(line: str) -> list[tuple[int, list[str]]]:
    """Candidate noun phrases (offset, words) found by handling verbs and the other patterns."""
    found = []
    for word in WORD_RE.finditer(line):
        if word.group(0) in VERB_FIRST_WORDS and (match := EN_HANDLING_RE.match(line, word.start())):
            found.append((match.start(1), match.group(1).split()))
    patterns = [EN_BARE_RE]
    if " in hand" in line or " with a" in line or "hands" in line:
        patterns.append(EN_HELD_RE)
    if CAPS_WORD_RE.search(line):
        patterns.append(EN_SOUNDING_RE)
    for pattern in patterns:
        for match in pattern.finditer(line):
            group = 1 if match.group(1) is not None else 2
            found.append((match.start(group), match.group(group).split()))
    return found + (_inside(line) if "Inside" in line else [])


def _caps_ok(line: str, match: re.Match[str], character_names: Collection[str]) -> bool:
    phrase = match.group(1)
    words = phrase.split()
    if phrase in character_names or any(
        w in EN_PEOPLE or w in EN_CAPS_STOP or w in character_names for w in words
    ):
        return False
    if sum(char.isalpha() for char in phrase) < 3:
        return False
    if match.group(0)[: match.start(1) - match.start(0)].count(" ") > 1 and re.search(
        r"(?:[^S]S|ED|ING)$", phrase
    ):
        return False  # "The radio CRACKLES": a sound verb after a noun, not a capitalised prop
    after = NEXT_WORD_RE.match(line, match.end(1))
    return not (after and after.group(1) not in EN_STOP_WORDS and not after.group(1).endswith(("s", "ed")))


def english_props(line: str, character_names: Collection[str]) -> list[tuple[str, str]]:
    """Find props in an English action line.

    Args:
        line: An action line (or a parenthetical), emphasis already stripped.
        character_names: Upper-cased character names, never taken for props.

    Returns:
        ``(normalised name, surface form)`` pairs in order of appearance.

    >>> english_props("He picks up a revolver and grabs the BLACK BRIEFCASE.", frozenset())
    [('revolver', 'revolver'), ('black briefcase', 'BLACK BRIEFCASE')]
    """
    found: dict[int, tuple[str, str]] = {}
    covered: list[tuple[int, int]] = []
    for at, raw in _phrases(line):
        words = _phrase(raw)
        if not words or (words[0][:1].isupper() and not words[0].isupper()):
            continue  # "grabs Tommy" left a name, not an object
        if any(word.upper().rstrip("S").rstrip("'’") in character_names for word in words):
            continue
        name = normalise(words)
        if name is not None and at not in found:
            found[at] = (name, " ".join(words))
            covered.append((at, at + len(" ".join(words))))
    for match in EN_CAPS_RE.finditer(line) if CAPS_WORD_RE.search(line) else ():
        name = normalise(match.group(1).split()) if _caps_ok(line, match, character_names) else None
        if name is not None and not any(lo <= match.start(1) < hi for lo, hi in covered):
            found[match.start(1)] = (name, match.group(1))
    return [found[start] for start in sorted(found)]
