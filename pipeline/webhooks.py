"""Webhooks: a job's end POSTed to its callback URL, signed as Standard Webhooks do.

- **When.** A job with a ``callback_url`` that reaches COMPLETED, FAILED or CANCELLED gets a row in
  ``webhook_deliveries`` from a trigger, in the transaction that ended it (migration 0008): no end
  is lost between a commit and a send. The trigger NOTIFYs ``juben_webhooks``;
  :class:`WebhookDispatcher`, in every worker process, LISTENs, claims the pending rows
  (``FOR UPDATE SKIP LOCKED``) and sends each a ``deliver_webhook`` message; every
  ``webhooks.sweep_s`` it also sweeps for rows whose notification it missed, or whose message was
  lost (sent over 15 minutes ago and still pending).
- **What.** ``{"type": "job.completed" | "job.failed" | "job.cancelled", "timestamp": …, "data":
  <the job view>}`` with ``webhook-id`` (the same on every attempt, for the receiver's dedup),
  ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>``
  keyed by the tenant's secret (``whsec_<base64 key>``).
- **Retries.** Each attempt is a note in the job's events; no answer or a non-2xx status is
  retried with backoff (``webhooks.max_retries``), then dead-lettered with stage ``webhook`` (the
  job keeps its status) and re-sent by ``dlq retry``.
- **SSRF.** Only http(s); a host that resolves to a private, loopback, link-local, multicast or
  reserved address is refused at submit and again at every attempt (a name may change what it
  resolves to), unless ``webhooks.allow_private``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import select
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import dramatiq
from dramatiq import Middleware
from sqlalchemy import select as sql_select
from sqlalchemy import text, update

from models import Job, Tenant, WebhookDelivery
from models.base import utcnow
from pipeline.db import listening_connection, session_factory
from pipeline.egress import check_url
from pipeline.errors import InputError, NotFound, PermanentError, TransientError
from pipeline.logs import get_logger
from pipeline.middleware import WEBHOOK_ACTOR
from pipeline.settings import Settings, get_settings

log = get_logger(__name__)

CHANNEL = "juben_webhooks"
ACTOR = WEBHOOK_ACTOR
QUEUE = "default"
#: A delivery whose message went out this long ago and is still pending is sent again.
STALE = timedelta(minutes=15)
#: A receiver may reject a signature whose timestamp is further than this from its clock.
TOLERANCE_S = 300


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def tenant_secret(tenant: str, *, rotate: bool = False, settings: Settings | None = None) -> str:
    """The tenant's webhook signing secret, made on first use (or anew with ``rotate``).

    Raises:
        NotFound: no tenant has this name.
    """
    with session_factory(settings).begin() as session:
        row = session.execute(
            sql_select(Tenant.id, Tenant.webhook_secret).where(Tenant.name == tenant).with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound(f"no tenant {tenant}")
        if row.webhook_secret and not rotate:
            return str(row.webhook_secret)
        secret = new_secret()
        session.execute(update(Tenant).where(Tenant.id == row.id).values(webhook_secret=secret))
        return secret


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value (Standard Webhooks, version 1)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None) -> bool:
    """What a receiver checks: one of the signatures matches and the timestamp is within
    :data:`TOLERANCE_S` of ``now`` (a replayed old delivery fails)."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lower["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_S:
        return False
    expected = sign(secret, lower.get("webhook-id", ""), timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in lower.get("webhook-signature", "").split())


def deliver(job_id: str, delivery_id: int, *, attempt: int, settings: Settings | None = None) -> bool:
    """POST one delivery (the actor's core). Each attempt is a note in the job's events.

    Returns:
        ``False`` if it was sent already (or its job is gone): nothing done.

    Raises:
        TransientError: no answer or a non-2xx status (retried with backoff).
        PermanentError: the URL is refused (dead-lettered at once).
    """
    import httpx
    import orjson

    from pipeline.jobs import get_status
    from pipeline.states import Status
    from pipeline.transitions import record_note

    settings = settings or get_settings()
    with session_factory(settings)() as session:
        row = session.execute(
            sql_select(WebhookDelivery, Job.tenant_id)
            .join(Job, Job.id == WebhookDelivery.job_id)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.job_id == job_id)
        ).one_or_none()
        if row is None or row[0].sent_at is not None:
            return False
        delivery, tenant_id = row
        tenant = session.scalar(sql_select(Tenant.name).where(Tenant.id == tenant_id))
    view = get_status(job_id, settings=settings)
    secret = tenant_secret(str(tenant), settings=settings)
    message_id = f"msg_{job_id}_{delivery.run}_{delivery.status.lower()}"
    timestamp = int(time.time())
    body = orjson.dumps(
        {
            "type": f"job.{delivery.status.lower()}",
            "timestamp": utcnow().isoformat(),
            "data": view.model_dump(mode="json"),
        }
    )
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "user-agent": "juben-webhooks",
    }
    host = urlsplit(delivery.url).hostname
    outcome: str
    error: Exception | None = None
    try:
        check_url(delivery.url, allow_private=settings.webhooks.allow_private)
        answer = httpx.post(delivery.url, content=body, headers=headers, timeout=settings.webhooks.timeout_s)
        outcome = f"HTTP {answer.status_code}"
        if not 200 <= answer.status_code < 300:
            error = TransientError(f"webhook to {host}: {outcome}")
    except InputError as exc:
        outcome, error = f"refused: {exc}", PermanentError(str(exc))
    except httpx.HTTPError as exc:
        outcome = f"{type(exc).__name__}: {exc}"[:300]
        error = TransientError(f"webhook to {host}: {outcome}")
    with session_factory(settings).begin() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(
                attempts=WebhookDelivery.attempts + 1,
                last_error=None if error is None else outcome,
                sent_at=utcnow() if error is None else None,
            )
        )
        record_note(
            session,
            job_id,
            delivery.run,
            Status(view.status),
            f"webhook {delivery.status.lower()} attempt {attempt + 1} to {host}: "
            + ("delivered" if error is None else outcome),
        )
    if error is not None:
        raise error
    log.info("webhook_delivered", job_id=job_id, delivery_id=delivery_id, attempt=attempt)
    return True


def mark_failed(delivery_id: int, error: str, *, settings: Settings | None = None) -> None:
    """A delivery dead-lettered: no sweep sends it again until ``dlq retry`` clears this."""
    with session_factory(settings).begin() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(failed_at=utcnow(), last_error=error[:2000])
        )


def resend(job_id: str, *, settings: Settings | None = None) -> list[int]:
    """Make a job's failed deliveries pending again (``dlq retry``); the dispatcher sends them.

    Returns:
        The deliveries made pending.
    """
    with session_factory(settings).begin() as session:
        ids = list(
            session.scalars(
                update(WebhookDelivery)
                .where(WebhookDelivery.job_id == job_id, WebhookDelivery.sent_at.is_(None))
                .values(failed_at=None, enqueued_at=None)
                .returning(WebhookDelivery.id)
            )
        )
        session.execute(text("SELECT pg_notify(:channel, :job)"), {"channel": CHANNEL, "job": job_id})
    return ids


_CLAIM = text(
    """
    UPDATE webhook_deliveries SET enqueued_at = now()
    WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE sent_at IS NULL AND failed_at IS NULL
          AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => :stale_s))
        ORDER BY id
        FOR UPDATE SKIP LOCKED
        LIMIT 100
    )
    RETURNING job_id, id
    """
)


def message(job_id: str, delivery_id: int) -> dramatiq.Message[None]:
    return dramatiq.Message(
        queue_name=QUEUE, actor_name=ACTOR, args=(job_id, delivery_id), kwargs={}, options={}
    )


def dispatch(broker: dramatiq.Broker, settings: Settings | None = None) -> int:
    """Send a message for each pending delivery (claimed so that two dispatchers send it once).

    Returns:
        How many were sent.
    """
    from pipeline.uow import UnitOfWork

    sent = 0
    while True:
        with UnitOfWork(session_factory(settings)) as uow:
            rows = uow.session.execute(_CLAIM, {"stale_s": STALE.total_seconds()}).all()
            for job_id, delivery_id in rows:
                uow.send_after_commit(message(job_id, delivery_id))
        sent += len(rows)
        if len(rows) < 100:
            return sent


class WebhookDispatcher(Middleware):
    """In each worker process: LISTEN ``juben_webhooks`` and :func:`dispatch` on each notification
    and every ``webhooks.sweep_s``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(broker,), name="juben-webhooks", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen(self) -> Any:
        return listening_connection(self.settings, (CHANNEL,), name="juben-webhooks")

    def _loop(self, broker: dramatiq.Broker) -> None:
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = self._listen()
                dispatch(broker, self.settings)
                self._wait(conn)
            except Exception:
                log.exception("webhook_dispatch_failed")
                with contextlib.suppress(Exception):
                    if conn is not None:
                        conn.close()
                conn = None
                self._stop.wait(1.0)
        if conn is not None:
            conn.close()

    def _wait(self, conn: Any) -> None:
        """Until a notification, the next sweep, or the worker's shutdown (checked each second)."""
        deadline = time.monotonic() + self.settings.webhooks.sweep_s
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([conn], [], [], min(left, 1.0))
            if readable:
                conn.poll()
                if conn.notifies:
                    conn.notifies.clear()
                    return
