"""Dedup at scale: N synthetic extraction records (3 types, 5,000 names each) of one job.

    python -m bench.dedup_scale --records 100000

Creates (and drops) its own PostgreSQL database, inserts the records as if extract had written
them, runs the dedup stage once in-process and prints its wall time.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

from sqlalchemy import create_engine, insert, select, text

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"
KINDS = ("character", "prop", "location")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    name = f"juben_bench_dedup_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    os.environ.update(JUBEN_DATABASE__URL=f"{PG}/{name}", JUBEN_LOGGING__LEVEL="WARNING")
    from models import Chunk, ExtractionRecord, Job
    from pipeline import jobs, migrate
    from pipeline.broker import setup_broker
    from pipeline.db import dispose_engines, session_factory
    from pipeline.settings import get_settings
    from pipeline.states import STAGES
    from pipeline.testing import bind_actors
    from pipeline.transitions import transition

    try:
        settings = get_settings()
        migrate.upgrade(settings)
        broker = setup_broker(settings, stub=True)
        bind_actors(broker)
        job_id = jobs.submit("INT. ROOM - DAY\n\nMARY waits.\n", project="scale")
        with session_factory()() as session, session.begin():
            session.execute(
                insert(Chunk),
                [{"job_id": job_id, "number": 1, "start": 0, "end": 10, "first_scene": 1, "last_scene": 1,
                  "content_hash": "x", "status": "done"}],
            )  # fmt: skip
            chunk_id = session.scalar(select(Chunk.id))
            rows = [
                {
                    "job_id": job_id,
                    "chunk_id": chunk_id,
                    "scene_number": i % 2000 + 1,
                    "asset_type": KINDS[i % 3],
                    "raw_name": f"NAME {(i * 7919) % 5000:05d}",
                    "attributes": {"dialogue_lines": 1},
                    "provider": "rules",
                }
                for i in range(args.records)
            ]
            session.execute(insert(ExtractionRecord), rows)
            for stage in STAGES[:3]:  # walk the job to EXTRACTED as the first three stages would
                transition(session, job_id, stage.ready, stage.running)
                transition(session, job_id, stage.running, stage.done)
        start = time.perf_counter()
        broker.get_actor("dedup").fn(job_id)
        elapsed = time.perf_counter() - start
        with session_factory()() as session:
            status = session.scalar(select(Job.status).where(Job.id == job_id))
        print(f"dedup of {args.records:,} records: {elapsed:.2f} s ({status})")
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
