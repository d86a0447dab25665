"""UnitOfWork's single-statement mode: on PostgreSQL its statement commits on its own (no BEGIN or
COMMIT round trips), and the pooled connection goes back transactional."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from models import Project
from pipeline.db import get_engine, session_factory
from pipeline.uow import UnitOfWork


class Boom(Exception):
    pass


def _projects(name: str) -> int:
    with session_factory()() as s:
        return int(s.scalar(select(func.count()).select_from(Project).where(Project.name == name)) or 0)


def test_a_single_statement_unit_commits_its_statement_without_a_transaction(pg_settings):
    engine = get_engine()
    with UnitOfWork(single_statement=True) as uow:
        raw = uow.session.connection().connection.dbapi_connection
        assert raw is not None and raw.autocommit  # psycopg2 sends no BEGIN, and COMMIT is a no-op
        uow.session.execute(insert(Project).values(name="kept"))
        assert raw.get_transaction_status() == 0  # TRANSACTION_STATUS_IDLE: already committed
    assert not raw.autocommit  # back to transactional before the pool takes it again

    # Its statement is committed even when the body fails afterwards (hence: one write at most).
    with pytest.raises(Boom), UnitOfWork(single_statement=True) as uow:
        uow.session.execute(insert(Project).values(name="committed alone"))
        raise Boom
    assert 1 == _projects("committed alone")

    # The same pooled connection, in an ordinary unit of work, rolls back again.
    with pytest.raises(Boom), UnitOfWork() as uow:
        assert uow.session.connection().connection.dbapi_connection is raw
        uow.session.execute(insert(Project).values(name="rolled back"))
        raise Boom
    assert 0 == _projects("rolled back")
    assert engine.pool.checkedout() == 0


def test_a_single_statement_unit_is_an_ordinary_transaction_elsewhere(sqlite_settings):
    from pipeline import migrate

    migrate.upgrade(sqlite_settings)
    with pytest.raises(Boom), UnitOfWork(single_statement=True) as uow:
        uow.session.execute(insert(Project).values(name="rolled back"))
        raise Boom
    assert 0 == _projects("rolled back")
