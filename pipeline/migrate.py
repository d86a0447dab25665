"""Apply the Alembic migrations to the configured database (creating a PostgreSQL database if missing)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pipeline.db import get_engine
from pipeline.settings import Settings, get_settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and ``url``."""
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
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return False
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
            return not exists
    finally:
        admin.dispose()


def upgrade(settings: Settings | None = None, revision: str = "head") -> None:
    """Bring the settings' database to ``revision`` (default: the latest schema)."""
    settings = settings or get_settings()
    url = settings.database_url
    create_database_if_missing(url)
    config = alembic_config(url)
    with get_engine(settings).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def current(settings: Settings | None = None) -> str | None:
    """Return the database's current revision, or ``None`` if it has none."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(settings or get_settings()).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
