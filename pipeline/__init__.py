"""Juben's mechanism and public Python API.

>>> from pipeline import submit, get_status          # doctest: +SKIP
>>> job_id = submit(["examples/the-heist.fountain"], project="demo")
>>> get_status(job_id).percent

The API uses this process's settings (``settings.toml`` / ``JUBEN_*``); messages go to the
configured broker (:func:`pipeline.broker.current_broker` sets it up on first use).
"""

from __future__ import annotations

from pipeline.broker import setup_broker
from pipeline.errors import (
    IdempotencyConflict,
    InputError,
    JobNotFound,
    JubenError,
    PermanentError,
    TransientError,
)
from pipeline.jobs import Submission, cancel, get_report, get_status, list_jobs, submit, submit_job
from pipeline.schemas import JobPage, JobSummary, JobView

__all__ = [
    "IdempotencyConflict",
    "InputError",
    "JobNotFound",
    "JobPage",
    "JobSummary",
    "JobView",
    "JubenError",
    "PermanentError",
    "Submission",
    "TransientError",
    "cancel",
    "get_report",
    "get_status",
    "list_jobs",
    "setup_broker",
    "submit",
    "submit_job",
]
