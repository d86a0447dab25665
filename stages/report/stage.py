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
    ColumnElement,
    Table,
    and_,
    outerjoin,
    select,
    union,
)

from models import (
    Asset,
    Episode,
    ExtractionRecord,
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
from pipeline.stageio import Expression, Insert, JobColumns, Rows, StageIO, Value
from pipeline.states import STAGES, Status
from pipeline.transitions import ClaimedJob
from pipeline.usage import usage_from_sums, usage_sums_of
from stages.report.render import render_csv, render_html, render_json
from stages.screenplay import scene_number

REPORT = "report"
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


_REPORTS = cast(Table, Report.__table__)
_FORMATS = ("json", "html", "csv")


def _assets_of(job: JobColumns) -> ColumnElement[bool]:
    """The assets the job's records and shots point at."""
    return Asset.id.in_(
        union(
            select(ExtractionRecord.asset_id).where(
                ExtractionRecord.job_id == job.id, ExtractionRecord.asset_id.is_not(None)
            ),
            select(ShotAsset.asset_id).join(Shot, Shot.id == ShotAsset.shot_id).where(Shot.job_id == job.id),
        )
    )


#: Everything the report shows, read by the claim (a report's eight reads were a fifth of a small
#: job's statements); writes the report in each stored format.
IO = StageIO(
    reads={
        "project": Value(Project.name, where=lambda job: Project.id == job.project_id),
        "char_count": Value(ScriptContent.char_count, where=lambda job: ScriptContent.job_id == job.id),
        "encoding": Value(ScriptContent.encoding, where=lambda job: ScriptContent.job_id == job.id),
        # scene, asset id, asset type, attributes, dedup status
        "records": Rows(
            ExtractionRecord.scene_number, ExtractionRecord.asset_id, ExtractionRecord.asset_type,
            ExtractionRecord.attributes, ExtractionRecord.dedup_status,
            where=lambda job: ExtractionRecord.job_id == job.id,
            order_by=(ExtractionRecord.id,),
        ),
        "usage": Expression(lambda job: usage_sums_of(job.id)),
        # status, seconds of each finished stage of this run (only a stage's finish records a duration)
        "stage_seconds": Rows(
            JobEvent.to_status, JobEvent.duration_s,
            where=lambda job: and_(
                JobEvent.job_id == job.id, JobEvent.run == job.run, JobEvent.duration_s.is_not(None),
            ),
            order_by=(JobEvent.id,),
        ),
        "episodes": Rows(
            Episode.number, Episode.title, where=lambda job: Episode.job_id == job.id, order_by=(Episode.number,)
        ),
        "scenes": Rows(
            Scene.episode, Scene.number, Scene.heading, Scene.int_ext, Scene.time, Scene.location,
            where=lambda job: Scene.job_id == job.id,
            order_by=(Scene.number,),
        ),
        # Shots with their asset references (a shot without any comes once, with NULL).
        "shots": Rows(
            Shot.id, Shot.episode, Shot.scene_number, Shot.number, Shot.type, Shot.description, ShotAsset.asset_id,
            where=lambda job: Shot.job_id == job.id,
            order_by=(Shot.scene_number, Shot.number, ShotAsset.position),
            select_from=outerjoin(Shot, ShotAsset, ShotAsset.shot_id == Shot.id),
        ),
        "assets": Rows(
            Asset.id, Asset.type, Asset.name, Asset.aliases, Asset.description, Asset.gender, Asset.age,
            where=_assets_of,
            order_by=(Asset.id,),
        ),
    },
    writes=(Insert(_REPORTS, ("format", "content", "created_at")),),
)  # fmt: skip


def _load(job: ClaimedJob, inputs: dict[str, Any]) -> ReportInput:
    """The report's input from its reads: the job's header and stats, and typed rows."""
    done = {spec.done.value: spec.name for spec in STAGES}
    # Every record once: the deduplicated ones feed the report, all of them the dedup counts.
    dedup_counts: dict[str | None, int] = defaultdict(int)
    for *_, status in inputs["records"]:
        dedup_counts[status] += 1
    header = {
        "id": job.id,
        "project": inputs["project"],
        "title": job.title,
        "status": Status.COMPLETED.value,
        "created_at": _iso(job.created_at),
        "finished_at": utcnow().isoformat(),
        "language": job.language,
        "author": (job.meta or {}).get("author"),
        "run": job.run,
        "stats": {
            "characters_in_script": inputs["char_count"],
            "encoding": inputs["encoding"],
            "chunks": job.chunks_total,
            "provider": (job.options or {}).get("provider"),
            "llm": usage_from_sums(inputs["usage"], job.meta),
            # Seconds each finished stage of this run took (report itself is still running).
            "stage_seconds": {
                done[to]: round(seconds or 0.0, 3) for to, seconds in inputs["stage_seconds"] if to in done
            },
            "dedup": {k: dedup_counts[k] for k in sorted(dedup_counts, key=lambda k: (k is None, k or ""))},
        },
    }
    episodes = [{"number": n, "title": t} for n, t in inputs["episodes"]]
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
        for e, n, h, ie, t, loc in inputs["scenes"]
    ]
    records = [
        RecordRow(scene, asset, kind, int((attributes or {}).get("dialogue_lines", 0) or 0))
        for scene, asset, kind, attributes, _ in inputs["records"]
        if asset is not None
    ]
    refs: dict[int, list[int]] = defaultdict(list)
    shot_rows: list[Sequence[Any]] = []
    for row in inputs["shots"]:
        if not shot_rows or shot_rows[-1][0] != row[0]:
            shot_rows.append(row)
        if row[6] is not None:
            refs[row[0]].append(row[6])
    assets = {
        a: AssetRow(a, kind, name, tuple(aliases or ()), description, gender, age)
        for a, kind, name, aliases, description, gender, age in inputs["assets"]
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


def _rows(job: ClaimedJob, out: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    now = utcnow()
    return {"reports": [(fmt, out[fmt], now) for fmt in _FORMATS]}


def _job_values(job: ClaimedJob, out: dict[str, Any]) -> dict[str, Any]:
    """The report's figures, set on the job by the ``REPORTING → COMPLETED`` statement itself."""
    return {"stats": out["report"]["job"]["stats"]}


@dramatiq.actor(actor_name="report", queue_name=STAGES.by_name[REPORT].queue, **actor_options("report"))
def report(job_id: str) -> None:
    """Write one job's report."""
    run_stage(
        REPORT,
        job_id,
        io=IO,
        load=_load,
        compute=render_all,
        rows=_rows,
        job_values=_job_values,
    )
