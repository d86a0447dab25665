"""Tenant isolation of every route, generated from the app's route table: a route added without a
way to call it here fails the test, so none can skip the check.

Tenant B has a completed job, a failed one and its dead letter. Tenant A's operator key then calls
every ``/v1`` route: with B's ids a route answers 404 (not 403: B's ids are not confirmed to
exist), and a collection route (listings, filters, bulk actions) neither shows B's ids nor
changes B's jobs or letters. Without a key every route is 401.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from entrypoints.api.app import create_app
from entrypoints.api.console import csrf_token
from entrypoints.testing import drain
from models import DeadLetter, Job
from pipeline import jobs, keys
from pipeline.db import session_factory
from tests.api_support import serve

SCRIPT = "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n"

#: How to call each collection route (no id in its path) as tenant A: the request's keyword
#: arguments. A route missing here fails the test.
COLLECTION_CALLS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/jobs"): {"json": {"text": SCRIPT, "project": "a-own"}},
    ("POST", "/v1/jobs/batch"): {"json": {"jobs": [{"text": SCRIPT, "project": "a-own"}]}},
    ("GET", "/v1/jobs"): {"params": {"status": ["COMPLETED", "FAILED"], "limit": 1000}},
    ("POST", "/v1/reruns"): {"json": {"status": ["COMPLETED", "FAILED"], "from_stage": "dedup"}},
    ("GET", "/v1/dead-letters"): {"params": {"resolved": "true"}},
    ("POST", "/v1/dead-letters/retry"): {"json": {"all": True}},
    ("POST", "/v1/dead-letters/purge"): {"json": {"older_than": "0s"}},
    ("GET", "/v1/stats"): {},
    ("GET", "/v1/projects"): {},
}
#: Body of an id route's call (the rest need none).
ID_CALL_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/jobs/{job_id}/rerun"): {"from_stage": "dedup"},
}


#: The routes that need no key: health, metrics and the API's own description.
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


#: The console's routes (``/ui``), each with what it is: ``open`` (signing in, the redirect
#: home), ``page`` (signed in: anonymous goes to the sign-in page; tenant A never sees B's data),
#: ``stream`` (a page's live rows: anonymous is 401; asked for B's jobs, A gets none of them) or
#: ``form`` (a POST that changes something: refused without the page's CSRF token). A console
#: route missing here fails the test.
CONSOLE: dict[tuple[str, str], str] = {
    ("GET", "/ui"): "open",
    ("GET", "/ui/"): "open",
    ("GET", "/ui/login"): "open",
    ("POST", "/ui/login"): "open",
    ("POST", "/ui/logout"): "form",
    ("GET", "/ui/jobs"): "page",
    ("GET", "/ui/events"): "stream",
    ("GET", "/ui/jobs/{job_id}"): "page",
    ("GET", "/ui/jobs/{job_id}/report"): "page",
    ("POST", "/ui/jobs/{job_id}/cancel"): "form",
    ("POST", "/ui/jobs/{job_id}/rerun"): "form",
    ("GET", "/ui/dead-letters"): "page",
    ("GET", "/ui/overview"): "page",
    ("GET", "/ui/dead-letters/{letter_id}"): "page",
    ("POST", "/ui/dead-letters/retry"): "form",
    ("POST", "/ui/dead-letters/purge"): "form",
}


def _all_routes(app) -> list[tuple[str, str]]:
    return sorted(
        {(method, str(c.path)) for c in iter_route_contexts(app.routes) for method in c.methods or ()}
    )


def _routes(app) -> list[tuple[str, str]]:
    """Every (method, path) of the app, included routers' too; all but :data:`PUBLIC` and the
    console's (:data:`CONSOLE`, checked apart) under /v1."""
    found = _all_routes(app)
    outside = {
        path
        for _, path in found
        if not path.startswith("/v1/") and path not in PUBLIC and not path.startswith("/ui")
    }
    assert not outside, f"routes outside /v1 escape the tenant checks: {outside}"
    return [(method, path) for method, path in found if path.startswith("/v1/")]


def _b_state(job_ids: list[str]) -> list[tuple[Any, ...]]:
    with session_factory()() as s:
        rows = s.execute(
            select(Job.id, Job.status, Job.run).where(Job.id.in_(job_ids)).order_by(Job.id)
        ).all()
        letters = s.execute(select(DeadLetter.id, DeadLetter.resolved_at).order_by(DeadLetter.id)).all()
    return [tuple(r) for r in rows] + [tuple(r) for r in letters]


@pytest.fixture
def tenants(stub_worker, pg_settings):
    broker, worker = stub_worker
    _, key_a = keys.create_key("tenant-a", "operator")
    _, key_b = keys.create_key("tenant-b", "operator")
    b = keys.authenticate(key_b)
    b_done = jobs.submit(SCRIPT, project="b-secret", tenant_id=b.tenant_id)
    b_failed = jobs.submit("only a note about lunch.\n", project="b-secret", tenant_id=b.tenant_id)
    drain(broker, worker)
    with session_factory()() as s:
        letter = s.scalar(select(DeadLetter.id).where(DeadLetter.job_id == b_failed))
    assert letter is not None
    return {"a": key_a, "b": key_b, "b_jobs": [b_done, b_failed], "b_letter": letter}


def test_every_route_keeps_to_its_tenant(stub_worker, pg_settings, tenants):
    broker, worker = stub_worker
    app = create_app(pg_settings, connect=False)
    routes = _routes(app)
    id_routes = [r for r in routes if "{" in r[1]]
    missing = [r for r in routes if "{" not in r[1] and r not in COLLECTION_CALLS]
    assert not missing, f"say in COLLECTION_CALLS how to call {missing}"
    assert len(id_routes) >= 5  # job, report, cancel, rerun, dead letter
    a = {"Authorization": f"Bearer {tenants['a']}"}
    before = _b_state(tenants["b_jobs"])

    with serve(app) as client:
        for job in tenants["b_jobs"]:  # kept in the process's status cache: still 404 for A
            assert (
                200
                == client.get(
                    f"/v1/jobs/{job}", headers={"Authorization": f"Bearer {tenants['b']}"}
                ).status_code
            )
            assert app.state.status_cache.get(job) is not None
        for method, path in routes:
            filled = path.replace("{job_id}", tenants["b_jobs"][0]).replace(
                "{letter_id}", str(tenants["b_letter"])
            )
            assert not re.search(r"\{\w+\}", filled), f"no id of tenant B for {path}"
            body = ID_CALL_BODIES.get((method, path), {}) if method == "POST" else None
            call = COLLECTION_CALLS.get((method, path), {"json": body} if body is not None else {})

            anonymous = client.request(method, filled, **call)
            assert 401 == anonymous.status_code, (method, path, anonymous.text)

            answer = client.request(method, filled, headers=a, **call)
            if "{" in path:
                assert 404 == answer.status_code, (method, path, answer.text)
            else:
                assert answer.status_code < 500, (method, path, answer.text)
                if method == "GET":  # listings: B's ids and project never appear
                    for secret in [*tenants["b_jobs"], "b-secret"]:
                        assert secret not in answer.text, (method, path)
                    if path == "/v1/dead-letters":
                        assert str(tenants["b_letter"]) not in [str(d["id"]) for d in answer.json()]
            drain(broker, worker)

    assert before == _b_state(tenants["b_jobs"])  # B's jobs and letters untouched


def test_every_console_route_keeps_to_its_tenant(stub_worker, pg_settings, tenants):
    """The console's routes from the same table: signed-in pages send an anonymous visitor to
    sign in and never show tenant B's jobs or projects to A; a form without the page's CSRF
    token is refused; a console route this test does not know fails it."""
    app = create_app(pg_settings, connect=False)
    console = [r for r in _all_routes(app) if r[1].startswith("/ui")]
    unknown = [r for r in console if r not in CONSOLE]
    assert not unknown, f"say in CONSOLE what {unknown} is"
    with serve(app) as client:
        signed = client.post("/ui/login", data={"key": tenants["a"]}, follow_redirects=False)
        assert 303 == signed.status_code and "juben_console" in signed.cookies
        cookie = {"Cookie": f"juben_console={signed.cookies['juben_console']}"}
        client.cookies.clear()  # each request below says whether it is signed in
        before = _b_state(tenants["b_jobs"])
        for method, template in console:
            kind = CONSOLE[(method, template)]
            path = template.replace("{job_id}", tenants["b_jobs"][0]).replace(  # B's, asked by A
                "{letter_id}", str(tenants["b_letter"])
            )
            if kind == "page":
                anonymous = client.request(method, path, follow_redirects=False)
                assert 303 == anonymous.status_code and "/ui/login" in anonymous.headers["location"]
                page = client.request(method, path, headers=cookie)
                assert (404 if "{" in template else 200) == page.status_code, (path, page.text)
                for secret in [*tenants["b_jobs"][1:], "b-secret"]:
                    assert secret not in page.text, (method, path)
            elif kind == "stream":
                asked = {"job": tenants["b_jobs"]}
                assert 401 == client.request(method, path, params=asked).status_code
                stream = client.request(method, path, params=asked, headers=cookie)
                assert 200 == stream.status_code and "event: end" in stream.text, stream.text
                assert not [j for j in tenants["b_jobs"] if j in stream.text], stream.text
            elif kind == "form":
                forged = client.request(method, path, headers=cookie, data={"csrf": "0" * 64})
                assert 403 == forged.status_code, (method, path, forged.text)
                if "{" in template:  # with the right token: B's job is not found, and untouched
                    data = {"csrf": csrf_token(tenants["a"]), "from_stage": "dedup", "confirm": "1"}
                    acted = client.request(method, path, headers=cookie, data=data)
                    assert 404 == acted.status_code, (method, path, acted.text)
                else:  # a collection action, confirmed, naming B's letter: B's letters stay
                    data = {"csrf": csrf_token(tenants["a"]), "ids": str(tenants["b_letter"]),
                            "older_than": "0s", "confirm": "1"}  # fmt: skip
                    acted = client.request(method, path, headers=cookie, data=data, follow_redirects=False)
                    assert acted.status_code < 500 and "b-secret" not in acted.text, (path, acted.text)
        assert before == _b_state(tenants["b_jobs"])
