"""Stage 6, report: assemble the breakdown from the database and store it as JSON, HTML and CSV.

:func:`build_report` is the pure core (rows in, the report dict out); rendering lives in
``stages.reporting``. The report dict's field names are a contract other tools read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import dramatiq
from sqlalchemy import BindParameter, Table, bindparam, insert, select
from sqlalchemy.orm import Session

from models import (
    Asset,
    Episode,
    ExtractionRecord,
    Job,
    JobEvent,
    Project,
    Report,
    Scene,
    ScriptContent,
    Shot,
    ShotAsset,
)
from models.base import utcnow
from pipeline.broker import actor_options
from pipeline.db import as_utc
from pipeline.runner import run_stage
from pipeline.states import STAGE_BY_NAME, STAGES, Status
from pipeline.transitions import ClaimedJob
from pipeline.usage import job_usage
from stages.reporting import render_csv, render_html, render_json

REPORT = STAGE_BY_NAME["report"]
#: Dialogue share at or above which a character is a lead, and a supporting character.
LEAD_SHARE, SUPPORTING_SHARE = 0.15, 0.03


@dataclass(frozen=True)
class RecordRow:
    scene: int
    asset_id: int
    asset_type: str
    dialogue_lines: int


@dataclass(frozen=True)
class AssetRow:
    id: int
    type: str
    name: str
    aliases: tuple[str, ...]
    description: str | None
    gender: str | None
    age: str | None


@dataclass(frozen=True)
class ShotRow:
    episode: int
    scene: int
    number: int
    type: str
    description: str
    asset_ids: tuple[int, ...]


@dataclass(frozen=True)
class ReportInput:
    job: dict[str, Any]
    episodes: list[dict[str, Any]]
    scenes: list[dict[str, Any]]
    records: list[RecordRow]
    assets: dict[int, AssetRow]
    shots: list[ShotRow]


def role_for(lines: int, total_lines: int) -> str:
    """A character's role from their share of the dialogue: lead, supporting or minor.

    >>> role_for(30, 100), role_for(5, 100), role_for(1, 100)
    ('lead', 'supporting', 'minor')
    """
    share = lines / total_lines if total_lines else 0.0
    if share >= LEAD_SHARE:
        return "lead"
    return "supporting" if share >= SUPPORTING_SHARE else "minor"


def build_report(data: ReportInput) -> dict[str, Any]:
    """Assemble the report dict (the JSON contract) from the job's rows.

    Args:
        data: the job's header, episodes, scenes (episode, number, heading, int_ext, time,
            location), deduplicated records, their assets and the planned shots.

    Returns:
        ``{"job", "episodes", "scenes", "characters", "locations", "props", "shots"}``.
    """
    episode_of = {s["number"]: s["episode"] for s in data.scenes}
    scenes_of: dict[int, set[int]] = defaultdict(set)
    in_scene: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    lines: dict[int, int] = defaultdict(int)
    for rec in sorted(data.records, key=lambda r: r.scene):  # stable: keeps extraction order in a scene
        if rec.asset_id not in scenes_of or rec.scene not in scenes_of[rec.asset_id]:
            in_scene[rec.scene][rec.asset_type].append(rec.asset_id)
        scenes_of[rec.asset_id].add(rec.scene)
        lines[rec.asset_id] += rec.dialogue_lines
    total_lines = sum(lines[a] for a in lines if data.assets[a].type == "character")

    def ordered(kind: str) -> list[int]:
        ids = [a for a in scenes_of if data.assets[a].type == kind]
        if kind == "character":
            return sorted(ids, key=lambda a: (-lines[a], min(scenes_of[a]), data.assets[a].name))
        return sorted(ids, key=lambda a: (min(scenes_of[a]), data.assets[a].name))

    characters = []
    for aid in ordered("character"):
        asset, seen = data.assets[aid], sorted(scenes_of[aid])
        characters.append(
            {
                "name": asset.name,
                "aliases": list(asset.aliases),
                "scenes": seen,
                "first_scene": seen[0],
                "first_episode": episode_of.get(seen[0], 1),
                "dialogue_lines": lines[aid],
                "description": asset.description,
                "gender": asset.gender,
                "age": asset.age,
                "role": role_for(lines[aid], total_lines),
            }
        )

    def names(ids: Sequence[int]) -> list[str]:
        return [data.assets[a].name for a in ids]

    scenes = [
        {
            **s,
            "characters": names(in_scene[s["number"]]["character"]),
            "props": names(in_scene[s["number"]]["prop"]),
        }
        for s in data.scenes
    ]
    shots = [
        {
            "episode": shot.episode,
            "scene": shot.scene,
            "number": shot.number,
            "type": shot.type,
            "description": shot.description,
            "characters": names([a for a in shot.asset_ids if data.assets[a].type == "character"]),
            "props": names([a for a in shot.asset_ids if data.assets[a].type == "prop"]),
        }
        for shot in data.shots
    ]
    stats = {
        **data.job.get("stats", {}),
        "episodes": len(data.episodes),
        "scenes": len(scenes),
        "characters": len(characters),
        "locations": len(ordered("location")),
        "props": len(ordered("prop")),
        "shots": len(shots),
        "dialogue_lines": total_lines,
    }
    return {
        "job": {**data.job, "stats": stats},
        "episodes": data.episodes,
        "scenes": scenes,
        "characters": characters,
        "locations": [
            {"name": data.assets[a].name, "scenes": sorted(scenes_of[a])} for a in ordered("location")
        ],
        "props": [{"name": data.assets[a].name, "scenes": sorted(scenes_of[a])} for a in ordered("prop")],
        "shots": shots,
    }


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None


_JOB: BindParameter[Any] = bindparam("job_id")
_DONE = {spec.done.value: spec.name for spec in STAGES}
# The report's reads, built once (each runs with ``{"job_id": …}``, on the session's connection).
_Q_HEADER = (
    select(Project.name, ScriptContent.char_count, ScriptContent.encoding)
    .select_from(ScriptContent)
    .join(Job, Job.id == ScriptContent.job_id)
    .join(Project, Project.id == Job.project_id)
    .where(ScriptContent.job_id == _JOB)
)
_Q_RECORDS = (
    select(
        ExtractionRecord.scene_number,
        ExtractionRecord.asset_id,
        ExtractionRecord.asset_type,
        ExtractionRecord.attributes,
        ExtractionRecord.dedup_status,
    )
    .where(ExtractionRecord.job_id == _JOB)
    .order_by(ExtractionRecord.id)
)
_Q_STAGE_SECONDS = select(JobEvent.to_status, JobEvent.duration_s).where(
    JobEvent.job_id == _JOB,
    JobEvent.run == bindparam("run"),
    JobEvent.duration_s.is_not(None),
    JobEvent.to_status.in_(list(_DONE)),
)
_Q_EPISODES = select(Episode.number, Episode.title).where(Episode.job_id == _JOB).order_by(Episode.number)
_Q_SCENES = (
    select(Scene.episode, Scene.number, Scene.heading, Scene.int_ext, Scene.time, Scene.location)
    .where(Scene.job_id == _JOB)
    .order_by(Scene.number)
)
#: Shots with their asset references in one query (a shot without any comes once, with NULL).
_Q_SHOTS = (
    select(
        Shot.id, Shot.episode, Shot.scene_number, Shot.number, Shot.type, Shot.description, ShotAsset.asset_id
    )
    .outerjoin(ShotAsset, ShotAsset.shot_id == Shot.id)
    .where(Shot.job_id == _JOB)
    .order_by(Shot.scene_number, Shot.number, ShotAsset.position)
)
_Q_ASSETS = select(
    Asset.id, Asset.type, Asset.name, Asset.aliases, Asset.description, Asset.gender, Asset.age
).where(Asset.id.in_(bindparam("ids", expanding=True)))
_REPORTS = cast(Table, Report.__table__)
_INSERT_REPORT = insert(_REPORTS)


def _stage_seconds(session: Session, job: ClaimedJob) -> dict[str, float]:
    """Seconds each finished stage of this run took (report itself is still running)."""
    rows = session.connection().execute(_Q_STAGE_SECONDS, {"job_id": job.id, "run": job.run})
    return {_DONE[to]: round(seconds or 0.0, 3) for to, seconds in rows}


def _load(session: Session, job: ClaimedJob) -> ReportInput:
    read = session.connection().execute
    by_job = {"job_id": job.id}
    content = read(_Q_HEADER, {"job_id": job.id}).one()
    # Every record once: the deduplicated ones feed the report, all of them the dedup counts.
    all_records = read(_Q_RECORDS, by_job).all()
    dedup_counts: dict[str | None, int] = defaultdict(int)
    for r in all_records:
        dedup_counts[r.dedup_status] += 1
    header = {
        "id": job.id,
        "project": content.name,
        "title": job.title,
        "status": Status.COMPLETED.value,
        "created_at": _iso(job.created_at),
        "finished_at": utcnow().isoformat(),
        "language": job.language,
        "author": (job.meta or {}).get("author"),
        "run": job.run,
        "stats": {
            "characters_in_script": content.char_count,
            "encoding": content.encoding,
            "chunks": job.chunks_total,
            "provider": (job.options or {}).get("provider"),
            "llm": job_usage(session, job.id, job.meta),
            "stage_seconds": _stage_seconds(session, job),
            "dedup": {k: dedup_counts[k] for k in sorted(dedup_counts, key=lambda k: (k is None, k or ""))},
        },
    }
    episodes = [{"number": n, "title": t} for n, t in read(_Q_EPISODES, by_job)]
    scenes = [
        {
            "episode": s.episode,
            "number": s.number,
            "heading": s.heading,
            "int_ext": s.int_ext,
            "time": s.time,
            "location": s.location,
        }
        for s in read(_Q_SCENES, by_job)
    ]
    records = [
        RecordRow(
            r.scene_number, r.asset_id, r.asset_type, int((r.attributes or {}).get("dialogue_lines", 0) or 0)
        )
        for r in all_records
        if r.asset_id is not None
    ]
    refs: dict[int, list[int]] = defaultdict(list)
    shot_rows: list[Any] = []
    for row in read(_Q_SHOTS, by_job):
        if not shot_rows or shot_rows[-1].id != row.id:
            shot_rows.append(row)
        if row.asset_id is not None:
            refs[row.id].append(row.asset_id)
    asset_ids = {r.asset_id for r in records} | {a for ids in refs.values() for a in ids}
    assets = (
        {
            a.id: AssetRow(a.id, a.type, a.name, tuple(a.aliases or ()), a.description, a.gender, a.age)
            for a in read(_Q_ASSETS, {"ids": sorted(asset_ids)})
        }
        if asset_ids
        else {}
    )
    shots = [
        ShotRow(s.episode, s.scene_number, s.number, s.type, s.description, tuple(refs[s.id]))
        for s in shot_rows
    ]
    return ReportInput(header, episodes, scenes, records, assets, shots)


def render_all(data: ReportInput) -> dict[str, Any]:
    """Build the report and render it in every stored format."""
    report = build_report(data)
    return {
        "report": report,
        "json": render_json(report),
        "html": render_html(report),
        "csv": render_csv(report, "scenes"),
    }


def _save(session: Session, job: ClaimedJob, out: dict[str, Any]) -> None:
    write = session.connection().execute
    write(
        _INSERT_REPORT,
        [{"job_id": job.id, "format": fmt, "content": out[fmt]} for fmt in ("json", "html", "csv")],
    )


def _job_values(job: ClaimedJob, out: dict[str, Any]) -> dict[str, Any]:
    """The report's figures, set on the job by the ``REPORTING → COMPLETED`` statement itself."""
    return {"stats": out["report"]["job"]["stats"]}


@dramatiq.actor(actor_name="report", queue_name=REPORT.queue, **actor_options("report"))
def report(job_id: str) -> None:
    """Write one job's report."""
    run_stage(REPORT, job_id, load=_load, compute=render_all, save=_save, job_values=_job_values)
