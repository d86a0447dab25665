"""The report's one-statement read on PostgreSQL gives exactly what its eight portable reads give."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

from models import Chunk, Job
from pipeline import jobs
from pipeline.db import session_factory
from pipeline.testing import drain
from stages import report

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _plain(value: Any) -> Any:
    """Rows and JSON arrays alike as nested lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or hasattr(value, "_mapping"):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("example", ["逆袭总裁.txt", "the-heist.fountain"])
def test_one_statement_read_equals_the_portable_reads(stub_worker, example):
    broker, worker = stub_worker
    job_id = jobs.submit([EXAMPLES / example], project="reads")
    drain(broker, worker)
    assert "COMPLETED" == jobs.get_status(job_id).status
    with session_factory()() as s:
        # Some LLM usage to sum, so the usage subquery is compared on real figures.
        first = s.scalar(select(Chunk.id).where(Chunk.job_id == job_id).order_by(Chunk.number).limit(1))
        s.execute(
            update(Chunk)
            .where(Chunk.id == first)
            .values(provider="openai", calls=2, prompt_tokens=900, completion_tokens=80, latency_ms=4100)
        )
        s.commit()
        row = s.execute(select(Job.id, Job.run, Job.meta).where(Job.id == job_id)).one()
        job: Any = SimpleNamespace(id=row.id, run=row.run, meta=row.meta)
        one = report._read_one_statement(s, job)
        each = report._read_each(s, job)

    assert one.records and one.shots and one.assets and one.scenes and one.stage_seconds
    assert one.usage is not None and 2 == one.usage["calls"]
    for field in report._Reads.__dataclass_fields__:
        assert _plain(getattr(each, field)) == _plain(getattr(one, field)), field
