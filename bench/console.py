"""The console's jobs page at scale (issue 19): server time of ``GET /ui/jobs`` with 100k jobs in the
database, for the first page and each filter the page offers.

    python -m bench --only console [--quick]

The database is filled as the status benchmark fills it (:func:`bench.status_scale.populate`:
100 projects, 100k jobs over the last weeks, 5% FAILED, 1% CANCELLED, 30 chunks each). The page
is requested in-process through the ASGI app (``httpx.ASGITransport``: routing, the key check,
both queries, rendering; no socket), signed in as the default tenant's operator (every job is
its), 200 times per view after 10 warm-up requests. Target: p99 < 100 ms each. Quick: 10k jobs.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from bench.status_scale import populate
from bench.support import Sandbox, percentile, row

NAME = "console"
SAMPLES = 200
WARMUP = 10


def run(quick: bool) -> list[dict[str, Any]]:
    import httpx

    jobs = 10_000 if quick else 100_000
    rows: list[dict[str, Any]] = []
    with Sandbox() as box:
        filled = populate(box, jobs)
        settings = box.activate(stub=True)
        from entrypoints.api.app import create_app
        from entrypoints.api.console import COOKIE
        from pipeline.keys import create_key

        _, key = create_key("default", "operator", settings=settings)
        with box.engine.connect() as conn:
            project = conn.scalar(text("SELECT name FROM projects ORDER BY id LIMIT 1 OFFSET 7"))
            day = conn.scalar(text("SELECT date_trunc('hour', now() - interval '2 days')"))
        views: list[tuple[str, dict[str, Any]]] = [
            ("first page", {}),
            ("status FAILED", {"status": "FAILED"}),
            ("status FAILED or CANCELLED", {"status": ["FAILED", "CANCELLED"]}),
            ("one project", {"project": project}),
            ("title search", {"title": "Script 4242"}),
            (
                "time range (a day)",
                {"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()},
            ),
            ("project + status", {"project": project, "status": "FAILED"}),  # its jobs are g % 100 == 7
        ]
        app = create_app(settings, connect=False)

        async def measure() -> list[dict[str, Any]]:
            out = []
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
                client.cookies.set(COOKIE, key)
                for title, params in views:
                    for _ in range(WARMUP):
                        answer = await client.get("/ui/jobs", params=params)
                        answer.raise_for_status()
                    times = []
                    for _ in range(SAMPLES):
                        started = time.perf_counter()
                        answer = await client.get("/ui/jobs", params=params)
                        times.append(time.perf_counter() - started)
                        answer.raise_for_status()
                    shown = answer.text.count("<tr data-job=")
                    p50, p99 = percentile(times, 50) * 1000, percentile(times, 99) * 1000
                    out.append(
                        row(
                            NAME,
                            f"jobs page at {jobs // 1000}k jobs: {title}, p99",
                            p99,
                            "ms",
                            target="< 100",
                            ok=p99 < 100,
                            p50_ms=round(p50, 1),
                            rows=shown,
                        )
                    )
            return out

        rows.append(row(NAME, f"populate {jobs:,} jobs", filled["total_s"], "s", **filled))
        rows += asyncio.run(measure())
    return rows
