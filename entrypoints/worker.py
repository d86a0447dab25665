"""Worker process boot: what each dramatiq worker process runs before importing the stages."""

from __future__ import annotations

import dramatiq

from pipeline.broker import setup_broker
from pipeline.db import dispose_engines
from pipeline.logs import configure_logging
from pipeline.reconciler import PeriodicReconciler
from pipeline.settings import get_settings
from pipeline.webhooks import WebhookDispatcher


def boot() -> dramatiq.Broker:
    """Configure logging and the broker for a server-mode worker process (dramatiq calls this)."""
    settings = get_settings()
    configure_logging(settings)
    # A forked process must not share the parent's pooled connections.
    dispose_engines()
    broker = setup_broker(settings, stub=False)
    if settings.reconcile.enabled:  # workers reconcile; a command's broker only sends
        broker.add_middleware(PeriodicReconciler(settings))
    broker.add_middleware(WebhookDispatcher(settings))
    # Import prometheus_client and register Juben's metrics now (after setup_broker has set the
    # multiprocess directory), not on the first message a worker thread runs.
    from pipeline.metrics import metrics

    metrics()
    return broker
