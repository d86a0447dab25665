"""Apply the Alembic migrations to the configured database (creating the database if missing)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from pipeline.db import get_engine
from pipeline.settings import Settings, get_settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: The advisory lock key upgrades take ("juben" in ASCII).
MIGRATION_LOCK = 0x6A7562656E
#: SQLSTATEs of a CREATE DATABASE that lost a race: "database already exists", or the catalog's
#: unique index when both got past that check at once.
CREATED_MEANWHILE = frozenset({"42P04", "23505"})


if TYPE_CHECKING:
    from alembic.config import Config

#: The newest migration's revision. ``upgrade`` compares the database's with it before loading
#: Alembic at all (a tenth of a second of every embedded command); tests/integration/test_schema.py
#: fails if it is not Alembic's head.
HEAD = "0011"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def create_database_if_missing(url: str) -> bool:
    """Create the PostgreSQL database named in ``url`` if it does not exist.

    Returns:
        ``True`` if it was created.
    """
    parsed = make_url(url)
    if not parsed.database:
        return False
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
            if exists:
                return False
            try:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
            except DBAPIError as exc:  # another process created it meanwhile
                if getattr(exc.orig, "pgcode", None) not in CREATED_MEANWHILE:
                    raise
                return False
            return True
    finally:
        admin.dispose()


def upgrade(settings: Settings | None = None, revision: str = "head") -> None:
    """Bring the settings' database to ``revision`` (default: the latest schema)."""
    from alembic import command

    settings = settings or get_settings()
    if revision == "head" and _at(settings, HEAD):
        return
    url = settings.database.url
    create_database_if_missing(url)
    config = alembic_config(url)
    with get_engine(settings).begin() as conn:
        # Two processes upgrading at once (two commands, a compose migration and a worker) take
        # turns: the second finds the schema at head and does nothing.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _at(settings: Settings, revision: str) -> bool:
    """Whether the database exists and records ``revision`` (one query; any failure says no)."""
    try:
        with get_engine(settings).connect() as conn:
            return bool(revision == conn.scalar(text("SELECT version_num FROM alembic_version")))
    except DBAPIError:
        return False


def current(settings: Settings | None = None) -> str | None:
    """Return the database's current revision, or ``None`` if it has none."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(settings or get_settings()).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
