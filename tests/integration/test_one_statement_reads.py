"""On PostgreSQL the report and storyboard stages read their inputs in one statement each; what they
read equals what their portable reads (one statement per list, as on SQLite) give."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, update

from entrypoints.testing import drain
from models import Chunk, Job
from pipeline import jobs
from pipeline.db import session_factory
from pipeline.runner import StageWrites
from pipeline.states import STAGE_BY_NAME
from pipeline.transitions import transition
from stages.dedup import stage as dedup
from stages.extract import stage as extract
from stages.report import stage as report
from stages.storyboard import stage as storyboard

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _plain(value: Any) -> Any:
    """Rows and JSON arrays alike as nested lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or hasattr(value, "_mapping"):
        return [_plain(v) for v in value]
    return value


def _finish(session: Any, job_id: str, stage: str, writes: Any) -> None:
    """A stage's writes as its finish runs them on PostgreSQL: CTEs of the ``running → done``
    statement (the job put in the running state first)."""
    spec = STAGE_BY_NAME[stage]
    session.execute(update(Job).where(Job.id == job_id).values(status=spec.running.value))
    transition(session, job_id, spec.running, spec.done, writes=writes.ctes, write_params=writes.params)


def _one_statement(session: Any, reads: Any, job_id: str) -> tuple[Any, ...]:
    """A stage's ``reads`` run as the claim runs them: expressions over the job's row."""
    table = Job.__table__
    return tuple(session.execute(select(*reads(table.c)).where(table.c.id == job_id)).one())


@pytest.mark.parametrize("example", ["逆袭总裁.txt", "the-heist.fountain"])
def test_one_statement_reads_equal_the_portable_reads(stub_worker, example):
    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / example], project="reads")
    drain(broker, worker)
    assert "COMPLETED" == jobs.get_status(job_id).status
    with session_factory()() as s:
        # Some LLM usage to sum, so the usage subquery is compared on real figures.
        first = s.scalar(select(Chunk.id).where(Chunk.job_id == job_id).order_by(Chunk.number).limit(1))
        s.execute(
            update(Chunk)
            .where(Chunk.id == first)
            .values(provider="openai", calls=2, prompt_tokens=900, completion_tokens=80, latency_ms=4100)
        )
        s.commit()
        row = s.execute(select(Job.id, Job.run, Job.meta, Job.project_id).where(Job.id == job_id)).one()
        job: Any = SimpleNamespace(
            id=row.id, run=row.run, meta=row.meta, project_id=row.project_id, inputs=None
        )
        one = report._reads_of(_one_statement(s, report._pg_reads, job_id), job)
        each = report._read_each(s, job)
        board_one = storyboard._rows_of(_one_statement(s, storyboard._pg_reads, job_id))
        board_each = storyboard._read_each(s.connection(), job_id)
        dedup_in = SimpleNamespace(**vars(job) | {"inputs": _one_statement(s, dedup._pg_reads, job_id)})
        dedup_one = dedup._load(s.connection(), dedup_in)
        dedup_records = s.connection().execute(dedup._Q_RECORDS, {"job_id": job_id}).all()
        dedup_assets = dedup._read_assets(s.connection(), row.project_id)

    assert one.records and one.shots and one.assets and one.scenes and one.stage_seconds
    assert one.usage is not None and 2 == one.usage["calls"]
    for field in report._Reads.__dataclass_fields__:
        assert _plain(getattr(each, field)) == _plain(getattr(one, field)), field
    assert len(board_one[0]) > 1000 and board_one[1] and board_one[2]
    assert _plain(list(board_each)) == _plain(list(board_one))
    # Equal as tuples, not only as lists: dedup compares a fresh read with the loaded rows to see
    # whether another job wrote assets meanwhile.
    assert dedup_assets and dedup_assets == dedup_one.asset_rows
    assert [
        (r.id, r.asset_type, r.raw_name, r.scene_number, r.episode or 1, r.attributes) for r in dedup_records
    ] == [
        (r.id, r.asset_type, r.raw_name, r.scene_number, r.episode, r.attributes) for r in dedup_one.records
    ]


def test_a_chunk_claim_returns_the_scenes_the_portable_read_gives(stub_worker):
    """extract_chunk's claim on PostgreSQL returns its chunk's scenes; they equal _Q_SCENES' rows."""
    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / "low-tide.fountain"], project="reads", options={"max_chunk_chars": 1500})
    drain(broker, worker)
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
                extract._PG_CLAIM_CHUNK, {"p_job_id": job_id, "p_chunk_id": chunk_id}
            ).one()
            read = connection.execute(
                extract._Q_SCENES, {"p_job_id": job_id, "p_first": first, "p_last": last}
            ).all()
            assert read and _plain(read) == _plain(claimed[-1])
        s.rollback()


@pytest.mark.parametrize("stage", ["ingest", "chunk", "dedup", "storyboard", "report"])
def test_the_claim_reads_the_stage_inputs(stub_worker, stage):
    """On PostgreSQL a stage's claim statement returns its inputs: the same values the stage's own
    reads give, so its load makes no statement of its own."""
    from sqlalchemy import event

    from pipeline.db import get_engine
    from pipeline.transitions import claim
    from stages import chunk, ingest

    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / "the-heist.fountain"], project="reads")
    drain(broker, worker)
    module = {"ingest": ingest, "chunk": chunk, "dedup": dedup, "storyboard": storyboard, "report": report}[
        stage
    ]
    reads = getattr(module, "_reads", None) or module._pg_reads
    spec = STAGE_BY_NAME[stage]
    statements: list[str] = []
    with session_factory()() as s:
        s.execute(update(Job).where(Job.id == job_id).values(status=spec.ready.value))
        job = claim(s, job_id, spec.ready, spec.running, reads=reads)
        assert job is not None and job.inputs is not None
        bare = SimpleNamespace(**{k: getattr(job, k) for k in ("id", "run", "meta", "project_id", "options")})
        count = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(get_engine(), "before_cursor_execute", count)
        try:
            loaded = module._load(s.connection(), job)
        finally:
            event.remove(get_engine(), "before_cursor_execute", count)
        assert [] == statements  # the load read nothing itself
        own = module._load(s.connection(), SimpleNamespace(**vars(bare), inputs=None, language=job.language,
                                              title=job.title, created_at=job.created_at, chunks_total=job.chunks_total))  # fmt: skip
        s.rollback()
    if stage == "report":  # the header's finished_at is the time of the load
        loaded.job.pop("finished_at"), own.job.pop("finished_at")
    assert own == loaded


@pytest.mark.parametrize("example", ["逆袭总裁.txt", "the-heist.fountain"])
def test_chunk_inserts_from_arrays_equal_the_row_inserts(pg_settings, example):
    """Chunk's one-statement insert (column arrays through unnest) writes exactly the rows its
    per-table inserts write: every column, JSON, NULLs and the chunks' defaults included."""
    from pipeline.broker import setup_broker
    from pipeline.sources import read_scripts
    from stages import chunk

    setup_broker(pg_settings, stub=True)
    job_id = jobs.submit([EXAMPLES / example], project="inserts")
    script = read_scripts([EXAMPLES / example], max_bytes=10_000_000)
    inputs = chunk._Inputs(script.text, [chunk.SourceSpan(s["name"], s["start"], s["end"]) for s in script.sources],
                           600, 0, None)  # fmt: skip
    structure = chunk._compute(inputs)
    rows = chunk._rows(structure)
    assert rows["scenes"] and rows["chunks"]
    assert any(r[-1] for r in rows["scenes"]) == example.endswith(".txt")  # listed characters (JSON)

    def written(insert) -> dict[str, list[tuple]]:
        with session_factory()() as s, s.begin():
            insert(s)
            out = {}
            for name, (table, _, _) in chunk._STRUCTURE.items():
                columns = [c for c in table.c if c.name not in ("id", "job_id")]
                out[name] = [
                    tuple(r)
                    for r in s.execute(
                        select(*columns).where(table.c.job_id == job_id).order_by(table.c.number)
                    )
                ]
                s.execute(table.delete().where(table.c.job_id == job_id))
        return out

    each = written(lambda s: chunk._insert_each(s.connection(), job_id, rows))
    assert each == written(lambda s: _finish(s, job_id, "chunk", chunk._writes(None, structure)))
    assert len(each["scenes"]) == len(rows["scenes"])


@pytest.mark.parametrize("example", ["逆袭总裁.txt", "the-heist.fountain"])
def test_storyboard_inserts_from_arrays_equal_the_row_inserts(stub_worker, example):
    """Storyboard's one-statement insert (shots from arrays, references joined to the new shots by
    scene and number) writes the shots and references its two inserts write."""
    from models import Shot, ShotAsset

    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / example], project="shots")
    drain(broker, worker)
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

    def written(insert) -> tuple[list[tuple], list[tuple]]:
        with session_factory()() as s:  # rolled back: each path writes into the same empty job
            s.execute(Shot.__table__.delete().where(Shot.job_id == job_id))
            insert(s)
            got = (
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
        return got

    each = written(lambda s: storyboard._insert_each(s.connection(), job_id, shots, refs))
    folded = StageWrites(storyboard._pg_writes, storyboard._write_params(shots, refs))
    assert (shots, refs) == each == written(lambda s: _finish(s, job_id, "storyboard", folded))


def test_reports_written_by_the_finish_statement_equal_the_row_insert(stub_worker):
    """Report's finish writes its three reports as a CTE of the ``REPORTING → COMPLETED``
    statement: the same rows (format, content, a creation time) the per-row insert writes."""
    from models import Report

    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / "the-heist.fountain"], project="reports")
    drain(broker, worker)
    columns = (Report.format, Report.content)
    with session_factory()() as s:
        stored = [
            tuple(r)
            for r in s.execute(select(*columns).where(Report.job_id == job_id).order_by(Report.format))
        ]
    assert [f for f, _ in stored] == ["csv", "html", "json"]
    out = dict(stored)

    def written(insert) -> list[tuple]:
        with session_factory()() as s:  # rolled back: each path writes into the same empty job
            s.execute(Report.__table__.delete().where(Report.job_id == job_id))
            insert(s)
            got = [tuple(r) for r in s.execute(
                select(*columns, Report.created_at.is_not(None)).where(Report.job_id == job_id).order_by(Report.format)
            )]  # fmt: skip
            s.rollback()
        return got

    each = written(lambda s: report._save(s.connection(), SimpleNamespace(id=job_id), out))
    assert (
        [(f, c, True) for f, c in stored]
        == each
        == written(lambda s: _finish(s, job_id, "report", report._writes(None, out)))
    )


def test_a_finish_that_misses_writes_nothing(stub_worker):
    """The stage's rows are joined to the compare-and-set: when it misses (the job has moved on),
    the statement writes none of them."""
    from models import Shot
    from pipeline.errors import IllegalTransition

    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / "the-heist.fountain"], project="misses")
    drain(broker, worker)
    spec = STAGE_BY_NAME["storyboard"]
    with session_factory()() as s:
        shots = [(1, 1, 1, "wide", "a shot")]
        s.execute(Shot.__table__.delete().where(Shot.job_id == job_id))
        with pytest.raises(IllegalTransition):  # the job is COMPLETED, not STORYBOARDING
            transition(
                s,
                job_id,
                spec.running,
                spec.done,
                writes=storyboard._pg_writes,
                write_params=storyboard._write_params(shots, []),
            )
        left = s.scalar(select(func.count()).select_from(Shot).where(Shot.job_id == job_id))
        status = s.scalar(select(Job.status).where(Job.id == job_id))
        s.rollback()
    assert (left, status) == (0, "COMPLETED")


def test_a_chunk_is_saved_with_its_records_in_one_statement_once(stub_worker):
    """On PostgreSQL marking a chunk done, writing its records and counting it are one statement;
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
    send in one statement on PostgreSQL: a resumed job sends only its unfinished chunks, in order."""
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
