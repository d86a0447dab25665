"""Checks a worker makes before it says it is ready: what it needs is there and reachable.

A worker that starts without its database, Redis or its LLM key fails every message it takes;
failing at start with one line says what to fix before any job is touched.
"""

from __future__ import annotations

import errno
import os
import socket

from pipeline.db import describe_database_error, dispose_engines
from pipeline.errors import SettingsError, Unavailable
from pipeline.settings import Settings


def check_database(settings: Settings) -> None:
    """The database answers and is migrated to the newest revision.

    Raises:
        Unavailable: unreachable, or its schema is missing or older than this code's.
    """
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import DBAPIError

    from pipeline import migrate

    head = ScriptDirectory.from_config(migrate.alembic_config(settings.database.url)).get_current_head()
    try:
        current = migrate.current(settings)
    except DBAPIError as exc:
        raise Unavailable(describe_database_error(exc, settings)) from None
    if current != head:
        found = f"at revision {current}" if current else "without Juben's schema"
        raise Unavailable(
            f"the database is {found}, this code needs {head}: run `python enqueue.py db upgrade`"
        )


def check_redis(settings: Settings) -> None:
    """Redis answers at ``broker.url``.

    Raises:
        Unavailable: it does not.
    """
    import redis

    client = redis.Redis.from_url(settings.broker.url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        from pipeline.broker import describe_redis_error

        raise Unavailable(describe_redis_error(exc, settings)) from None
    finally:
        client.close()


def check_llm_key(settings: Settings, environ: dict[str, str] | None = None) -> None:
    """An LLM provider's key variable is set (to anything: local servers ignore its value).

    Raises:
        SettingsError: a provider is ``openai`` and the variable ``extract.api_key_env`` names is unset.
    """
    environ = dict(os.environ) if environ is None else environ
    users = [
        name
        for name, provider in (
            ("extract", settings.extract.provider),
            ("storyboard", settings.storyboard.provider),
        )
        if provider != "rules"
    ]
    variable = settings.extract.api_key_env
    if users and not environ.get(variable):
        raise SettingsError(
            f"{' and '.join(users)} {'use' if len(users) > 1 else 'uses'} provider openai, but ${variable} (extract.api_key_env) is not set; "
            "export it (any value for a local server that ignores keys)"
        )


def check_port_free(host: str, port: int) -> None:
    """Nothing listens on ``host:port`` yet (the metrics server is about to).

    Raises:
        SettingsError: the port is taken, most likely by another worker command on this host.
    """
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise SettingsError(
                f"metrics port {port} is in use (another worker on this host?): "
                "give this worker its own with --metrics-port N"
            ) from None


def preflight(settings: Settings) -> None:
    """Every check a server-mode worker makes before it starts its processes.

    Raises:
        SettingsError: a setting or the environment is wrong (exit 2).
        Unavailable: the database or Redis cannot be used (exit 4).
    """
    check_llm_key(settings)
    if settings.metrics.enabled:
        check_port_free(settings.metrics.host, settings.metrics.port)
    try:
        check_database(settings)
    finally:
        # The dramatiq CLI forks its worker and metrics processes from this one: none of them
        # may inherit (and share) the connection the check opened.
        dispose_engines()
    check_redis(settings)


def readiness(settings: Settings) -> list[str]:
    """What keeps a process from serving: the database unreachable or not at this code's revision
    (:data:`pipeline.migrate.HEAD`), Redis unreachable (server mode). Empty when ready."""
    from sqlalchemy.exc import DBAPIError

    from pipeline import migrate

    found: list[str] = []
    try:
        current = migrate.current(settings)
        if current != migrate.HEAD:
            at = f"at revision {current}" if current else "without Juben's schema"
            found.append(
                f"the database is {at}, this code needs {migrate.HEAD}: run `python enqueue.py db upgrade`"
            )
    except DBAPIError as exc:
        found.append(describe_database_error(exc, settings))
    if settings.mode == "server":
        try:
            check_redis(settings)
        except Unavailable as exc:
            found.append(str(exc))
    return found
