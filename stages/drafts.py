"""The plain data that stage pure cores take and return (no I/O, no ORM).

Pure cores turn text into these drafts; the actor shells turn drafts into rows. Keeping the
contract here lets the parsers, the extractor, the storyboard planner and the report be tested
without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: ``background``: extras, groups on set that are not cast (THE CROWD, 众人).
AssetType = Literal["character", "location", "prop", "background"]
IntExt = Literal["INT", "EXT", "INT/EXT"]


@dataclass(frozen=True)
class SourceSpan:
    """One submitted file inside the job's text: ``text[start:end]`` came from ``name``."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class EpisodeDraft:
    """An episode: ``number`` counts from 1 in reading order; offsets index the job's text."""

    number: int
    title: str | None
    start: int
    end: int


@dataclass(frozen=True)
class SceneDraft:
    """A scene: ``number`` is its position in the whole script, from 1, in reading order.

    ``start``/``end`` index the job's text; scenes of one script are contiguous and ordered.
    ``heading`` is the heading line as written (empty for text before any heading).
    """

    number: int
    episode: int
    heading: str
    int_ext: IntExt | None
    time: str | None
    location: str | None
    start: int
    end: int
    #: Characters the heading block lists (Chinese ``人物：`` lines), in order.
    listed_characters: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChunkDraft:
    """A slice of the text for one extract message: ``text[start:end]``.

    Chunks follow scene boundaries; a scene longer than the budget is cut at paragraph breaks,
    so a chunk may hold part of a scene. ``first_scene``/``last_scene`` are scene numbers.
    """

    number: int
    start: int
    end: int
    first_scene: int
    last_scene: int


@dataclass(frozen=True)
class SceneSlice:
    """The part of one scene that lies inside a chunk, as handed to an extractor."""

    scene_number: int
    heading: str
    location: str | None
    text: str
    listed_characters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mention:
    """One asset seen in one scene (an extraction record before it is saved).

    ``attributes`` carries what the extractor learnt, with these keys when known:
    ``dialogue_lines`` (int), ``aliases`` (list[str]), ``description``, ``gender``, ``age`` (str).
    """

    asset_type: AssetType
    name: str
    scene_number: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShotDraft:
    """One planned shot of a scene; ``characters``/``props`` are canonical asset names."""

    number: int
    type: str
    description: str
    characters: tuple[str, ...] = ()
    props: tuple[str, ...] = ()
