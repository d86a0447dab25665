"""Server-mode throughput: N small scripts end to end through real worker processes.

    python -m bench.throughput --jobs 100 --processes 2 --threads 8

Creates (and drops) its own PostgreSQL database and Redis namespace, starts `worker.py`, submits
N jobs with the Python API, waits for all to end and prints jobs/s measured from the first
submit to the last job's finish.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """INT. KITCHEN - NIGHT

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    name = f"juben_bench_{uuid.uuid4().hex[:8]}"
    namespace = f"juben-bench-{uuid.uuid4().hex[:8]}"
    url = f"{args.pg}/{name}"
    env = {**os.environ, "JUBEN_DATABASE__URL": url, "JUBEN_BROKER__URL": args.redis}
    env.update(JUBEN_BROKER__NAMESPACE=namespace, JUBEN_LOGGING__LEVEL="WARNING")
    os.environ.update({k: v for k, v in env.items() if k.startswith("JUBEN_")})

    from models import Job
    from pipeline import jobs, migrate
    from pipeline.broker import setup_broker
    from pipeline.db import dispose_engines, get_engine
    from pipeline.settings import get_settings

    settings = get_settings()
    migrate.upgrade(settings)
    setup_broker(settings)
    worker = subprocess.Popen(
        [sys.executable, "worker.py", "--processes", str(args.processes), "--threads", str(args.threads)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        time.sleep(3)  # let the worker processes boot before the clock starts
        start = time.monotonic()
        ids = [jobs.submit(SCRIPT, project="bench") for _ in range(args.jobs)]
        submitted = time.monotonic()
        engine = get_engine(settings)
        while True:
            with engine.connect() as conn:
                done = conn.scalar(
                    select(func.count()).select_from(Job).where(Job.status.in_(["COMPLETED", "FAILED"]))
                )
            if done >= len(ids):
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - start
        with engine.connect() as conn:
            failed = conn.scalar(select(func.count()).select_from(Job).where(Job.status == "FAILED"))
        print(
            f"{args.jobs} jobs, {args.processes} processes x {args.threads} threads: "
            f"submit {submitted - start:.2f}s, all ended {elapsed:.2f}s -> {args.jobs / elapsed:.1f} jobs/s "
            f"({failed} failed)"
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        dispose_engines()
        admin = create_engine(f"{args.pg}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        import redis

        client = redis.Redis.from_url(args.redis)
        keys = list(client.scan_iter(match=f"{namespace}*"))
        if keys:
            client.delete(*keys)


if __name__ == "__main__":
    main()
