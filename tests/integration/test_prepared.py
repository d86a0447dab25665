"""pipeline.prepared: hot statements as PostgreSQL prepared statements, prepared once per
connection, giving the rows the plain statement gives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Integer, bindparam, case, event, literal, select, update

from entrypoints.testing import drain
from models import Job
from pipeline import jobs, prepared
from pipeline.db import get_engine
from pipeline.settings import set_settings

# Typed and untyped parameters, literals inside CASE (PostgreSQL would take an undeclared one for
# text), a constant IN list (expanded when built), a JSON value and an array cast.
_READ = select(
    Job.id,
    Job.status,
    Job.meta,
    case((Job.status.in_(["COMPLETED", "FAILED"]), 1), else_=0).label("done"),
    literal(7, Integer).label("seven"),
).where(Job.id == bindparam("job_id", type_=Job.id.type))
_WRITE = (
    update(Job)
    .where(Job.id == bindparam("job_id", type_=Job.id.type))
    .values(meta=bindparam("meta", type_=Job.meta.type))
    .returning(Job.meta)
)


@contextmanager
def _sent(engine) -> Iterator[list[str]]:
    """The statements sent to the server meanwhile."""
    statements: list[str] = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_prepared_statements_give_the_plain_rows_and_prepare_once_per_connection(stub_worker):
    broker, worker = stub_worker
    job_id = jobs.submit("INT. ROOM - DAY\n\nMARY waits.\n", project="prepared")
    drain(broker, worker)
    engine = get_engine()
    with engine.connect() as connection, _sent(engine) as sent:
        # Our statements look rows up by key: the generic plan from the first execution on.
        assert "force_generic_plan" == connection.exec_driver_sql("SHOW plan_cache_mode").scalar()
        plain = connection.execute(_READ, {"job_id": job_id}).all()
        rows = [prepared.execute(connection, _READ, {"job_id": job_id}).all() for _ in range(3)]
        written = prepared.execute(connection, _WRITE, {"job_id": job_id, "meta": {"k": ["v", 1]}}).one()
        connection.rollback()
    assert plain == rows[0] == rows[1] == rows[2]
    assert plain[0].done == 1 and plain[0].seven == 7  # numbers, not text
    assert rows[0][0].status == "COMPLETED"  # by name too
    assert written.meta == {"k": ["v", 1]}  # the JSON value went through its bind processor
    assert [q.split()[0] for q in sent[2:]] == [
        "PREPARE",
        "EXECUTE",
        "EXECUTE",
        "EXECUTE",
        "PREPARE",
        "EXECUTE",
    ]

    # A new database connection (an invalidated one replaced) prepares again.
    with engine.connect() as connection:
        connection.invalidate()
    with engine.connect() as connection, _sent(engine) as sent:
        assert plain == prepared.execute(connection, _READ, {"job_id": job_id}).all()
    assert [q.split()[0] for q in sent] == ["PREPARE", "EXECUTE"]


def test_without_prepared_statements_the_plain_statement_runs(pg_settings):
    set_settings(
        pg_settings.model_copy(
            update={"database": pg_settings.database.model_copy(update={"prepared_statements": False})}
        )
    )
    engine = get_engine()
    with engine.connect() as connection, _sent(engine) as sent:
        assert [] == prepared.execute(connection, _READ, {"job_id": "0" * 32}).all()
        assert "auto" == connection.exec_driver_sql("SHOW plan_cache_mode").scalar()  # PostgreSQL's default
    assert sent and not any(q.startswith(("PREPARE", "EXECUTE")) for q in sent)


def test_a_per_call_in_list_is_refused(pg_settings):
    statement = select(Job.id).where(Job.status.in_(bindparam("statuses", expanding=True)))
    with get_engine().connect() as connection, pytest.raises(ValueError, match="IN lists"):
        prepared.execute(connection, statement, {"statuses": ["FAILED"]})


def test_statements_built_per_call_keep_the_cache_bounded(pg_settings, monkeypatch):
    """A statement built anew on every call (a closure, a fresh select) is a new cache key each time:
    the cache drops the oldest past its bound instead of growing without end."""
    monkeypatch.setattr(prepared, "MAX_STATEMENTS", 5)
    monkeypatch.setattr(prepared, "_prepared", type(prepared._prepared)())
    with get_engine().connect() as connection:
        for n in range(12):
            fresh = select(literal(n, Integer).label("n")).where(
                Job.id == bindparam("job_id", type_=Job.id.type)
            )
            assert [] == prepared.execute(connection, fresh, {"job_id": "0" * 32}).all()
        kept = list(prepared._prepared)
    assert 5 == len(kept)
