"""First contact as a new user has it, in subprocesses: a worker that checks before it starts,
Ctrl-C during `run`, and error lines that a narrow terminal does not wrap."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN, REDIS_URL, ROOT, pg_url


def _env(**juben: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}
    env.update({f"JUBEN_{k}": v for k, v in juben.items()}, PYTHONPATH=str(ROOT))
    return env


def _worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "worker.py"), "--processes", "1", "--threads", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def empty_database() -> str:
    """A database that exists but has no schema."""
    name = f"juben_test_empty_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_worker_without_its_database_exits_4_in_one_line():
    """Unreachable PostgreSQL: one line naming the address, exit 4, never 'ready for action'."""
    result = _worker(
        _env(DATABASE__URL="postgresql+psycopg2://postgres@127.0.0.1:1/juben", METRICS__ENABLED="false")
    )

    assert (4, 1) == (result.returncode, len(result.stderr.strip().splitlines()))
    assert "is PostgreSQL running at" in result.stderr
    assert "ready for action" not in result.stdout + result.stderr


def test_a_worker_on_an_unmigrated_database_exits_4_and_says_db_upgrade(empty_database):
    """A database without Juben's schema is named, with the command that fixes it."""
    result = _worker(_env(DATABASE__URL=empty_database, METRICS__ENABLED="false"))

    assert 4 == result.returncode
    assert "python enqueue.py db upgrade" in result.stderr


def test_a_worker_without_redis_exits_4(pg_database):
    """Redis down: exit 4 before any worker process starts."""
    result = _worker(
        _env(DATABASE__URL=pg_database, BROKER__URL="redis://127.0.0.1:1/0", METRICS__ENABLED="false")
    )

    assert 4 == result.returncode
    assert "redis error" in result.stderr


def test_a_worker_with_an_llm_provider_and_no_key_exits_2(pg_database):
    """provider = openai and the key variable unset: named, exit 2."""
    env = _env(
        DATABASE__URL=pg_database, BROKER__URL=REDIS_URL, EXTRACT__PROVIDER="openai", METRICS__ENABLED="false"
    )
    env.pop("OPENAI_API_KEY", None)

    result = _worker(env)

    assert 2 == result.returncode
    assert "$OPENAI_API_KEY" in result.stderr


def test_a_second_worker_on_a_taken_metrics_port_exits_2_and_names_the_flag(pg_database):
    """The port another worker command holds is refused at start, with --metrics-port as the fix."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        result = _worker(
            _env(
                DATABASE__URL=pg_database,
                BROKER__URL=REDIS_URL,
                METRICS__HOST="127.0.0.1",
                METRICS__PORT=str(port),
            )
        )

    assert 2 == result.returncode
    assert "--metrics-port" in result.stderr


def test_errors_are_not_wrapped_on_a_narrow_terminal(tmp_path):
    """A long error stays one line at COLUMNS=30 (scripts and people copy it whole)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "enqueue.py"), "--embedded", "rerun", "x", "--from-stage", "nope"],
        env={**_env(), "COLUMNS": "30"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert 2 == result.returncode
    assert 1 == len(result.stderr.strip().splitlines())
    assert len(result.stderr.strip()) > 30


@pytest.mark.slow
def test_ctrl_c_during_run_cancels_the_job_and_exits_130(tmp_path: Path):
    """SIGINT while a stage runs (an LLM call that takes a minute): the job is CANCELLED, not left
    EXTRACTING; `run` exits 130 at once with one line naming the job."""
    from tests.fakes.llm_server import FakeLLM

    script = tmp_path / "kitchen.fountain"
    script.write_text("INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n")
    with FakeLLM(latency_s=60) as fake:
        env = _env(EXTRACT__PROVIDER="openai", EXTRACT__BASE_URL=fake.url, EXTRACT__API_KEY_ENV="FAKE_KEY")
        env.update(FAKE_KEY="sk-fake", COLUMNS="200")
        with subprocess.Popen(
            [sys.executable, str(ROOT / "enqueue.py"), "run", str(script)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as run:
            while fake.stats.view()["in_flight"] == 0 and run.poll() is None:  # until the call is under way
                time.sleep(0.05)
            run.send_signal(signal.SIGINT)
            try:
                _, stderr = run.communicate(timeout=60)
            finally:
                run.kill()

    assert 130 == run.returncode, stderr
    [line] = [line for line in stderr.splitlines() if line.startswith("interrupted:")]
    [job_id] = [w for w in line.split() if len(w) == 32]
    status = subprocess.run(
        [sys.executable, str(ROOT / "enqueue.py"), "--embedded", "status", job_id, "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "CANCELLED" == json.loads(status.stdout)["status"]
