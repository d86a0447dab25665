"""One engine per process and its session factories, on PostgreSQL (a server, or the embedded mode's private one)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from pipeline import prepared
from pipeline.settings import Settings, get_settings

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[int, sessionmaker[Session]] = {}
_readers: dict[int, tuple[Engine, sessionmaker[Session]]] = {}


def make_engine(url: str, settings: Settings, *, autocommit: bool = False) -> Engine:
    """Build an engine with a sized pool and Juben's connection options.

    Args:
        url: SQLAlchemy database URL.
        settings: pool sizes, timeouts and echo come from ``settings.database``.
        autocommit: connections in autocommit from the start (the read engine's), with half
            the overflow: reads are short. The pool keeps ``pool_size`` all the same: a
            connection returned to a full pool is closed, so a pool smaller than the threads
            that share it opens and closes a connection on most requests under load.

    Returns:
        A new engine; callers normally want :func:`get_engine` instead.
    """
    db = settings.database
    connect_args: dict[str, Any] = {"application_name": "juben"}
    options = []
    if db.statement_timeout_ms:
        options.append(f"-c statement_timeout={db.statement_timeout_ms}")
    if db.prepared_statements:
        # Our prepared statements (pipeline.prepared) look rows up by key: their generic plan is the
        # plan, and planning the first five executions of each on every connection (the default)
        # kept a third of their planning in the benchmark.
        options.append("-c plan_cache_mode=force_generic_plan")
    if options:
        connect_args["options"] = " ".join(options)
    return create_engine(
        url,
        execution_options={prepared.OPTION: db.prepared_statements},
        echo=db.echo,
        pool_size=db.pool_size,
        max_overflow=db.max_overflow // 2 if autocommit else db.max_overflow,
        pool_timeout=db.pool_timeout_s,
        connect_args=connect_args,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )


def get_engine(settings: Settings | None = None) -> Engine:
    """Return this process's engine for the settings' database, creating it once."""
    settings = settings or get_settings()
    url = settings.database.url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url, settings)
        return engine


def session_factory(settings: Settings | None = None) -> sessionmaker[Session]:
    """Return the session factory bound to this process's engine (one per engine).

    Made once: each ``sessionmaker`` defines a new ``Session`` subclass, and SQLAlchemy copies
    every event listener onto a new class, which cost every unit of work a few hundred µs.
    """
    engine = get_engine(settings)
    factory = _factories.get(id(engine))
    if factory is None or factory.kw.get("bind") is not engine:
        with _lock:
            factory = _factories[id(engine)] = sessionmaker(engine, expire_on_commit=False)
    return factory


def read_session_factory(settings: Settings | None = None) -> sessionmaker[Session]:
    """Sessions for reads only (status, listings), in autocommit mode.

    A few SELECTs then cost no ``BEGIN`` and ``ROLLBACK`` round trips (two of the five a
    ``status`` made), and they lose nothing: under READ COMMITTED each statement takes its own
    snapshot anyway. The reads have an engine (a pool) of their own whose connections are in
    autocommit from the start: switching a pooled connection to autocommit at each checkout and
    back at each checkin cost a sixth of an API status request's time.
    """
    engine = get_engine(settings)
    made = _readers.get(id(engine))
    if made is None or made[0] is not engine:
        with _lock:
            made = _readers.get(id(engine))
            if made is None or made[0] is not engine:
                reader = make_engine(
                    str(engine.url.render_as_string(hide_password=False)),
                    settings or get_settings(),
                    autocommit=True,
                )
                made = _readers[id(engine)] = (engine, sessionmaker(reader, expire_on_commit=False))
    return made[1]


def listening_connection(settings: Settings, channels: tuple[str, ...], *, name: str) -> Any:
    """A DBAPI connection of its own (not a pooled one), in autocommit, LISTENing on ``channels``:
    for a process that waits on notifications (the API's event hub, the webhook dispatcher).
    ``name`` is its ``application_name`` in ``pg_stat_activity``."""
    engine = get_engine(settings)
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    conn = engine.dialect.dbapi.connect(*args, **{**kwargs, "application_name": name})  # type: ignore[union-attr]
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("; ".join(f"LISTEN {channel}" for channel in channels))
    return conn


def read_engine(settings: Settings | None = None) -> Engine:
    """The engine :func:`read_session_factory`'s sessions use (its connections in autocommit)."""
    bind: Engine = read_session_factory(settings).kw["bind"]
    return bind


def dispose_engines() -> None:
    """Close every pooled connection (tests, and child processes after fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        for _, reader in _readers.values():
            bind = reader.kw.get("bind")
            if bind is not None:
                bind.dispose()
        _engines.clear()
        _factories.clear()
        _readers.clear()


#: Where Core statements run: an ORM session (a unit of work's, the CLI's) or a Core connection
#: (the stage runner's units of work). Either way the caller commits.
Db = Session | Connection


def connection_of(db: Db) -> Connection:
    """The connection ``db``'s statements run on (a session's begins its transaction)."""
    return db.connection() if isinstance(db, Session) else db


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (a naive one is taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def describe_database_error(exc: Exception, settings: Settings) -> str:
    """One line for a database error, with a hint by its cause (and never the URL's password)."""
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split("\n")[0].split())
    url = make_url(settings.database.url).render_as_string(hide_password=True)
    if "password authentication failed" in reason or ("role" in reason and "does not exist" in reason):
        hint = f"check the user and password of database.url or JUBEN_DATABASE__URL: {url}"
    elif "database" in reason and "does not exist" in reason:
        hint = "create and migrate it: python enqueue.py db upgrade"
    elif "relation" in reason and "does not exist" in reason:
        hint = "the schema is missing: python enqueue.py db upgrade"
    elif "could not connect" in reason or "Connection refused" in reason or "could not translate" in reason:
        hint = f"is PostgreSQL running at {url}?"
    else:
        hint = ""
    return f"database error: {reason}" + (f" ({hint})" if hint else "")
