"""Compare-and-set transitions on real PostgreSQL: events, illegal moves, races, the state machine."""

from __future__ import annotations

import threading
import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import sessionmaker

from models import Job, JobEvent, Project, Tenant
from pipeline.errors import IllegalTransition
from pipeline.jobs import DEFAULT_TENANT
from pipeline.states import STAGES, Status, is_legal
from pipeline.transitions import force_transition, transition


def _new_job(factory) -> str:
    with factory.begin() as session:
        tenant_id = session.scalars(select(Tenant.id).where(Tenant.name == DEFAULT_TENANT)).one()
        project = Project(tenant_id=tenant_id, name=f"p-{uuid.uuid4().hex[:8]}")
        session.add(project)
        session.flush()
        job = Job(project_id=project.id, tenant_id=tenant_id, status=Status.PENDING.value)
        session.add(job)
        session.flush()
        return job.id


@pytest.fixture
def factory(pg_database):
    engine = create_engine(pg_database, pool_size=4)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def test_transition_records_an_event(factory):
    """A transition updates the status and appends one job_events row in the same transaction."""
    job_id = _new_job(factory)
    with factory.begin() as session:
        transition(session, job_id, Status.PENDING, Status.INGESTING, message_id="m1", attempt=0)

    with factory() as session:
        events = session.execute(select(JobEvent.from_status, JobEvent.to_status, JobEvent.message_id)).all()
        status = session.scalar(select(Job.status))

    assert [("PENDING", "INGESTING", "m1")] == [tuple(e) for e in events]
    assert "INGESTING" == status


def test_illegal_transition_is_refused(factory):
    """Skipping a stage raises IllegalTransition and writes nothing."""
    job_id = _new_job(factory)
    with pytest.raises(IllegalTransition), factory.begin() as session:
        transition(session, job_id, Status.PENDING, Status.CHUNKING)

    with factory() as session:
        assert "PENDING" == session.scalar(select(Job.status))
        assert 0 == len(session.scalars(select(JobEvent)).all())


def test_stale_from_state_is_refused(factory):
    """A legal pair whose from-state is no longer current is refused (the CAS missed)."""
    job_id = _new_job(factory)
    with factory.begin() as session:
        transition(session, job_id, Status.PENDING, Status.INGESTING)

    with pytest.raises(IllegalTransition, match="is INGESTING"), factory.begin() as session:
        transition(session, job_id, Status.PENDING, Status.INGESTING)


def test_two_threads_race_and_exactly_one_wins(factory):
    """Two workers claiming one job at the same moment: exactly one transition succeeds."""
    job_id = _new_job(factory)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def claim() -> None:
        with factory() as session:
            barrier.wait()
            try:
                with session.begin():
                    transition(session, job_id, Status.PENDING, Status.INGESTING)
                results.append("won")
            except IllegalTransition:
                results.append("lost")

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert ["lost", "won"] == sorted(results)
    with factory() as session:
        assert 1 == len(session.scalars(select(JobEvent)).all())


def test_force_transition_fails_from_any_running_state(factory):
    """force_transition moves a non-terminal job to FAILED and leaves a terminal one alone."""
    job_id = _new_job(factory)
    with factory.begin() as session:
        left = force_transition(session, job_id, Status.FAILED, detail="boom")
    with factory.begin() as session:
        again = force_transition(session, job_id, Status.CANCELLED)

    assert Status.PENDING == left
    assert None is again


class JobMachine(RuleBasedStateMachine):
    """Random transition attempts on a real job: the database status follows the table exactly."""

    factory: sessionmaker

    @initialize()
    def start(self):
        with self.factory.begin() as session:
            session.execute(delete(JobEvent))
            session.execute(delete(Job))
        self.job_id = _new_job(self.factory)
        self.status = Status.PENDING

    @rule(data=st.data())
    def legal_move(self, data):
        to = data.draw(st.sampled_from(sorted(t for (f, t) in STAGES.transitions if f == self.status)))
        self.attempt(to, self.status)

    @rule(to=st.sampled_from(list(Status)), claim_from=st.sampled_from(list(Status)))
    def attempt(self, to, claim_from):
        legal = is_legal(claim_from, to) and claim_from == self.status
        try:
            with self.factory.begin() as session:
                transition(session, self.job_id, claim_from, to)
            assert legal, f"{claim_from} → {to} should have been refused from {self.status}"
            self.status = to
        except IllegalTransition:
            assert not legal
        with self.factory() as session:
            assert self.status.value == session.scalar(select(Job.status).where(Job.id == self.job_id))


def test_state_machine_against_the_database(factory):
    """Hypothesis drives transition() on PostgreSQL; only table edges from the current state succeed."""
    JobMachine.factory = factory
    runner = JobMachine.TestCase
    runner.settings = settings(
        max_examples=15, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
    )
    runner().runTest()
