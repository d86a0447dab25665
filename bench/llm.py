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
import os
import statistics
import sys
import time
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select

from bench.support import Sandbox, Service, cpu_seconds, free_port
from tests.fakes.llm_server import FakeControl

KEY_ENV = "BENCH_FAKE_LLM_KEY"
MB = 1024 * 1024
SCENE = """INT. ROOM {n} - NIGHT

MARY opens the drawer and takes out a LETTER. JOHN watches her from the door, keys in hand.

MARY
You said you burned these. Job {job}, scene {n}.

JOHN
I said a lot of things.

MARY
Then say one true thing now.

"""


def script(job: int, scenes: int) -> str:
    return "".join(SCENE.format(n=n, job=job) for n in range(1, scenes + 1))


@contextmanager
def llm_sandbox(**behaviour: Any):
    """A sandbox, the fake LLM server (with ``behaviour``) and the settings pointing at it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    flags = [f for name, value in behaviour.items() for f in (f"--{name.replace('_', '-')}", str(value))]
    with Sandbox() as box:
        fake = Service(
            [sys.executable, "-m", "tests.fakes.llm_server", "--port", str(port), *flags],
            ready_url=f"http://127.0.0.1:{port}/_stats",
            log_path=box.tmp / "fake-llm.log",
        )
        with fake:
            yield box, fake, FakeControl(url), url


def _count(box: Sandbox, *statuses: str) -> int:
    from models import Job

    with box.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Job).where(Job.status.in_(statuses))) or 0)


def _submit(jobs_n: int, scenes: int) -> None:
    from pipeline import jobs

    for j in range(jobs_n):
        jobs.submit(script(j, scenes), project="bench-llm")


def inflight(quick: bool) -> list[dict[str, Any]]:
    threads = 256
    jobs_n, scenes = (12, 32) if quick else (40, 32)
    with llm_sandbox(latency_s=2.0) as (box, fake, control, url):
        overrides: dict[str, Any] = {
            "extract": {
                "provider": "openai",
                "base_url": url,
                "api_key_env": KEY_ENV,
                "max_chunk_chars": 300,  # one scene per chunk
                "cache_ttl_s": 0,
                "timeout_s": 30,
            },
            "database": {"pool_size": 20, "max_overflow": 20},
        }
        box.activate(**overrides)
        env = box.worker_env({KEY_ENV: "sk-bench"}, **overrides)
        box.workers(processes=1, threads=8, queues=["default"], env=env, name="default")
        # Build the backlog first (every job fanned out on the "ai" queue), then start the one ai
        # worker process: what follows measures that process alone.
        _submit(jobs_n, scenes)
        while _count(box, "EXTRACTING") < jobs_n:
            time.sleep(0.25)
        ai = box.workers(processes=1, threads=threads, queues=["ai"], env=env, name="ai")
        assert fake.proc is not None
        fake_pid = fake.proc.pid
        rss_start = max(ai.rss().values()) / MB  # the largest process: the worker, not the CLI parent
        cpu_start = ai.cpu_seconds(), cpu_seconds([fake_pid])
        start = time.monotonic()
        samples: list[int] = []
        rss_peak = rss_start
        while True:
            samples.append(control.stats()["in_flight"])
            rss_peak = max(rss_peak, max(ai.rss().values()) / MB)
            if _count(box, "COMPLETED", "FAILED") >= jobs_n:
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - start
        rss_end = max(ai.rss().values()) / MB
        ai_cpu = ai.cpu_seconds() - cpu_start[0]
        fake_cpu = cpu_seconds([fake_pid]) - cpu_start[1]
        failed = _count(box, "FAILED")
        stats = control.stats()
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
    with llm_sandbox(latency_s=0.5, limit_rpm=rpm, retry_after_s=1) as (box, _fake, control, url):
        overrides: dict[str, Any] = {
            "extract": {
                "provider": "openai",
                "base_url": url,
                "api_key_env": KEY_ENV,
                "max_chunk_chars": 300,
                "cache_ttl_s": 0,
                "rpm": rpm,
            }
        }
        box.activate(**overrides)
        env = box.worker_env({KEY_ENV: "sk-bench"}, **overrides)
        box.workers(processes=1, threads=8, queues=["default"], env=env, name="default")
        box.workers(processes=2, threads=32, queues=["ai"], env=env, name="ai")
        _submit(jobs_n, scenes)
        first = None
        while first is None:
            arrivals = control.stats()["arrivals"]
            first = arrivals[0] if arrivals else None
            time.sleep(0.2)
        time.sleep(max(0.0, first + warmup_s + window_s - time.time()) + 1)
        stats = control.stats()
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
