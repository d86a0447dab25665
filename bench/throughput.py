"""Server-mode throughput: N small scripts end to end through real worker processes.

    python -m bench.throughput --jobs 100 --processes 2 --threads 8

Creates (and drops) its own PostgreSQL database and Redis namespace, starts ``worker.py``,
stores N jobs with the Python API (``pipeline.jobs.submit``, timed on its own), releases their
ingest messages at once to the idle workers and prints jobs/s from the release to the last job's
``finished_at``, with worker and PostgreSQL CPU per stage hop. ``python -m bench --only
orchestration`` runs the same measurement side by side with the bare dramatiq chain.
"""

from __future__ import annotations

import argparse

from bench.support import SMALL_SCRIPT, run_juben_jobs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    result = run_juben_jobs(SMALL_SCRIPT, args.jobs, processes=args.processes, threads=args.threads)
    print(
        f"{args.jobs} jobs, {args.processes} processes x {args.threads} threads: "
        f"{result.elapsed_s:.2f} s -> {result.jobs_per_s:.1f} jobs/s ({result.failed} not completed); "
        f"worker CPU {result.cpu_ms_per_hop:.2f} ms/hop, PostgreSQL CPU {result.pg_cpu_ms_per_hop:.2f} ms/hop; "
        f"submit {result.extra['submit_per_s']} jobs/s"
    )


if __name__ == "__main__":
    main()
