"""Structured logs: JSON lines bound with job id, stage and message id; never the script itself."""

from __future__ import annotations

import io
import json

from entrypoints.testing import drain
from pipeline import jobs
from pipeline.logs import configure_logging

SECRET_LINE = "The launch code is swordfish-42."
SCRIPT = f"INT. BUNKER - NIGHT\n\nMAJOR KANE\n{SECRET_LINE}\n"


def test_stage_logs_carry_job_stage_and_message_ids(stub_worker, pg_settings):
    """Every stage_done line names its job, stage and message; the script's text appears nowhere."""
    broker, worker = stub_worker
    stream = io.StringIO()
    configure_logging(pg_settings, stream=stream)
    job_id = jobs.submit(SCRIPT, project="logs")

    drain(broker, worker)

    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    done = [line for line in lines if line.get("event") == "stage_done"]
    assert ["ingest", "chunk", "dedup", "storyboard", "report"] == [line["stage"] for line in done]
    assert {job_id} == {line["job_id"] for line in done}
    assert all(line["message_id"] for line in done)
    assert SECRET_LINE not in stream.getvalue()
