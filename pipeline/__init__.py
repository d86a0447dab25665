"""Juben's mechanism and public Python API.

>>> from pipeline import submit, get_status          # doctest: +SKIP
>>> job_id = submit(["examples/the-heist.fountain"], project="demo")
>>> get_status(job_id).percent

The API uses this process's settings (``settings.toml`` / ``JUBEN_*``); call
:func:`pipeline.broker.setup_broker` once before :func:`submit` so the first stage's message
reaches the workers.
"""

from __future__ import annotations

from pipeline.broker import setup_broker
from pipeline.errors import InputError, JobNotFound, JubenError, PermanentError, TransientError
from pipeline.jobs import cancel, get_report, get_status, list_jobs, submit
from pipeline.schemas import JobPage, JobSummary, JobView

__all__ = [
    "InputError",
    "JobNotFound",
    "JobPage",
    "JobSummary",
    "JobView",
    "JubenError",
    "PermanentError",
    "TransientError",
    "cancel",
    "get_report",
    "get_status",
    "list_jobs",
    "setup_broker",
    "submit",
]
