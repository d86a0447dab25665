"""What a new user meets first, on real PostgreSQL and Redis: submit's contract when Redis is
down, idempotency keys, a project of the script's own, and messages that reach the configured
broker whatever command sends them."""

from __future__ import annotations

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select, text, update

import pipeline.broker
from entrypoints.testing import drain
from models import Job, Project, ScriptContent
from pipeline import deadletters, jobs
from pipeline.broker import current_broker
from pipeline.db import session_factory
from pipeline.errors import IdempotencyConflict, SettingsError
from pipeline.reconciler import reconcile
from pipeline.settings import Settings, load_settings, set_settings
from tests.conftest import REDIS_URL

SCRIPT = "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n"
OTHER = "EXT. GARDEN - DAY\n\nJOHN digs.\n\nJOHN\nNothing here.\n"


def _count(model: type) -> int:
    with session_factory()() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _queued_job_ids(client: redis.Redis, namespace: str, queue: str = "default") -> list[str]:
    import json

    return [json.loads(raw)["args"][0] for raw in client.hvals(f"{namespace}:{queue}.msgs")]


def test_a_message_goes_to_the_configured_redis_when_no_command_set_a_broker_up(
    pg_settings: Settings, redis_namespace: str, no_broker: None
):
    """submit with no setup_broker() call: the first stage's message is in broker.url under broker.namespace."""
    client = redis.Redis.from_url(REDIS_URL)

    job_id = jobs.submit(SCRIPT, project="p")

    assert [job_id] == _queued_job_ids(client, redis_namespace)


def test_dramatiqs_implicit_default_broker_is_never_used(pg_settings: Settings, no_broker: None):
    """A broker that dramatiq made itself (an actor imported first) is replaced by the settings' one."""
    dramatiq.set_broker(StubBroker())

    broker = current_broker()

    assert isinstance(broker, RedisBroker)
    assert pg_settings.broker.namespace == broker.namespace


def test_dlq_retry_sends_to_the_configured_redis_and_removes_nothing_else(
    stub_worker, pg_settings: Settings, redis_namespace: str
):
    """A re-driven job's message lands in the settings' Redis namespace even from a fresh process."""
    broker, worker = stub_worker
    worker.pause()  # break the job before a worker can ingest it
    job_id = jobs.submit(SCRIPT, project="dlq")
    with session_factory()() as s, s.begin():
        good = s.scalar(select(ScriptContent.sha256).where(ScriptContent.job_id == job_id))
        s.execute(update(ScriptContent).where(ScriptContent.job_id == job_id).values(sha256="0" * 64))
    worker.resume()
    drain(broker, worker)
    assert "FAILED" == jobs.get_status(job_id).status
    with session_factory()() as s, s.begin():
        s.execute(update(ScriptContent).where(ScriptContent.job_id == job_id).values(sha256=good))
    dramatiq.broker.global_broker = None  # as `python enqueue.py dlq retry` starts
    pipeline.broker._installed = None

    results = deadletters.retry_dead_letters(all_=True)

    assert [True] == [r.done for r in results]
    assert [job_id] == _queued_job_ids(redis.Redis.from_url(REDIS_URL), redis_namespace)


def test_dlq_retry_of_an_unknown_id_says_so(pg_settings: Settings):
    """An id no dead letter has comes back as not found, not as an empty success."""
    results = deadletters.retry_dead_letters([999])

    assert [([999], False, "no dead letter 999")] == [(r.dead_letter_ids, r.found, r.reason) for r in results]


def test_dlq_retry_refuses_an_unknown_override_before_changing_anything(pg_settings: Settings):
    """--set bogus_key=1 is refused up front."""
    with pytest.raises(SettingsError, match="bogus_key"):
        deadletters.retry_dead_letters(all_=True, overrides={"bogus_key": "1"})


def test_submit_with_redis_down_stores_the_job_and_says_dispatch_is_delayed(
    pg_settings: Settings, redis_namespace: str, no_broker: None
):
    """Once the row commits the job is accepted: no error, dispatched=False, and the reconciler sends it."""
    down = pg_settings.model_copy(
        update={"broker": pg_settings.broker.model_copy(update={"url": "redis://127.0.0.1:1/0"})}
    )
    set_settings(down)

    submission = jobs.submit_job(SCRIPT, project="down")

    assert (True, False) == (submission.created, submission.dispatched)
    assert "PENDING" == jobs.get_status(submission.job_id).status
    set_settings(pg_settings)
    pipeline.broker._installed = None
    with session_factory()() as s, s.begin():  # as if reconcile.ready_after_s had passed
        s.execute(update(Job).values(updated_at=text("now() - interval '1 hour'")))
    found = reconcile()
    assert [submission.job_id] == [s.job_id for s in found if s.redriven]
    assert [submission.job_id] == _queued_job_ids(redis.Redis.from_url(REDIS_URL), redis_namespace)


def test_the_same_idempotency_key_and_script_return_the_same_job(pg_settings: Settings):
    """Same key, same request: the first job, marked as not created."""
    from pipeline.broker import setup_broker

    setup_broker(pg_settings, stub=True)
    first = jobs.submit_job(SCRIPT, project="idem", idempotency_key="k1")

    again = jobs.submit_job(SCRIPT, project="idem", idempotency_key="k1")

    assert (first.job_id, True, False) == (again.job_id, first.created, again.created)
    assert 1 == _count(Job)


def test_an_idempotency_key_reused_for_another_script_is_refused(pg_settings: Settings):
    """Same key, different script: an error naming the key; nothing stored."""
    from pipeline.broker import setup_broker

    setup_broker(pg_settings, stub=True)
    jobs.submit_job(SCRIPT, project="idem", idempotency_key="k1")

    with pytest.raises(IdempotencyConflict, match="'k1'"):
        jobs.submit_job(OTHER, project="idem", idempotency_key="k1")
    assert 1 == _count(Job)


def test_scripts_submitted_without_a_project_get_projects_of_their_own(pg_settings: Settings, tmp_path):
    """Two unrelated files never share a project (and so never share characters) by default."""
    from pipeline.broker import setup_broker

    setup_broker(pg_settings, stub=True)
    a = tmp_path / "kitchen.fountain"
    a.write_text(SCRIPT)
    b = tmp_path / "garden.fountain"
    b.write_text(OTHER)

    projects = {jobs.submit_job([a]).project, jobs.submit_job([b]).project}

    assert {"kitchen", "garden"} == projects
    with session_factory()() as s:
        assert {"kitchen", "garden"} == set(s.scalars(select(Project.name)))


def test_a_project_made_in_a_transaction_that_rolled_back_is_not_remembered(pg_settings: Settings):
    """Submits remember project ids per process, but only ids of committed rows: a project made
    in a transaction that rolled back is made again by the next submit (no dangling id)."""
    from pipeline.broker import setup_broker

    setup_broker(pg_settings, stub=True)
    with session_factory()() as s:
        tenant = jobs._tenant_id(s, None)
        made = jobs._project_id(s, "ghost", tenant)
        s.rollback()

    done = jobs.submit_job(SCRIPT, project="ghost")
    again = jobs.submit_job(OTHER, project="ghost")

    with session_factory()() as s:
        rows = s.execute(select(Project.id).where(Project.name == "ghost")).scalars().all()
        owners = set(s.scalars(select(Job.project_id).where(Job.id.in_([done.job_id, again.job_id]))))
    assert [made] != rows and len(rows) == 1
    assert {rows[0]} == owners


def test_submit_refuses_an_option_of_the_wrong_type(pg_settings: Settings):
    """max_chunk_chars=abc fails at submit, not later in chunk; nothing stored."""
    with pytest.raises(SettingsError, match="max_chunk_chars"):
        jobs.submit_job(SCRIPT, project="p", options={"max_chunk_chars": "abc"})
    assert 0 == _count(Job)


def test_a_database_url_that_is_not_postgresql_is_refused_at_load():
    """A URL that is not PostgreSQL (SQLite, MySQL) is a settings error naming the key."""
    with pytest.raises(SettingsError, match=r"database\.url"):
        load_settings(database={"url": "mysql://u@h/db"})


def test_text_that_is_not_a_script_fails_the_job_saying_what_is_missing(stub_worker):
    """A letter is refused by the chunk stage: FAILED, the error names what a script has, no scenes."""
    from models import Scene

    broker, worker = stub_worker
    job_id = jobs.submit(
        "Dear Anna,\n\nthe garden is in bloom and I think of you.\n\nYours, Ben\n", project="p"
    )

    drain(broker, worker)

    view = jobs.get_status(job_id)
    assert ("FAILED", "chunk") == (view.status, view.failed_stage)
    assert "not a script, or in a form Juben does not read yet: no scene headings" in (view.error or "")
    assert 0 == _count(Scene)


def test_a_readme_among_episode_files_is_named_in_the_error(stub_worker, tmp_path):
    """A folder of episodes with a README in it: the job fails naming README.md, not an extra episode."""
    broker, worker = stub_worker
    (tmp_path / "ep1.txt").write_text("1-1 日 内 客厅\n小娟：你好。\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("How to read these files: open them in order.\n", encoding="utf-8")

    job_id = jobs.submit([tmp_path], project="p")
    drain(broker, worker)

    assert (view := jobs.get_status(job_id)).status == "FAILED"
    assert "README.md: no scene headings" in (view.error or "")
