"""Stage 1, ingest: check the stored script and learn what it says about itself.

Reading, size checks and decoding happen at submission (``pipeline.sources``), where the file
is; this stage verifies the stored text's hash, reads the title page and detects the language.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import dramatiq
from sqlalchemy import ColumnElement

from models import ScriptContent
from pipeline.broker import actor_options
from pipeline.errors import InputError
from pipeline.runner import run_stage
from pipeline.stageio import JobColumns, StageIO, Value
from pipeline.states import STAGES
from pipeline.transitions import ClaimedJob
from stages.screenplay import detect_language, parse_title_page

INGEST = "ingest"


@dataclass(frozen=True)
class Ingested:
    title: str | None
    language: str
    meta: dict[str, Any]


def describe_script(text: str, *, sha256: str, files: list[str]) -> Ingested:
    """Check the text against its hash and read its title page and language.

    Args:
        text: the stored script text.
        sha256: the hash recorded at submission.
        files: the submitted file names.

    Returns:
        The title (title page, else the first file's name), language and title-page metadata.

    Raises:
        InputError: the stored text does not match its hash.
    """
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != sha256:
        raise InputError("the stored script does not match its sha256; resubmit it")
    meta, body_start = parse_title_page(text)
    title = meta.get("title") or (PurePath(files[0]).stem if files else None)
    return Ingested(title=title, language=detect_language(text[body_start : body_start + 200_000]), meta=meta)


def _of_job(job: JobColumns) -> ColumnElement[bool]:
    return ScriptContent.job_id == job.id


#: The stored script: its text, hash and the files it came from.
IO = StageIO(
    reads={
        "text": Value(ScriptContent.text, where=_of_job),
        "sha256": Value(ScriptContent.sha256, where=_of_job),
        "sources": Value(ScriptContent.sources, where=_of_job),
    }
)


def _load(job: ClaimedJob, inputs: dict[str, Any]) -> tuple[str, str, list[str]]:
    return inputs["text"], inputs["sha256"], [s["name"] for s in inputs["sources"]]


def _compute(inputs: tuple[str, str, list[str]]) -> Ingested:
    text, sha, files = inputs
    return describe_script(text, sha256=sha, files=files)


def _job_values(job: ClaimedJob, out: Ingested) -> dict[str, Any]:
    """Title, language and title-page metadata, set by the ``INGESTING → INGESTED`` statement."""
    return {
        "title": job.title or out.title,
        "language": out.language,
        "meta": {**(job.meta or {}), **out.meta},
    }


@dramatiq.actor(actor_name="ingest", queue_name=STAGES.by_name[INGEST].queue, **actor_options("ingest"))
def ingest(job_id: str) -> None:
    """Ingest one job."""
    # Nothing of ingest's own to save: what it learns goes on the job row (:func:`_job_values`).
    run_stage(INGEST, job_id, io=IO, load=_load, compute=_compute, job_values=_job_values)
