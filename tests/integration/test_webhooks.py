"""Webhooks on real PostgreSQL with an in-process worker and the dispatcher: a receiver in the test
verifies the signature and the timestamp window; a failing receiver gets retries, then a dead
letter that `dlq retry` re-sends; private addresses are refused."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from dramatiq import Worker
from sqlalchemy import select

from entrypoints.api.app import create_app
from entrypoints.testing import bind_actors
from models import DeadLetter, JobEvent, WebhookDelivery
from pipeline import deadletters, jobs, keys
from pipeline.broker import setup_broker
from pipeline.db import session_factory
from pipeline.egress import check_url
from pipeline.errors import InputError
from pipeline.settings import Settings, set_settings
from pipeline.webhooks import WebhookDispatcher, tenant_secret, verify
from tests.api_support import serve

SCRIPT = "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n"


class Receiver:
    """An HTTP server that records each request and answers the next status of ``statuses``
    (the last one repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.requests.append((dict(self.headers.items()), body))
                status = outer.statuses[min(len(outer.requests), len(outer.statuses)) - 1]
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/juben"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} requests arrived"
            time.sleep(0.02)


@pytest.fixture
def hooks_settings(pg_settings: Settings) -> Settings:
    settings = pg_settings.model_copy(
        update={
            "webhooks": pg_settings.webhooks.model_copy(
                update={
                    "allow_private": True,
                    "max_retries": 2,
                    "min_backoff_ms": 10,
                    "max_backoff_ms": 50,
                    "sweep_s": 0.5,
                }
            )
        }
    )
    set_settings(settings)
    return settings


@pytest.fixture
def worker(hooks_settings: Settings) -> Iterator[Worker]:
    """A stub broker and worker with every actor bound and the webhook dispatcher running."""
    broker = setup_broker(hooks_settings, stub=True)
    bind_actors(broker, settings=hooks_settings)
    broker.add_middleware(WebhookDispatcher(hooks_settings))
    broker.emit_after("process_boot")
    started = Worker(broker, worker_threads=2, worker_timeout=50)
    started.start()
    yield started
    started.stop()
    broker.close()


def _notes(job_id: str) -> list[str]:
    with session_factory()() as s:
        return [
            d or ""
            for d in s.scalars(select(JobEvent.detail).where(JobEvent.job_id == job_id).order_by(JobEvent.id))
        ]


def _wait_until(check, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_job_end_is_posted_signed_and_the_receiver_can_verify_it(worker, hooks_settings):
    receiver = Receiver([200])
    job_id = jobs.submit(SCRIPT, callback_url=receiver.url)
    receiver.wait(1)

    headers, body = receiver.requests[0]
    secret = tenant_secret("default")
    payload = json.loads(body)
    assert ("job.completed", job_id, "COMPLETED") == (
        payload["type"],
        payload["data"]["id"],
        payload["data"]["status"],
    )
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")  # tampered
    assert not verify(secret, headers, body, now=int(headers["webhook-timestamp"]) + 600)  # replayed late
    assert not verify(tenant_secret("default", rotate=True), headers, body)  # another secret
    _wait_until(lambda: any("webhook completed attempt 1" in n and "delivered" in n for n in _notes(job_id)))
    time.sleep(1)  # a sweep later: sent once
    assert 1 == len(receiver.requests)


def test_a_failing_receiver_gets_retries_then_a_dead_letter_that_dlq_retry_resends(worker, hooks_settings):
    receiver = Receiver([500, 503, 500, 200])
    job_id = jobs.submit(SCRIPT, callback_url=receiver.url)
    receiver.wait(3)  # the first attempt and max_retries = 2

    def dead() -> list[DeadLetter]:
        with session_factory()() as s:
            return list(s.scalars(select(DeadLetter).where(DeadLetter.job_id == job_id)))

    _wait_until(lambda: len(dead()) == 1)
    letter = dead()[0]
    assert ("webhook", None) == (letter.stage, letter.resolved_at)
    assert "COMPLETED" == jobs.get_status(job_id).status  # the job did not fail
    attempts = [n for n in _notes(job_id) if n.startswith("webhook completed attempt")]
    assert 3 == len(attempts) and "HTTP 500" in attempts[0] and "HTTP 503" in attempts[1]

    [redrive] = deadletters.retry_dead_letters([letter.id])
    assert (True, "webhook") == (redrive.done, redrive.stage)
    receiver.wait(4)
    _wait_until(lambda: _delivery(job_id).sent_at is not None)
    assert verify(tenant_secret("default"), *receiver.requests[3])


def _delivery(job_id: str) -> WebhookDelivery:
    with session_factory()() as s:
        return s.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id)).one()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "ftp://example.com/x",
        "not a url",
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(url):
    with pytest.raises(InputError, match="callback URL"):
        check_url(url, allow_private=False)


def test_the_api_refuses_a_private_callback_and_stores_nothing(stub_worker, pg_settings):
    key = keys.create_key("acme", "submitter")[1]
    with serve(create_app(pg_settings, connect=False)) as client:
        answer = client.post(
            "/v1/jobs",
            headers={"Authorization": f"Bearer {key}"},
            json={"text": SCRIPT, "callback_url": "http://192.168.1.10/hook"},
        )
    assert 422 == answer.status_code and "private" in answer.json()["detail"]
    assert 0 == len(jobs.list_jobs().items)
