"""The HTTP API served by uvicorn in a thread of the test (real HTTP, real PostgreSQL), with a
stub broker and an in-process worker: submit (files, text, batch), idempotency, uploads refused with nothing
stored, roles, revoked keys, the rate limit, problem+json, reports and operations."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select, text, update

from entrypoints.api.app import create_app
from entrypoints.testing import drain
from models import ApiKey, DeadLetter, Job, ScriptContent
from pipeline import keys
from pipeline.db import session_factory
from pipeline.settings import Settings
from tests.api_support import serve

SCRIPT = (
    "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n\nEXT. GARDEN - DAY\n\nJOHN digs.\n"
)
EPISODE_2 = "EXT. GARDEN - NIGHT\n\nJOHN\nStill digging.\n"
PROBLEM = "application/problem+json"


def _jobs() -> int:
    with session_factory()() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(stub_worker, pg_settings: Settings) -> Iterator[httpx.Client]:
    with serve(create_app(pg_settings, connect=False)) as made:
        yield made


@pytest.fixture
def operator(pg_settings: Settings) -> dict[str, str]:
    return _auth(keys.create_key("acme", "operator")[1])


def _problem(response, status: int, kind: str) -> dict:
    assert status == response.status_code, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (f"urn:juben:problem:{kind}", status) == (body["type"], body["status"])
    assert body["title"] and body["detail"]
    return body


def test_files_uploaded_in_order_become_one_job_that_completes_with_its_reports(
    client, stub_worker, operator
):
    broker, worker = stub_worker
    answer = client.post(
        "/v1/jobs",
        headers=operator,
        files=[
            ("file", ("ep2.fountain", EPISODE_2.encode())),  # sent first: the first episode
            ("file", ("ep1.fountain", SCRIPT.encode())),
        ],
        data={"project": "series", "title": "Two", "options": '{"max_chunk_chars": 3000}'},
    )
    assert 202 == answer.status_code, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/v1/jobs/{job['id']}"
    assert ("series", "Two", 1) == (job["project"], job["title"], job["run"])  # the worker may have begun

    drain(broker, worker)
    view = client.get(answer.headers["location"], headers=operator).json()
    assert ("COMPLETED", 100.0) == (view["status"], view["percent"])
    with session_factory()() as s:
        sources = s.scalar(select(ScriptContent.sources).where(ScriptContent.job_id == job["id"]))
        options = s.scalar(select(Job.options).where(Job.id == job["id"]))
    assert ["ep2.fountain", "ep1.fountain"] == [source["name"] for source in sources]
    assert 3000 == options["max_chunk_chars"]

    report = client.get(f"/v1/jobs/{job['id']}/report", headers=operator)
    assert report.headers["content-type"] == "application/json"
    assert {"MARY", "JOHN"} <= {c["name"] for c in report.json()["characters"]}
    html = client.get(f"/v1/jobs/{job['id']}/report?format=html", headers=operator)
    assert html.headers["content-type"].startswith("text/html") and "<html" in html.text
    csv = client.get(f"/v1/jobs/{job['id']}/report?format=csv&table=characters", headers=operator)
    assert csv.text.splitlines()[0].startswith("name,")
    _problem(
        client.get(f"/v1/jobs/{job['id']}/report?format=csv&table=nope", headers=operator),
        422,
        "invalid-input",
    )


def test_the_listing_filters_by_several_statuses_title_and_time_and_pages(client, stub_worker, operator):
    broker, worker = stub_worker
    ids = [
        client.post("/v1/jobs", headers=operator, json={"text": SCRIPT, "title": f"Night {n}"}).json()["id"]
        for n in range(3)
    ]
    cancelled = client.post(f"/v1/jobs/{ids[0]}/cancel", headers=operator).json()
    assert (True, "CANCELLED") == (cancelled["cancelled"], cancelled["status"])
    drain(broker, worker)

    def listed(query: str) -> list[str]:
        answer = client.get(f"/v1/jobs?{query}", headers=operator)
        assert 200 == answer.status_code, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert set(ids) == set(listed("status=COMPLETED&status=CANCELLED"))
    assert [ids[0]] == listed("status=cancelled")
    assert [ids[1]] == listed("title=night%201")
    assert [ids[2]] == listed(f"title={ids[2]}")
    assert [] == listed("since=2999-01-01T00:00:00Z")
    first = client.get("/v1/jobs?limit=2", headers=operator).json()
    second = client.get(f"/v1/jobs?limit=2&cursor={first['next_cursor']}", headers=operator).json()
    assert ids[::-1] == [i["id"] for i in first["items"] + second["items"]]
    body = _problem(client.get("/v1/jobs?status=DONE", headers=operator), 422, "invalid-input")
    assert body["detail"].startswith("unknown status 'DONE'; one of PENDING")  # the CLI's words


def test_idempotency_key_same_request_same_job_another_request_refused(client, operator):
    headers = {**operator, "Idempotency-Key": '"order-17"'}
    first = client.post("/v1/jobs", headers=headers, json={"text": SCRIPT, "project": "p"})
    again = client.post("/v1/jobs", headers=headers, json={"text": SCRIPT, "project": "p"})
    assert (202, 202) == (first.status_code, again.status_code)
    assert first.json()["id"] == again.json()["id"]
    assert "true" == again.headers["idempotent-replayed"] and "idempotent-replayed" not in first.headers

    other = client.post("/v1/jobs", headers=headers, json={"text": SCRIPT + "\nMORE.\n", "project": "p"})
    assert "order-17" in _problem(other, 422, "idempotency-conflict")["detail"]
    assert 1 == _jobs()


def _bomb() -> bytes:
    """A .docx whose document part inflates far past the limit (a zip bomb)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<w:document>" + b" " * 30_000_000 + b"</w:document>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.txt", b"", "empty"),
        ("binary.txt", bytes(range(256)) * 8, "binary"),
        ("latin.txt", "INT. CAFÉ – NUIT\n".encode("utf-16-le")[:-1] + b"\xff\xd8", ""),
        (
            "bomb.fdx",
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            b"<FinalDraft><Content>&b;</Content></FinalDraft>",
            "refused",
        ),
        ("bomb.docx", _bomb(), "bomb"),
        ("scan.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n", "PDF"),
    ],
)
def test_a_bad_upload_is_a_problem_naming_the_file_and_nothing_is_stored(
    client, operator, name, content, words
):
    answer = client.post("/v1/jobs", headers=operator, files={"file": (name, content)})
    body = _problem(answer, 422, "invalid-input")
    assert name in body["detail"] and words in body["detail"]
    assert 0 == _jobs()


def test_an_upload_over_the_limit_is_413_and_other_bad_requests_are_problems(client, operator, pg_settings):
    big = b"x" * (pg_settings.ingest.max_bytes + 2_000_000)
    _problem(client.post("/v1/jobs", headers=operator, files={"file": ("big.txt", big)}), 413, "too-large")
    plain = client.post("/v1/jobs", headers={**operator, "Content-Type": "text/plain"}, content=b"hi")
    _problem(plain, 415, "unsupported-media-type")
    no_file = client.post("/v1/jobs", headers=operator, files={"project": (None, "p")})  # multipart, no file
    assert "no file" in _problem(no_file, 422, "invalid-input")["detail"]
    _problem(client.post("/v1/jobs", headers=operator, json={"txt": SCRIPT}), 422, "invalid-input")
    bad_option = client.post(
        "/v1/jobs", headers=operator, json={"text": SCRIPT, "options": {"max_chunk_chars": "x"}}
    )
    _problem(bad_option, 422, "invalid-option")
    _problem(client.get("/v1/nothing", headers=operator), 404, "not-found")
    assert 0 == _jobs()


def test_a_batch_answers_each_script_and_stores_the_good_ones(client, operator):
    answer = client.post(
        "/v1/jobs/batch",
        headers=operator,
        json={
            "jobs": [
                {"text": SCRIPT, "title": "a"},
                {"text": ""},
                {"text": EPISODE_2, "idempotency_key": "k", "project": "p"},
            ]
        },
    )
    assert 200 == answer.status_code, answer.text
    body = answer.json()
    assert (2, 1) == (body["accepted"], body["refused"])
    assert [202, 422, 202] == [item["status"] for item in body["items"]]
    assert "empty" in body["items"][1]["problem"]["detail"]
    assert 2 == _jobs()

    again = client.post(  # one transaction: a replayed key, a reused one, a new one
        "/v1/jobs/batch",
        headers=operator,
        json={
            "jobs": [
                {"text": EPISODE_2, "idempotency_key": "k", "project": "p"},
                {"text": SCRIPT, "idempotency_key": "k", "project": "p"},
                {"text": SCRIPT + "\nMORE.\n", "name": "more.fountain"},
            ]
        },
    ).json()
    assert [202, 422, 202] == [item["status"] for item in again["items"]]
    assert (False, body["items"][2]["job_id"]) == (again["items"][0]["created"], again["items"][0]["job_id"])
    assert "idempotency-conflict" in again["items"][1]["problem"]["type"]
    assert 3 == _jobs()


def test_roles_nest_and_the_server_refuses_what_a_role_may_not_do(client, pg_settings):
    viewer = _auth(keys.create_key("acme", "viewer")[1])
    submitter = _auth(keys.create_key("acme", "submitter")[1])
    _problem(client.post("/v1/jobs", headers=viewer, json={"text": SCRIPT}), 403, "forbidden")
    job = client.post("/v1/jobs", headers=submitter, json={"text": SCRIPT}).json()
    assert job["id"] == client.get(f"/v1/jobs/{job['id']}", headers=viewer).json()["id"]
    body = _problem(client.post(f"/v1/jobs/{job['id']}/cancel", headers=submitter), 403, "forbidden")
    assert "submitter" in body["detail"] and "operator" in body["detail"]
    _problem(client.post("/v1/dead-letters/purge", headers=viewer, json={}), 403, "forbidden")


def _refused_within(client, key: str, seconds: float) -> float:
    """How long until a request with ``key`` is refused (asserting it is within ``seconds``)."""
    start = time.monotonic()
    while client.get("/v1/jobs", headers=_auth(key)).status_code == 200:
        assert time.monotonic() - start < seconds, "the revoked key is still accepted"
        time.sleep(0.005)
    return time.monotonic() - start


def test_a_revoked_key_is_refused_at_once_and_a_missing_one_is_401_with_the_scheme(client, pg_settings):
    info, key = keys.create_key("acme", "viewer")
    assert 200 == client.get("/v1/jobs", headers=_auth(key)).status_code  # now in the key cache
    keys.revoke_key(info.prefix)
    _refused_within(client, key, 1.0)  # the revocation's notification drops it at once
    _problem(client.get("/v1/jobs", headers=_auth(key)), 401, "unauthorized")
    missing = client.get("/v1/jobs")
    _problem(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"].startswith("Bearer")


def test_a_key_cached_while_the_notifications_were_lost_is_checked_again(client, pg_settings):
    """The key cache trusts a key only while the LISTEN connection that would tell of its
    revocation stays up: here it is cut, the revocation's notification is lost, and the key is
    still refused (read again from the database)."""
    info, key = keys.create_key("acme", "viewer")
    assert 200 == client.get("/v1/jobs", headers=_auth(key)).status_code
    with session_factory()() as s, s.begin():
        s.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'juben-api-listen'"
            )
        )
        s.execute(update(ApiKey).where(ApiKey.prefix == info.prefix).values(revoked_at=func.now()))
    _refused_within(client, key, 2.0)


def test_submissions_over_the_keys_rate_are_429_with_retry_after(stub_worker, pg_settings, operator):
    limited = pg_settings.model_copy(
        update={"api": pg_settings.api.model_copy(update={"submits_per_minute": 1, "submit_burst": 2})}
    )
    with serve(create_app(limited, connect=False)) as client:
        assert [202, 202] == [
            client.post("/v1/jobs", headers=operator, json={"text": SCRIPT + str(n)}).status_code
            for n in range(2)
        ]
        refused = client.post("/v1/jobs", headers=operator, json={"text": SCRIPT})
        _problem(refused, 429, "rate-limited")
        assert 50 <= int(refused.headers["retry-after"]) <= 60
        other = _auth(keys.create_key("acme", "submitter")[1])  # the limit is per key
        assert 202 == client.post("/v1/jobs", headers=other, json={"text": SCRIPT}).status_code
    assert 3 == _jobs()


def test_an_unknown_job_is_404_in_the_clis_words(client, operator):
    body = _problem(client.get("/v1/jobs/0123456789abcdef", headers=operator), 404, "not-found")
    assert "no job 0123456789abcdef" == body["detail"]
    assert "/v1/jobs/0123456789abcdef" == body["instance"]


def test_reruns_and_dead_letters_from_the_api(client, stub_worker, operator):
    broker, worker = stub_worker
    done = client.post("/v1/jobs", headers=operator, json={"text": SCRIPT, "project": "ops"}).json()["id"]
    failing = client.post(  # no heading, cue or cast: a permanent failure
        "/v1/jobs", headers=operator, json={"text": "just a note about lunch.\n", "project": "ops"}
    ).json()["id"]
    drain(broker, worker)

    preview = client.post(
        f"/v1/jobs/{done}/rerun", headers=operator, json={"from_stage": "dedup", "dry_run": True}
    )
    assert [done] == [j["job_id"] for j in preview.json()["jobs"]]
    _problem(client.post("/v1/reruns", headers=operator, json={"from_stage": "dedup"}), 422, "invalid-input")
    rerun = client.post("/v1/reruns", headers=operator, json={"status": ["COMPLETED"], "from_stage": "dedup"})
    assert [done] == rerun.json()["rerun"]
    _problem(client.post("/v1/jobs/nope/rerun", headers=operator, json={}), 404, "not-found")

    groups = client.get("/v1/dead-letters?group=true", headers=operator).json()
    assert 1 == len(groups) and 1 == groups[0]["count"]
    letters = client.get("/v1/dead-letters", headers=operator).json()
    detail = client.get(f"/v1/dead-letters/{letters[0]['id']}", headers=operator).json()
    assert (failing, "chunk") == (detail["job_id"], detail["stage"]) and detail["events"]
    dry = client.post(
        "/v1/dead-letters/retry",
        headers=operator,
        json={"fingerprint": groups[0]["fingerprint"], "dry_run": True},
    )
    assert [False] == [r["done"] for r in dry.json()]
    retried = client.post(
        "/v1/dead-letters/retry", headers=operator, json={"ids": [letters[0]["id"], 999999]}
    )
    assert [(True, True), (False, False)] == [(r["done"], r["found"]) for r in retried.json()][::-1]
    drain(broker, worker)
    again = client.get(f"/v1/jobs/{failing}", headers=operator).json()
    assert ("FAILED", "chunk") == (again["status"], again["failed_stage"])  # the same cause, again
    assert 2 == len(client.get("/v1/dead-letters?resolved=true", headers=operator).json())
    projects = client.get("/v1/projects", headers=operator).json()
    assert [("ops", 2)] == [(p["name"], p["jobs"]) for p in projects]
    stats = client.get("/v1/stats", headers=operator).json()
    assert (1, 1) == (stats["jobs"]["COMPLETED"], stats["jobs"]["FAILED"])
    purged = client.post("/v1/dead-letters/purge", headers=operator, json={"older_than": "1d"}).json()
    assert 1 == purged["purged"]  # the resolved one
    with session_factory()() as s:
        assert 1 == s.scalar(select(func.count()).select_from(DeadLetter))


def test_health_readiness_metrics_and_openapi(client):
    assert {"status": "ok"} == client.get("/healthz").json()
    assert {"status": "ready"} == client.get("/readyz").json()
    client.get("/v1/jobs")
    metrics = client.get("/metrics").text
    assert 'juben_http_requests_total{method="GET",route="/v1/jobs",status="401"}' in metrics
    assert 'juben_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}' in metrics
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/report", "/v1/dead-letters/retry"} <= set(
        paths
    )


def test_the_objects_made_at_start_are_out_of_the_collectors_sight_while_the_app_runs(pg_settings):
    """A full collection walked them all: under 1,000 event streams it paused the process for a
    quarter of a second (bench api, SSE); frozen at start, they are skipped, and given back when
    the app stops (tests start many apps in one process)."""
    import gc

    gc.unfreeze()
    with serve(create_app(pg_settings, connect=False)) as client:
        assert 200 == client.get("/healthz").status_code
        assert gc.get_freeze_count() > 10_000
    assert 0 == gc.get_freeze_count()
