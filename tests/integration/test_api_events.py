"""Server-Sent Events of a job over real HTTP (uvicorn in a thread) on real PostgreSQL: every
transition live to COMPLETED, a reconnect with Last-Event-ID that misses nothing, and 200
watchers of one job on one LISTEN connection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from dramatiq import Worker
from sqlalchemy import select, text

from entrypoints.api.app import create_app
from entrypoints.testing import bind_actors, drain
from models import JobEvent
from pipeline import keys
from pipeline.broker import setup_broker
from pipeline.db import session_factory
from tests.api_support import serve

SCRIPT = (
    "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n\nEXT. GARDEN - DAY\n\nJOHN digs.\n"
)


def parse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """SSE events (event, id, data as JSON) from a stream's lines; comments are skipped."""
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(": ")
            event[field] = orjson.loads(value) if field == "data" else value


@pytest.fixture
def idle_broker(pg_settings):
    """A stub broker with the actors bound and no worker yet: jobs wait until the test runs them."""
    broker = setup_broker(pg_settings, stub=True)
    bind_actors(broker)
    broker.emit_after("process_boot")
    yield broker
    broker.close()


def _run_worker(broker) -> threading.Thread:
    def work() -> None:
        worker = Worker(broker, worker_threads=2, worker_timeout=50)
        worker.start()
        try:
            drain(broker, worker)
        finally:
            worker.stop()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _transitions(job_id: str) -> list[tuple[int, str]]:
    with session_factory()() as s:
        rows = s.execute(
            select(JobEvent.id, JobEvent.to_status)
            .where(JobEvent.job_id == job_id, JobEvent.from_status != JobEvent.to_status)
            .order_by(JobEvent.id)
        ).all()
    return [(i, to) for i, to in rows]


def test_a_watcher_sees_every_transition_live_and_a_reconnect_misses_nothing(idle_broker, pg_settings):
    key = keys.create_key("acme", "viewer")[1]
    submitter = keys.create_key("acme", "submitter")[1]
    with serve(create_app(pg_settings, connect=False)) as client:
        job_id = client.post(
            "/v1/jobs", headers={"Authorization": f"Bearer {submitter}"}, json={"text": SCRIPT}
        ).json()["id"]
        auth = {"Authorization": f"Bearer {key}"}
        with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=auth) as stream:
            assert "text/event-stream" in stream.headers["content-type"]
            assert "no" == stream.headers["x-accel-buffering"] and "content-encoding" not in stream.headers
            events = parse(stream.iter_lines())
            first = [next(events), next(events)]  # the replayed PENDING, then the status
            assert ["transition", "status"] == [e["event"] for e in first]
            worker = _run_worker(idle_broker)
            live = []
            for event in events:
                live.append(event)
                if event["event"] == "transition" and len(live) >= 3:
                    break  # a client goes away mid-job
        last_id = live[-1]["id"]
        with client.stream(
            "GET", f"/v1/jobs/{job_id}/events", headers={**auth, "Last-Event-ID": last_id}
        ) as stream:
            rest = list(parse(stream.iter_lines()))
        worker.join(30)

    seen = [first[0], *live, *rest]
    transitions = [(int(e["id"]), e["data"]["to"]) for e in seen if e["event"] == "transition"]
    assert _transitions(job_id) == transitions  # every one, once, in order
    assert ("COMPLETED", "end") == (transitions[-1][1], rest[-1]["event"])
    assert all("id" in e for e in seen)
    percents = [e["data"]["percent"] for e in seen if e["event"] in ("transition", "progress")]
    assert percents == sorted(percents) and 100.0 == percents[-1]


def test_two_hundred_watchers_of_a_job_cost_one_listen_and_all_see_its_end(idle_broker, pg_settings):
    key = keys.create_key("acme", "submitter")[1]
    auth = {"Authorization": f"Bearer {key}"}
    app = create_app(pg_settings, connect=False)
    with serve(app) as client:
        base = str(client.base_url)
        job_id = client.post("/v1/jobs", headers=auth, json={"text": SCRIPT}).json()["id"]
        connected = threading.Event()
        listens: list[int] = []

        async def watch(http: httpx.AsyncClient, ready: asyncio.Queue[None]) -> list[str]:
            kinds = []
            async with http.stream("GET", f"/v1/jobs/{job_id}/events", headers=auth) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("event: "):
                        kinds.append(line[7:])
                        if kinds[-1] == "status":
                            ready.put_nowait(None)
                        if kinds[-1] == "end":
                            break
            return kinds

        async def all_watchers() -> list[list[str]]:
            ready: asyncio.Queue[None] = asyncio.Queue()
            limits = httpx.Limits(max_connections=250)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
                tasks = [asyncio.create_task(watch(http, ready)) for _ in range(200)]
                for _ in range(200):
                    await asyncio.wait_for(ready.get(), 60)
                with session_factory()() as s:
                    listens.append(
                        int(
                            s.scalar(
                                text(
                                    "SELECT count(*) FROM pg_stat_activity"
                                    " WHERE datname = current_database() AND application_name = 'juben-api-listen'"
                                )
                            )
                        )
                    )
                connected.set()
                return await asyncio.gather(*tasks)

        runner = threading.Thread(target=lambda: results.extend(asyncio.run(all_watchers())))
        results: list[list[str]] = []
        runner.start()
        assert connected.wait(90)
        _run_worker(idle_broker).join(60)
        runner.join(60)

    assert [1] == listens
    assert 200 == len(results)
    assert all(kinds[-1] == "end" and "transition" in kinds for kinds in results)
