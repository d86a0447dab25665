"""Broker wiring: Redis (server) or Stub (embedded, tests), our middleware, per-stage actor options.

Importing this module does nothing; call :func:`setup_broker` before importing ``stages``,
because dramatiq checks actor options when ``@actor`` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries

from pipeline.errors import PermanentError, is_transient
from pipeline.middleware import DeadLetters, LogContext, RetryNotes, ThreadResources
from pipeline.settings import Settings, get_settings
from pipeline.states import STAGES


def _with_max_connections(url: str, max_connections: int) -> str:
    """Put ``max_connections`` in the Redis URL: RedisBroker(url=…) ignores it as an argument."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("max_connections", str(max_connections))
    return urlunsplit(parts._replace(query=urlencode(query)))


def setup_broker(settings: Settings | None = None, *, stub: bool | None = None) -> dramatiq.Broker:
    """Create the process's broker with Juben's middleware and make it the global broker.

    Args:
        settings: defaults to this process's settings.
        stub: use an in-memory StubBroker (embedded mode and tests); default: by ``settings.mode``.

    Returns:
        The broker, also installed with :func:`dramatiq.set_broker`.
    """
    settings = settings or get_settings()
    broker: dramatiq.Broker
    if stub if stub is not None else settings.mode == "embedded":
        broker = StubBroker()
    else:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=_with_max_connections(settings.broker.url, settings.broker.max_connections),
            namespace=settings.broker.namespace,
        )
        if settings.metrics.enabled:
            from pipeline.metrics import dramatiq_middleware

            for middleware in dramatiq_middleware():
                broker.add_middleware(middleware)
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(LogContext())
    broker.add_middleware(DeadLetters())
    broker.add_middleware(RetryNotes(), before=Retries)
    broker.add_middleware(ThreadResources())
    for queue in STAGES.queues:
        broker.declare_queue(queue)
    dramatiq.set_broker(broker)
    global _installed  # noqa: PLW0603 (one broker per process, as dramatiq's global)
    _installed = broker
    return broker


#: The broker :func:`setup_broker` last installed.
_installed: dramatiq.Broker | None = None


def current_broker() -> dramatiq.Broker:
    """The broker messages go to: the one this process set up, else the settings' (set up now).

    Every sender (the unit of work's outbox, the dead-letter cleanup) goes through here, so no
    command can forget :func:`setup_broker`. ``dramatiq.get_broker()`` is never the fallback: with
    no broker set it makes one on ``redis://localhost:6379/0`` under dramatiq's own namespace,
    ignoring ``broker.url`` and ``broker.namespace``; and that default is what dramatiq's global
    broker is when something imported an actor before any setup (``import stages`` in a command),
    so only the broker installed here counts.
    """
    if _installed is not None and dramatiq.broker.global_broker is _installed:
        return _installed
    return setup_broker()


def _retry_when(max_retries: int) -> Callable[[int, BaseException], bool]:
    def retry_when(retries: int, exc: BaseException) -> bool:
        return retries < max_retries and is_transient(exc)

    return retry_when


def actor_options(stage: str, settings: Settings | None = None) -> dict[str, Any]:
    """Return the dramatiq actor options for a stage, from ``[stages.<stage>]`` settings.

    dramatiq's defaults (20 retries, backoff up to 7 days, 10 min limit) are wrong for us, so
    every option is set. Only transient errors are retried (:func:`pipeline.errors.is_transient`).
    """
    settings = settings or get_settings()
    if stage == "webhook":  # the webhook actor: [webhooks] says how often and how long
        hooks = settings.webhooks
        return {
            "max_retries": hooks.max_retries,
            "min_backoff": hooks.min_backoff_ms,
            "max_backoff": hooks.max_backoff_ms,
            "time_limit": int((hooks.timeout_s + 60) * 1000),
            "retry_when": _retry_when(hooks.max_retries),
            "throws": (PermanentError,),
        }
    s = settings.stages.for_stage(stage)
    return {
        "max_retries": s.max_retries,
        "min_backoff": s.min_backoff_ms,
        "max_backoff": s.max_backoff_ms,
        "time_limit": s.time_limit_s * 1000,
        "retry_when": _retry_when(s.max_retries),
        "throws": (PermanentError,),
    }


def describe_redis_error(exc: Exception, settings: Settings) -> str:
    """One line for a Redis error, naming the address (never the URL's password)."""
    where = settings.broker.url.split("@")[-1]
    return f"redis error: {exc} (is Redis running at {where}? broker.url, or JUBEN_BROKER__URL)"
