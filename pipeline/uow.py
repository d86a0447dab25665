"""A unit of work: one transaction, and messages that go out only after it commits."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import dramatiq
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from pipeline.broker import current_broker
from pipeline.db import session_factory
from pipeline.errors import is_transient
from pipeline.logs import get_logger
from pipeline.states import StageSpec

log = get_logger(__name__)


def stage_message(
    spec: StageSpec,
    *args: str | int,
    actor: str | None = None,
    queue: str | None = None,
    job_options: Mapping[str, Any] | None = None,
) -> dramatiq.Message[None]:
    """Build the message that nudges ``spec``'s actor (or ``actor`` on ``queue``), without importing it.

    Messages carry ids only: the database is the source of truth. A job's recorded
    ``time_limit_s`` (``dlq retry --set time_limit_s=1800``) becomes the message's time limit.
    """
    options: dict[str, Any] = {}
    limit = (job_options or {}).get("time_limit_s")
    if limit:
        options["time_limit"] = int(float(limit) * 1000)
    return dramatiq.Message(
        queue_name=queue or spec.queue, actor_name=actor or spec.actor, args=args, kwargs={}, options=options
    )


class UnitOfWork:
    """``with UnitOfWork() as uow:`` commits on success, rolls back on error, then sends its outbox.

    A crash between the commit and the sends loses only the nudge, never state: the reconciler
    finds jobs whose state has not moved and re-sends them.
    """

    def __init__(
        self,
        factory: sessionmaker[Session] | None = None,
        *,
        autocommit: bool = False,
        core: bool = False,
        defer_send_errors: bool = False,
    ) -> None:
        """
        Args:
            factory: the session factory (default: the process's).
            autocommit: each of the body's statements commits on its own (psycopg2's autocommit
                mode), without the ``BEGIN`` and ``COMMIT`` round trips (two of a stage claim's
                three). For a
                body that writes with one statement (reads aside), which is atomic on its own, or
                whose later statements only follow up an earlier one's committed result, so that
                a failure between them leaves a state the pipeline repairs (the extract fan-in).
                A rollback undoes nothing.
            core: the body works on :attr:`connection` (SQLAlchemy Core) only; no ORM session is
                opened (:attr:`session` is unavailable). The stage runner's units, which never
                load ORM objects, save the session's bookkeeping: 40-75 µs of CPU per unit of work,
                measured on the 2-core VM.
            defer_send_errors: a broker that cannot be reached after the commit (a transient
                error) does not raise; the messages not sent are left in :attr:`unsent` and the
                reconciler sends them later. For callers that must report what committed
                (``submit`` prints the job id either way).
        """
        self._factory = factory or session_factory()
        self._autocommit = autocommit
        self._core = core
        self._autocommitting: Any = None
        self._outbox: list[dramatiq.Message[None]] = []
        self._defer_send_errors = defer_send_errors
        #: Messages that could not be sent after the commit (only with ``defer_send_errors``).
        self.unsent: list[dramatiq.Message[None]] = []
        self._connection: Connection | None = None
        self.session: Session

    @property
    def connection(self) -> Connection:
        """The unit of work's connection (in ORM mode, its session's)."""
        if self._connection is not None:
            return self._connection
        return self.session.connection()

    def __enter__(self) -> Self:
        if self._core:
            bind = self._factory.kw["bind"]
            assert isinstance(bind, Engine), "a core unit of work needs a factory bound to an engine"
            connection = self._connection = bind.connect()
        else:
            self.session = self._factory()
            self.session.begin()
            if not self._autocommit:
                return self
            connection = self.session.connection()
        if self._autocommit:
            # psycopg2's autocommit flag is the client's own (no round trip), unlike SQLAlchemy's
            # isolation_level option, which resets a pooled connection with a SET on its return.
            raw = connection.connection.dbapi_connection
            if raw is not None:
                raw.autocommit = True
                self._autocommitting = raw
        return self

    def send_after_commit(self, message: dramatiq.Message[None]) -> None:
        """Queue ``message`` to be enqueued once (and only if) this unit of work commits."""
        self._outbox.append(message)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        work: Session | Connection = self._connection if self._connection is not None else self.session
        try:
            if exc_type is None:
                work.commit()
            else:
                work.rollback()
        finally:
            if self._autocommitting is not None:
                with contextlib.suppress(Exception):  # a connection lost meanwhile is discarded anyway
                    self._autocommitting.autocommit = False
                self._autocommitting = None
            work.close()
            self._connection = None
        outbox, self._outbox = self._outbox, []
        if exc_type is None and outbox:
            self._send(outbox)

    def _send(self, outbox: list[dramatiq.Message[None]]) -> None:
        broker = current_broker()
        for sent, message in enumerate(outbox):
            try:
                broker.enqueue(message)
            except Exception as exc:
                if not self._defer_send_errors or not is_transient(exc):
                    raise
                # Committed state is the truth: the reconciler sends these when the broker is back.
                self.unsent = outbox[sent:]
                log.warning(
                    "dispatch_delayed",
                    messages=len(self.unsent),
                    actor=message.actor_name,
                    error=f"{type(exc).__name__}: {exc}",
                )
                return
