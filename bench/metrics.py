"""Breakdown quality metrics: score a Juben report against a hand-made truth file (pure functions).

A truth file (``examples/<script>.truth.json``, or ``bench/truth/*.truth.json`` for the
development corpus) holds ``scenes`` (number, location, characters), ``characters`` (name,
aliases) and, optionally, ``props`` (name, alternatives). :func:`score_report` compares a report
dict (the shape ``stages.report`` documents) with it and returns one :class:`Score` per metric
group: scenes, characters, membership, props. A truth file without a ``props`` key has not had
its props annotated: its props score is ``None`` (not scored), not a zero.

Every count is kept (not only the ratios) so that scores add up into a micro-average with ``+``;
:func:`macro_average` is the other view, the mean of per-script ratios.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from stages.screenplay.props import singular

#: The metric groups, in table order.
GROUPS = ("scenes", "characters", "membership", "props")
#: Shortest contained name that still counts as a prop match ("bag" in "duffel bag", "手机" in "旧手机").
MIN_CONTAINED = 2
_SPACE = re.compile(r"\s+")
_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = re.compile(f"[{_CJK_CLASS}]")
#: A space between two CJK characters: padding inside a name (``工 头``), never a word break.
_CJK_GAP = re.compile(f"(?<=[{_CJK_CLASS}]) (?=[{_CJK_CLASS}])")


def normalise(text: str) -> str:
    """NFKC, casefold and collapse whitespace, so "Ｄr.  Pike" and "DR. PIKE" compare equal.

    Chinese scripts pad short cue names to line them up (``工 头``, ``青 莲``); Chinese does not
    separate words with spaces, so a space between two CJK characters is dropped and ``工 头``
    compares equal to ``工头``.

    >>> normalise("  Ｄr.\\tPike ")
    'dr. pike'
    >>> normalise("工　头")
    '工头'
    """
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return _CJK_GAP.sub("", text)


@dataclass(frozen=True)
class Score:
    """Counts for one metric group: predicted items that hit, and truth items that were found.

    Precision is ``predicted_hits / predicted``, recall ``truth_hits / truth``. With nothing on
    one side the ratio is 1.0 when the other side is empty too (nothing to find, nothing
    claimed) and 0.0 otherwise.
    """

    predicted_hits: int = 0
    predicted: int = 0
    truth_hits: int = 0
    truth: int = 0

    def __add__(self, other: Score) -> Score:
        return Score(
            self.predicted_hits + other.predicted_hits,
            self.predicted + other.predicted,
            self.truth_hits + other.truth_hits,
            self.truth + other.truth,
        )

    @property
    def precision(self) -> float:
        """Share of predicted items that are right."""
        return _ratio(self.predicted_hits, self.predicted, self.truth)

    @property
    def recall(self) -> float:
        """Share of truth items that were found."""
        return _ratio(self.truth_hits, self.truth, self.predicted)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (0.0 when both are 0)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        """Ratios rounded to 4 places, plus the raw counts."""
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "predicted_hits": self.predicted_hits,
            "predicted": self.predicted,
            "truth_hits": self.truth_hits,
            "truth": self.truth,
        }


def _ratio(hits: int, total: int, other_side: int) -> float:
    if total:
        return hits / total
    return 1.0 if other_side == 0 else 0.0


#: Punctuation that only separates the parts of a location (after NFKC): brackets, slashes,
#: dashes, list commas. ``车间（二楼）``, ``车间/二楼`` and ``车间 二楼`` name the same place.
_LOCATION_SEPARATORS = re.compile(r"[\s()\[\]【】〔〕/\\、,\-‐‑–—―]+")


def location_key(text: str) -> str:
    """A location as scenes are paired by it: :func:`normalise`, separators folded to nothing.

    Only the words of the place count, not how the heading punctuates its parts: a report that
    writes ``车间 二楼`` for the heading's ``车间（二楼）``, or ``HOUSE BEDROOM`` for
    ``HOUSE - BEDROOM``, names the same place. A word more or less (a time of day left in,
    a sub-location dropped) still makes a different location.

    >>> location_key("车间（二楼）") == location_key("车间 二楼")
    True
    >>> location_key("HELEN'S HOUSE - BEDROOM")
    "helen's house bedroom"
    >>> location_key("王家院内——日外") == location_key("王家院内")
    False
    """
    return normalise(_LOCATION_SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text)))


def align_scenes(predicted: Sequence[str], truth: Sequence[str]) -> list[tuple[int, int]]:
    """Pair predicted scenes with truth scenes by their location sequence.

    Locations are compared by :func:`location_key` (normalised, separators folded); the pairs
    are difflib's matching blocks, so the pairing keeps reading order and a scene split or merge
    costs only the scenes around it.

    Returns:
        (predicted index, truth index) pairs, in order.
    """
    matcher = SequenceMatcher(
        None, [location_key(x) for x in predicted], [location_key(x) for x in truth], autojunk=False
    )
    return [(block.a + k, block.b + k) for block in matcher.get_matching_blocks() for k in range(block.size)]


def name_keys(name: str, aliases: Iterable[str] = ()) -> set[str]:
    """Every normalised name a character goes by (empty names dropped)."""
    return {key for key in (normalise(n) for n in (name, *aliases)) if key}


def match_characters(
    predicted: Sequence[Mapping[str, Any]], truth: Sequence[Mapping[str, Any]]
) -> dict[int, int]:
    """Match predicted characters to truth characters, each at most once on either side.

    Two characters match when a name or alias of one equals a name or alias of the other
    (normalised). Name-to-name matches are taken first, then any alias overlap, in list order.

    Returns:
        predicted index → truth index.
    """
    pred_keys = [name_keys(c["name"], c.get("aliases") or ()) for c in predicted]
    truth_keys = [name_keys(c["name"], c.get("aliases") or ()) for c in truth]
    pred_names = [normalise(c["name"]) for c in predicted]
    truth_names = [normalise(c["name"]) for c in truth]
    matched: dict[int, int] = {}
    taken: set[int] = set()
    for same_name in (True, False):
        for i, keys in enumerate(pred_keys):
            if i in matched:
                continue
            for j, other in enumerate(truth_keys):
                if j in taken:
                    continue
                if (pred_names[i] == truth_names[j]) if same_name else (keys & other):
                    matched[i] = j
                    taken.add(j)
                    break
    return matched


def resolve_name(name: str, characters: Sequence[Mapping[str, Any]]) -> int | None:
    """Index of the character that goes by ``name`` (its name first, then an alias), or None."""
    key = normalise(name)
    for i, character in enumerate(characters):
        if normalise(character["name"]) == key:
            return i
    for i, character in enumerate(characters):
        if key in name_keys(character["name"], character.get("aliases") or ()):
            return i
    return None


def truth_membership(truth: Mapping[str, Any]) -> set[tuple[object, int]]:
    """(character, scene number) pairs of a truth file; a name outside its cast keys by itself."""
    pairs: set[tuple[object, int]] = set()
    for scene in truth["scenes"]:
        for name in scene.get("characters") or ():
            index = resolve_name(name, truth["characters"])
            pairs.add((index if index is not None else ("?", normalise(name)), int(scene["number"])))
    return pairs


def predicted_membership(
    report: Mapping[str, Any],
    truth: Mapping[str, Any],
    characters: Mapping[int, int],
    scenes: Sequence[tuple[int, int]],
) -> set[tuple[object, object]]:
    """A report's (character, scene) pairs expressed in the truth's terms where they map.

    A pair whose character or scene has no truth counterpart gets a key no truth pair has, so
    it counts against precision. Scene membership is the union of ``scenes[].characters`` and
    ``characters[].scenes``.
    """
    pred_scenes = list(report.get("scenes") or ())
    pred_chars = list(report.get("characters") or ())
    scene_map: dict[object, object] = {
        pred_scenes[i]["number"]: int(truth["scenes"][j]["number"]) for i, j in scenes
    }
    raw: set[tuple[object, object]] = set()
    for scene in pred_scenes:
        for name in scene.get("characters") or ():
            index = resolve_name(name, pred_chars)
            raw.add((index if index is not None else ("?", normalise(name)), scene["number"]))
    for index, character in enumerate(pred_chars):
        raw.update((index, number) for number in character.get("scenes") or ())
    return {
        (
            characters[who] if isinstance(who, int) and who in characters else ("pred", who),
            scene_map.get(number, ("pred", number)),
        )
        for who, number in raw
    }


def _contains(longer: str, shorter: str) -> bool:
    if len(shorter) < MIN_CONTAINED or len(longer) <= len(shorter):
        return False
    if _CJK.search(shorter):
        return shorter in longer
    return re.search(rf"(?<!\w){re.escape(shorter)}(?!\w)", longer) is not None


def _singular_words(text: str) -> str:
    """Each English word of a prop name in the singular (the extractor writes props that way)."""
    return " ".join(singular(word) if word.isascii() and word.isalpha() else word for word in text.split(" "))


def prop_matches(predicted: str, forms: Iterable[str]) -> bool:
    """Whether a predicted prop name is one of a truth prop's forms.

    Equal after normalising (English words singular: "papers" is "paper"), or one contains the
    other as a whole word (a CJK substring for Chinese) of at least :data:`MIN_CONTAINED`
    characters: "revolver" matches "old revolver".

    >>> prop_matches("paper", ["papers"]), prop_matches("revolver", ["old revolver"]), prop_matches("cup", ["cap"])
    (True, True, False)
    """
    name = _singular_words(normalise(predicted))
    for form in (_singular_words(normalise(f)) for f in forms):
        if name == form or _contains(name, form) or _contains(form, name):
            return True
    return False


def score_props(predicted: Iterable[str], truth: Sequence[Mapping[str, Any]]) -> Score:
    """Props: precision over distinct predicted names, recall over truth props."""
    names = sorted({normalise(n) for n in predicted if normalise(n)})
    forms = [[t["name"], *(t.get("alternatives") or ())] for t in truth]
    pred_hits = sum(1 for n in names if any(prop_matches(n, f) for f in forms))
    truth_hits = sum(1 for f in forms if any(prop_matches(n, f) for n in names))
    return Score(pred_hits, len(names), truth_hits, len(forms))


def props_annotated(truth: Mapping[str, Any]) -> bool:
    """Whether a truth file lists props at all (a ``props`` key, even an empty list)."""
    return "props" in truth


def score_report(report: Mapping[str, Any], truth: Mapping[str, Any]) -> dict[str, Score | None]:
    """Score one report against its truth file.

    Returns:
        One :class:`Score` per name in :data:`GROUPS`; ``props`` is ``None`` (not scored) when
        the truth file has no ``props`` key, see :func:`props_annotated`.
    """
    pred_scenes = list(report.get("scenes") or ())
    pred_chars = list(report.get("characters") or ())
    aligned = align_scenes(
        [s.get("location") or "" for s in pred_scenes], [s["location"] for s in truth["scenes"]]
    )
    matched = match_characters(pred_chars, truth["characters"])
    truth_pairs = truth_membership(truth)
    pred_pairs = predicted_membership(report, truth, matched, aligned)
    pair_hits = len(pred_pairs & truth_pairs)
    return {
        "scenes": Score(len(aligned), len(pred_scenes), len(aligned), len(truth["scenes"])),
        "characters": Score(len(matched), len(pred_chars), len(matched), len(truth["characters"])),
        "membership": Score(pair_hits, len(pred_pairs), pair_hits, len(truth_pairs)),
        "props": (
            score_props((p["name"] for p in report.get("props") or ()), truth["props"] or ())
            if props_annotated(truth)
            else None
        ),
    }


@dataclass(frozen=True)
class Macro:
    """Mean of per-script ratios for one metric group (the view the issue's targets use).

    Every script weighs the same, however many scenes or characters it has; a script that does
    not score the group (props not annotated) is left out of the mean, not counted as zero.
    """

    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    scripts: int = 0

    def as_dict(self) -> dict[str, float | int]:
        """Ratios rounded to 4 places, plus how many scripts were averaged."""
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "scripts": self.scripts,
        }


def macro_average(scores: Iterable[Score | None]) -> Macro | None:
    """Mean precision, recall and F1 over the scripts that scored a group; None if none did."""
    scored = [s for s in scores if s is not None]
    if not scored:
        return None
    n = len(scored)
    return Macro(
        sum(s.precision for s in scored) / n,
        sum(s.recall for s in scored) / n,
        sum(s.f1 for s in scored) / n,
        n,
    )


def micro_total(scores: Iterable[Score | None]) -> Score | None:
    """The counts of the scripts that scored a group, added up; None if none did."""
    scored = [s for s in scores if s is not None]
    return sum(scored, Score()) if scored else None


def check_truth(truth: Mapping[str, Any]) -> list[str]:
    """Problems in a truth file.

    Scene numbers not 1..N, a scene character missing from the cast, a name or alias that two
    characters share.
    """
    problems = []
    numbers = [int(s["number"]) for s in truth["scenes"]]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append("scene numbers are not 1..N in reading order")
    for scene in truth["scenes"]:
        for name in scene.get("characters") or ():
            if resolve_name(name, truth["characters"]) is None:
                problems.append(f"scene {scene['number']}: {name!r} is not in characters")
    owners: dict[str, str] = {}
    for character in truth["characters"]:
        for key in name_keys(character["name"], character.get("aliases") or ()):
            if owners.setdefault(key, character["name"]) != character["name"]:
                problems.append(f"{key!r} names both {owners[key]!r} and {character['name']!r}")
    return problems


def explain_report(report: Mapping[str, Any], truth: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """What :func:`score_report` counted as wrong, readable: per group, ``extra`` and ``missed`` items.

    ``extra`` are predicted items with no truth counterpart, ``missed`` truth items nobody found.
    Membership pairs read ``NAME@scene`` (truth scene numbers; ``?n`` is an unaligned predicted scene).
    Props are listed only when the truth file annotates them (:func:`props_annotated`).
    """
    pred_scenes = list(report.get("scenes") or ())
    pred_chars = list(report.get("characters") or ())
    aligned = align_scenes(
        [s.get("location") or "" for s in pred_scenes], [s["location"] for s in truth["scenes"]]
    )
    matched = match_characters(pred_chars, truth["characters"])
    seen_pred, seen_truth = {i for i, _ in aligned}, {j for _, j in aligned}
    truth_pairs = truth_membership(truth)
    pred_pairs = predicted_membership(report, truth, matched, aligned)

    def pair_name(pair: tuple[object, object]) -> str:
        who, where = pair
        if isinstance(who, int):
            name = truth["characters"][who]["name"]
        elif isinstance(who, tuple) and who[0] == "pred" and isinstance(who[1], int):
            name = pred_chars[who[1]]["name"]
        else:
            name = str(who[-1]) if isinstance(who, tuple) else str(who)
        scene = f"?{where[1]}" if isinstance(where, tuple) else str(where)
        return f"{name}@{scene}"

    forms = [[t["name"], *(t.get("alternatives") or ())] for t in truth.get("props") or ()]
    names = sorted({normalise(p["name"]) for p in report.get("props") or ()} - {""})
    if not props_annotated(truth):
        names = []
    return {
        "scenes": {
            "extra": [
                f"{s['number']}: {s.get('location')}" for i, s in enumerate(pred_scenes) if i not in seen_pred
            ],
            "missed": [
                f"{s['number']}: {s['location']}"
                for j, s in enumerate(truth["scenes"])
                if j not in seen_truth
            ],
        },
        "characters": {
            "extra": [c["name"] for i, c in enumerate(pred_chars) if i not in matched],
            "missed": [
                c["name"] for j, c in enumerate(truth["characters"]) if j not in set(matched.values())
            ],
        },
        "membership": {
            "extra": sorted(pair_name(p) for p in pred_pairs - truth_pairs),
            "missed": sorted(pair_name(p) for p in truth_pairs - pred_pairs),
        },
        "props": {
            "extra": [n for n in names if not any(prop_matches(n, f) for f in forms)],
            "missed": [f[0] for f in forms if not any(prop_matches(n, f) for n in names)],
        },
    }
