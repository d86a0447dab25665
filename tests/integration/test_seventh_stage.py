"""A seventh stage is one entry in the state table and its actor: nothing else changes.

The fixture adds a no-op ``review`` stage between storyboard and report to the table (its states
REVIEWING and REVIEWED exist nowhere else) and declares its actor on the test's broker; no other
product module is touched. A job then runs through it end to end, is re-run from it, and shows it
in its progress, its status and the architecture diagram.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from sqlalchemy import select

from entrypoints.testing import drain
from models import JobEvent, Shot
from pipeline import jobs
from pipeline.broker import actor_options
from pipeline.db import session_factory
from pipeline.progress import progress
from pipeline.reruns import rerun
from pipeline.runner import run_stage
from pipeline.states import SIX_STAGES, STAGES, StageSpec, Status, mermaid

SCRIPT = (
    "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n\nEXT. GARDEN - DAY\n\nBOB waits.\n"
)
REVIEWED: list[str] = []


def _review(job_id: str) -> None:
    """The no-op stage: claims the job, does nothing, hands it on."""
    run_stage("review", job_id, load=lambda job, inputs: job.id, compute=REVIEWED.append)


@pytest.fixture
def seven_stages(stub_worker: Any) -> Iterator[tuple[Any, Any]]:
    *six, report = SIX_STAGES
    review = StageSpec(
        "review",
        "review",
        report.ready,
        "REVIEWING",
        "REVIEWED",
        "default",
        (95, 97),
        doing="reviewing the shots",
    )  # type: ignore[arg-type]
    moved_report = dataclasses.replace(report, ready="REVIEWED", progress=(97, 100))  # type: ignore[arg-type]
    broker, worker = stub_worker
    with STAGES.use([*six, review, moved_report]):
        # Declared on the test's broker: the actor's retry and time-limit options come from the
        # settings, whose [stages.review] defaults come from the table.
        dramatiq.Actor(
            _review, actor_name="review", queue_name="default", priority=0, broker=broker,
            options=actor_options("review"),
        )  # fmt: skip
        REVIEWED.clear()
        yield broker, worker
        del broker.actors["review"]


def test_a_job_runs_through_a_seventh_stage_and_reruns_from_it(seven_stages):
    broker, worker = seven_stages
    job_id = jobs.submit(SCRIPT, project="seven")
    drain(broker, worker)

    view = jobs.get_status(job_id)
    assert (Status.COMPLETED, 100.0) == (view.status, view.percent)
    assert [job_id] == REVIEWED
    assert [t.stage for t in view.timings] == list(STAGES.names)  # review among them, in order
    with session_factory()() as s:
        path = s.execute(
            select(JobEvent.from_status, JobEvent.to_status)
            .where(JobEvent.job_id == job_id)
            .order_by(JobEvent.id)
        ).all()
        shots = s.scalar(select(Shot.id).where(Shot.job_id == job_id).limit(1))
    assert ("STORYBOARDED", "REVIEWING") in path and ("REVIEWING", "REVIEWED") in path
    assert ("REVIEWED", "REPORTING") in path

    # Re-run from the new stage: the report is made again, the storyboard's shots are kept.
    result = rerun(job_id, "review")
    assert ("COMPLETED", "STORYBOARDED", 2) == (result.from_status, result.to_status, result.run)
    drain(broker, worker)
    again = jobs.get_status(job_id)
    assert (Status.COMPLETED, 2) == (again.status, again.run)
    assert [job_id, job_id] == REVIEWED
    with session_factory()() as s:
        assert shots == s.scalar(select(Shot.id).where(Shot.job_id == job_id).limit(1))


def test_the_seventh_stage_shows_in_progress_status_and_the_diagram(seven_stages):
    running = progress(Status("REVIEWING"), times={})
    waiting = progress(Status("STORYBOARDED"), times={})
    assert (95.0, "reviewing the shots") == (running.percent, running.step)
    assert "waiting for review" == waiting.step
    assert "REVIEWED" in STAGES.statuses and STAGES.by_name["report"].ready == "REVIEWED"
    diagram = mermaid()
    assert "STORYBOARDED --> REVIEWING: review" in diagram
    assert "REVIEWED --> REPORTING: report" in diagram
    assert "REVIEWING" not in SIX_STAGES_DIAGRAM


SIX_STAGES_DIAGRAM = mermaid()


def test_the_table_is_back_to_six_stages_after_the_fixture():
    assert ("ingest", "chunk", "extract", "dedup", "storyboard", "report") == STAGES.names
    with pytest.raises(ValueError):
        Status("REVIEWING")
