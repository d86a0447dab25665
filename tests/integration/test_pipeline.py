"""The six stages on real PostgreSQL through a StubBroker: completion, redelivery, fan-in races,
re-runs and dead letters."""

from __future__ import annotations

import threading

import dramatiq
import pytest
from sqlalchemy import func, select, update

from entrypoints.testing import drain
from models import Chunk, DeadLetter, Episode, ExtractionRecord, Job, JobEvent, Scene, ScriptContent, Shot
from pipeline import jobs
from pipeline.db import session_factory
from pipeline.states import Status
from pipeline.transitions import transition

ENGLISH = """Title: The Test
Author: Juben

INT. KITCHEN - NIGHT

MARY pours coffee. She picks up a revolver.

MARY
Who's there?

JOHN (O.S.)
Only me.

EXT. GARDEN - DAY

JOHN walks in with a SHOVEL.

JOHN
We need to talk.

MARY
Not now.
"""

CHINESE = """第1集 重逢

1-1 日 内 客厅
人物：小娟、老王
△小娟拿起茶杯。
小娟：你回来了？
老王：嗯。

1-2 夜 外 街道
人物：老王
老王（低声）：明天见。

第2集 离别

2-1 日 内 车站
小娟：再见。
老王：保重。
"""


def _counts(job_id: str) -> dict[str, int]:
    with session_factory()() as s:
        return {
            t.__tablename__: s.scalar(select(func.count()).select_from(t).where(t.job_id == job_id))
            for t in (Episode, Scene, Chunk, ExtractionRecord, Shot)
        }


def _status(job_id: str) -> str:
    return jobs.get_status(job_id).status


def test_a_job_runs_through_all_six_stages(stub_worker):
    """An English and a Chinese script both reach COMPLETED with scenes, speakers and shots."""
    broker, worker = stub_worker
    english = jobs.submit(ENGLISH, project="it")
    chinese = jobs.submit(CHINESE, project="it")

    drain(broker, worker)

    for job_id in (english, chinese):
        view = jobs.get_status(job_id)
        assert ("COMPLETED", 100.0) == (view.status, view.percent)
        assert ["ingest", "chunk", "extract", "dedup", "storyboard", "report"] == [
            t.stage for t in view.timings
        ]
    import json

    report = json.loads(jobs.get_report(english, "json"))
    assert "The Test" == report["job"]["title"]
    assert ["KITCHEN", "GARDEN"] == [s["location"] for s in report["scenes"]]
    assert {"MARY", "JOHN"} <= {c["name"] for c in report["characters"]}
    zh = json.loads(jobs.get_report(chinese, "json"))
    assert [1, 1, 2] == [s["episode"] for s in zh["scenes"]]
    assert {"小娟", "老王"} <= {c["name"] for c in zh["characters"]}


def _take(broker, queue: str) -> list[dramatiq.Message]:
    """Pop every message waiting on a stub queue."""
    taken = []
    q = broker.queues[queue]
    while not q.empty():
        taken.append(dramatiq.Message.decode(q.get()))
        q.task_done()
    return taken


def _call(broker, message: dramatiq.Message) -> None:
    broker.get_actor(message.actor_name).fn(*message.args)


def test_redelivered_stage_message_leaves_one_copy_and_one_next_message(pg_settings):
    """A chunk message delivered twice (the first worker died after claiming) writes its rows once
    and sends exactly one extract message."""
    from entrypoints.testing import bind_actors
    from pipeline.broker import setup_broker

    broker = setup_broker(pg_settings, stub=True)
    bind_actors(broker)
    job_id = jobs.submit(ENGLISH, project="redeliver")
    [ingest_msg] = _take(broker, "default")
    _call(broker, ingest_msg)
    [chunk_msg] = _take(broker, "default")
    with session_factory()() as s, s.begin():  # a first delivery claimed, then its worker died
        transition(s, job_id, Status.INGESTED, Status.CHUNKING)

    _call(broker, chunk_msg)
    _call(broker, chunk_msg)

    assert "CHUNKED" == _status(job_id)
    assert ["extract"] == [m.actor_name for m in _take(broker, "default")]
    assert 2 == _counts(job_id)["scenes"]


def test_last_two_chunks_finishing_together_send_one_dedup(pg_settings):
    """When the last two chunks finish at the same moment, exactly one wins the fan-in."""
    from entrypoints.testing import bind_actors
    from pipeline.broker import setup_broker

    broker = setup_broker(pg_settings, stub=True)
    bind_actors(broker)
    script = "\n\n".join(
        f"INT. ROOM {n} - DAY\n\nMARY opens the door {n}.\n\nMARY\nHello {n}.\n" * 2 for n in range(4)
    )
    for _ in range(5):
        job_id = jobs.submit(script, project="race", options={"max_chunk_chars": 200})
        chunk_msgs: list[dramatiq.Message] = []
        for _ in range(4):  # ingest, chunk, extract: each step's message appears after the last
            for m in _take(broker, "default") + _take(broker, "ai"):
                if m.actor_name == "extract_chunk":
                    chunk_msgs.append(m)
                else:
                    _call(broker, m)
        assert len(chunk_msgs) >= 3
        for m in chunk_msgs[:-2]:
            _call(broker, m)
        assert "EXTRACTING" == _status(job_id)
        barrier = threading.Barrier(2)

        def finish(message: dramatiq.Message, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            _call(broker, message)

        threads = [threading.Thread(target=finish, args=(m,)) for m in chunk_msgs[-2:]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert "EXTRACTED" == _status(job_id)
        assert ["dedup"] == [m.actor_name for m in _take(broker, "default")]


def test_rerun_from_a_stage_leaves_exactly_one_copy_of_each_output(stub_worker):
    """Re-running a completed job from chunk rebuilds its rows without duplicating any."""
    broker, worker = stub_worker
    job_id = jobs.submit(CHINESE, project="rerun")
    drain(broker, worker)
    first = _counts(job_id)

    from pipeline.reruns import rerun

    rerun(job_id, "chunk")
    drain(broker, worker)

    assert "COMPLETED" == _status(job_id)
    assert first == _counts(job_id)


def test_permanent_error_dead_letters_the_job(stub_worker):
    """A stage that hits a permanent error fails the job at once with one dead letter, no retries."""
    broker, worker = stub_worker
    worker.pause()  # break the job before a worker can ingest it
    job_id = jobs.submit(ENGLISH, project="dead")
    with session_factory()() as s, s.begin():
        s.execute(update(ScriptContent).where(ScriptContent.job_id == job_id).values(sha256="0" * 64))
    worker.resume()

    drain(broker, worker)

    view = jobs.get_status(job_id)
    assert ("FAILED", "ingest") == (view.status, view.failed_stage)
    assert "sha256" in (view.error or "")
    with session_factory()() as s:
        letters = s.execute(select(DeadLetter.stage, DeadLetter.error_type, DeadLetter.attempts)).all()
        events = s.scalars(
            select(JobEvent.to_status).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        ).all()
    assert [("ingest", "InputError", 1)] == [tuple(r) for r in letters]
    assert ["PENDING", "INGESTING", "FAILED"] == events


def test_cancelled_job_drops_its_messages(stub_worker):
    """A job cancelled before its first message runs stays CANCELLED and produces nothing."""
    broker, worker = stub_worker
    worker.pause()
    job_id = jobs.submit(ENGLISH, project="cancel")
    assert jobs.cancel(job_id)
    worker.resume()

    drain(broker, worker)

    assert "CANCELLED" == _status(job_id)
    assert {"episodes": 0, "scenes": 0, "chunks": 0, "extraction_records": 0, "shots": 0} == _counts(job_id)


@pytest.mark.parametrize("limit", [1, 2])
def test_job_listing_pages_newest_first(pg_settings, limit):
    """`jobs` pages newest first with a cursor, each job exactly once."""
    from pipeline.broker import setup_broker

    setup_broker(pg_settings, stub=True)
    ids = [jobs.submit(ENGLISH, project="list") for _ in range(5)]
    seen, cursor = [], None
    while True:
        page = jobs.list_jobs(project="list", limit=limit, cursor=cursor)
        seen += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert list(reversed(ids)) == seen


def test_jobs_of_one_project_share_assets_without_duplicates(stub_worker):
    """Two jobs of one project dedup concurrently into one set of assets; the later one creates none."""
    broker, worker = stub_worker
    first = jobs.submit(CHINESE, project="shared")
    second = jobs.submit(CHINESE, project="shared")

    drain(broker, worker)

    assert ["COMPLETED", "COMPLETED"] == [_status(first), _status(second)]
    from models import Asset

    with session_factory()() as s:
        keys = s.execute(select(Asset.type, Asset.key)).all()
        statuses = {
            job_id: sorted(
                set(s.scalars(select(ExtractionRecord.dedup_status).where(ExtractionRecord.job_id == job_id)))
            )
            for job_id in (first, second)
        }
    assert len(keys) == len(set(keys))
    assert 1 == sum("new" in v for v in statuses.values())
    assert all(set(v) <= {"new", "exact", "alias", "fuzzy"} for v in statuses.values())


def _dedup_again(broker, worker, *job_ids: str, drop_assets: bool = False) -> None:
    """Complete ``job_ids`` (one project), then put them back before dedup with no worker running."""
    from models import Asset
    from pipeline.reruns import rerun

    drain(broker, worker)
    worker.stop()
    for job_id in job_ids:
        rerun(job_id, "dedup")
    if drop_assets:
        with session_factory()() as s, s.begin():
            s.execute(Asset.__table__.delete())


def test_a_dedup_that_finds_only_known_assets_does_not_wait_for_the_project_lock(stub_worker):
    """The merge is made without the per-project lock; one that creates and changes nothing is
    written as it is, so it completes while another transaction holds the project row."""
    from models import Asset, Project
    from stages.dedup.stage import dedup

    broker, worker = stub_worker
    first = jobs.submit(CHINESE, project="busy")
    second = jobs.submit(CHINESE, project="busy")
    _dedup_again(broker, worker, second)
    with session_factory()() as s:
        before = s.execute(select(Asset.id, Asset.aliases)).all()
    done = threading.Event()

    with session_factory()() as holder, holder.begin():
        holder.execute(select(Project.id).where(Project.name == "busy").with_for_update())
        thread = threading.Thread(target=lambda: (dedup.fn(second), done.set()))
        thread.start()
        thread.join(timeout=30)
        assert done.is_set(), "dedup waited for the project lock although it wrote no asset"

    assert "DEDUPED" == _status(second)
    with session_factory()() as s:
        assert before == s.execute(select(Asset.id, Asset.aliases)).all()
        decided = s.execute(
            select(ExtractionRecord.dedup_status, ExtractionRecord.asset_id).where(
                ExtractionRecord.job_id == second
            )
        ).all()
    assert decided and all(status in {"exact", "alias", "fuzzy"} and asset for status, asset in decided)
    assert first != second


def test_a_dedup_whose_snapshot_went_stale_merges_again_under_the_lock(stub_worker, monkeypatch):
    """Job A merges against a project without assets (it would create them all); job B dedups and
    creates them before A writes. A must merge again under the lock: no asset twice, A creates none."""
    import stages.dedup.stage as dd
    from models import Asset

    broker, worker = stub_worker
    a = jobs.submit(CHINESE, project="race-assets")
    b = jobs.submit(CHINESE, project="race-assets")
    _dedup_again(broker, worker, a, b, drop_assets=True)
    merge = dd._merge
    pending = [True]

    def b_finishes_first(inputs):
        out = merge(inputs)
        if pending and pending.pop():
            assert out.writes_assets
            thread = threading.Thread(target=dd.dedup.fn, args=(b,))
            thread.start()
            thread.join()
        return out

    monkeypatch.setattr(dd, "_merge", b_finishes_first)
    dd.dedup.fn(a)

    assert ["DEDUPED", "DEDUPED"] == [_status(a), _status(b)]
    with session_factory()() as s:
        keys = s.execute(select(Asset.type, Asset.key)).all()
        firsts = set(s.scalars(select(Asset.first_job_id)))
        statuses = {
            job_id: set(
                s.scalars(select(ExtractionRecord.dedup_status).where(ExtractionRecord.job_id == job_id))
            )
            for job_id in (a, b)
        }
    assert keys and len(keys) == len(set(keys))
    assert {b} == firsts
    assert "new" in statuses[b] and "new" not in statuses[a] and "pending" not in statuses[a]


@pytest.mark.parametrize(("earlier_deliveries", "poisoned"), [(1, False), (3, True)])
def test_a_chunk_that_keeps_killing_its_worker_is_poison(stub_worker, earlier_deliveries, poisoned):
    """Deliveries of one chunk beyond its counted retries are worker deaths; past max_deaths the
    chunk's message is a PoisonMessage (dead-lettered) instead of being redelivered forever."""
    from pipeline.runner import PoisonMessage
    from stages.extract.stage import extract_chunk

    broker, worker = stub_worker
    job_id = jobs.submit(ENGLISH, project="poison")
    drain(broker, worker)
    with session_factory()() as s, s.begin():
        chunk_id = s.scalar(select(Chunk.id).where(Chunk.job_id == job_id).limit(1))
        s.execute(update(Job).where(Job.id == job_id).values(status="EXTRACTING"))
        s.execute(
            update(Chunk).where(Chunk.id == chunk_id).values(status="running", attempts=earlier_deliveries)
        )

    if poisoned:
        with pytest.raises(PoisonMessage, match="worker died 3 times"):
            extract_chunk.fn(job_id, chunk_id)
    else:
        extract_chunk.fn(job_id, chunk_id)
        with session_factory()() as s:
            assert "done" == s.scalar(select(Chunk.status).where(Chunk.id == chunk_id))


def test_a_second_delivery_of_a_chunk_finished_meanwhile_is_dropped(stub_worker):
    """A chunk message delivered twice, the second reading the chunk just before the first
    finishes it: the second must not turn "done" back into "running" and count it again (which
    finished extraction early, without one chunk's records). Found by the Redis-restart chaos test."""
    import stages.extract.stage as ex
    from pipeline.reruns import rerun
    from pipeline.uow import UnitOfWork

    broker, worker = stub_worker
    script = "".join(
        f"INT. ROOM {n} - NIGHT\n\nMARY{n} pours coffee for BOB{n}.\n\nMARY{n}\nWho's there, {n}?\n\n"
        for n in range(1, 9)
    )
    job_id = jobs.submit(script, project="race", options={"max_chunk_chars": 200})
    drain(broker, worker)
    worker.stop()
    rerun(job_id, "extract")
    ex.extract.fn(job_id)  # CHUNKED → EXTRACTING; its chunk messages are left unsent to a worker
    with session_factory()() as s:
        chunk_ids = s.scalars(select(Chunk.id).where(Chunk.job_id == job_id).order_by(Chunk.number)).all()
    assert len(chunk_ids) > 2

    # The first delivery finishes the chunk; the second's claim (one UPDATE … WHERE status <> 'done',
    # with no window between a read and the update) then finds it done and drops the message.
    ex.extract_chunk.fn(job_id, chunk_ids[0])
    with UnitOfWork(core=True) as uow:
        assert ex._load_chunk(uow.connection, job_id, chunk_ids[0]) is None
    for chunk_id in chunk_ids[1:]:
        ex.extract_chunk.fn(job_id, chunk_id)

    with session_factory()() as s:
        job = s.get(Job, job_id)
        statuses = s.scalars(select(Chunk.status).where(Chunk.job_id == job_id)).all()
    assert {"done"} == set(statuses)
    assert (len(chunk_ids), "EXTRACTED") == (job.chunks_done, job.status)


def test_a_per_job_time_limit_goes_on_its_messages_and_holds_the_reconciler_off(stub_worker):
    """`--set time_limit_s=N` (re-run or dlq retry) is the time limit of the job's messages, and the
    reconciler does not take a job running within that longer limit for a stranded one."""
    from datetime import timedelta

    from pipeline.reconciler import reconcile
    from pipeline.reruns import rerun

    broker, worker = stub_worker
    job_id = jobs.submit(ENGLISH, project="limits")
    drain(broker, worker)
    worker.pause()
    rerun(job_id, "dedup", options={"time_limit_s": 1800})
    [message] = _take(broker, "default")
    assert ("dedup", 1_800_000) == (message.actor_name, message.options["time_limit"])

    with session_factory()() as s, s.begin():  # dedup has been running for 10 minutes
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status="DEDUPING", updated_at=func.now() - timedelta(minutes=10))
        )
    assert [] == [j for j in reconcile() if j.job_id == job_id]  # stage limit 300 s, the job's 1800 s
    worker.resume()


def _extracting_job(broker, worker, project: str) -> tuple[str, list[int]]:
    """A job of several chunks, fanned out (EXTRACTING) with its chunk messages not sent to a worker."""
    import stages.extract.stage as ex
    from pipeline.reruns import rerun

    script = "".join(
        f"INT. ROOM {n} - NIGHT\n\nMARY{n} pours coffee for BOB{n}.\n\nMARY{n}\nWho's there, {n}?\n\n"
        for n in range(1, 7)
    )
    job_id = jobs.submit(script, project=project, options={"max_chunk_chars": 200})
    drain(broker, worker)
    worker.stop()
    rerun(job_id, "extract")
    ex.extract.fn(job_id)
    with session_factory()() as s:
        chunk_ids = s.scalars(select(Chunk.id).where(Chunk.job_id == job_id).order_by(Chunk.number)).all()
    assert len(chunk_ids) > 2
    return job_id, list(chunk_ids)


def test_a_concurrent_second_save_of_a_chunk_waits_for_the_first_and_writes_nothing(stub_worker):
    """Two deliveries of one chunk saving at once (each save commits on its own): the second waits on
    the chunk's row lock until the first commits, then finds the chunk done. The chunk is counted
    once and its records written once."""
    import stages.extract.stage as ex
    from pipeline.uow import UnitOfWork
    from stages.drafts import Mention

    broker, worker = stub_worker
    job_id, chunk_ids = _extracting_job(broker, worker, "twice")
    work = ex.ChunkWork(job_id, chunk_ids[0], "en", (), options={"provider": "rules"})
    mentions = [Mention("character", "MARY", 1, {})]
    second: list[bool] = []

    def save_again() -> None:
        with UnitOfWork(autocommit=True, core=True) as uow:
            second.append(ex._save_chunk(uow, work, mentions))

    with UnitOfWork(core=True) as first:  # a transaction held open: its row locks stay taken
        assert ex._save_chunk(first, work, mentions)
        racer = threading.Thread(target=save_again)
        racer.start()
        racer.join(timeout=1.0)
        assert racer.is_alive()  # waiting on the chunk's row lock, not counting it a second time
    racer.join(timeout=30)
    assert second == [False]
    with session_factory()() as s:
        done = s.scalar(select(Job.chunks_done).where(Job.id == job_id))
        records = s.scalar(
            select(func.count())
            .select_from(ExtractionRecord)
            .where(ExtractionRecord.chunk_id == chunk_ids[0])
        )
    assert (done, records) == (1, 1)


def test_a_last_chunk_counted_but_not_transitioned_is_finished_by_its_redelivery(stub_worker, monkeypatch):
    """The last chunk's count commits on its own; if its delivery fails before EXTRACTING →
    EXTRACTED, the job is left with every chunk counted. The chunk's redelivery (a retry, or
    dramatiq's after a worker died) finds the chunk done and finishes the stage."""
    import stages.extract.stage as ex

    broker, worker = stub_worker
    job_id, chunk_ids = _extracting_job(broker, worker, "lost-transition")
    for chunk_id in chunk_ids[:-1]:
        ex.extract_chunk.fn(job_id, chunk_id)

    class Lost(Exception):
        pass

    def lose(*args, **kwargs):
        raise Lost("connection lost before the transition")

    with monkeypatch.context() as m:
        m.setattr(ex, "finish_stage", lose)
        with pytest.raises(Lost):
            ex.extract_chunk.fn(job_id, chunk_ids[-1])
    with session_factory()() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.chunks_done, job.chunks_total) == (
            "EXTRACTING",
            len(chunk_ids),
            len(chunk_ids),
        )
    broker.flush_all()
    ex.extract_chunk.fn(job_id, chunk_ids[-1])  # the redelivery
    with session_factory()() as s:
        job = s.get(Job, job_id)
        assert "EXTRACTED" == job.status
        events = s.scalars(
            select(JobEvent.to_status).where(
                JobEvent.job_id == job_id, JobEvent.run == job.run, JobEvent.to_status == "EXTRACTED"
            )
        ).all()
    assert 1 == len(events)
    assert 1 == broker.queues["default"].qsize()  # dedup's message, sent once
