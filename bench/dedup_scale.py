"""Scenario 6, dedup at scale: N synthetic extraction records (3 types, 5,000 names each) of one job.

    python -m bench.dedup_scale --records 100000      # one size, printed
    python -m bench --only dedup [--quick]            # in the suite: 10k and 100k (quick: 10k)

Creates (and drops) its own PostgreSQL database, inserts the records as if extract had written
them, runs the dedup stage once in-process and times it. Target: 100k records in < 10 s.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.support import Sandbox, row

NAME = "dedup"
KINDS = ("character", "prop", "location")
TARGET_S = {100_000: 10.0}


def measure(records: int) -> dict[str, Any]:
    """Dedup of ``records`` extraction records in a fresh database: seconds, status, assets made."""
    import dramatiq
    from sqlalchemy import func, insert, select

    with Sandbox() as box:
        box.activate(stub=True)
        from entrypoints.testing import bind_actors
        from models import Asset, Chunk, ExtractionRecord, Job
        from pipeline import jobs
        from pipeline.db import session_factory
        from pipeline.states import STAGES
        from pipeline.transitions import transition

        broker = dramatiq.get_broker()
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
                for i in range(records)
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
            assets = session.scalar(select(func.count()).select_from(Asset))
    return {"records": records, "seconds": round(elapsed, 2), "status": status, "assets": assets}


def run(quick: bool) -> list[dict[str, Any]]:
    rows = []
    for records in (10_000,) if quick else (10_000, 100_000):
        result = measure(records)
        target = TARGET_S.get(records)
        done = result["status"] == "DEDUPED"
        rows.append(
            row(NAME, f"dedup {records:,} records", result["seconds"], "s",
                target=f"< {target:g} s" if target else None,
                ok=(done and result["seconds"] < target) if target else (None if done else False),
                note=None if done else f"job ended {result['status']}", **result)
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    result = measure(args.records)
    print(
        f"dedup of {args.records:,} records: {result['seconds']:.2f} s ({result['status']}, {result['assets']} assets)"
    )


if __name__ == "__main__":
    main()
