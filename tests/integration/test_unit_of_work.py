"""UnitOfWork's autocommit mode: on PostgreSQL each statement commits on its own (no BEGIN or
COMMIT round trips), and the pooled connection goes back transactional. Its core mode: a Core
connection, no ORM session, the same commit, rollback and outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from models import Project, Tenant
from pipeline.broker import setup_broker
from pipeline.db import get_engine, session_factory
from pipeline.jobs import DEFAULT_TENANT
from pipeline.states import STAGES
from pipeline.uow import UnitOfWork, stage_message


class Boom(Exception):
    pass


#: The default tenant's id, as a subquery.
DEFAULT = select(Tenant.id).where(Tenant.name == DEFAULT_TENANT).scalar_subquery()


def _projects(name: str) -> int:
    with session_factory()() as s:
        return int(s.scalar(select(func.count()).select_from(Project).where(Project.name == name)) or 0)


def test_an_autocommit_unit_commits_its_statement_without_a_transaction(pg_settings):
    engine = get_engine()
    with UnitOfWork(autocommit=True) as uow:
        raw = uow.session.connection().connection.dbapi_connection
        assert raw is not None and raw.autocommit  # psycopg2 sends no BEGIN, and COMMIT is a no-op
        uow.session.execute(insert(Project).values(name="kept", tenant_id=DEFAULT))
        assert raw.get_transaction_status() == 0  # TRANSACTION_STATUS_IDLE: already committed
    assert not raw.autocommit  # back to transactional before the pool takes it again

    # Its statement is committed even when the body fails afterwards (a rollback undoes nothing).
    with pytest.raises(Boom), UnitOfWork(autocommit=True) as uow:
        uow.session.execute(insert(Project).values(name="committed alone", tenant_id=DEFAULT))
        raise Boom
    assert 1 == _projects("committed alone")

    # The same pooled connection, in an ordinary unit of work, rolls back again.
    with pytest.raises(Boom), UnitOfWork() as uow:
        assert uow.session.connection().connection.dbapi_connection is raw
        uow.session.execute(insert(Project).values(name="rolled back", tenant_id=DEFAULT))
        raise Boom
    assert 0 == _projects("rolled back")
    assert engine.pool.checkedout() == 0


def test_a_core_unit_commits_on_success_rolls_back_on_error_and_sends_after_commit(pg_settings):
    stub_broker = setup_broker(pg_settings, stub=True)
    message = stage_message(STAGES.by_name["chunk"], "0" * 32)
    with UnitOfWork(core=True) as uow:
        assert isinstance(uow.connection, Connection)
        with pytest.raises(AttributeError):
            uow.session  # noqa: B018 - no ORM session is opened
        uow.connection.execute(insert(Project).values(name="core kept", tenant_id=DEFAULT))
        uow.send_after_commit(message)
    assert 1 == _projects("core kept")
    assert 1 == stub_broker.queues[message.queue_name].qsize()

    with pytest.raises(Boom), UnitOfWork(core=True) as uow:
        uow.connection.execute(insert(Project).values(name="core rolled back", tenant_id=DEFAULT))
        uow.send_after_commit(message)
        raise Boom
    assert 0 == _projects("core rolled back")
    assert 1 == stub_broker.queues[message.queue_name].qsize()  # nothing sent for the failed unit
    assert get_engine().pool.checkedout() == 0


def test_a_core_autocommit_unit_autocommits_on_postgresql(pg_settings):
    with pytest.raises(Boom), UnitOfWork(autocommit=True, core=True) as uow:
        raw = uow.connection.connection.dbapi_connection
        assert raw is not None and raw.autocommit
        uow.connection.execute(insert(Project).values(name="core committed alone", tenant_id=DEFAULT))
        raise Boom
    assert not raw.autocommit
    assert 1 == _projects("core committed alone")
