"""Stage 2, chunk: pack whole scenes into extract-sized chunks of the script text."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import dramatiq
from sqlalchemy import ColumnElement, Table

from models import Chunk, Episode, Scene, ScriptContent
from pipeline.broker import actor_options
from pipeline.errors import InputError
from pipeline.runner import run_stage
from pipeline.settings import ExtractSettings, get_settings
from pipeline.stageio import Insert, JobColumns, StageIO, Value
from pipeline.states import STAGES
from pipeline.transitions import ClaimedJob
from stages.drafts import ChunkDraft, EpisodeDraft, SceneDraft, SceneSlice, SourceSpan
from stages.screenplay import find_sketches, parse_structure
from stages.screenplay.verdict import missing_script_parts

#: A paragraph break: a line break, an optional whitespace-only line content, a line break.
PARAGRAPH_BREAK_RE = re.compile(r"\n[ \t\r\f\v\u3000]*\n")


def _cut_point(text: str, start: int, limit: int) -> int:
    """Where to end a piece that starts at ``start`` and may not pass ``limit``."""
    best = -1
    for match in PARAGRAPH_BREAK_RE.finditer(text, start, limit):
        best = match.end()
    if best > start:
        return best
    line_break = text.rfind("\n", start, limit)
    if line_break >= start and line_break + 1 > start:
        return line_break + 1
    return limit


def split_into_chunks(text: str, scenes: Sequence[SceneDraft], *, max_chars: int) -> list[ChunkDraft]:
    """Pack consecutive whole scenes into chunks of at most ``max_chars`` characters.

    A scene longer than ``max_chars`` is cut at the last paragraph break (blank line) that
    fits, else the last line break, else hard at ``max_chars``; the rest of it opens the next
    chunk, which later whole scenes may join.

    Args:
        text: The script text the scenes index.
        scenes: The scenes in order (contiguous, as ``parse_structure`` returns them).
        max_chars: The most characters one chunk may hold (at least 1).

    Returns:
        Chunks numbered from 1 that cover ``text[scenes[0].start:scenes[-1].end]`` once, in
        order; ``first_scene``/``last_scene`` are scene numbers. No scenes give ``[]``.

    Raises:
        ValueError: If ``max_chars`` is less than 1.

    >>> from stages.drafts import SceneDraft
    >>> text = "A\\nx\\n\\nB\\ny\\n\\nC\\nz\\n"
    >>> scenes = [SceneDraft(n, 1, "", None, None, None, 5 * n - 5, 5 * n) for n in (1, 2, 3)]
    >>> chunks = split_into_chunks(text, scenes, max_chars=10)
    >>> [(c.number, c.start, c.end, c.first_scene, c.last_scene) for c in chunks]
    [(1, 0, 10, 1, 2), (2, 10, 15, 3, 3)]
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    chunks: list[ChunkDraft] = []
    start = first = last = -1
    end = 0
    for scene in scenes:
        if start >= 0 and scene.end - start <= max_chars:
            end, last = scene.end, scene.number
            continue
        if start >= 0:
            chunks.append(ChunkDraft(len(chunks) + 1, start, end, first, last))
        position = scene.start
        while scene.end - position > max_chars:
            cut = _cut_point(text, position, position + max_chars)
            chunks.append(ChunkDraft(len(chunks) + 1, position, cut, scene.number, scene.number))
            position = cut
        start, end, first, last = position, scene.end, scene.number, scene.number
    if start >= 0:
        chunks.append(ChunkDraft(len(chunks) + 1, start, end, first, last))
    return chunks


# --- actor shell: claim → parse + split → replace episodes/scenes/chunks → advance -----------------

CHUNK = "chunk"


@dataclass(frozen=True)
class Structure:
    episodes: list[EpisodeDraft]
    scenes: list[SceneDraft]
    chunks: list[ChunkDraft]
    hashes: list[str]
    #: Character sketches of the front matter (人物小传), handed to every extract chunk.
    sketches: str = ""
    #: The script's main characters (``NAME (alias, …)``), named in every LLM chunk prompt.
    roster: tuple[str, ...] = ()


#: Tokens of an extract prompt besides the script text: instructions, JSON schema, roster.
PROMPT_OVERHEAD_TOKENS = 2500


def llm_chunk_chars(settings: ExtractSettings, language: str | None) -> int:
    """The most script characters one LLM chunk may hold inside the model's context window.

    The window holds the prompt (overhead + text) and the answer (``max_tokens``); Chinese runs
    about one token per character, English about 3.5 characters per token.
    """
    tokens = settings.context_tokens - settings.max_tokens - PROMPT_OVERHEAD_TOKENS
    return max(200, int(tokens * (1.0 if language == "zh" else 3.5)))


def cast_roster(
    text: str, scenes: Sequence[SceneDraft], sketches: str, language: str | None, size: int
) -> tuple[str, ...]:
    """The ``size`` characters the rules extractor finds most present, with their aliases.

    Every LLM chunk's prompt names them, so the model calls one person by one name across chunks
    that are extracted in parallel. Deterministic, so unchanged scripts keep their cache hits.
    """
    if size <= 0 or not scenes:
        return ()
    from stages.extract.rules import extract_rules

    slices = [
        SceneSlice(s.number, s.heading, s.location, text[s.start : s.end], tuple(s.listed_characters))
        for s in scenes
    ]
    weight: Counter[str] = Counter()
    aliases: dict[str, list[str]] = {}
    for m in extract_rules(slices, language=language or "", sketches=sketches):
        if m.asset_type == "character":
            weight[m.name] += 1 + int(m.attributes.get("dialogue_lines") or 0)
            known = aliases.setdefault(m.name, [])
            known.extend(a for a in m.attributes.get("aliases") or () if a not in known and a != m.name)
    top = sorted(weight, key=lambda n: (-weight[n], n))[:size]
    return tuple(f"{n} ({', '.join(aliases[n][:5])})" if aliases[n] else n for n in top)


def find_structure(
    text: str,
    sources: Sequence[SourceSpan],
    *,
    max_chars: int,
    roster_size: int = 0,
    language: str | None = None,
) -> Structure:
    """Episodes, scenes and scene-aligned chunks of a script, with each chunk's content hash.

    ``roster_size`` > 0 (the LLM path) also finds the cast roster every chunk prompt names.

    Raises:
        InputError: the text (or one of its files) is not a script: no heading, cue or cast.
    """
    episodes, scenes = parse_structure(text, sources)
    if (missing := missing_script_parts(text, scenes, sources)) is not None:
        raise InputError(f"not a script, or in a form Juben does not read yet: {missing}")
    chunks = split_into_chunks(text, scenes, max_chars=max_chars)
    hashes = [hashlib.sha256(text[c.start : c.end].encode("utf-8")).hexdigest() for c in chunks]
    sketches = find_sketches(text)
    roster = cast_roster(text, scenes, sketches, language, roster_size)
    return Structure(episodes, scenes, chunks, hashes, sketches, roster)


@dataclass(frozen=True)
class _Inputs:
    text: str
    sources: list[SourceSpan]
    max_chars: int
    roster_size: int
    language: str | None


_CHUNKS, _SCENES, _EPISODES = (cast(Table, m.__table__) for m in (Chunk, Scene, Episode))
_EPISODE_COLUMNS = ("number", "title", "start", "end")
_SCENE_COLUMNS = (
    "episode", "number", "heading", "int_ext", "time", "location", "start", "end", "listed_characters",
)  # fmt: skip
_CHUNK_COLUMNS = ("number", "start", "end", "first_scene", "last_scene", "content_hash")


def _of_job(job: JobColumns) -> ColumnElement[bool]:
    return ScriptContent.job_id == job.id


#: Reads the stored script; writes its episodes, scenes and chunks.
IO = StageIO(
    reads={
        "text": Value(ScriptContent.text, where=_of_job),
        "sources": Value(ScriptContent.sources, where=_of_job),
    },
    writes=(
        Insert(_EPISODES, _EPISODE_COLUMNS),
        Insert(_SCENES, _SCENE_COLUMNS),
        Insert(_CHUNKS, _CHUNK_COLUMNS),
    ),
)


def _load(job: ClaimedJob, inputs: dict[str, Any]) -> _Inputs:
    sources = [SourceSpan(s["name"], s["start"], s["end"]) for s in inputs["sources"]]
    ex = get_settings().extract
    options = job.options or {}
    max_chars = int(options.get("max_chunk_chars") or ex.max_chunk_chars)
    roster_size = 0
    if (options.get("provider") or ex.provider) != "rules":
        max_chars = min(max_chars, llm_chunk_chars(ex, job.language))
        roster_size = ex.roster_size
    return _Inputs(inputs["text"], sources, max_chars, roster_size, job.language)


def _compute(inputs: _Inputs) -> Structure:
    return find_structure(
        inputs.text,
        inputs.sources,
        max_chars=inputs.max_chars,
        roster_size=inputs.roster_size,
        language=inputs.language,
    )


def _rows(job: ClaimedJob, out: Structure) -> dict[str, list[tuple[Any, ...]]]:
    """The structure's rows per table, in the order of :data:`IO`'s columns."""
    return {
        "episodes": [(e.number, e.title, e.start, e.end) for e in out.episodes],
        "scenes": [
            (s.episode, s.number, s.heading, s.int_ext, s.time, s.location, s.start, s.end, list(s.listed_characters))
            for s in out.scenes
        ],
        "chunks": [
            (c.number, c.start, c.end, c.first_scene, c.last_scene, h)
            for c, h in zip(out.chunks, out.hashes, strict=True)
        ],
    }  # fmt: skip


def _job_values(job: ClaimedJob, out: Structure) -> dict[str, Any]:
    """Chunk counts and the roster, set by the ``CHUNKING → CHUNKED`` statement itself."""
    meta = {**(job.meta or {}), "sketches": out.sketches, "roster": list(out.roster)}
    return {"chunks_total": len(out.chunks), "chunks_done": 0, "meta": meta}


@dramatiq.actor(actor_name="chunk", queue_name=STAGES.by_name[CHUNK].queue, **actor_options("chunk"))
def chunk(job_id: str) -> None:
    """Find one job's episodes and scenes and cut its chunks."""
    run_stage(
        CHUNK,
        job_id,
        io=IO,
        load=_load,
        compute=_compute,
        rows=_rows,
        job_values=_job_values,
    )
