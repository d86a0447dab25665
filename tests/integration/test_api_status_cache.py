"""``GET /v1/jobs/{id}`` from each API process's memory (entrypoints.api.status), against real
PostgreSQL notifications: a job read once is answered without the database until it changes; any
change of its row, a lost LISTEN connection or a revoked key is seen; nothing is kept with the
cache off. Tenant isolation of the kept jobs is checked with every route in
test_api_isolation.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update

from entrypoints.api.app import create_app
from entrypoints.testing import drain
from models import Job
from pipeline import jobs, keys
from pipeline.db import session_factory
from pipeline.settings import Settings
from tests.api_support import serve

SCRIPT = "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def served(stub_worker, pg_settings: Settings) -> Iterator[tuple[Any, httpx.Client, dict[str, str], str]]:
    """The app, a client on it, a viewer's headers and a completed job of the viewer's tenant."""
    broker, worker = stub_worker
    _, key = keys.create_key("acme", "viewer")
    job_id = jobs.submit(SCRIPT, project="p", tenant_id=keys.authenticate(key).tenant_id)
    drain(broker, worker)
    app = create_app(pg_settings, connect=False)
    with serve(app) as client:
        yield app, client, _auth(key), job_id


def _answered() -> float:
    """How many status requests this process's metrics have counted (fast path and route
    alike), read from the registry: /metrics may be reading another test's multiprocess folder."""
    from prometheus_client import REGISTRY

    labels = {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "200"}
    return REGISTRY.get_sample_value("juben_http_requests_total", labels) or 0.0


def _until(check, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the change was never seen"
        time.sleep(0.01)


def _set_title(job_id: str, title: str) -> None:
    with session_factory()() as s, s.begin():
        s.execute(update(Job).where(Job.id == job_id).values(title=title))


def test_a_job_read_once_is_answered_from_memory_until_its_row_changes(served, monkeypatch):
    app, client, viewer, job_id = served
    first = client.get(f"/v1/jobs/{job_id}", headers=viewer)
    assert 200 == first.status_code and "COMPLETED" == first.json()["status"]
    assert app.state.status_cache.get(job_id) is not None
    counted = _answered()

    def no_database(*args: object, **kwargs: object) -> None:
        raise AssertionError("read from the database")

    monkeypatch.setattr(jobs, "job_record", no_database)
    again = [client.get(f"/v1/jobs/{job_id}", headers=viewer) for _ in range(3)]
    assert [first.json()] * 3 == [a.json() for a in again]
    assert "application/json" == again[0].headers["content-type"]
    assert counted + 3 == _answered()  # counted under the route's template
    monkeypatch.undo()

    # Any change of the row notifies (migration 0011), here one no event or progress tells of.
    _set_title(job_id, "Renamed")
    _until(lambda: client.get(f"/v1/jobs/{job_id}", headers=viewer).json()["title"] == "Renamed")


def test_a_status_after_a_rerun_through_the_api_is_the_new_run(served, stub_worker, pg_settings):
    _, client, viewer, job_id = served
    broker, worker = stub_worker
    assert 1 == client.get(f"/v1/jobs/{job_id}", headers=viewer).json()["run"]
    _, operator = keys.create_key("acme", "operator")
    answer = client.post(f"/v1/jobs/{job_id}/rerun", headers=_auth(operator), json={"from_stage": "dedup"})
    assert 200 == answer.status_code, answer.text
    drain(broker, worker)
    _until(lambda: client.get(f"/v1/jobs/{job_id}", headers=viewer).json()["run"] == 2)
    assert "COMPLETED" == client.get(f"/v1/jobs/{job_id}", headers=viewer).json()["status"]


def test_nothing_kept_is_trusted_once_the_listen_connection_was_lost(served):
    """The connection that would tell of a change is cut in the change's transaction: its
    notification is lost, and the status is read again rather than answered from memory."""
    _, client, viewer, job_id = served
    assert "script" == client.get(f"/v1/jobs/{job_id}", headers=viewer).json()["title"]
    with session_factory()() as s, s.begin():
        s.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'juben-api-listen'"
            )
        )
        s.execute(update(Job).where(Job.id == job_id).values(title="Unseen"))
    _until(lambda: client.get(f"/v1/jobs/{job_id}", headers=viewer).json()["title"] == "Unseen")


def test_a_revoked_key_is_refused_for_a_kept_job(served):
    _, client, _, job_id = served
    info, key = keys.create_key("acme", "viewer")
    assert 200 == client.get(f"/v1/jobs/{job_id}", headers=_auth(key)).status_code  # both kept
    keys.revoke_key(info.prefix)
    _until(lambda: client.get(f"/v1/jobs/{job_id}", headers=_auth(key)).status_code == 401)


def test_with_the_cache_off_nothing_is_kept(stub_worker, pg_settings):
    broker, worker = stub_worker
    _, key = keys.create_key("acme", "viewer")
    job_id = jobs.submit(SCRIPT, project="p", tenant_id=keys.authenticate(key).tenant_id)
    drain(broker, worker)
    off = pg_settings.model_copy(update={"api": pg_settings.api.model_copy(update={"status_cache_size": 0})})
    app = create_app(off, connect=False)
    with serve(app) as client:
        assert "COMPLETED" == client.get(f"/v1/jobs/{job_id}", headers=_auth(key)).json()["status"]
        assert app.state.status_cache.get(job_id) is None


def test_a_job_not_kept_is_read_and_kept_before_the_route_when_the_key_is_kept(served, monkeypatch):
    """The fast path reads a job it does not keep (the key kept): no routing, the same answer;
    a job it cannot read (unknown here) is left to the route, whose 404 it is."""
    from entrypoints.api import jobs as job_routes

    app, client, viewer, job_id = served
    assert 200 == client.get("/v1/jobs", headers=viewer).status_code  # the key is kept now
    assert app.state.status_cache.get(job_id) is None
    expected = jobs.get_status(job_id).model_dump(mode="json")

    def no_route(*args: object, **kwargs: object) -> None:
        raise AssertionError("routed")

    monkeypatch.setattr(job_routes, "job_view", no_route)
    answer = client.get(f"/v1/jobs/{job_id}", headers=viewer)
    assert 200 == answer.status_code
    assert expected == answer.json()
    assert app.state.status_cache.get(job_id) is not None
    monkeypatch.undo()
    unknown = client.get("/v1/jobs/0123456789abcdef0123456789abcdef", headers=viewer)
    assert 404 == unknown.status_code and "no job" in unknown.json()["detail"]
