"""The benchmark suite runs: `python -m bench --quick --only orchestration` end to end (real
PostgreSQL, Redis and worker processes), writes its JSON result, and leaves no database,
Redis key or worker process behind. Figures are not asserted: benchmarks never gate the tests."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis
from sqlalchemy import create_engine, text

from bench.support import pg_url, session_pids
from tests.conftest import REDIS_URL, ROOT

pytestmark = pytest.mark.slow


def _databases() -> set[str]:
    """The databases of the server the benchmarks use (bench.support.PG, not the tests' server)."""
    engine = create_engine(pg_url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return set(conn.scalars(text("SELECT datname FROM pg_database")))
    finally:
        engine.dispose()


@pytest.mark.timeout(120)
def test_quick_orchestration_runs_and_cleans_up(tmp_path):
    """Exit 0, a JSON result with the machine and the scenario's rows, nothing left over."""
    out = tmp_path / "result.json"

    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "orchestration", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    assert 0 == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {"started_at", "finished_at", "quick", "command", "machine", "scenarios", "rows"} <= set(data)
    assert data["quick"] is True
    assert {"cpu", "cores", "ram_gib", "python", "postgresql", "redis", "git_commit"} <= set(data["machine"])
    scenario = data["scenarios"]["orchestration"]
    assert "error" not in scenario
    metrics = {r["metric"]: r for r in data["rows"]}
    assert {"bare chain", "juben", "juben / bare"} <= set(metrics)
    assert all({"scenario", "metric", "value", "unit"} <= set(r) for r in data["rows"])
    assert "target" not in metrics["juben / bare"]  # the whole pipeline's ratio: reported, not targeted
    protocol = metrics["protocol / bare (claim+finish, no stage work)"]
    assert ">= 0.6" == protocol["target"] and isinstance(protocol["ok"], bool)
    assert metrics["juben CPU per job"]["value"] > 0
    assert metrics["jobs not COMPLETED"]["value"] == 0
    assert metrics["juben"]["value"] > 0 and metrics["bare chain"]["value"] > 0
    for protocol in ("claim+finish", "finish", "read+finish"):  # the diagnostics ran, every job to its end
        diagnostic = metrics[f"bare chain with Juben's {protocol} SQL (diagnostic)"]
        assert diagnostic["value"] > 0 and [0] == [r["failed"] for r in diagnostic["rounds"]]
    of_protocol = metrics["juben / bare chain with Juben's claim+finish SQL (diagnostic)"]
    assert of_protocol["value"] > 0 and len(of_protocol["per_round"]) == 1  # quick: one round
    assert "juben / bare" in result.stdout  # the table was printed
    # Everything the run made is gone: its databases, its Redis keys, its worker processes.
    made = scenario["resources"]
    assert made["databases"] and made["namespaces"] and made["process_groups"]
    assert not set(made["databases"]) & _databases()
    assert [] == [pid for group in made["process_groups"] for pid in session_pids(group)]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for namespace in made["namespaces"]:
            assert not list(client.scan_iter(match=f"{namespace}*", count=1000)), namespace
    finally:
        client.close()
