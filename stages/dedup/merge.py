"""Matching names to assets for dedup: exact keys, alias rules, then fuzzy matching (pure).

Rules, in order, each constrained to one asset type:

1. **exact**: the normalised name equals an asset's key;
2. **alias**: the name is a known alias of an asset, or one of the record's own aliases
   (``RITA VALE`` introduced as ``RITA``) names an asset; for characters also, when exactly one
   asset qualifies: the same name without an honorific (``DR. SMITH`` / ``SMITH``), a given or
   family name of a full name (``RITA`` / ``RITA VALE``), or a Chinese name ending the other
   (``秘书小唐`` / ``小唐``);
3. **fuzzy**: rapidfuzz's ratio against the type's keys, above a per-type threshold, for names of
   at least ``min_fuzzy_len`` characters (short names such as 小娟/小绢 or BOB/ROB never merge),
   and never across different numbers (ROOM 101/ROOM 102) or titles (MR./MRS. JONES).

Nothing compares all pairs: rules 1–2 are dictionary look-ups, and rule 3 compares one new name
against the keys of its type with rapidfuzz's C implementation.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from stages.screenplay.names import EN_ROLE_NOUNS, distinct_role

_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_CJK = re.compile(r"[\u3400-\u9fff]")
_DIGITS = re.compile(r"\d+")
#: Titles that do not change who a character is.
HONORIFICS = frozenset(
    """dr dr. doctor mr mr. mrs mrs. ms ms. miss mx prof prof. professor sir madam officer detective
    det. sgt sgt. sergeant capt capt. captain lt lt. lieutenant agent nurse father sister uncle aunt
    grandma grandpa judge coach mayor chief""".split()  # noqa: SIM905 (a word list reads best as words)
)


#: Common role nouns, lower case as keys are (from the cue rules: one list).
ROLE_NOUNS = frozenset(word.lower() for word in EN_ROLE_NOUNS)


def normalize_name(name: str) -> str:
    """The key names are matched on: NFKC, case-folded, single spaces, no edge punctuation.

    >>> normalize_name("  Dr.  Smith ")
    'dr. smith'
    >>> normalize_name("ＭＡＲＹ")
    'mary'
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    return _EDGE_PUNCT.sub("", _SPACES.sub(" ", folded).strip())


def split_honorific(key: str) -> tuple[str, str]:
    """Split leading titles from a normalised English name.

    >>> split_honorific("det. sgt. ray")
    ('det sgt', 'ray')
    >>> split_honorific("smith")
    ('', 'smith')
    """
    tokens = key.split(" ")
    cut = 0
    while len(tokens) - cut > 1 and tokens[cut] in HONORIFICS:
        cut += 1
    return " ".join(t.rstrip(".") for t in tokens[:cut]), " ".join(tokens[cut:])


@dataclass(frozen=True)
class Policy:
    """Fuzzy-matching thresholds (0–100) per asset type; ``None`` turns fuzzy matching off for it."""

    thresholds: dict[str, float | None] = field(
        default_factory=lambda: {"character": 90.0, "location": 90.0, "prop": 92.0}
    )
    min_fuzzy_len: int = 5


@dataclass(frozen=True)
class Match:
    index: int
    status: str  # exact, alias or fuzzy
    score: float


#: What :meth:`AssetIndex.match` answers for a name it must not merge: a surname or given name
#: that another person's full name shares (the record becomes an asset of its own, for review).
AMBIGUOUS = -1


class AssetIndex:
    """Look-up tables over assets, kept current as assets are added."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._key: dict[tuple[str, str], int] = {}
        self._alias: dict[tuple[str, str], int] = {}
        #: character name without titles → (asset, its title): DR. SMITH is SMITH, not MRS. SMITH
        self._bare: dict[str, set[tuple[int, str]]] = defaultdict(set)
        self._part: dict[str, set[int]] = defaultdict(set)  # first/last token of multi-token names
        self._single: dict[str, set[int]] = defaultdict(set)  # single-token character keys
        #: every multi-token name an asset goes by, as token sets: TOMMY OKAFOR is not SAM OKAFOR
        self._full: dict[int, set[frozenset[str]]] = defaultdict(set)
        #: fuzzy candidates blocked by (type, digits in the name, length): a match needs equal
        #: digits, and a ratio ≥ t needs lengths within a factor (2 - t) / t of each other.
        self._blocks: dict[tuple[str, tuple[str, ...], int], tuple[list[str], list[int]]] = {}
        self._cjk_name: dict[str, set[int]] = defaultdict(set)  # Chinese character names
        self._cjk_suffix: dict[str, set[int]] = defaultdict(set)  # their suffixes of 2+ characters

    def add(self, index: int, kind: str, key: str, aliases: Iterable[str] = ()) -> None:
        """Index an asset under its key and aliases."""
        self._key.setdefault((kind, key), index)
        self._add_form(index, kind, key)
        keys, owners = self._blocks.setdefault((kind, tuple(_DIGITS.findall(key)), len(key)), ([], []))
        keys.append(key)
        owners.append(index)
        for alias in aliases:
            self.add_alias(index, kind, normalize_name(alias))

    def add_alias(self, index: int, kind: str, alias_key: str) -> None:
        """Index one more name for an asset."""
        if alias_key and (kind, alias_key) not in self._key:
            self._alias.setdefault((kind, alias_key), index)
            self._add_form(index, kind, alias_key)

    def _add_form(self, index: int, kind: str, key: str) -> None:
        if kind != "character":
            return
        if _CJK.search(key):
            self._cjk_name[key].add(index)
            for start in range(len(key) - 1):
                self._cjk_suffix[key[start:]].add(index)
            return
        title, bare = split_honorific(key)
        self._bare[bare].add((index, title))
        tokens = bare.split(" ")
        if len(tokens) > 1:
            if not distinct_role(tokens):
                for part in {tokens[0], tokens[-1]} - ROLE_NOUNS:
                    self._part[part].add(index)
            self._full[index].add(frozenset(tokens))
        else:
            self._single[tokens[0]].add(index)

    def match(self, kind: str, key: str, aliases: Iterable[str] = ()) -> Match | None:
        """Find the asset a name belongs to, by the module's rules in order."""
        if (hit := self._key.get((kind, key))) is not None:
            return Match(hit, "exact", 1.0)
        for form in (key, *(normalize_name(a) for a in aliases)):
            hit = self._key.get((kind, form), self._alias.get((kind, form)))
            if hit is not None:
                return Match(hit, "alias", 1.0)
        if kind == "character":
            full = {
                frozenset(bare.split(" "))
                for form in (key, *(normalize_name(a) for a in aliases))
                if " " in (bare := split_honorific(form)[1])
            }
            hit = self._character_rule(key, full)
            if hit == AMBIGUOUS:
                return Match(AMBIGUOUS, "ambiguous", 0.0)
            if hit is not None:
                return Match(hit, "alias", 1.0)
        return self._fuzzy(kind, key)

    def _other_person(self, full: Collection[frozenset[str]], candidate: int) -> bool:
        """Whether the full names a record goes by rule out ``candidate``: SAM OKAFOR (cue OKAFOR) is
        not TOMMY OKAFOR, though both end in OKAFOR; DETECTIVE SAM OKAFOR is SAM OKAFOR."""
        theirs = self._full.get(candidate)
        if not full or not theirs:
            return False
        return not any(mine <= other or other <= mine for mine in full for other in theirs)

    def _character_rule(self, key: str, full: Collection[frozenset[str]] = ()) -> int | None:
        if _CJK.search(key):
            if len(key) < 2:
                return None
            # 秘书小唐 names 小唐, and 小唐 names 秘书小唐: one ends with the other.
            found = set(self._cjk_suffix.get(key, set()))
            for start in range(1, len(key) - 1):
                found |= self._cjk_name.get(key[start:], set())
            return found.pop() if len(found) == 1 else None
        title, bare = split_honorific(key)
        tokens = bare.split(" ")
        same_person = {i for i, t in self._bare.get(bare, set()) if not t or not title or t == title}
        if distinct_role(tokens) or bare in ROLE_NOUNS:
            return next(iter(same_person)) if len(same_person) == 1 else None
        parts = self._part.get(bare, set()) if len(tokens) == 1 else set()
        if parts and not (parts := {c for c in parts if not self._other_person(full, c)}):
            return AMBIGUOUS  # the name is part of another person's full name, not this one's
        for candidates in (
            same_person,
            parts,
            set().union(*(self._single.get(t, set()) for t in {tokens[0], tokens[-1]} - ROLE_NOUNS))
            if len(tokens) > 1
            else set(),
        ):
            if len(candidates) == 1:
                return next(iter(candidates))
        return None

    def _fuzzy(self, kind: str, key: str) -> Match | None:
        threshold = self.policy.thresholds.get(kind)
        if threshold is None or len(key) < self.policy.min_fuzzy_len:
            return None
        t = threshold / 100
        digits = tuple(_DIGITS.findall(key))
        best: Match | None = None
        for length in range(
            max(self.policy.min_fuzzy_len, int(len(key) * t / (2 - t))), int(len(key) * (2 - t) / t) + 1
        ):
            block = self._blocks.get((kind, digits, length))
            if block is None:
                continue
            keys, owners = block
            cutoff = max(threshold, best.score * 100 if best else 0.0)
            for choice, score, position in process.extract(
                key, keys, scorer=fuzz.ratio, score_cutoff=cutoff, limit=3
            ):
                if (best is None or score > best.score * 100) and _compatible(kind, key, choice):
                    best = Match(owners[position], "fuzzy", round(score / 100, 4))
        return best


def _compatible(kind: str, a: str, b: str) -> bool:
    """Guard on a fuzzy match (numbers are equal by blocking): MR. JONES is not MRS. JONES."""
    return kind != "character" or split_honorific(a)[0] == split_honorific(b)[0]
