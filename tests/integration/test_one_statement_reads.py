"""Each stage reads its inputs with its claim and writes its output with its finish, as its
:class:`~pipeline.stageio.StageIO` declares: one statement each. What they read equals what plain
queries written here give; what they write is exactly the rows the stage made."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from entrypoints.testing import drain
from models import (
    Asset,
    Chunk,
    Episode,
    ExtractionRecord,
    Job,
    Project,
    Scene,
    ScriptContent,
    Shot,
    ShotAsset,
)
from pipeline import jobs
from pipeline.db import get_engine, session_factory
from pipeline.states import STAGES
from pipeline.transitions import claim, transition
from stages import chunk, ingest
from stages.dedup import stage as dedup
from stages.extract import stage as extract
from stages.report import stage as report
from stages.storyboard import stage as storyboard

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODULES = {"ingest": ingest, "chunk": chunk, "dedup": dedup, "storyboard": storyboard, "report": report}


def _plain(value: Any) -> Any:
    """Rows and JSON arrays alike as nested lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or hasattr(value, "_mapping"):
        return [_plain(v) for v in value]
    return value


def _finish(session: Any, job_id: str, stage: str, rows: Any) -> None:
    """A stage's finish with ``rows`` (per table name), as run_stage runs it (the job put in the
    running state first)."""
    spec, io = STAGES.by_name[stage], MODULES[stage].IO
    session.execute(update(Job).where(Job.id == job_id).values(status=spec.running.value))
    transition(
        session, job_id, spec.running, spec.done, writes=io.write_ctes, write_params=io.write_params(rows)
    )


def _claimed_inputs(session: Any, job_id: str, stage: str) -> tuple[Any, dict[str, Any]]:
    """The job as the stage's claim returns it, and the claim's reads by name."""
    spec, io = STAGES.by_name[stage], MODULES[stage].IO
    session.execute(update(Job).where(Job.id == job_id).values(status=spec.ready.value))
    job = claim(session, job_id, spec.ready, spec.running, reads=io.read_expressions)
    assert job is not None
    return job, io.inputs(job.inputs)


def _rows(session: Any, *query: Any) -> list[list[Any]]:
    return _plain(session.execute(select(*query[:-2]).where(query[-2]).order_by(*query[-1])).all())


def _completed(stub_worker: Any, example: str, **options: Any) -> str:
    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / example], project="io", options=options or None)
    drain(broker, worker)
    assert "COMPLETED" == jobs.get_status(job_id).status
    return job_id


@pytest.mark.parametrize("example", ["逆袭总裁.txt", "the-heist.fountain"])
def test_the_claim_reads_what_plain_queries_read(stub_worker, example):
    """Every list and value a stage's claim reads equals the same query run on its own."""
    job_id = _completed(stub_worker, example)
    with session_factory()() as s:
        # Some LLM usage to sum, so the usage subquery is compared on real figures.
        first = s.scalar(select(Chunk.id).where(Chunk.job_id == job_id).order_by(Chunk.number).limit(1))
        s.execute(
            update(Chunk)
            .where(Chunk.id == first)
            .values(provider="openai", calls=2, prompt_tokens=900, completion_tokens=80, latency_ms=4100)
        )
        job = s.execute(select(Job).where(Job.id == job_id)).scalar_one()
        _, board = _claimed_inputs(s, job_id, "storyboard")
        _, made = _claimed_inputs(s, job_id, "report")
        _, merge = _claimed_inputs(s, job_id, "dedup")
        of_job = lambda m: m.job_id == job_id  # noqa: E731
        text = s.scalar(select(ScriptContent.text).where(of_job(ScriptContent)))
        scenes = _rows(s, Scene.episode, Scene.number, Scene.heading, Scene.location, Scene.start, Scene.end,
                       of_job(Scene), [Scene.number])  # fmt: skip
        names = _plain(s.execute(
            select(ExtractionRecord.scene_number, Asset.id, Asset.type, Asset.name, Asset.aliases)
            .join(Asset, Asset.id == ExtractionRecord.asset_id)
            .where(of_job(ExtractionRecord), Asset.type.in_(("character", "prop")))
            .order_by(ExtractionRecord.scene_number, ExtractionRecord.id)
        ).all())  # fmt: skip
        records = _rows(s, ExtractionRecord.scene_number, ExtractionRecord.asset_id, ExtractionRecord.asset_type,
                        ExtractionRecord.attributes, ExtractionRecord.dedup_status,
                        of_job(ExtractionRecord), [ExtractionRecord.id])  # fmt: skip
        shots = _plain(s.execute(
            select(Shot.id, Shot.episode, Shot.scene_number, Shot.number, Shot.type, Shot.description,
                   ShotAsset.asset_id)
            .outerjoin(ShotAsset, ShotAsset.shot_id == Shot.id).where(of_job(Shot))
            .order_by(Shot.scene_number, Shot.number, ShotAsset.position)
        ).all())  # fmt: skip
        used = {r[1] for r in records if r[1]} | {r[6] for r in shots if r[6]}
        assets = _rows(s, Asset.id, Asset.type, Asset.name, Asset.aliases, Asset.description, Asset.gender,
                       Asset.age, Asset.id.in_(used), [Asset.id])  # fmt: skip
        project_assets = [tuple(r) for r in s.execute(dedup._Q_ASSETS, {"project_id": job.project_id}).all()]
        project = s.scalar(select(Project.name).where(Project.id == job.project_id))
        episodes = _rows(s, Episode.number, Episode.title, of_job(Episode), [Episode.number])
        s.rollback()

    assert text and scenes and names and records and shots and assets
    assert (text, names, scenes) == (board["text"], _plain(board["names"]), _plain(board["scenes"]))
    assert project == made["project"]
    assert (records, shots, assets, episodes) == tuple(
        _plain(made[k]) for k in ("records", "shots", "assets", "episodes")
    )
    assert 2 == made["usage"][1]  # calls
    assert {STAGES.by_name[k].done.value for k in STAGES.by_name} == {
        status for status, _ in made["stage_seconds"]
    }
    # Equal as tuples, not only as lists: dedup compares a fresh read with the loaded rows to see
    # whether another job wrote assets meanwhile.
    loaded = dedup._load(SimpleNamespace(), merge)
    assert project_assets and project_assets == loaded.asset_rows
    assert len(records) == len(loaded.records)


def test_a_chunk_claim_returns_the_scenes_a_plain_query_gives(stub_worker):
    """extract_chunk's claim returns its chunk's scenes; they equal a plain query's rows."""
    job_id = _completed(stub_worker, "low-tide.fountain", max_chunk_chars=1500)
    with session_factory()() as s:
        connection = s.connection()
        chunks = connection.execute(
            select(Chunk.id, Chunk.first_scene, Chunk.last_scene)
            .where(Chunk.job_id == job_id)
            .order_by(Chunk.number)
        ).all()
        assert len(chunks) > 2
        # Back to extracting (rolled back below) so the claim statement matches.
        connection.execute(update(Job).where(Job.id == job_id).values(status="EXTRACTING"))
        connection.execute(update(Chunk).where(Chunk.job_id == job_id).values(status="pending"))
        for chunk_id, first, last in chunks:
            claimed = connection.execute(
                extract._CLAIM_CHUNK, {"p_job_id": job_id, "p_chunk_id": chunk_id}
            ).one()
            read = connection.execute(
                select(Scene.number, Scene.heading, Scene.location, Scene.start, Scene.end, Scene.listed_characters)
                .where(Scene.job_id == job_id, Scene.number.between(first, last))
                .order_by(Scene.number)
            ).all()  # fmt: skip
            assert read and _plain(read) == _plain(claimed[-1])
        s.rollback()


@pytest.mark.parametrize("stage", ["ingest", "chunk", "dedup", "storyboard", "report"])
def test_the_load_reads_nothing_itself(stub_worker, stage):
    """A stage's claim returns its inputs, so its load makes no statement of its own."""
    job_id = _completed(stub_worker, "the-heist.fountain")
    statements: list[str] = []
    with session_factory()() as s:
        job, inputs = _claimed_inputs(s, job_id, stage)
        assert all(v is not None for v in inputs.values())
        count = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(get_engine(), "before_cursor_execute", count)
        try:
            loaded = MODULES[stage]._load(job, inputs)
        finally:
            event.remove(get_engine(), "before_cursor_execute", count)
        s.rollback()
    assert [] == statements
    assert loaded is not None


def _written(session: Any, table: Any, job_id: str, columns: Any, order_by: Any) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in session.execute(
            select(*(table.c[c] for c in columns)).where(table.c.job_id == job_id).order_by(*order_by)
        )
    ]


@pytest.mark.parametrize("example", ["逆袭总裁.txt", "the-heist.fountain"])
def test_chunk_writes_its_rows_with_its_finish(pg_settings, example):
    """Chunk's finish (column arrays through unnest) writes exactly the rows the stage made: every
    column, JSON and NULLs included, and the columns it does not name get their defaults."""
    from sqlalchemy.sql.schema import ScalarElementColumnDefault

    from pipeline.broker import setup_broker
    from pipeline.sources import read_scripts

    setup_broker(pg_settings, stub=True)
    job_id = jobs.submit([EXAMPLES / example], project="inserts")
    script = read_scripts([EXAMPLES / example], max_bytes=10_000_000)
    inputs = chunk._Inputs(script.text, [chunk.SourceSpan(s["name"], s["start"], s["end"]) for s in script.sources],
                           600, 0, None)  # fmt: skip
    rows = chunk._rows(None, chunk._compute(inputs))
    assert rows["scenes"] and rows["chunks"]
    assert any(r[-1] for r in rows["scenes"]) == example.endswith(".txt")  # listed characters (JSON)
    with session_factory()() as s:
        _finish(s, job_id, "chunk", rows)
        for insert in chunk.IO.writes:
            table = insert.table
            assert rows[table.name] == _written(s, table, job_id, insert.columns, [table.c.number]), (
                table.name
            )
            defaults = {
                c.name: c.default.arg for c in table.c if isinstance(c.default, ScalarElementColumnDefault)
            }
            got = _written(s, table, job_id, list(defaults), [table.c.number])
            assert [tuple(defaults.values())] * len(rows[table.name]) == got, table.name
        s.rollback()


@pytest.mark.parametrize("example", ["逆袭总裁.txt", "the-heist.fountain"])
def test_storyboard_writes_shots_and_their_assets_with_its_finish(stub_worker, example):
    """Storyboard's finish writes the shots from arrays and their asset references joined to the
    new shots by scene and number: what the pipeline wrote, written again, is the same."""
    job_id = _completed(stub_worker, example)
    with session_factory()() as s:
        shots = [tuple(r) for r in s.execute(
            select(Shot.episode, Shot.scene_number, Shot.number, Shot.type, Shot.description)
            .where(Shot.job_id == job_id).order_by(Shot.scene_number, Shot.number)
        )]  # fmt: skip
        refs = [tuple(r) for r in s.execute(
            select(Shot.scene_number, Shot.number, ShotAsset.asset_id, ShotAsset.position)
            .join(ShotAsset, ShotAsset.shot_id == Shot.id).where(Shot.job_id == job_id)
            .order_by(Shot.scene_number, Shot.number, ShotAsset.position)
        )]  # fmt: skip
        assert shots and refs
        s.execute(Shot.__table__.delete().where(Shot.job_id == job_id))
        _finish(s, job_id, "storyboard", {"shots": shots, "shot_assets": refs})
        again = (
            [tuple(r) for r in s.execute(
                select(Shot.episode, Shot.scene_number, Shot.number, Shot.type, Shot.description)
                .where(Shot.job_id == job_id).order_by(Shot.scene_number, Shot.number)
            )],
            [tuple(r) for r in s.execute(
                select(Shot.scene_number, Shot.number, ShotAsset.asset_id, ShotAsset.position)
                .join(ShotAsset, ShotAsset.shot_id == Shot.id).where(Shot.job_id == job_id)
                .order_by(Shot.scene_number, Shot.number, ShotAsset.position)
            )],
        )  # fmt: skip
        s.rollback()
    assert (shots, refs) == again


def test_reports_written_by_the_finish_statement_are_the_rendered_ones(stub_worker):
    """Report's finish writes its three reports (format, content, creation time)."""
    from models import Report
    from models.base import utcnow

    job_id = _completed(stub_worker, "the-heist.fountain")
    columns = ("format", "content", "created_at")
    with session_factory()() as s:
        stored = _written(s, Report.__table__, job_id, columns, [Report.format])
        assert [f for f, *_ in stored] == ["csv", "html", "json"]
        s.execute(Report.__table__.delete().where(Report.job_id == job_id))
        made = [("csv", "a,b", utcnow()), ("html", "<p>", utcnow()), ("json", "{}", utcnow())]
        _finish(s, job_id, "report", {"reports": made})
        assert made == _written(s, Report.__table__, job_id, columns, [Report.format])
        s.rollback()


def test_a_finish_that_misses_writes_nothing(stub_worker):
    """The stage's rows are joined to the compare-and-set: when it misses (the job has moved on),
    the statement writes none of them."""
    from pipeline.errors import IllegalTransition

    job_id = _completed(stub_worker, "the-heist.fountain")
    spec = STAGES.by_name["storyboard"]
    with session_factory()() as s:
        shots = [(1, 1, 1, "wide", "a shot")]
        s.execute(Shot.__table__.delete().where(Shot.job_id == job_id))
        with pytest.raises(IllegalTransition):  # the job is COMPLETED, not STORYBOARDING
            transition(
                s,
                job_id,
                spec.running,
                spec.done,
                writes=storyboard.IO.write_ctes,
                write_params=storyboard.IO.write_params({"shots": shots, "shot_assets": []}),
            )
        left = s.scalar(select(func.count()).select_from(Shot).where(Shot.job_id == job_id))
        status = s.scalar(select(Job.status).where(Job.id == job_id))
        s.rollback()
    assert (left, status) == (0, "COMPLETED")


def test_a_chunk_is_saved_with_its_records_in_one_statement_once(stub_worker):
    """Marking a chunk done, writing its records and counting it are one statement;
    the records carry every column the per-row insert wrote (long names cut to 500), and a second
    save of the same chunk (another delivery) changes nothing and writes no record."""
    from sqlalchemy import event

    from models import ExtractionRecord
    from pipeline.db import get_engine
    from pipeline.uow import UnitOfWork
    from stages.drafts import Mention

    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / "the-heist.fountain"], project="records")
    drain(broker, worker)
    with session_factory()() as s, s.begin():
        chunk_id = s.scalar(select(Chunk.id).where(Chunk.job_id == job_id).order_by(Chunk.number).limit(1))
        s.execute(ExtractionRecord.__table__.delete().where(ExtractionRecord.chunk_id == chunk_id))
        s.execute(update(Chunk).where(Chunk.id == chunk_id).values(status="running"))
        s.execute(
            update(Job).where(Job.id == job_id).values(status="EXTRACTING", chunks_done=0, chunks_total=9)
        )
    mentions = [
        Mention("character", "MARY", 1, {"dialogue_lines": 2, "aliases": ["M", "玛丽"]}),
        Mention("prop", "X" * 600, 2, {}),
    ]
    work = extract.ChunkWork(job_id, chunk_id, "en", (), options={"provider": "rules"})
    statements: list[str] = []
    count = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        with UnitOfWork() as uow:
            first = extract._save_chunk(uow, work, mentions)
        with UnitOfWork() as uow:
            second = extract._save_chunk(uow, work, mentions)
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    with session_factory()() as s:
        rows = s.execute(
            select(ExtractionRecord.job_id, ExtractionRecord.scene_number, ExtractionRecord.asset_type,
                   ExtractionRecord.raw_name, ExtractionRecord.attributes, ExtractionRecord.provider,
                   ExtractionRecord.prompt_version, ExtractionRecord.dedup_status)
            .where(ExtractionRecord.chunk_id == chunk_id).order_by(ExtractionRecord.id)
        ).all()  # fmt: skip
        done = s.scalar(select(Job.chunks_done).where(Job.id == job_id))

    assert (first, second) == (True, False)
    sent = [q for q in statements if not q.startswith("PREPARE")]  # prepared once per connection
    assert 2 == len(sent)  # one per save: done + records + counter
    assert 1 == done
    assert [
        (
            job_id,
            1,
            "character",
            "MARY",
            {"dialogue_lines": 2, "aliases": ["M", "玛丽"]},
            "rules",
            None,
            "pending",
        ),
        (job_id, 2, "prop", "X" * 500, {}, "rules", None, "pending"),
    ] == [tuple(r) for r in rows]


def test_extract_fans_out_the_chunks_not_done_in_one_statement(stub_worker):
    """The fan-out resets every chunk not done, counts the job's chunks and returns the ones to
    send in one statement: a resumed job sends only its unfinished chunks, in order."""
    from dramatiq import Message

    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / "low-tide.fountain"], project="fan", options={"max_chunk_chars": 1500})
    drain(broker, worker)
    worker.pause()  # the fan-out's messages stay on the queue to be read here
    with session_factory()() as s, s.begin():
        ids = s.scalars(select(Chunk.id).where(Chunk.job_id == job_id).order_by(Chunk.number)).all()
        assert len(ids) >= 3
        s.execute(update(Chunk).where(Chunk.id.in_(ids[1:])).values(status="failed", attempts=3, error="x"))
        s.execute(update(Job).where(Job.id == job_id).values(status="CHUNKED", chunks_done=0, chunks_total=0))
    extract.extract.fn(job_id)
    sent = [Message.decode(m).args for m in list(broker.queues[extract.CHUNK_QUEUE].queue)]
    with session_factory()() as s:
        job = s.execute(select(Job.status, Job.chunks_total, Job.chunks_done).where(Job.id == job_id)).one()
        chunks = s.execute(
            select(Chunk.status, Chunk.attempts, Chunk.error).where(Chunk.id.in_(ids[1:]))
        ).all()

    assert [[job_id, i] for i in ids[1:]] == [list(a) for a in sent]
    assert ("EXTRACTING", len(ids), 1) == tuple(job)
    assert {("pending", 0, None)} == {tuple(c) for c in chunks}
