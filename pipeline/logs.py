"""Structured logging: JSON lines in server mode, readable lines in a terminal.

Every line a stage writes carries ``job_id``, ``stage`` and ``message_id`` (bound by the
LogContext middleware). Scripts are never logged whole; secrets never.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog

from pipeline.settings import Settings

_opened: TextIO | None = None


def configure_logging(
    settings: Settings, *, stream: TextIO | None = None, file: Path | None = None, level: str | None = None
) -> None:
    """Set up structlog (and route stdlib logging, e.g. dramatiq's, through the same output).

    Args:
        settings: level and format come from ``settings.logging``.
        stream: where to write (default stderr).
        file: write to this file instead (the embedded mode keeps the terminal for the progress bar).
        level: overrides ``settings.logging.level`` (the CLI shows warnings only unless ``-v``).
    """
    level_no = getattr(logging, level or settings.logging.level)
    fmt = settings.logging.format
    if fmt == "auto":
        fmt = "console" if settings.mode == "embedded" and file is None and sys.stderr.isatty() else "json"
    global _opened  # noqa: PLW0603 (the one log file this process has open)
    out: TextIO
    previous, _opened = _opened, None
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        out = _opened = file.open("a", encoding="utf-8")
    else:
        out = stream or sys.stderr
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer, foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name]
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_no)
    if previous is not None and previous is not out:
        previous.close()  # nothing writes to it any more


def get_logger(name: str) -> Any:
    """Return a structlog logger named for its module."""
    return structlog.get_logger(name)
