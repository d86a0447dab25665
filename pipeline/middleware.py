"""dramatiq middleware for Juben's cross-cutting concerns: log context, retry notes and dead letters."""

from __future__ import annotations

import hashlib
import re
import traceback
from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import Middleware
from sqlalchemy import select, update

from models import Chunk, DeadLetter, Job, WebhookDelivery
from models.base import is_job_id, utcnow
from pipeline.errors import JobNotFound
from pipeline.logs import get_logger
from pipeline.metrics import metrics
from pipeline.states import STAGES, Status

log = get_logger(__name__)

_VOLATILE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{32}|\d+")


#: The actor that POSTs webhooks (``stages/webhook.py``) and the stage its dead letters name.
WEBHOOK_ACTOR = "deliver_webhook"
WEBHOOK_STAGE = "webhook"


def stage_for_actor(actor_name: str) -> str:
    """Return the stage an actor belongs to (a fan-out actor's is its stage's; the webhook
    actor's is ``webhook``)."""
    if actor_name == WEBHOOK_ACTOR:
        return WEBHOOK_STAGE
    return STAGES.stage_of_actor.get(actor_name, actor_name)


def is_fan_out(actor_name: str) -> bool:
    """Whether the actor handles one piece of a fan-out stage (``extract_chunk``: one chunk)."""
    return actor_name in STAGES.fan_out_actors


def fingerprint(stage: str, error_type: str, message: str) -> str:
    """Group "the same failure": stage, error type and the message with ids and numbers masked."""
    masked = _VOLATILE.sub("#", message)[:500]
    return hashlib.sha256(f"{stage}|{error_type}|{masked}".encode()).hexdigest()[:16]


def is_known_job(value: object) -> bool:
    """Tell whether a message argument names an existing job (dead letters may carry garbage)."""
    from pipeline.db import session_factory

    if not is_job_id(value):
        return False
    with session_factory()() as session:
        return session.get(Job, value) is not None


def _format(exc: BaseException | None) -> str | None:
    """The traceback of an exception Retries did not format (``throws`` errors skip it)."""
    return "".join(traceback.format_exception(exc, limit=30)) if exc is not None else None


def _actor_throws(broker: dramatiq.Broker, actor_name: str) -> Any:
    try:
        return broker.get_actor(actor_name).options.get("throws")
    except dramatiq.errors.ActorNotFound:
        return None


class LogContext(Middleware):
    """Bind ``job_id``, ``stage`` and ``message_id`` to every log line written while a message runs."""

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            job_id=message.args[0] if message.args else None,
            stage=stage_for_actor(message.actor_name),
            message_id=message.message_id,
            attempt=message.options.get("retries", 0),
        )

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        structlog.contextvars.clear_contextvars()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        structlog.contextvars.clear_contextvars()


class ThreadResources(Middleware):
    """Close what a worker thread opened for itself (its LLM HTTP clients) when it stops."""

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: Any) -> None:
        from pipeline.llm.client import close_thread_clients

        close_thread_clients()


class RetryNotes(Middleware):
    """Write each retry dramatiq schedules, with its error, into the job's history.

    Installed *before* dramatiq's Retries so that, ``after_*`` hooks running in reverse order,
    it sees Retries' decision: an exception on a message that did not fail is being retried.
    """

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or message.failed or not message.args or not is_known_job(message.args[0]):
            return
        from pipeline.db import session_factory
        from pipeline.transitions import record_note

        what = message.actor_name
        if is_fan_out(message.actor_name) and len(message.args) > 1:
            what = f"{stage_for_actor(message.actor_name)} chunk id {message.args[1]}"
        detail = f"{what} attempt {message.options.get('retries', 1)} failed, will be retried: {type(exception).__name__}: {exception}"
        try:
            with session_factory().begin() as session:
                # FOR UPDATE: a transition of this job still in flight (its event written, not yet
                # committed) is waited for, so the note follows it in the history, not before it.
                row = session.execute(
                    select(Job.status, Job.run).where(Job.id == message.args[0]).with_for_update()
                ).one()
                record_note(session, message.args[0], row.run, Status(row.status), detail[:2000])
        except Exception:  # the note is history, never a reason to lose the retry
            log.warning("retry_note_failed", exc_info=True)


class DeadLetters(Middleware):
    """Write a ``dead_letters`` row and fail the job when a message has failed for good.

    ``after_nack`` is dramatiq's one choke point for that (exhausted retries, ``throws``,
    age limits); ``Callbacks.on_failure`` would fire on every attempt.
    """

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        from pipeline.db import session_factory
        from pipeline.transitions import force_transition

        exc = getattr(message, "_exception", None)
        stage = stage_for_actor(message.actor_name)
        job_id = message.args[0] if message.args and is_known_job(message.args[0]) else None
        error_type = type(exc).__name__ if exc else "Unknown"
        error = str(exc) if exc else "failed without an exception"
        detail = f"{error_type}: {error}"[:2000]
        # Retries counts a failed attempt before giving up, except for ``throws`` errors, which it
        # rejects before counting.
        retries = int(message.options.get("retries", 0))
        throws = message.options.get("throws") or _actor_throws(broker, message.actor_name)
        attempts = retries + 1 if throws and isinstance(exc, throws) else max(retries, 1)
        try:
            with session_factory().begin() as session:
                session.add(
                    DeadLetter(
                        job_id=job_id,
                        stage=stage,
                        actor=message.actor_name,
                        queue=message.queue_name,
                        message_id=message.message_id,
                        message=message.asdict(),
                        error_type=error_type,
                        error=error,
                        traceback=message.options.get("traceback") or _format(exc),
                        attempts=attempts,
                        fingerprint=fingerprint(stage, error_type, error),
                    )
                )
                session.flush()
                if job_id is None:
                    return
                if (
                    message.actor_name == WEBHOOK_ACTOR
                ):  # the job keeps its status; the delivery waits for `dlq retry`
                    session.execute(
                        update(WebhookDelivery)
                        .where(WebhookDelivery.id == message.args[1])
                        .values(failed_at=utcnow(), last_error=detail)
                    )
                    metrics().dead_letters.labels(stage).inc()
                    log.error("dead_lettered", error_type=error_type, error=error[:300])
                    return
                if is_fan_out(message.actor_name) and len(message.args) > 1:
                    session.execute(
                        update(Chunk).where(Chunk.id == message.args[1]).values(status="failed", error=detail)
                    )
                left = force_transition(
                    session,
                    job_id,
                    Status.FAILED,
                    detail=detail,
                    message_id=message.message_id,
                    attempt=attempts - 1,
                    values={"failed_stage": stage, "error": detail},
                )
            metrics().dead_letters.labels(stage).inc()
            log.error("dead_lettered", error_type=error_type, error=error[:300], left_status=left)
        except JobNotFound:
            log.warning("dead_letter_for_unknown_job", job_id=job_id)
        except Exception:
            # The database may be what failed; the reconciler finds the stranded job later.
            log.exception("dead_letter_write_failed", job_id=job_id)
