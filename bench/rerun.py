"""Scenario 7, re-run of an unchanged script: LLM calls made and wall time.

    python -m bench --only rerun [--quick]

Starts the fake OpenAI-compatible server (``python -m tests.fakes.llm_server``, 0.2 s per call)
and workers on the LLM path (``extract.provider = "openai"`` pointed at it, ``--queues default
ai``). Each script runs once (submit to COMPLETED), then again from extract with
``pipeline.reruns.rerun(job_id, "extract")``. LLM calls are the server's request count
(``GET /_stats``) before and after each. Target: the re-run makes 0 calls (its answers come from
the LLM cache). Quick: ``examples/掌勺.txt``; full: that and ``examples/the-heist.fountain``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from bench.support import ROOT, Sandbox, Service, free_port, row, wait_job

NAME = "rerun"
LATENCY_S = 0.2


def _requests(root: str) -> int:
    import httpx

    return int(httpx.get(f"{root}/_stats", timeout=10).json()["requests"])


def run(quick: bool) -> list[dict[str, Any]]:
    scripts = [ROOT / "examples" / "掌勺.txt"]
    if not quick:
        scripts.append(ROOT / "examples" / "the-heist.fountain")
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    rows = []
    with Sandbox() as box:
        llm = {"extract": {"provider": "openai", "base_url": f"{root}/v1", "api_key_env": "FAKE_KEY"}}
        server = Service(
            [
                sys.executable,
                "-m",
                "tests.fakes.llm_server",
                "--port",
                str(port),
                "--latency-s",
                str(LATENCY_S),
            ],
            ready_url=f"{root}/_stats",
            log_path=box.tmp / "fake-llm.log",
        )
        with server:
            box.activate(**llm)
            from pipeline import jobs as api
            from pipeline.reruns import rerun

            workers = box.workers(queues=("default", "ai"), env=box.worker_env({"FAKE_KEY": "x"}, **llm))
            for script in scripts:
                before = _requests(root)
                start = time.perf_counter()
                job_id = api.submit([script], project=f"rerun-{script.stem}")
                first_status = wait_job(box.engine, job_id, timeout_s=600, workers=[workers])
                first_s = time.perf_counter() - start
                middle = _requests(root)
                start = time.perf_counter()
                rerun(job_id, "extract", actor="bench")
                second_status = wait_job(box.engine, job_id, timeout_s=600, workers=[workers])
                second_s = time.perf_counter() - start
                calls = _requests(root) - middle
                view = api.get_status(job_id)
                usage = view.llm or {}
                name = script.name
                ok_run = first_status == second_status == "COMPLETED"
                note = None if ok_run else f"first run {first_status}, re-run {second_status}: {view.error}"
                rows += [
                    row(NAME, f"{name}: first run LLM calls", middle - before, "calls", chunks=view.chunks_total),
                    row(NAME, f"{name}: first run wall", round(first_s, 2), "s", status=first_status),
                    row(NAME, f"{name}: re-run from extract LLM calls", calls, "calls", target="= 0",
                        ok=calls == 0 and ok_run, note=note, usage=usage),
                    row(NAME, f"{name}: re-run wall", round(second_s, 2), "s", status=second_status,
                        cache_hits=usage.get("cache_hits")),
                ]  # fmt: skip
    return rows
