"""Stage 6, report: assemble the breakdown from the database and store it as JSON, HTML and CSV.

:func:`build_report` is the pure core (rows in, the report dict out); rendering lives in
``stages.report.render``. The report dict's field names are a contract other tools read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import dramatiq
from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Table,
    and_,
    bindparam,
    insert,
    outerjoin,
    select,
    union,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.base import ReadOnlyColumnCollection

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
from pipeline.queries import array_params, insert_from_arrays, json_rows
from pipeline.runner import StageWrites, run_stage
from pipeline.states import STAGE_BY_NAME, STAGES, Status
from pipeline.transitions import ClaimedJob
from pipeline.usage import job_usage, usage_from_sums, usage_sums_of
from stages.report.render import render_csv, render_html, render_json
from stages.screenplay import scene_number

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
        ``{"job", "episodes", "scenes", "characters", "locations", "props", "background", "shots"}``.
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
            "background": names(in_scene[s["number"]]["background"]),
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
        "background": len(ordered("background")),
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
        "background": [
            {"name": data.assets[a].name, "scenes": sorted(scenes_of[a])} for a in ordered("background")
        ],
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
_Q_STAGE_SECONDS = (
    select(JobEvent.to_status, JobEvent.duration_s)
    .where(
        JobEvent.job_id == _JOB,
        JobEvent.run == bindparam("run"),
        JobEvent.duration_s.is_not(None),
        JobEvent.to_status.in_(list(_DONE)),
    )
    .order_by(JobEvent.id)
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
_Q_ASSETS = (
    select(Asset.id, Asset.type, Asset.name, Asset.aliases, Asset.description, Asset.gender, Asset.age)
    .where(Asset.id.in_(bindparam("ids", expanding=True)))
    .order_by(Asset.id)
)
_REPORTS = cast(Table, Report.__table__)
_INSERT_REPORT = insert(_REPORTS)
_FORMATS = ("json", "html", "csv")


def _pg_writes(moved: CTE) -> list[CTE]:
    """PostgreSQL: the three reports as a CTE of the ``REPORTING → COMPLETED`` statement (formats
    and contents as arrays), written only if the job moves."""
    created_at = bindparam("f_created_at", type_=_REPORTS.c.created_at.type)
    return [
        insert_from_arrays(
            _REPORTS,
            ("format", "content"),
            prefix="f",
            job_id=moved.c.id,
            constants={"created_at": created_at},
            join=moved,
        ).cte("reports_in")
    ]


def _pg_reads(job: ReadOnlyColumnCollection[str, Any]) -> list[ColumnElement[Any]]:
    """PostgreSQL: all of the above as expressions over the job's columns, each list one JSON array
    of rows in the same order. The claim's statement reads them (a report's eight reads were a
    fifth of a small job's statements)."""
    of_job = ScriptContent.job_id == job.id
    return [
        select(Project.name).where(Project.id == job.project_id).scalar_subquery(),
        select(ScriptContent.char_count).where(of_job).scalar_subquery(),
        select(ScriptContent.encoding).where(of_job).scalar_subquery(),
        json_rows(*_Q_RECORDS.selected_columns, order_by=[ExtractionRecord.id], where=ExtractionRecord.job_id == job.id),
        usage_sums_of(job.id),
        json_rows(*_Q_STAGE_SECONDS.selected_columns, order_by=[JobEvent.id], where=and_(
            JobEvent.job_id == job.id, JobEvent.run == job.run, JobEvent.duration_s.is_not(None),
            JobEvent.to_status.in_(list(_DONE)),
        )),
        json_rows(*_Q_EPISODES.selected_columns, order_by=[Episode.number], where=Episode.job_id == job.id),
        json_rows(*_Q_SCENES.selected_columns, order_by=[Scene.number], where=Scene.job_id == job.id),
        json_rows(
            *_Q_SHOTS.selected_columns,
            order_by=[Shot.scene_number, Shot.number, ShotAsset.position],
            where=Shot.job_id == job.id,
            select_from=outerjoin(Shot, ShotAsset, ShotAsset.shot_id == Shot.id),
        ),
        json_rows(*_Q_ASSETS.selected_columns, order_by=[Asset.id], where=Asset.id.in_(
            union(
                select(ExtractionRecord.asset_id).where(
                    ExtractionRecord.job_id == job.id, ExtractionRecord.asset_id.is_not(None)
                ),
                select(ShotAsset.asset_id).join(Shot, Shot.id == ShotAsset.shot_id).where(Shot.job_id == job.id),
            )
        )),
    ]  # fmt: skip


@dataclass(frozen=True)
class _Reads:
    """What the report reads of one job, as rows (tuples, or JSON arrays on PostgreSQL)."""

    project: str
    char_count: int
    encoding: str
    records: Sequence[Sequence[Any]]  # scene, asset id, asset type, attributes, dedup status
    usage: dict[str, Any] | None
    stage_seconds: Sequence[Sequence[Any]]  # status, seconds
    episodes: Sequence[Sequence[Any]]  # number, title
    scenes: Sequence[Sequence[Any]]  # episode, number, heading, int/ext, time, location
    shots: Sequence[Sequence[Any]]  # id, episode, scene, number, type, description, asset id or None
    assets: Sequence[Sequence[Any]]  # id, type, name, aliases, description, gender, age


def _read(connection: Connection, job: ClaimedJob) -> _Reads:
    """The report's inputs: read by the claim on PostgreSQL, one statement per list elsewhere."""
    return _reads_of(job.inputs, job) if job.inputs is not None else _read_each(connection, job)


def _reads_of(values: Sequence[Any], job: ClaimedJob) -> _Reads:
    """:class:`_Reads` from the values of :func:`_pg_reads`."""
    project, char_count, encoding, records, usage, seconds, episodes, scenes, shots, assets = values
    return _Reads(
        project, char_count, encoding, records or [], usage_from_sums(usage, job.meta), seconds or [],
        episodes or [], scenes or [], shots or [], assets or [],
    )  # fmt: skip


def _read_each(connection: Connection, job: ClaimedJob) -> _Reads:
    read = connection.execute
    by_job = {"job_id": job.id}
    header = read(_Q_HEADER, by_job).one()
    records = read(_Q_RECORDS, by_job).all()
    shots = read(_Q_SHOTS, by_job).all()
    asset_ids = {r.asset_id for r in records if r.asset_id is not None}
    asset_ids |= {s.asset_id for s in shots if s.asset_id is not None}
    return _Reads(
        header.name,
        header.char_count,
        header.encoding,
        records,
        job_usage(connection, job.id, job.meta),
        read(_Q_STAGE_SECONDS, {"job_id": job.id, "run": job.run}).all(),
        read(_Q_EPISODES, by_job).all(),
        read(_Q_SCENES, by_job).all(),
        shots,
        read(_Q_ASSETS, {"ids": sorted(asset_ids)}).all() if asset_ids else [],
    )


def _load(connection: Connection, job: ClaimedJob) -> ReportInput:
    return _assemble(job, _read(connection, job))


def _assemble(job: ClaimedJob, reads: _Reads) -> ReportInput:
    """The report's input from its reads: the job's header and stats, and typed rows."""
    # Every record once: the deduplicated ones feed the report, all of them the dedup counts.
    dedup_counts: dict[str | None, int] = defaultdict(int)
    for *_, status in reads.records:
        dedup_counts[status] += 1
    header = {
        "id": job.id,
        "project": reads.project,
        "title": job.title,
        "status": Status.COMPLETED.value,
        "created_at": _iso(job.created_at),
        "finished_at": utcnow().isoformat(),
        "language": job.language,
        "author": (job.meta or {}).get("author"),
        "run": job.run,
        "stats": {
            "characters_in_script": reads.char_count,
            "encoding": reads.encoding,
            "chunks": job.chunks_total,
            "provider": (job.options or {}).get("provider"),
            "llm": reads.usage,
            # Seconds each finished stage of this run took (report itself is still running).
            "stage_seconds": {_DONE[to]: round(seconds or 0.0, 3) for to, seconds in reads.stage_seconds},
            "dedup": {k: dedup_counts[k] for k in sorted(dedup_counts, key=lambda k: (k is None, k or ""))},
        },
    }
    episodes = [{"number": n, "title": t} for n, t in reads.episodes]
    scenes = [
        {
            "episode": e,
            "number": n,
            "scene_no": scene_number(h) if h else None,
            "heading": h,
            "int_ext": ie,
            "time": t,
            "location": loc,
        }
        for e, n, h, ie, t, loc in reads.scenes
    ]
    records = [
        RecordRow(scene, asset, kind, int((attributes or {}).get("dialogue_lines", 0) or 0))
        for scene, asset, kind, attributes, _ in reads.records
        if asset is not None
    ]
    refs: dict[int, list[int]] = defaultdict(list)
    shot_rows: list[Sequence[Any]] = []
    for row in reads.shots:
        if not shot_rows or shot_rows[-1][0] != row[0]:
            shot_rows.append(row)
        if row[6] is not None:
            refs[row[0]].append(row[6])
    assets = {
        a: AssetRow(a, kind, name, tuple(aliases or ()), description, gender, age)
        for a, kind, name, aliases, description, gender, age in reads.assets
    }
    shots = [
        ShotRow(episode, scene, number, kind, description, tuple(refs[shot_id]))
        for shot_id, episode, scene, number, kind, description, _ in shot_rows
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


def _writes(job: ClaimedJob, out: dict[str, Any]) -> StageWrites:
    rows = [(fmt, out[fmt]) for fmt in _FORMATS]
    params = {**array_params(_REPORTS, ("format", "content"), rows, prefix="f"), "f_created_at": utcnow()}
    return StageWrites(_pg_writes, params)


def _save(connection: Connection, job: ClaimedJob, out: dict[str, Any]) -> None:
    write = connection.execute
    write(_INSERT_REPORT, [{"job_id": job.id, "format": fmt, "content": out[fmt]} for fmt in _FORMATS])


def _job_values(job: ClaimedJob, out: dict[str, Any]) -> dict[str, Any]:
    """The report's figures, set on the job by the ``REPORTING → COMPLETED`` statement itself."""
    return {"stats": out["report"]["job"]["stats"]}


@dramatiq.actor(actor_name="report", queue_name=REPORT.queue, **actor_options("report"))
def report(job_id: str) -> None:
    """Write one job's report."""
    run_stage(
        REPORT,
        job_id,
        load=_load,
        compute=render_all,
        save=_save,
        job_values=_job_values,
        reads=_pg_reads,
        writes=_writes,
    )
