"""The AI path in server mode: two real worker processes, the `enqueue.py` CLI, real PostgreSQL and
Redis, and the fake OpenAI-compatible server injecting 429s, 500s and hangs. Jobs complete, every
retry shows in job events, the shared rate limit holds across both processes, and a re-run of an
unchanged script asks the model nothing."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import create_engine, select

from models import JobEvent
from tests.acceptance.test_server_mode import _env, cli, running_workers
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.slow

RPM = 240
SCENE = """INT. ROOM {n} - NIGHT

MARY opens the drawer and takes out a LETTER. JOHN watches her from the door, keys in hand.

MARY
You said you burned these. Take {job}, scene {n}.

JOHN
I said a lot of things.

"""


def _wait(env: dict[str, str], ids: list[str], timeout_s: float = 150) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = {j: json.loads(cli(env, "status", j, "--json").stdout)["status"] for j in ids}
        if all(s in ("COMPLETED", "FAILED") for s in statuses.values()) or time.monotonic() > deadline:
            return statuses
        time.sleep(1)


def test_llm_jobs_survive_faults_share_the_rate_limit_and_rerun_from_cache(
    pg_database, redis_namespace, tmp_path, monkeypatch
):
    with FakeLLM(seed=11, api_key="sk-accept", retry_after_s=0.3, hang_s=3.0) as fake:
        fake.configure(rate_429=0.1, rate_500=0.05, rate_hang=0.05)  # 20% of calls fail
        env = _env(pg_database, redis_namespace)
        env.update(
            JUBEN_EXTRACT__PROVIDER="openai",
            JUBEN_EXTRACT__BASE_URL=fake.url,
            JUBEN_EXTRACT__API_KEY_ENV="ACCEPT_LLM_KEY",
            ACCEPT_LLM_KEY="sk-accept",
            JUBEN_EXTRACT__TIMEOUT_S="1",
            JUBEN_EXTRACT__MAX_RETRY_WAIT_S="0.5",
            JUBEN_EXTRACT__MAX_CHUNK_CHARS="300",
            JUBEN_EXTRACT__RPM=str(RPM),
            JUBEN_METRICS__ENABLED="false",
            JUBEN_STAGES__EXTRACT__MIN_BACKOFF_MS="200",
            JUBEN_STAGES__EXTRACT__MAX_BACKOFF_MS="1000",
        )
        with running_workers(env, tmp_path / "worker.log", "--processes", "2", "--threads", "8"):
            scripts = []
            for job in range(5):
                path = tmp_path / f"script-{job}.txt"
                path.write_text("".join(SCENE.format(n=n, job=job) for n in range(1, 6)), encoding="utf-8")
                scripts.append(path)
            ids = [cli(env, "submit", str(p), "--project", "llm-accept").stdout.strip() for p in scripts]

            assert {"COMPLETED"} == set(_wait(env, ids).values())

            stats = fake.stats.view()
            failures = sum(stats["statuses"].get(k, 0) for k in ("429", "500", "hang"))
            assert failures > 0
            engine = create_engine(pg_database)
            with engine.connect() as conn:
                details = [d or "" for d in conn.scalars(select(JobEvent.detail))]
            notes = [d for d in details if "retrying in" in d or "will be retried" in d]
            assert failures == len(notes)

            # The rate limit is shared by both processes: no 5-second window holds more than the
            # limit allows (plus one for scheduling jitter on this busy 2-core machine).
            arrivals = sorted(stats["arrivals"])
            busiest = max(sum(1 for t in arrivals if a <= t < a + 5) for a in arrivals)
            assert busiest <= RPM // 60 * 5 + 1
            assert (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) <= RPM / 60 * 1.05

            plan = json.loads(
                cli(env, "rerun", ids[0], "--from-stage", "extract", "--dry-run", "--json").stdout
            )
            [row] = plan["jobs"]
            assert (0, row["chunks"]) == (row["llm_calls"], row["from_cache"])
            fresh = json.loads(
                cli(
                    env, "rerun", ids[0], "--from-stage", "extract", "--dry-run", "--no-cache", "--json"
                ).stdout
            )
            assert (row["chunks"], 0) == (fresh["jobs"][0]["llm_calls"], fresh["jobs"][0]["from_cache"])

            fake.configure(rate_429=0.0, rate_500=0.0, rate_hang=0.0)
            before = fake.stats.view()["requests"]
            cli(env, "rerun", *ids, "--from-stage", "extract")
            assert {"COMPLETED"} == set(_wait(env, ids).values())
            assert before == fake.stats.view()["requests"]
            view = json.loads(cli(env, "status", ids[0], "--json").stdout)
            assert (0, row["chunks"]) == (view["llm"]["calls"], view["llm"]["cache_hits"])


def test_a_wrong_key_dead_letters_the_job_and_dlq_retry_after_the_fix_completes_it(
    pg_database, redis_namespace, tmp_path
):
    """401 from the model → FAILED with a dead letter; the key fixed, `dlq retry` (a fresh CLI
    process) sends the job to the configured Redis at once and it completes; dramatiq's copy goes."""
    import redis

    from tests.conftest import REDIS_URL

    with FakeLLM(seed=3, api_key="sk-right") as fake:
        env = _env(pg_database, redis_namespace)
        env.update(
            JUBEN_EXTRACT__PROVIDER="openai",
            JUBEN_EXTRACT__BASE_URL=fake.url,
            JUBEN_EXTRACT__API_KEY_ENV="ACCEPT_LLM_KEY",
            ACCEPT_LLM_KEY="sk-wrong",
            JUBEN_METRICS__ENABLED="false",
            JUBEN_RECONCILE__ENABLED="false",  # only `dlq retry` may send the job on
        )
        script = tmp_path / "script.txt"
        script.write_text(SCENE.format(n=1, job=0), encoding="utf-8")
        with running_workers(env, tmp_path / "wrong.log", "--processes", "1", "--threads", "2"):
            job_id = cli(env, "submit", str(script), "--project", "keys").stdout.strip()
            assert {job_id: "FAILED"} == _wait(env, [job_id], timeout_s=60)
        letters = json.loads(cli(env, "dlq", "list", "--json").stdout)
        assert ["extract"] == [d["stage"] for d in letters]
        assert 0 < redis.Redis.from_url(REDIS_URL).zcard(f"{redis_namespace}:ai.XQ")

        env["ACCEPT_LLM_KEY"] = "sk-right"
        with running_workers(env, tmp_path / "right.log", "--processes", "1", "--threads", "2"):
            retried = cli(env, "dlq", "retry", str(letters[0]["id"]))
            assert f"{job_id} from extract: re-driven" in retried.stdout

            assert {job_id: "COMPLETED"} == _wait(env, [job_id], timeout_s=60)
        assert 0 == redis.Redis.from_url(REDIS_URL).zcard(f"{redis_namespace}:ai.XQ")
