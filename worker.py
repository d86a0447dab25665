"""Run Juben's stage workers (server mode): ``python worker.py [--metrics-port N] [dramatiq worker options]``.

Wiring only: settings → checks (database migrated, Redis, LLM key, metrics port) → setup_broker()
→ import stages → dramatiq's worker CLI. Accepts the usual dramatiq options, e.g.
``--processes 2 --threads 8 --queues default ai``. Exit codes as the CLI's: 2 for settings, 4 for
a database or Redis that cannot be used.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline.errors import SettingsError, Unavailable


def main(argv: list[str]) -> int:
    ours = argparse.ArgumentParser(add_help=False)
    ours.add_argument("--metrics-port", type=int, help="serve this worker's metrics here (metrics.port)")
    known, rest = ours.parse_known_args(argv)
    if known.metrics_port is not None:  # for this process and the worker processes it starts
        os.environ["JUBEN_METRICS__PORT"] = str(known.metrics_port)
    try:
        from pipeline.preflight import preflight
        from pipeline.settings import get_settings

        settings = get_settings()
        if "-h" not in rest and "--help" not in rest:
            preflight(settings)
    except (SettingsError, Unavailable) as exc:
        print(f"juben worker: {exc}", file=sys.stderr)  # noqa: T201 (no logging is set up yet)
        return 2 if isinstance(exc, SettingsError) else 4
    # Must be set before dramatiq.worker is imported: the idle poll interval (DESIGN.md §7).
    os.environ.setdefault("dramatiq_worker_timeout", str(settings.broker.worker_timeout_ms))
    if settings.metrics.enabled:  # before anything imports prometheus_client
        from pipeline.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings)
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    args = make_argument_parser().parse_args(["entrypoints.worker:boot", "stages", *rest])
    args.skip_logging = True  # entrypoints.worker.boot configures structlog in every process
    return int(dramatiq_main(args) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
