"""Server mode end to end: real worker processes (`python worker.py`) and the `enqueue.py` CLI on
real PostgreSQL and Redis, with the examples as input."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REDIS_URL, ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database_url: str, namespace: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}
    env.update(
        JUBEN_DATABASE__URL=database_url,
        JUBEN_BROKER__URL=REDIS_URL,
        JUBEN_BROKER__NAMESPACE=namespace,
        JUBEN_LOGGING__LEVEL="WARNING",
        JUBEN_METRICS__HOST="127.0.0.1",
        JUBEN_METRICS__PORT=str(_free_port()),
        JUBEN_METRICS__DIR=f"/tmp/juben-test-metrics-{namespace}",
        PYTHONPATH=str(ROOT),
    )
    return env


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "enqueue.py"), *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"enqueue.py {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


@contextlib.contextmanager
def running_workers(env: dict[str, str], log_path: Path, *options: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python worker.py *options`` in its own session; stopped (and its log tail printed) at exit."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py"), *options],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        print(log_path.read_text()[-5000:])


@pytest.fixture
def workers(pg_database, redis_namespace, tmp_path):
    """Two worker processes on the test's database and Redis namespace; their log is printed at the end."""
    env = _env(pg_database, redis_namespace)
    with running_workers(env, tmp_path / "worker.log", "--processes", "2", "--threads", "4"):
        yield env


def _wait_all(env: dict[str, str], job_ids: list[str], limit_s: float = 120) -> dict[str, dict]:
    """Poll `jobs --json` (one command for all of them) until every job has ended (bounded; not a
    timing assertion); their lines of the listing."""
    deadline = time.monotonic() + limit_s
    views: dict[str, dict] = {}
    while time.monotonic() < deadline:
        listing = json.loads(cli(env, "jobs", "--limit", "1000", "--json").stdout)
        views = {item["id"]: item for item in listing["items"] if item["id"] in job_ids}
        if len(views) == len(job_ids) and all(
            v["status"] in ("COMPLETED", "FAILED", "CANCELLED") for v in views.values()
        ):
            return views
        time.sleep(0.3)
    raise AssertionError(f"jobs did not end: {[(j, v['status']) for j, v in views.items()]}")


def test_jobs_submitted_from_the_cli_complete_on_worker_processes(workers):
    """Several jobs submitted with `enqueue.py submit` all reach COMPLETED with a full report."""
    env = workers
    samples = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".fountain", ".txt", ".fdx"))
    job_ids = [cli(env, "submit", str(p), "--project", "acceptance").stdout.strip() for p in samples]

    views = _wait_all(env, job_ids)

    assert {"COMPLETED"} == {v["status"] for v in views.values()}
    # One report through the CLI; the others straight from the database (one CLI process each
    # cost a minute of the suite), the same stored report `report` prints.
    from pipeline.jobs import get_report
    from pipeline.settings import load_settings

    stored = load_settings(database={"url": env["JUBEN_DATABASE__URL"]})
    for job_id in job_ids:
        if job_id == job_ids[0]:
            report = json.loads(cli(env, "report", job_id, "--format", "json").stdout)
        else:
            report = json.loads(get_report(job_id, "json", settings=stored))
        assert report["scenes"], f"{job_id}: no scenes"
        assert any(c["dialogue_lines"] > 0 for c in report["characters"]), f"{job_id}: no speaking characters"
        assert [s["number"] for s in report["scenes"]] == list(range(1, len(report["scenes"]) + 1))
    listing = json.loads(cli(env, "jobs", "--project", "acceptance", "--json").stdout)
    assert sorted(job_ids) == sorted(item["id"] for item in listing["items"])
    watched = json.loads(cli(env, "watch", job_ids[0], "--json").stdout)
    assert ("COMPLETED", 100.0) == (watched["status"], watched["percent"])


def test_watch_follows_a_running_job_to_the_end(workers):
    """`watch` on a fresh job draws progress until COMPLETED and exits 0."""
    env = workers
    job_id = cli(env, "submit", str(EXAMPLES / "逆袭总裁.txt"), "--project", "watch").stdout.strip()

    result = cli(env, "watch", job_id, "--interval", "0.1")

    assert "100%" in result.stderr
    assert "COMPLETED" in result.stderr


def test_same_idempotency_key_returns_the_same_job(workers):
    """Submitting twice with one idempotency key gives one job; another script with it is refused."""
    env = workers
    sample = str(EXAMPLES / "the-heist.fountain")

    first = cli(env, "submit", sample, "--project", "idem", "--idempotency-key", "k-1", "--json")
    second = cli(env, "submit", sample, "--project", "idem", "--idempotency-key", "k-1", "--json")
    other = cli(
        env,
        "submit",
        str(EXAMPLES / "night-shift.fountain"),
        "--project",
        "idem",
        "--idempotency-key",
        "k-1",
        check=False,
    )

    assert json.loads(first.stdout)["id"] == json.loads(second.stdout)["id"]
    assert (True, False) == (json.loads(first.stdout)["created"], json.loads(second.stdout)["created"])
    assert (2, "") == (other.returncode, other.stdout)
    assert "idempotency key 'k-1'" in other.stderr


def test_bad_input_exits_non_zero_and_writes_nothing(workers, tmp_path: Path):
    """Empty, binary and oversize files, and unknown job ids, fail with a clear message and no job."""
    env = workers
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    binary = tmp_path / "image.txt"
    binary.write_bytes(bytes(range(256)) * 40)
    big = tmp_path / "big.txt"
    big.write_text("INT. ROOM - DAY\n" * 2000)

    results = {
        "empty": cli(env, "submit", str(empty), check=False),
        "binary": cli(env, "submit", str(binary), check=False),
        "big": cli({**env, "JUBEN_INGEST__MAX_BYTES": "1000"}, "submit", str(big), check=False),
        "missing": cli(env, "submit", str(tmp_path / "nope.txt"), check=False),
        "status": cli(env, "status", "0" * 32, check=False),
        "report": cli(env, "report", "0" * 32, check=False),
    }

    assert {"empty": 2, "binary": 2, "big": 2, "missing": 2, "status": 3, "report": 3} == {
        k: r.returncode for k, r in results.items()
    }
    assert "empty" in results["empty"].stderr
    assert "binary" in results["binary"].stderr
    assert "ingest.max_bytes" in results["big"].stderr
    assert "no job" in results["status"].stderr
    assert [] == json.loads(cli(env, "jobs", "--json").stdout)["items"]


def test_worker_serves_prometheus_metrics(workers):
    """The worker's metrics endpoint has dramatiq's message counts, stage durations and jobs by status."""
    env = workers
    job_id = cli(env, "submit", str(EXAMPLES / "the-heist.fountain"), "--project", "metrics").stdout.strip()
    _wait_all(env, [job_id])

    url = f"http://127.0.0.1:{env['JUBEN_METRICS__PORT']}/metrics"
    deadline = time.monotonic() + 30
    while True:
        try:
            body = urllib.request.urlopen(url, timeout=5).read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

    assert 'juben_jobs{status="COMPLETED"} 1.0' in body
    assert 'juben_stage_duration_seconds_count{stage="ingest"} 1.0' in body
    assert "dramatiq_messages_total" in body


def test_an_unreachable_or_unmigrated_database_is_one_clear_line(redis_namespace):
    """No traceback: the CLI names the problem and how to fix it, exit code 4."""
    env = _env("postgresql+psycopg2://postgres@127.0.0.1:5432/juben_never_created", redis_namespace)
    result = cli(env, "jobs", check=False)
    assert 4 == result.returncode
    assert "Traceback" not in result.stderr
    assert 'database "juben_never_created" does not exist' in " ".join(result.stderr.split())
    assert "db upgrade" in result.stderr
