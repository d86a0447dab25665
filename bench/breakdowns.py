"""Break scripts down one after another in one embedded runtime (bench.quality, bench.corpus).

Also :func:`align_columns`, the plain-text table the corpus benches print.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Breakdown:
    """One script's job: how it ended and, if it COMPLETED, its JSON report."""

    path: Path
    status: str
    error: str | None
    seconds: float
    report: dict[str, Any] = field(default_factory=dict)


def break_down(paths: Sequence[Path], workdir: Path, *, prefix: str) -> Iterator[Breakdown]:
    """Run each script (a file or folder) through the pipeline on a private PostgreSQL in ``workdir``.

    Each gets its own project (``<prefix>-<index>-<name>``), so dedup never mixes scripts; an
    exception is that script's ``ERROR``, not the end of the run.
    """
    from entrypoints.embedded import EmbeddedRuntime
    from pipeline import jobs
    from pipeline.settings import load_settings

    settings = load_settings(
        mode="embedded",
        embedded={"pg_dir": str(workdir / "pg")},
        report={"dir": str(workdir / "reports")},
    )
    with EmbeddedRuntime(settings, log_file=workdir / "juben.log") as runtime:
        settings = runtime.settings
        for index, path in enumerate(paths):
            started = time.perf_counter()
            report: dict[str, Any] = {}
            status, error = "ERROR", None
            try:
                job_id = jobs.submit([path], project=f"{prefix}-{index}-{path.stem}", settings=settings)
                view = runtime.wait(job_id)
                assert view is not None  # no stop event was given
                status, error = str(view.status), view.error
                if status == "COMPLETED":
                    report = json.loads(jobs.get_report(job_id, "json", settings=settings))
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            yield Breakdown(path, status, error, round(time.perf_counter() - started, 3), report)


def align_columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Lay rows out as columns: the first left-aligned, the others right-aligned.

    >>> align_columns([["name", "n"], ["a", "10"]])
    ['name  n', 'a    10']
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        " ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
