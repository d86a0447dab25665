"""Pydantic views of jobs: what crosses the boundary to the CLI, the Python API and (later) HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class StageTiming(BaseModel):
    stage: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None


class JobView(BaseModel):
    """Everything ``status`` shows about one job."""

    id: str
    project: str
    title: str | None
    status: str
    run: int
    percent: float
    step: str
    eta_s: float | None
    chunks_done: int
    chunks_total: int
    failed_stage: str | None
    error: str | None
    language: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    timings: list[StageTiming] = []
    stats: dict[str, Any] = {}
    #: LLM calls, tokens, cache hits and seconds in calls, summed over the chunks (None: no LLM).
    llm: dict[str, Any] | None = None


class JobSummary(BaseModel):
    """One line of ``jobs``."""

    id: str
    project: str
    title: str | None
    status: str
    percent: float
    step: str
    #: Seconds until the job should end, from recent stage times; ``None`` without them or once ended.
    eta_s: float | None = None
    created_at: datetime
    updated_at: datetime


class JobPage(BaseModel):
    """A page of jobs, newest first; pass ``next_cursor`` back for the next page."""

    items: list[JobSummary]
    next_cursor: str | None
