"""Retry policy on real PostgreSQL: transient errors retry and clear, exhausted ones dead-letter once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import stages.dedup.stage
from entrypoints.testing import drain
from models import DeadLetter, JobEvent
from pipeline import jobs
from pipeline.db import session_factory
from pipeline.errors import TransientError

SCRIPT = "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n"


def _flaky(monkeypatch, failures: int) -> list[int]:
    """Make dedup's core raise a TransientError ``failures`` times, then work."""
    calls: list[int] = []
    real = stages.dedup.stage.merge_assets

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= failures:
            raise TransientError("database hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(stages.dedup.stage, "merge_assets", flaky)
    return calls


def _events(job_id: str) -> list[tuple[str, str, str | None]]:
    with session_factory()() as s:
        rows = s.execute(
            select(JobEvent.from_status, JobEvent.to_status, JobEvent.detail)
            .where(JobEvent.job_id == job_id)
            .order_by(JobEvent.id)
        ).all()
    return [tuple(r) for r in rows]


def test_transient_error_that_clears_leaves_no_dead_letter(stub_worker, monkeypatch):
    """Two transient failures of dedup are retried; the job completes and the retries show in its events."""
    broker, worker = stub_worker
    calls = _flaky(monkeypatch, failures=2)
    job_id = jobs.submit(SCRIPT, project="flaky")

    drain(broker, worker)

    assert "COMPLETED" == jobs.get_status(job_id).status
    assert 3 == len(calls)
    with session_factory()() as s:
        assert [] == s.scalars(select(DeadLetter.id)).all()
    same_state = [e[2] for e in _events(job_id) if e[0] == e[1] == "DEDUPING"]
    assert [
        "dedup attempt 1 failed, will be retried: TransientError: database hiccup",
        "re-claimed (delivery 2)",
        "dedup attempt 2 failed, will be retried: TransientError: database hiccup",
        "re-claimed (delivery 3)",
    ] == same_state


@pytest.mark.parametrize("max_retries", [0, 2])
def test_exhausted_transient_retries_dead_letter_the_job_once(pg_settings, monkeypatch, max_retries):
    """A transient error outlasting max_retries fails the job with one dead letter counting all attempts."""
    from dramatiq import Worker

    from entrypoints.testing import bind_actors
    from pipeline.broker import setup_broker
    from pipeline.settings import load_settings, set_settings

    settings = load_settings(
        **{
            **pg_settings.model_dump(),
            "stages": {"dedup": {"max_retries": max_retries, "min_backoff_ms": 10, "max_backoff_ms": 20}},
        }
    )
    set_settings(settings)
    broker = setup_broker(settings, stub=True)
    bind_actors(broker, settings=settings)
    broker.emit_after("process_boot")
    worker = Worker(broker, worker_threads=1, worker_timeout=20)
    worker.start()
    try:
        _flaky(monkeypatch, failures=100)
        job_id = jobs.submit(SCRIPT, project="doomed")
        drain(broker, worker)
    finally:
        worker.stop()

    view = jobs.get_status(job_id)
    assert ("FAILED", "dedup") == (view.status, view.failed_stage)
    with session_factory()() as s:
        letters = s.execute(select(DeadLetter.stage, DeadLetter.error_type, DeadLetter.attempts)).all()
    assert [("dedup", "TransientError", max_retries + 1)] == [tuple(r) for r in letters]
