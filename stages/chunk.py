"""Stage 2, chunk: pack whole scenes into extract-sized chunks of the script text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import dramatiq
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from models import Chunk, Episode, Job, Scene, ScriptContent
from pipeline.broker import actor_options
from pipeline.runner import run_stage
from pipeline.settings import get_settings
from pipeline.states import STAGE_BY_NAME
from stages.drafts import ChunkDraft, EpisodeDraft, SceneDraft, SourceSpan
from stages.screenplay import find_sketches, parse_structure

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

CHUNK = STAGE_BY_NAME["chunk"]


@dataclass(frozen=True)
class Structure:
    episodes: list[EpisodeDraft]
    scenes: list[SceneDraft]
    chunks: list[ChunkDraft]
    hashes: list[str]
    #: Character sketches of the front matter (人物小传), handed to every extract chunk.
    sketches: str = ""


def find_structure(text: str, sources: Sequence[SourceSpan], *, max_chars: int) -> Structure:
    """Episodes, scenes and scene-aligned chunks of a script, with each chunk's content hash."""
    episodes, scenes = parse_structure(text, sources)
    chunks = split_into_chunks(text, scenes, max_chars=max_chars)
    hashes = [hashlib.sha256(text[c.start : c.end].encode("utf-8")).hexdigest() for c in chunks]
    return Structure(episodes, scenes, chunks, hashes, find_sketches(text))


def _load(session: Session, job: Job) -> tuple[str, list[SourceSpan], int]:
    row = session.execute(
        select(ScriptContent.text, ScriptContent.sources).where(ScriptContent.job_id == job.id)
    ).one()
    sources = [SourceSpan(s["name"], s["start"], s["end"]) for s in row.sources]
    return (
        row.text,
        sources,
        int((job.options or {}).get("max_chunk_chars") or get_settings().extract.max_chunk_chars),
    )


def _compute(inputs: tuple[str, list[SourceSpan], int]) -> Structure:
    text, sources, max_chars = inputs
    return find_structure(text, sources, max_chars=max_chars)


def _save(session: Session, job: Job, out: Structure) -> None:
    for table in (Chunk, Scene, Episode):  # chunks first: extraction records cascade from them
        session.execute(delete(table).where(table.job_id == job.id))
    if out.episodes:
        session.execute(
            insert(Episode),
            [
                {"job_id": job.id, "number": e.number, "title": e.title, "start": e.start, "end": e.end}
                for e in out.episodes
            ],
        )
    if out.scenes:
        session.execute(
            insert(Scene),
            [
                {
                    "job_id": job.id,
                    "episode": s.episode,
                    "number": s.number,
                    "heading": s.heading,
                    "int_ext": s.int_ext,
                    "time": s.time,
                    "location": s.location,
                    "start": s.start,
                    "end": s.end,
                    "listed_characters": list(s.listed_characters),
                }
                for s in out.scenes
            ],
        )
    if out.chunks:
        session.execute(
            insert(Chunk),
            [
                {
                    "job_id": job.id,
                    "number": c.number,
                    "start": c.start,
                    "end": c.end,
                    "first_scene": c.first_scene,
                    "last_scene": c.last_scene,
                    "content_hash": h,
                    "status": "pending",
                }
                for c, h in zip(out.chunks, out.hashes, strict=True)
            ],
        )
    meta = {**(job.meta or {}), "sketches": out.sketches}
    session.execute(
        update(Job).where(Job.id == job.id).values(chunks_total=len(out.chunks), chunks_done=0, meta=meta)
    )


@dramatiq.actor(actor_name="chunk", queue_name=CHUNK.queue, **actor_options("chunk"))
def chunk(job_id: str) -> None:
    """Find one job's episodes and scenes and cut its chunks."""
    run_stage(CHUNK, job_id, load=_load, compute=_compute, save=_save)
