"""Run Juben's stage workers (server mode): ``python worker.py [dramatiq worker options]``.

Wiring only: settings → setup_broker() → import stages → dramatiq's worker CLI. Accepts the
usual dramatiq options, e.g. ``--processes 2 --threads 8 --queues default ai``.
"""

from __future__ import annotations

import os
import sys

from pipeline.errors import SettingsError
from pipeline.settings import get_settings


def main(argv: list[str]) -> int:
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"juben worker: {exc}", file=sys.stderr)  # noqa: T201 (no logging is set up yet)
        return 2
    # Must be set before dramatiq.worker is imported: the idle poll interval (DESIGN.md §7).
    os.environ.setdefault("dramatiq_worker_timeout", str(settings.broker.worker_timeout_ms))
    if settings.metrics.enabled:  # before anything imports prometheus_client
        from pipeline.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings)
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    args = make_argument_parser().parse_args(["pipeline.worker:boot", "stages", *argv])
    args.skip_logging = True  # pipeline.worker.boot configures structlog in every process
    return int(dramatiq_main(args) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
