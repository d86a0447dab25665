"""LLM concurrency and the shared rate limit, against the fake OpenAI-compatible server.

    python -m bench.llm [--quick] [--only inflight|ratelimit]

inflight:  the fake answers after 2 s; ONE worker process on the "ai" queue with 256 threads
           (plus a small worker for the other queues). Reports the most and the median calls in
           flight at the fake while the backlog lasts, calls/s, and the ai worker's RSS at start,
           at peak and at the end.
ratelimit: rpm = 600 in settings, the fake itself refusing more than 600 requests in any 60 s;
           TWO ai worker processes share the limit through Redis. Reports the achieved rate over
           the measured window, its ratio to the limit, and the 429s the fake sent.

Each part makes its own PostgreSQL database and Redis namespace and removes them afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
KEY_ENV = "BENCH_FAKE_LLM_KEY"
SCENE = """INT. ROOM {n} - NIGHT

MARY opens the drawer and takes out a LETTER. JOHN watches her from the door, keys in hand.

MARY
You said you burned these. Job {job}, scene {n}.

JOHN
I said a lot of things.

MARY
Then say one true thing now.

"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def script(job: int, scenes: int) -> str:
    return "".join(SCENE.format(n=n, job=job) for n in range(1, scenes + 1))


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (its own threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


class Fake:
    """The fake LLM server in its own process."""

    def __init__(self, **behaviour: Any) -> None:
        self.port = _free_port()
        args = [sys.executable, "-m", "tests.fakes.llm_server", "--port", str(self.port)]
        for name, value in behaviour.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/v1"
        for _ in range(100):
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the fake LLM server did not start")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stats", timeout=30) as answer:
            return dict(json.loads(answer.read()))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@contextmanager
def cluster(extract: dict[str, Any], workers: list[list[str]]):
    """A fresh database and namespace, settings in the environment, and worker processes."""
    name = f"juben_bench_{uuid.uuid4().hex[:8]}"
    namespace = f"juben-bench-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}
    env.update(
        JUBEN_DATABASE__URL=f"{PG}/{name}",
        JUBEN_BROKER__URL=REDIS,
        JUBEN_BROKER__NAMESPACE=namespace,
        JUBEN_LOGGING__LEVEL="WARNING",
        JUBEN_METRICS__ENABLED="false",
        JUBEN_DATABASE__POOL_SIZE="20",
        JUBEN_DATABASE__MAX_OVERFLOW="20",
        PYTHONPATH=str(ROOT),
        **{KEY_ENV: "sk-bench"},
        **{f"JUBEN_EXTRACT__{k.upper()}": str(v) for k, v in extract.items()},
    )
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    from pipeline import migrate
    from pipeline.broker import setup_broker
    from pipeline.db import dispose_engines
    from pipeline.settings import set_settings

    set_settings(None)
    migrate.upgrade()
    setup_broker()
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "worker.py", *args],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        return proc

    try:
        for args in workers:
            start(args)
        time.sleep(4)  # let the workers boot before the clock starts
        yield start
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        dispose_engines()
        from sqlalchemy import create_engine, text

        admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        import redis

        client = redis.Redis.from_url(REDIS)
        keys = list(client.scan_iter(match=f"{namespace}*"))
        if keys:
            client.delete(*keys)
        os.environ.clear()
        os.environ.update(saved)
        set_settings(None)


def _ended() -> tuple[int, int]:
    from sqlalchemy import func, select

    from models import Job
    from pipeline.db import get_engine

    with get_engine().connect() as conn:
        rows = dict(
            conn.execute(
                select(Job.status, func.count())
                .where(Job.status.in_(["COMPLETED", "FAILED"]))
                .group_by(Job.status)
            ).all()
        )
    return rows.get("COMPLETED", 0), rows.get("FAILED", 0)


def _extracting() -> int:
    from sqlalchemy import func, select

    from models import Job
    from pipeline.db import get_engine

    with get_engine().connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Job).where(Job.status == "EXTRACTING")) or 0)


def _submit(jobs_n: int, scenes: int) -> None:
    from pipeline import jobs

    for j in range(jobs_n):
        jobs.submit(script(j, scenes), project="bench-llm")


def inflight(quick: bool) -> list[dict[str, Any]]:
    threads = 256
    jobs_n, scenes = (12, 32) if quick else (40, 32)
    fake = Fake(latency_s=2.0)
    extract = {
        "provider": "openai",
        "base_url": fake.url,
        "api_key_env": KEY_ENV,
        "max_chunk_chars": 300,  # one scene per chunk
        "cache_ttl_s": 0,
        "timeout_s": 30,
    }
    try:
        with cluster(
            extract, [["--processes", "1", "--threads", "8", "--queues", "default"]]
        ) as start_worker:
            # Build the backlog first (every job fanned out on the "ai" queue), then start the
            # one ai worker process: what follows measures that process alone.
            _submit(jobs_n, scenes)
            while _extracting() < jobs_n:
                time.sleep(0.25)
            ai = start_worker(["--processes", "1", "--threads", str(threads), "--queues", "ai"])
            time.sleep(1.5)
            ai_pids = children(ai.pid) or [ai.pid]
            rss_start = sum(rss_mb(p) for p in ai_pids)
            cpu_start = sum(cpu_s(p) for p in ai_pids), cpu_s(fake.proc.pid)
            start = time.monotonic()
            samples: list[int] = []
            rss_peak = rss_start
            while True:
                stats = fake.stats()
                samples.append(stats["in_flight"])
                rss_peak = max(rss_peak, sum(rss_mb(p) for p in ai_pids))
                done, failed = _ended()
                if done + failed >= jobs_n:
                    break
                time.sleep(0.25)
            elapsed = time.monotonic() - start
            rss_end = sum(rss_mb(p) for p in ai_pids)
            ai_cpu = sum(cpu_s(p) for p in ai_pids) - cpu_start[0]
            fake_cpu = cpu_s(fake.proc.pid) - cpu_start[1]
            stats = fake.stats()
    finally:
        fake.stop()
    if os.environ.get("BENCH_VERBOSE"):
        print("in-flight samples:", samples)
    arrivals = sorted(stats["arrivals"])
    busy_s = (arrivals[-1] - arrivals[0] + 2.0) if arrivals else 1.0  # first call sent → last answered
    busy = [s for s in samples if s > 0]
    plateau = busy[len(busy) // 5 : -max(1, len(busy) // 5)] or busy  # drop ramp-up and tail
    calls = stats["requests"]
    return [
        {"scenario": "llm", "metric": "ai worker threads", "value": threads, "unit": ""},
        {"scenario": "llm", "metric": "chunks (2 s per call)", "value": calls, "unit": "calls"},
        {
            "scenario": "llm",
            "metric": "max in flight, one worker process",
            "value": stats["max_in_flight"],
            "unit": "calls",
            "target": ">= 200",
            "ok": stats["max_in_flight"] >= 200,
        },
        {
            "scenario": "llm",
            "metric": "median in flight while busy",
            "value": statistics.median(plateau) if plateau else 0,
            "unit": "calls",
        },
        {
            "scenario": "llm",
            "metric": "calls/s while the backlog lasted",
            "value": round(calls / busy_s, 1),
            "unit": "1/s",
        },
        {"scenario": "llm", "metric": "all jobs ended after", "value": round(elapsed, 1), "unit": "s"},
        {
            "scenario": "llm",
            "metric": "ai worker CPU per call",
            "value": round(ai_cpu / calls * 1000, 1),
            "unit": "ms",
        },
        {
            "scenario": "llm",
            "metric": "fake server CPU per call",
            "value": round(fake_cpu / calls * 1000, 1),
            "unit": "ms",
        },
        {"scenario": "llm", "metric": "ai worker RSS start", "value": round(rss_start), "unit": "MB"},
        {"scenario": "llm", "metric": "ai worker RSS peak", "value": round(rss_peak), "unit": "MB"},
        {"scenario": "llm", "metric": "ai worker RSS end", "value": round(rss_end), "unit": "MB"},
        {"scenario": "llm", "metric": "jobs failed", "value": failed, "unit": ""},
    ]


def ratelimit(quick: bool) -> list[dict[str, Any]]:
    rpm = 600
    window_s = 15 if quick else 120
    warmup_s = 5
    # Enough chunks to keep the limiter saturated through warm-up + window (10/s), plus slack.
    scenes = 30
    jobs_n = int((warmup_s + window_s) * rpm / 60 / scenes) + 4
    fake = Fake(latency_s=0.5, limit_rpm=rpm, retry_after_s=1)
    extract = {
        "provider": "openai",
        "base_url": fake.url,
        "api_key_env": KEY_ENV,
        "max_chunk_chars": 300,
        "cache_ttl_s": 0,
        "rpm": rpm,
    }
    workers = [
        ["--processes", "1", "--threads", "8", "--queues", "default"],
        ["--processes", "2", "--threads", "32", "--queues", "ai"],
    ]
    try:
        with cluster(extract, workers):
            _submit(jobs_n, scenes)
            first = None
            while first is None:
                arrivals = fake.stats()["arrivals"]
                first = arrivals[0] if arrivals else None
                time.sleep(0.2)
            time.sleep(max(0.0, first + warmup_s + window_s - time.time()) + 1)
            stats = fake.stats()
    finally:
        fake.stop()
    lo, hi = first + warmup_s, first + warmup_s + window_s
    in_window = [t for t in stats["arrivals"] if lo <= t < hi]
    achieved = len(in_window) / window_s * 60
    per_second: dict[int, int] = {}
    for t in in_window:
        per_second[int(t - lo)] = per_second.get(int(t - lo), 0) + 1
    ratio = achieved / rpm
    return [
        {
            "scenario": "llm-ratelimit",
            "metric": "configured limit (2 worker processes)",
            "value": rpm,
            "unit": "rpm",
        },
        {"scenario": "llm-ratelimit", "metric": "measured window", "value": window_s, "unit": "s"},
        {"scenario": "llm-ratelimit", "metric": "achieved", "value": round(achieved, 1), "unit": "rpm"},
        {
            "scenario": "llm-ratelimit",
            "metric": "achieved / limit",
            "value": round(ratio, 3),
            "unit": "",
            "target": ">= 0.95, <= 1.0",
            "ok": 0.95 <= ratio <= 1.0,
        },
        {
            "scenario": "llm-ratelimit",
            "metric": "most requests in one second",
            "value": max(per_second.values(), default=0),
            "unit": "",
        },
        {
            "scenario": "llm-ratelimit",
            "metric": "429s sent by the fake",
            "value": stats["statuses"].get("429", 0),
            "unit": "",
        },
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    return [row for row in inflight(quick) + ratelimit(quick) if row]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["inflight", "ratelimit"])
    args = parser.parse_args()
    parts = {"inflight": inflight, "ratelimit": ratelimit}
    rows = [
        row for name, part in parts.items() if args.only in (None, name) for row in part(args.quick) if row
    ]
    for row in rows:
        target = (
            f"  (target {row['target']}: {'ok' if row.get('ok') else 'MISSED'})" if "target" in row else ""
        )
        print(f"{row['scenario']:<14} {row['metric']:<40} {row['value']:>10} {row['unit']}{target}")


if __name__ == "__main__":
    main()
