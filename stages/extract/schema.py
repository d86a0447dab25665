"""What an LLM must answer for one chunk: a pydantic model, its JSON schema, and its checks.

The answer lists each character, prop and location once with the scenes it is present in;
:func:`to_mentions` turns it into the same :class:`~stages.drafts.Mention` records the rules
extractor produces, so dedup, storyboard and report do not care who extracted. Bump
:data:`SCHEMA_VERSION` with any change here: it is part of the cache key.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stages.drafts import Mention

SCHEMA_VERSION = "1"


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class ScenePresence(_Out):
    scene: int = Field(description="The scene number, as given in the scene's header.")
    dialogue_lines: int = Field(0, ge=0, description="How many lines of dialogue the character speaks there.")


class CharacterOut(_Out):
    name: str = Field(min_length=1, max_length=200, description="The name the script uses most.")
    aliases: list[str] = Field(default_factory=list, description="Other names, nicknames, titles.")
    description: str | None = Field(None, description="What the script says about them, briefly.")
    gender: Literal["male", "female", "other", "unknown"] | None = None
    age: str | None = Field(None, description="Their age as the script states it.")
    scenes: list[ScenePresence] = Field(min_length=1)


class PropOut(_Out):
    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list)
    scenes: list[int] = Field(min_length=1)


class LocationOut(_Out):
    name: str = Field(min_length=1, max_length=200)
    scenes: list[int] = Field(min_length=1)


class ExtractionOut(_Out):
    """Every character, prop and location present in the chunk's scenes."""

    characters: list[CharacterOut] = Field(default_factory=list)
    props: list[PropOut] = Field(default_factory=list)
    locations: list[LocationOut] = Field(default_factory=list)


@cache
def json_schema() -> dict[str, Any]:
    """The answer's JSON schema, as sent in ``response_format`` (built once; do not modify)."""
    return ExtractionOut.model_json_schema()


@cache
def json_schema_text() -> str:
    """The schema as compact JSON, for the prompt."""
    return json.dumps(json_schema(), ensure_ascii=False, separators=(",", ":"))


class AnswerError(ValueError):
    """The answer does not fit the schema or names scenes outside the chunk."""


def validate_answer(value: Any, scene_numbers: Collection[int]) -> ExtractionOut:
    """Check a parsed answer against the schema and the chunk's scene numbers.

    Raises:
        AnswerError: with a message short enough to quote back to the model in a repair request.
    """
    try:
        out = ExtractionOut.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:8]
        )
        raise AnswerError(problems) from None
    allowed = set(scene_numbers)
    used = {p.scene for c in out.characters for p in c.scenes}
    used |= {n for prop in out.props for n in prop.scenes}
    used |= {n for loc in out.locations for n in loc.scenes}
    unknown = sorted(used - allowed)
    if unknown:
        raise AnswerError(f"scenes {unknown} are not in this chunk; use only {sorted(allowed)}")
    return out


def to_mentions(out: ExtractionOut) -> list[Mention]:
    """One mention per asset and scene, ordered by scene, then characters, locations, props."""
    mentions: list[tuple[int, int, Mention]] = []
    for order, c in enumerate(out.characters):
        attrs: dict[str, Any] = {"aliases": [a for a in c.aliases if a and a != c.name]}
        for key in ("description", "age"):
            if getattr(c, key):
                attrs[key] = getattr(c, key)
        if c.gender in ("male", "female"):
            attrs["gender"] = c.gender
        for p in _unique_scenes(c.scenes):
            mentions.append(
                (
                    p.scene,
                    order,
                    Mention("character", c.name, p.scene, {**attrs, "dialogue_lines": p.dialogue_lines}),
                )
            )
    base = len(out.characters)
    for order, loc in enumerate(out.locations):
        for n in sorted(set(loc.scenes)):
            mentions.append((n, base + order, Mention("location", loc.name, n, {})))
    base += len(out.locations)
    for order, prop in enumerate(out.props):
        aliases = [a for a in prop.aliases if a and a != prop.name]
        for n in sorted(set(prop.scenes)):
            mentions.append((n, base + order, Mention("prop", prop.name, n, {"aliases": aliases})))
    mentions.sort(key=lambda item: (item[0], item[1]))
    return [m for _, _, m in mentions]


def _unique_scenes(scenes: Sequence[ScenePresence]) -> list[ScenePresence]:
    by_scene: dict[int, ScenePresence] = {}
    for p in scenes:
        seen = by_scene.get(p.scene)
        if seen is None or p.dialogue_lines > seen.dialogue_lines:
            by_scene[p.scene] = p
    return [by_scene[n] for n in sorted(by_scene)]


def from_mentions(mentions: Sequence[Mention]) -> ExtractionOut:
    """The answer a perfect model would give for these mentions (the fake LLM server's answers)."""
    characters: dict[str, dict[str, Any]] = {}
    props: dict[str, dict[str, Any]] = {}
    locations: dict[str, list[int]] = {}
    for m in mentions:
        a = m.attributes
        if m.asset_type == "character":
            c = characters.setdefault(m.name, {"name": m.name, "aliases": [], "scenes": []})
            for alias in a.get("aliases") or ():
                if alias not in c["aliases"]:
                    c["aliases"].append(alias)
            for key in ("description", "gender", "age"):
                if a.get(key) and key not in c:
                    c[key] = a[key]
            c["scenes"].append({"scene": m.scene_number, "dialogue_lines": int(a.get("dialogue_lines") or 0)})
        elif m.asset_type == "prop":
            p = props.setdefault(
                m.name, {"name": m.name, "aliases": list(a.get("aliases") or ()), "scenes": []}
            )
            p["scenes"].append(m.scene_number)
        else:
            locations.setdefault(m.name, []).append(m.scene_number)
    return ExtractionOut.model_validate(
        {
            "characters": list(characters.values()),
            "props": list(props.values()),
            "locations": [{"name": n, "scenes": s} for n, s in locations.items()],
        }
    )
