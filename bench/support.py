"""The benchmark harness every scenario shares.

- :class:`Sandbox`: a fresh PostgreSQL database ``juben_bench_<random>`` (migrated with
  ``pipeline.migrate.upgrade``, or empty) and a Redis namespace ``juben-bench-<random>``, both
  removed on exit, plus settings for this process and environment variables for worker processes.
- :class:`Workers`: worker processes (``python worker.py …`` or any dramatiq command) in their own
  session; ready when each process has polled Redis once; CPU seconds (``/proc/<pid>/stat``
  utime + stime) and RSS (``/proc/<pid>/status`` VmRSS) summed over every process of the session;
  the whole group is killed at the end.
- :class:`RssSampler`: peak RSS of a :class:`Workers` group, sampled every 0.2 s on a thread.
- :func:`run_juben_jobs`: N copies of a script through real Juben workers, timed from the first
  submit to the last ``finished_at``, with worker CPU per stage hop.
- :class:`Window`: worker CPU, PostgreSQL backend CPU and host steal/busy shares over a
  measurement; :func:`row` and :func:`machine_info` for the report.

Every database, namespace and process group made here is also written to the ledger file named by
``$JUBEN_BENCH_LEDGER`` (the runner sets it), so ``python -m bench`` can remove what a crashed or
timed-out scenario left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG = os.environ.get("JUBEN_BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("JUBEN_BENCH_REDIS", "redis://127.0.0.1:6379/0")
LEDGER_ENV = "JUBEN_BENCH_LEDGER"
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = 1024

#: A small two-scene script (the one bench/throughput.py always used): 1 chunk, 7 messages a job.
SMALL_SCRIPT = """INT. KITCHEN - NIGHT

MARY pours coffee. She picks up a revolver.

MARY
Who's there?

JOHN (O.S.)
Only me.

EXT. GARDEN - DAY

JOHN walks in with a SHOVEL.

JOHN
We need to talk.
"""


# --- report rows -----------------------------------------------------------------------------------


def row(
    scenario: str,
    metric: str,
    value: float | int | str | None,
    unit: str = "",
    *,
    target: str | None = None,
    ok: bool | None = None,
    note: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One line of the results table (``target``, ``ok``, ``note`` and extras only when given)."""
    out: dict[str, Any] = {"scenario": scenario, "metric": metric, "value": value, "unit": unit}
    if target is not None:
        out["target"] = target
        out["ok"] = ok
    elif ok is not None:
        out["ok"] = ok
    if note:
        out["note"] = note
    out.update(extra)
    return out


def at_least(value: float, bound: float) -> bool:
    return value >= bound


def below(value: float, bound: float) -> bool:
    return value < bound


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- the ledger: what to remove if a scenario dies -------------------------------------------------


def _ledger(entry: dict[str, Any]) -> None:
    path = os.environ.get(LEDGER_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def ledger_resources(path: Path) -> dict[str, list[str]]:
    """The databases, Redis namespaces and process groups a ledger says were made (released or not)."""
    made: dict[str, list[Any]] = {"databases": [], "namespaces": [], "process_groups": []}
    kinds = {"database": "databases", "namespace": "namespaces", "pgid": "process_groups"}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            key = kinds.get(entry["kind"])
            if key and not entry.get("released") and entry["name"] not in made[key]:
                made[key].append(entry["name"])
    return made


def sweep_ledger(path: Path) -> list[str]:
    """Remove every database, namespace and process group the ledger lists as not released.

    Returns:
        What was removed, for a note.
    """
    if not path.is_file():
        return []
    made: dict[tuple[str, str], bool] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        made[(entry["kind"], str(entry["name"]))] = entry.get("released", False)
    removed = []
    for (kind, name), released in made.items():
        if released:
            continue
        with contextlib.suppress(Exception):
            if kind == "pgid":
                _kill_session(int(name))
            elif kind == "database":
                drop_database(name)
            elif kind == "namespace":
                delete_namespace(name)
            removed.append(f"{kind} {name}")
    return removed


# --- PostgreSQL and Redis ------------------------------------------------------------------------------


def pg_url(database: str) -> str:
    return f"{PG}/{database}"


def admin_execute(*statements: str) -> None:
    engine = create_engine(pg_url("postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def create_database(prefix: str = "juben_bench") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    _ledger({"kind": "database", "name": name})
    return name


def drop_database(name: str) -> None:
    assert name.startswith("juben_bench"), name  # never anything the bench did not make
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _ledger({"kind": "database", "name": name, "released": True})


def new_namespace(prefix: str = "juben-bench") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    _ledger({"kind": "namespace", "name": name})
    return name


def delete_namespace(namespace: str) -> int:
    """Delete every Redis key under ``namespace`` (``<ns>:…`` and dramatiq's ``<ns>:<queue>…``)."""
    import redis

    assert namespace.startswith("juben-bench"), namespace
    client = redis.Redis.from_url(REDIS_URL)
    try:
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
    finally:
        client.close()
    _ledger({"kind": "namespace", "name": namespace, "released": True})
    return deleted


def plain_env() -> dict[str, str]:
    """This process's environment without any JUBEN_* setting (benchmarks set their own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_") or k.startswith("JUBEN_BENCH")}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def _env_items(prefix: str, values: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in values.items():
        name = f"{prefix}__{key.upper()}" if prefix else f"JUBEN_{key.upper()}"
        if isinstance(value, dict):
            yield from _env_items(name, value)
        else:
            yield name, str(value).lower() if isinstance(value, bool) else str(value)


class Sandbox:
    """A fresh database and Redis namespace for one measurement; everything is removed on exit.

    ``with Sandbox() as box:`` creates ``juben_bench_<random>`` and, with ``migrate=True``, brings
    it to the latest schema. ``box.activate(**overrides)`` installs matching settings, logging and
    a Redis broker in this process (for ``pipeline.jobs.submit``); ``box.worker_env(**overrides)``
    gives the same settings as ``JUBEN_*`` variables for worker processes. Workers started with
    ``box.workers(…)`` are stopped at exit, before the database is dropped.
    """

    def __init__(self, *, migrate: bool = True) -> None:
        self.migrate = migrate
        self.database = ""
        self.namespace = ""
        self.url = ""
        self.tmp = Path()
        self._workers: list[Workers] = []
        self._engine: Engine | None = None
        self._activated = False

    def __enter__(self) -> Sandbox:
        self.tmp = Path(tempfile.mkdtemp(prefix="juben-bench-"))
        self.database = create_database()
        self.namespace = new_namespace()
        self.url = pg_url(self.database)
        try:
            if self.migrate:
                from pipeline import migrate
                from pipeline.db import dispose_engines

                migrate.upgrade(self.settings())
                dispose_engines()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for workers in self._workers:
            with contextlib.suppress(Exception):
                workers.stop()
        if self._engine is not None:
            self._engine.dispose()
        if self._activated:
            import dramatiq

            from pipeline.db import dispose_engines
            from pipeline.settings import set_settings

            with contextlib.suppress(Exception):
                dramatiq.get_broker().close()
            dispose_engines()
            set_settings(None)
        with contextlib.suppress(Exception):
            drop_database(self.database)
        with contextlib.suppress(Exception):
            delete_namespace(self.namespace)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # settings -------------------------------------------------------------------------------

    def overrides(self, **extra: Any) -> dict[str, Any]:
        """Settings sections for this sandbox: its database and namespace, metrics off, WARNING logs."""
        base: dict[str, Any] = {
            "database": {"url": self.url},
            "broker": {"url": REDIS_URL, "namespace": self.namespace},
            "metrics": {"enabled": False},
            "logging": {"level": "WARNING"},
        }
        return _merge(base, extra)

    def settings(self, **extra: Any) -> Any:
        from pipeline.settings import load_settings

        return load_settings(**self.overrides(**extra))

    def activate(self, *, stub: bool = False, **extra: Any) -> Any:
        """Install the sandbox's settings, WARNING logging and a broker in this process.

        The reconciler is off here: this process only submits and reads.
        """
        from pipeline.broker import setup_broker
        from pipeline.logs import configure_logging
        from pipeline.settings import set_settings

        settings = self.settings(**_merge({"reconcile": {"enabled": False}}, extra))
        set_settings(settings)
        configure_logging(settings)
        setup_broker(settings, stub=stub)
        self._activated = True
        return settings

    def worker_env(self, env: dict[str, str] | None = None, **extra: Any) -> dict[str, str]:
        """The environment for a worker process: no inherited JUBEN_*, the sandbox's as variables."""
        out = plain_env()
        out.update(_env_items("", self.overrides(**extra)))
        out["PYTHONPATH"] = str(ROOT) + os.pathsep + out.get("PYTHONPATH", "")
        out.update(env or {})
        return out

    @property
    def engine(self) -> Engine:
        """A small engine of the benchmark's own (not the pipeline's) for polling and reading."""
        if self._engine is None:
            self._engine = create_engine(self.url, pool_size=2)
        return self._engine

    def workers(
        self,
        argv: Sequence[str] | None = None,
        *,
        processes: int = 2,
        threads: int = 8,
        queues: Sequence[str] = (),
        env: dict[str, str] | None = None,
        namespace: str | None = None,
        name: str = "worker",
    ) -> Workers:
        """Start Juben worker processes (``python worker.py``) or ``argv`` and wait until they poll."""
        command = list(argv) if argv else [sys.executable, "worker.py"]
        command += ["--processes", str(processes), "--threads", str(threads)]
        if queues:
            command += ["--queues", *queues]
        workers = Workers(
            command,
            env=env if env is not None else self.worker_env(),
            namespace=namespace or self.namespace,
            processes=processes,
            log_path=self.tmp / f"{name}-{len(self._workers)}.log",
        )
        self._workers.append(workers)
        workers.start()
        return workers


# --- worker processes ------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    return raw[raw.rindex(")") + 2 :].split()


def session_pids(sid: int) -> list[int]:
    """Every live process whose session id is ``sid`` (a group started with ``start_new_session``)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds of the processes (``/proc/<pid>/stat`` utime + stime)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def run_seconds(pid: int) -> float:
    """CPU seconds of a single-threaded process at nanosecond precision (``/proc/<pid>/schedstat``).

    utime + stime count 10 ms ticks, too coarse for a PostgreSQL backend's share of a short run.
    """
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return cpu_seconds([pid])


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (``/proc/<pid>/status`` VmRSS), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * PAGE
    except OSError:
        pass
    return 0


def _kill_session(sid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sid, sig)
        for pid in session_pids(sid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while session_pids(sid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not session_pids(sid):
            return


def spawn(argv: Sequence[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` from the repository root in its own session, output to ``log_path``, and
    record its process group in the ledger so a crashed run's leftovers can be swept."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            list(argv), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _ledger({"kind": "pgid", "name": proc.pid})
    return proc


class WorkerError(RuntimeError):
    """Worker processes died or did not come up."""


class Workers:
    """A group of worker processes in their own session (started by :meth:`Sandbox.workers`)."""

    def __init__(
        self, argv: list[str], *, env: dict[str, str], namespace: str, processes: int, log_path: Path
    ) -> None:
        self.argv = argv
        self.env = env
        self.namespace = namespace
        self.processes = processes
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout_s: float = 90) -> None:
        """Start the command and wait until every worker process has polled its queues once.

        dramatiq's Redis consumers register the process's broker id in ``<ns>:__heartbeats__``
        on their first fetch, after the process has imported everything.
        """
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        key = f"{self.namespace}:__heartbeats__"
        before = set(client.zrange(key, 0, -1))
        self.proc = spawn(self.argv, self.env, self.log_path)
        deadline = time.monotonic() + timeout_s
        try:
            while len(set(client.zrange(key, 0, -1)) - before) < self.processes:
                if self.proc.poll() is not None:
                    raise WorkerError(f"{self.argv[:3]} exited {self.proc.returncode}: {self.log_tail()}")
                if time.monotonic() > deadline:
                    raise WorkerError(f"workers not polling after {timeout_s} s: {self.log_tail()}")
                time.sleep(0.1)
        finally:
            client.close()

    def check(self) -> None:
        """Raise :class:`WorkerError` if the group's main process has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise WorkerError(f"workers exited {self.proc.returncode}: {self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def pids(self) -> list[int]:
        return session_pids(self.pid)

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by every live process of the group."""
        return cpu_seconds(self.pids())

    def rss(self) -> dict[int, int]:
        """RSS in bytes per live process of the group."""
        return {pid: rss_bytes(pid) for pid in self.pids()}

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL it if it has not gone in 30 s, and reap it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        _kill_session(self.proc.pid)
        _ledger({"kind": "pgid", "name": self.proc.pid, "released": True})
        self.proc = None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A helper process (e.g. the fake LLM server) in its own session, killed with its group.

    ``with Service(argv, ready_url=…) as svc:`` starts it and waits until ``ready_url`` answers.
    """

    def __init__(
        self, argv: Sequence[str], *, ready_url: str, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.argv = list(argv)
        self.ready_url = ready_url
        self.log_path = log_path
        self.env = env if env is not None else {**plain_env(), "PYTHONPATH": str(ROOT)}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        import httpx

        self.proc = spawn(self.argv, self.env, self.log_path)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.ready_url, timeout=1)
                return self
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = self.log_path.read_text(errors="replace")[-2000:]
                    self.__exit__()
                    raise WorkerError(f"{self.argv} did not come up: {tail}") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            _kill_session(self.proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            _ledger({"kind": "pgid", "name": self.proc.pid, "released": True})
            self.proc = None


class RssSampler:
    """Peak RSS of a worker group, sampled every ``interval_s`` on a daemon thread.

    ``peak_process`` is the largest single process seen, ``peak_total`` the largest sum at one
    sample (the dramatiq supervisor process included).
    """

    def __init__(self, workers: Workers, interval_s: float = 0.2) -> None:
        self.workers = workers
        self.interval_s = interval_s
        self.peak_process = 0
        self.peak_total = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            sizes = self.workers.rss()
            if sizes:
                self.peak_process = max(self.peak_process, *sizes.values())
                self.peak_total = max(self.peak_total, sum(sizes.values()))
                self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class CpuClock:
    """Host CPU time over a window from ``/proc/stat``: the share stolen by neighbours (VM steal)
    and the share busy (every process on the host, ours included)."""

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> list[int]:
        with open("/proc/stat", encoding="ascii") as f:
            return [int(x) for x in f.readline().split()[1:9]]

    def shares(self) -> tuple[float, float, float]:
        """(steal, busy) as shares of all CPU time since the clock started, and busy CPU seconds."""
        delta = [b - a for a, b in zip(self.start, self._read(), strict=True)]
        total = sum(delta)
        if not total:
            return 0.0, 0.0, 0.0
        busy = total - delta[3] - delta[4] - delta[7]
        return delta[7] / total, busy / total, busy / CLK_TCK


def backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to ``database`` (same host only)."""
    engine = create_engine(pg_url("postgres"), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            pids = conn.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
                {"db": database},
            ).all()
    finally:
        engine.dispose()
    return {pid: run_seconds(pid) for pid in pids}


def redis_cpu() -> float:
    """CPU seconds the Redis server has used (``INFO cpu``; the whole server, not one namespace)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info.get("used_cpu_sys", 0.0)) + float(info.get("used_cpu_user", 0.0))


class Window:
    """Resources used between :meth:`open` and :meth:`close`: worker CPU, PostgreSQL backend CPU
    of the sandbox's database, Redis server CPU, host steal and busy shares, wall time."""

    def __init__(self, workers: Workers, database: str) -> None:
        self.workers = workers
        self.database = database
        self.cpu_s = self.pg_cpu_s = self.redis_cpu_s = self.steal = self.busy = self.other = 0.0
        self.start = 0.0

    def open(self) -> Window:
        self._cpu = self.workers.cpu_seconds()
        self._pg = backend_cpu(self.database)
        self._redis = redis_cpu()
        self._clock = CpuClock()
        self.start = time.time()
        return self

    def close(self) -> Window:
        self.cpu_s = self.workers.cpu_seconds() - self._cpu
        pg = backend_cpu(self.database)
        self.pg_cpu_s = sum(cpu - self._pg.get(pid, 0.0) for pid, cpu in pg.items())
        self.redis_cpu_s = redis_cpu() - self._redis
        self.steal, self.busy, busy_s = self._clock.shares()
        # CPU the host spent on anything but these workers, their PostgreSQL backends and Redis:
        # this process, the kernel, and whatever else runs on the machine (other people's tests).
        cores = os.cpu_count() or 1
        ours = self.cpu_s + self.pg_cpu_s + self.redis_cpu_s
        self.other = max(0.0, busy_s - ours) / (cores * (time.time() - self.start))
        return self


# --- waiting for jobs ------------------------------------------------------------------------------


def wait_terminal(
    engine: Engine,
    count: int,
    *,
    timeout_s: float,
    table: str = "jobs",
    done_sql: str | None = None,
    params: dict[str, Any] | None = None,
    workers: Sequence[Workers] = (),
    poll_s: float = 0.1,
) -> None:
    """Poll until ``count`` rows of ``table`` are terminal (COMPLETED, FAILED or CANCELLED).

    Raises:
        TimeoutError: not all ended in ``timeout_s`` (the message has the status histogram).
        WorkerError: a worker group died meanwhile.
    """
    done_sql = done_sql or f"SELECT count(*) FROM {table} WHERE status IN ('COMPLETED','FAILED','CANCELLED')"
    deadline = time.monotonic() + timeout_s
    while True:
        with engine.connect() as conn:
            done = conn.scalar(text(done_sql), params or {}) or 0
        if done >= count:
            return
        for group in workers:
            group.check()
        if time.monotonic() > deadline:
            with engine.connect() as conn:
                counts = conn.execute(text(f"SELECT status, count(*) FROM {table} GROUP BY status")).all()
            raise TimeoutError(f"{done}/{count} ended after {timeout_s} s: {dict(counts)}")
        time.sleep(poll_s)


def wait_job(engine: Engine, job_id: str, *, timeout_s: float, workers: Sequence[Workers] = ()) -> str:
    """Wait for one job to end; return its status."""
    wait_terminal(
        engine,
        1,
        timeout_s=timeout_s,
        done_sql="SELECT count(*) FROM jobs WHERE id = :id AND status IN ('COMPLETED','FAILED','CANCELLED')",
        params={"id": job_id},
        workers=workers,
        poll_s=0.05,
    )
    with engine.connect() as conn:
        return str(conn.scalar(text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id}))


@dataclass
class RunResult:
    """What one batch of jobs through worker processes measured."""

    jobs: int
    elapsed_s: float
    submit_s: float
    hops: int
    cpu_s: float
    pg_cpu_s: float
    failed: int
    steal: float
    busy: float
    other: float = 0.0
    redis_cpu_s: float = 0.0
    chunks: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def cpu_ms_per_hop(self) -> float:
        return 1000 * self.cpu_s / self.hops if self.hops else 0.0

    @property
    def total_cpu_s(self) -> float:
        """Workers + PostgreSQL backends + Redis: what the run cost the host."""
        return self.cpu_s + self.pg_cpu_s + self.redis_cpu_s

    @property
    def pg_cpu_ms_per_hop(self) -> float:
        return 1000 * self.pg_cpu_s / self.hops if self.hops else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "elapsed_s": round(self.elapsed_s, 3),
            "submit_s": round(self.submit_s, 3),
            "jobs_per_s": round(self.jobs_per_s, 2),
            "hops": self.hops,
            "chunks": self.chunks,
            "cpu_s": round(self.cpu_s, 2),
            "cpu_ms_per_hop": round(self.cpu_ms_per_hop, 3),
            "pg_cpu_s": round(self.pg_cpu_s, 2),
            "pg_cpu_ms_per_hop": round(self.pg_cpu_ms_per_hop, 3),
            "redis_cpu_s": round(self.redis_cpu_s, 2),
            "redis_cpu_ms_per_hop": round(1000 * self.redis_cpu_s / self.hops, 3) if self.hops else 0.0,
            "failed": self.failed,
            "host_steal": round(self.steal, 3),
            "host_busy": round(self.busy, 3),
            "host_other": round(self.other, 3),
            **self.extra,
        }


def release(
    workers: Workers,
    engine: Engine,
    namespace: str,
    messages: Sequence[Any],
    jobs: int,
    *,
    table: str,
    timeout_s: float,
    settle_s: float = 1.0,
) -> tuple[Window, float]:
    """Send the jobs' first messages at once to idle, booted ``workers`` and wait until all ended.

    The jobs' rows exist already (submitted before, outside the clock), so the figure is the
    workers' throughput, not the submitting process's.

    Returns:
        (the measured window, seconds the sends took); the caller reads the end from the
        table's ``finished_at``.
    """
    from dramatiq.brokers.redis import RedisBroker

    sender = RedisBroker(url=REDIS_URL, namespace=namespace)
    try:
        time.sleep(settle_s)  # let the just-booted processes go idle before the clock starts
        window = Window(workers, str(engine.url.database)).open()
        for message in messages:
            sender.enqueue(message)
        sent = time.time() - window.start
        wait_terminal(engine, jobs, timeout_s=timeout_s, table=table, workers=[workers])
        return window.close(), sent
    finally:
        sender.close()


def submit_held(script: str, jobs: int, *, project: str = "bench") -> tuple[list[Any], float]:
    """Submit ``jobs`` copies of ``script`` with ``pipeline.jobs.submit`` on a stub broker.

    The jobs are stored as usual; their ``ingest`` messages stay on the stub broker to be
    released later with :func:`release`. Needs ``Sandbox.activate(stub=True)``.

    Returns:
        (the held messages, seconds the serial submits took).
    """
    import dramatiq
    from dramatiq import Message

    from pipeline import jobs as api

    start = time.perf_counter()
    for _ in range(jobs):
        api.submit(script, project=project)
    elapsed = time.perf_counter() - start
    broker = dramatiq.get_broker()
    held = []
    for queue in list(broker.queues):
        while not broker.queues[queue].empty():
            held.append(Message.decode(broker.queues[queue].get_nowait()))
    return held, elapsed


def run_juben_jobs(
    script: str,
    jobs: int,
    *,
    processes: int = 2,
    threads: int = 8,
    settings: dict[str, Any] | None = None,
    timeout_s: float = 600,
) -> RunResult:
    """``jobs`` copies of ``script`` through real Juben workers in a fresh sandbox.

    The jobs are submitted first (``pipeline.jobs.submit``, timed on its own as ``submit_per_s``),
    then their ingest messages are released at once to the booted, idle workers. Throughput is
    jobs / (last ``finished_at`` - release); hops are 6 stage messages plus one extract_chunk
    message per chunk, per job; CPU is every worker process's utime + stime over the batch.
    """
    settings = settings or {}
    with Sandbox() as box:
        box.activate(stub=True, **settings)
        workers = box.workers(processes=processes, threads=threads, env=box.worker_env(**settings))
        held, submit_s = submit_held(script, jobs)
        assert len(held) == jobs, f"{len(held)} ingest messages held for {jobs} jobs"
        window, sent = release(
            workers, box.engine, box.namespace, held, jobs, table="jobs", timeout_s=timeout_s
        )
        with box.engine.connect() as conn:
            end, chunks, failed = conn.execute(
                text(
                    "SELECT extract(epoch FROM max(finished_at)), sum(chunks_total),"
                    " count(*) FILTER (WHERE status <> 'COMPLETED') FROM jobs"
                )
            ).one()
    return RunResult(
        jobs=jobs,
        elapsed_s=float(end) - window.start,
        submit_s=submit_s,
        hops=6 * jobs + int(chunks or 0),
        cpu_s=window.cpu_s,
        pg_cpu_s=window.pg_cpu_s,
        failed=int(failed),
        steal=window.steal,
        busy=window.busy,
        other=window.other,
        redis_cpu_s=window.redis_cpu_s,
        chunks=int(chunks or 0),
        extra={"release_s": round(sent, 3), "submit_per_s": round(jobs / submit_s, 1)},
    )


# --- the machine -------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, Python / PostgreSQL / Redis / library versions and the git commit."""
    info: dict[str, Any] = {"hostname": platform.node(), "python": platform.python_version()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    info["cores"] = os.cpu_count()
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram_gib"] = round(int(line.split()[1]) / 1024**2, 1)
    info["kernel"] = platform.release()
    try:
        engine = create_engine(pg_url("postgres"), poolclass=NullPool)
        with engine.connect() as conn:
            info["postgresql"] = conn.scalar(text("SHOW server_version"))
        engine.dispose()
    except Exception as exc:
        info["postgresql"] = f"unavailable: {exc}"
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        info["redis"] = client.info("server").get("redis_version")
        client.close()
    except Exception as exc:
        info["redis"] = f"unavailable: {exc}"
    from importlib.metadata import PackageNotFoundError, version

    for package in ("dramatiq", "sqlalchemy", "psycopg2-binary", "redis"):
        with contextlib.suppress(PackageNotFoundError):
            info[package] = version(package)
    git = shutil.which("git")
    if git:
        rev = subprocess.run(
            [git, "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        info["git_commit"] = rev.stdout.strip() or None
        dirty = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        info["git_dirty"] = bool(dirty.stdout.strip())
    return info
