"""The ASGI app of the HTTP API: routes over the service layer, problems, metrics and health.

``create_app()`` is what uvicorn runs (``entrypoints.api.app:create_app``, a factory, so each
worker process builds its own); ``python api.py`` starts it (:mod:`entrypoints.api.server`).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.api import console, problems
from entrypoints.api import events as event_routes
from entrypoints.api import jobs as job_routes
from entrypoints.api import ops as ops_routes
from entrypoints.api.auth import KeyCache
from entrypoints.api.problems import Kind, problem
from entrypoints.api.status import StatusCache, StatusFastPath
from pipeline.logs import get_logger
from pipeline.settings import Settings, get_settings

log = get_logger(__name__)

_metrics: dict[str, Any] = {}


def _request_metrics() -> dict[str, Any]:
    """The request counter and latency histogram (made once per process, after the multiprocess
    folder is set)."""
    if not _metrics:
        from prometheus_client import Counter, Histogram

        _metrics["requests"] = Counter(
            "juben_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
        )
        _metrics["seconds"] = Histogram(
            "juben_http_request_duration_seconds",
            "Time to answer an HTTP request (to its last byte; an event stream: its whole life)",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
    return _metrics


class RequestMetrics:
    """Counts and times every request by route template (``/v1/jobs/{job_id}``, never the raw path,
    so ids do not explode the series); logs requests slower than ``api.slow_request_ms``."""

    def __init__(self, app: ASGIApp, *, slow_ms: int) -> None:
        self.app = app
        self.slow_s = slow_ms / 1000
        metrics = _request_metrics()
        self.requests = metrics["requests"]
        self.seconds = metrics["seconds"]
        #: Each (method, route, status)'s counter and histogram, looked up once (``labels()``
        #: validates and hashes its arguments on every call).
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            method = scope["method"]
            series = self._series.get((method, route, status))
            if series is None:
                series = self._series[(method, route, status)] = (
                    self.requests.labels(method, route, str(status)),
                    self.seconds.labels(method, route),
                )
            series[0].inc()
            series[1].observe(elapsed)
            if elapsed >= self.slow_s:
                params = scope.get("path_params") or {}
                log.info(
                    "slow_request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 1),
                    job_id=params.get("job_id"),
                )


def _metrics_text() -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several worker processes: their sum
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def create_app(settings: Settings | None = None, *, connect: bool | None = None) -> FastAPI:
    """The API app on ``settings`` (default: this process's).

    Args:
        connect: set up logging and the Redis broker when the app starts (default: in server
            mode); ``False`` when the caller has (the embedded runtime, tests on a stub broker).
    """
    settings = settings or get_settings()
    connect = settings.mode == "server" if connect is None else connect

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api.threads
        if connect:
            from pipeline.broker import setup_broker
            from pipeline.logs import configure_logging

            configure_logging(settings)
            setup_broker(settings, stub=False)
        await app.state.event_hub.start()  # job events for streams, key changes for the key cache
        # What the process has made by now (modules, the app, the routes: most of its objects)
        # lives as long as it does: out of the collector's sight, a full collection no longer
        # walks it. Such a collection paused the process for about 250 ms under 1,000 event
        # streams, every watcher's event late by as much.
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()  # an app started again in this process (tests) freezes what it has then
        app.state.event_hub.close()
        from pipeline.db import dispose_engines

        dispose_engines()

    app = FastAPI(
        title="Juben",
        summary="Break screenplays down: scenes, cast, props, locations and shot lists.",
        version=_version(),
        lifespan=lifespan,
        openapi_tags=[
            {"name": "jobs", "description": "Submit scripts and follow their breakdowns."},
            {"name": "operations", "description": "Re-runs, dead letters and figures (operator keys act)."},
            {"name": "health", "description": "For load balancers and Prometheus; no key needed."},
        ],
    )
    app.state.settings = settings
    app.state.event_hub = event_routes.EventHub(settings)
    app.state.key_cache = KeyCache(app.state.event_hub)
    app.state.status_cache = StatusCache(app.state.event_hub, settings.api.status_cache_size)
    problems.install(app)
    app.include_router(job_routes.router)
    app.include_router(event_routes.router)
    app.include_router(ops_routes.router)
    app.include_router(console.router)
    # The last added runs first: the metrics see every request, the status fast path's too.
    app.add_middleware(StatusFastPath, route=_route_of(app, job_routes.get_job))
    app.add_middleware(RequestMetrics, slow_ms=settings.api.slow_request_ms)
    app.mount("/ui/static", StaticFiles(directory=console.HERE / "static"), name="console-static")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up (no database or Redis call)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "A dependency is not ready."}})
    def readyz(request: Request) -> Response:
        """The database answers and is migrated to this code's revision, and Redis answers."""
        from pipeline.preflight import readiness

        problems_found = readiness(settings)
        if problems_found:
            return problem(
                Kind("not-ready", 503, "Not ready"),
                "; ".join(problems_found),
                instance=request.url.path,
            )
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics: requests per route and status, latency histograms per route."""
        body, content_type = _metrics_text()
        return Response(body, media_type=content_type)

    return app


def _route_of(app: FastAPI, endpoint: Any) -> Any:
    """The route that runs ``endpoint`` (as the router puts it in a request's scope)."""
    from fastapi.routing import iter_route_contexts

    return next(
        c.original_route
        for c in iter_route_contexts(app.routes)
        if getattr(c.original_route, "endpoint", None) is endpoint
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("juben")
    except PackageNotFoundError:
        return "0"
