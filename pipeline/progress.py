"""Progress as a pure function of the job's state: percent, current step and ETA.

The percentage bands and step texts come from :data:`pipeline.states.STAGES`; a fan-out stage's
band (extract's) is interpolated by pieces (chunks) done/total, and its history is per piece.
ETAs come from recent stage durations (none without history).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.states import STAGES, StageSpec, Status, stage_after, stage_of


@dataclass(frozen=True)
class Progress:
    """What a person watching a job wants to know."""

    percent: float
    step: str
    eta_s: float | None


def _band(stage: StageSpec, chunks_done: int, chunks_total: int) -> float:
    start, end = stage.progress
    if stage.fan_out is not None and chunks_total > 0:
        return start + (end - start) * min(chunks_done, chunks_total) / chunks_total
    return float(start)


def _expected(stage: StageSpec, times: Mapping[str, float], chunks: int) -> float | None:
    """Expected seconds for a whole stage; a fan-out stage's history is per piece."""
    t = times.get(stage.name)
    if t is None:
        return None
    return t * max(chunks, 1) if stage.fan_out is not None else t


def progress(
    status: Status,
    *,
    chunks_done: int = 0,
    chunks_total: int = 0,
    failed_stage: str | None = None,
    times: Mapping[str, float] | None = None,
    elapsed_in_stage_s: float = 0.0,
) -> Progress:
    """Compute a job's progress.

    Args:
        status: the job's status.
        chunks_done: extract chunks finished.
        chunks_total: extract chunks in all.
        failed_stage: for FAILED and CANCELLED, the stage the job stopped in.
        times: recent typical seconds per stage (extract: per chunk); missing → no ETA.
        elapsed_in_stage_s: seconds since the running stage was claimed.

    Returns:
        Percent in [0, 100] (100 only when COMPLETED), a step text and an ETA in seconds or None.
    """
    times = times or {}
    if status == Status.COMPLETED:
        return Progress(100.0, "done", 0.0)
    if status in (Status.FAILED, Status.CANCELLED):
        stage = STAGES.by_name.get(failed_stage or "")
        percent = _band(stage, chunks_done, chunks_total) if stage else 0.0
        where = f" in {stage.name}" if stage else ""
        # Rounded like the running state's figure, or a job stopped mid-extract would seem to go
        # back (56.7 % running, 56.666… % cancelled: found by the property test).
        return Progress(round(percent, 1), f"{status.value.lower()}{where}", None)

    running = stage_of(status)
    stage = running or stage_after(status)
    assert stage is not None, f"status {status} belongs to no stage"
    percent = _band(stage, chunks_done, chunks_total) if running else float(stage.progress[0])
    if running and stage.fan_out is not None:
        step = f"{stage.doing}: {chunks_done} of {chunks_total} chunks done"
    elif running:
        step = stage.doing or stage.name
    else:
        step = f"waiting for {stage.name}"

    eta: float | None = 0.0
    for later in STAGES[STAGES.index(stage) :]:
        expected = _expected(later, times, chunks_total - chunks_done if later is stage else chunks_total)
        if expected is None:
            eta = None
            break
        if later is stage and running and later.fan_out is None:
            expected = max(expected - elapsed_in_stage_s, 0.0)
        assert eta is not None
        eta += expected
    return Progress(round(percent, 1), step, None if eta is None else round(eta, 1))
