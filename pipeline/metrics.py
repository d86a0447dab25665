"""Prometheus metrics: dramatiq's own plus Juben's, served by the worker on ``metrics.port``.

Worker processes write their counters and histograms to a shared multiprocess directory
(prometheus_client's multiprocess mode, as dramatiq's Prometheus middleware does); one
exposition process forked by the dramatiq CLI serves them together with gauges read from
PostgreSQL at scrape time (jobs by status, unresolved dead letters by stage).

Outside a worker (CLI, embedded mode) the same calls update in-memory metrics nobody scrapes.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from pipeline.settings import Settings, get_settings


def prepare_multiprocess_dir(settings: Settings) -> Path:
    """Empty this worker command's multiprocess folder (`<metrics.dir>/<port>`) and point
    prometheus_client (and dramatiq) at it; another worker command on another port keeps its own.

    Must run in the worker's main process before anything imports prometheus_client.
    """
    path = settings.metrics.port_dir
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    for name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "dramatiq_prom_db"):
        os.environ[name] = str(path)
    return path


class JubenMetrics:
    """The metrics Juben's own code updates."""

    def __init__(self) -> None:
        import prometheus_client as prom

        self.stage_seconds = prom.Histogram(
            "juben_stage_duration_seconds",
            "Seconds a stage took for a job, from claim to done.",
            ["stage"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600, 1800),
        )
        self.retries = prom.Counter(
            "juben_stage_retries_total", "Stage re-claims (retries, redeliveries).", ["stage"]
        )
        self.dead_letters = prom.Counter(
            "juben_dead_letters_total", "Messages that failed for good.", ["stage"]
        )
        self.dropped = prom.Counter(
            "juben_messages_dropped_total",
            "Messages dropped at claim (unknown, cancelled or moved-on job).",
            ["stage"],
        )
        self.redrives = prom.Counter(
            "juben_reconciler_redrives_total", "Jobs the reconciler re-drove.", ["status"]
        )
        self.llm_calls = prom.Counter("juben_llm_calls_total", "LLM calls made.", ["provider"])
        self.llm_tokens = prom.Counter("juben_llm_tokens_total", "LLM tokens used.", ["provider", "kind"])
        self.cache_hits = prom.Counter(
            "juben_llm_cache_hits_total", "Chunks served from the LLM cache.", ["provider"]
        )


_lock = threading.Lock()
_metrics: JubenMetrics | None = None


def metrics() -> JubenMetrics:
    """This process's metrics, created once on first use (after the multiprocess directory is set).

    Worker threads race here on their first message; prometheus_client refuses a second
    registration of the same names, so creation is locked.
    """
    global _metrics  # noqa: PLW0603 (one registry per process)
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = JubenMetrics()
    return _metrics


class DatabaseCollector:
    """Gauges read from the database at scrape time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily
        from sqlalchemy import func, select

        from models import DeadLetter, Job
        from pipeline.db import session_factory
        from pipeline.states import STAGES

        jobs = GaugeMetricFamily("juben_jobs", "Jobs by status.", labels=["status"])
        letters = GaugeMetricFamily(
            "juben_dead_letters_unresolved", "Unresolved dead letters by stage.", labels=["stage"]
        )
        with session_factory(self.settings)() as session:
            counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            for status in STAGES.statuses:
                jobs.add_metric([status.value], counts.get(status.value, 0))
            for stage, count in session.execute(
                select(DeadLetter.stage, func.count())
                .where(DeadLetter.resolved_at.is_(None))
                .group_by(DeadLetter.stage)
            ):
                letters.add_metric([stage or ""], count)
        yield jobs
        yield letters


def dramatiq_middleware() -> list[Any]:
    """dramatiq's Prometheus middleware (without its own server) and ours that forks :func:`serve`."""
    from dramatiq.middleware import Middleware
    from dramatiq.middleware.prometheus import Prometheus

    class DramatiqMetrics(Prometheus):
        @property
        def forks(self) -> list[Any]:
            return []  # our exposition process serves its metrics too

    class Exposition(Middleware):
        @property
        def forks(self) -> list[Any]:
            return [serve]

    return [DramatiqMetrics(), Exposition()]


def serve() -> int:
    """Serve every worker process's metrics plus the database gauges (a dramatiq CLI fork)."""
    import prometheus_client as prom
    from prometheus_client import multiprocess

    settings = get_settings()
    registry = prom.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(DatabaseCollector(settings))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            output = prom.generate_latest(registry)
            self.send_response(200)
            self.send_header("content-type", prom.CONTENT_TYPE_LATEST)
            self.end_headers()
            self.wfile.write(output)

        def log_message(self, format: str, *args: Any) -> None:
            return

    HTTPServer((settings.metrics.host, settings.metrics.port), Handler).serve_forever()
    return 0
