"""The job state machine: the one table every other part reads.

Statuses, the six stages with their ready/running/done states, queues and progress bands live
here; the legal transitions are derived from :data:`STAGES` and never typed twice. Progress,
the runner, the reconciler, re-runs and the architecture diagram all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """Where a job is. Stage states come in ``-ING`` (a worker holds it) / ``-ED`` (ready) pairs."""

    #: Submitted; the script content is stored; waiting for ingest.
    PENDING = "PENDING"
    #: Ingest is checking the stored content and reading the title page and language.
    INGESTING = "INGESTING"
    #: Ingested; waiting for chunk.
    INGESTED = "INGESTED"
    #: Chunk is finding episodes and scenes and cutting chunks.
    CHUNKING = "CHUNKING"
    #: Chunked; waiting for the extract fan-out.
    CHUNKED = "CHUNKED"
    #: One extract message per chunk is out; the last chunk to finish advances the job.
    EXTRACTING = "EXTRACTING"
    #: Every chunk is extracted; waiting for dedup.
    EXTRACTED = "EXTRACTED"
    #: Dedup is merging extraction records into the project's assets.
    DEDUPING = "DEDUPING"
    #: Deduplicated; waiting for storyboard.
    DEDUPED = "DEDUPED"
    #: Storyboard is planning shots per scene.
    STORYBOARDING = "STORYBOARDING"
    #: Storyboarded; waiting for report.
    STORYBOARDED = "STORYBOARDED"
    #: Report is rendering HTML, JSON and CSV.
    REPORTING = "REPORTING"
    #: Done; the report is stored.
    COMPLETED = "COMPLETED"
    #: A stage failed for good; ``failed_stage`` and ``error`` say where and why.
    FAILED = "FAILED"
    #: Stopped by an operator; late messages for it are dropped.
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class StageSpec:
    """One stage: the states it moves a job through and where its messages go.

    ``progress`` is the (start, end) percentage band the job covers while in this stage.
    """

    name: str
    actor: str
    ready: Status
    running: Status
    done: Status
    queue: str
    progress: tuple[int, int]


#: The six stages in order. Everything else about the flow is derived from this table.
STAGES: tuple[StageSpec, ...] = (
    StageSpec("ingest", "ingest", Status.PENDING, Status.INGESTING, Status.INGESTED, "default", (0, 5)),
    StageSpec("chunk", "chunk", Status.INGESTED, Status.CHUNKING, Status.CHUNKED, "default", (5, 10)),
    StageSpec("extract", "extract", Status.CHUNKED, Status.EXTRACTING, Status.EXTRACTED, "default", (10, 80)),
    StageSpec("dedup", "dedup", Status.EXTRACTED, Status.DEDUPING, Status.DEDUPED, "default", (80, 88)),
    StageSpec(
        "storyboard",
        "storyboard",
        Status.DEDUPED,
        Status.STORYBOARDING,
        Status.STORYBOARDED,
        "default",
        (88, 95),
    ),
    StageSpec(
        "report", "report", Status.STORYBOARDED, Status.REPORTING, Status.COMPLETED, "default", (95, 100)
    ),
)

STAGE_BY_NAME: dict[str, StageSpec] = {s.name: s for s in STAGES}
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)

#: States no stage will move a job out of by itself.
TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
#: States a re-run may start from.
RERUNNABLE: frozenset[Status] = TERMINAL


def _derive_transitions() -> frozenset[tuple[Status, Status]]:
    edges: set[tuple[Status, Status]] = set()
    for stage in STAGES:
        edges.add((stage.ready, stage.running))
        # A retried or redelivered message re-claims the stage it already holds.
        edges.add((stage.running, stage.running))
        edges.add((stage.running, stage.done))
    for status in Status:
        if status not in TERMINAL:
            edges.add((status, Status.FAILED))
            edges.add((status, Status.CANCELLED))
    for status in RERUNNABLE:
        for stage in STAGES:
            edges.add((status, stage.ready))
    return frozenset(edges)


#: Every legal (from, to) pair.
TRANSITIONS: frozenset[tuple[Status, Status]] = _derive_transitions()


def is_legal(from_: Status, to: Status) -> bool:
    """Tell whether the state machine allows ``from_ → to``."""
    return (from_, to) in TRANSITIONS


def stage_of(status: Status) -> StageSpec | None:
    """Return the stage a status belongs to as its running state, or ``None``."""
    for stage in STAGES:
        if status == stage.running:
            return stage
    return None


def stage_after(status: Status) -> StageSpec | None:
    """Return the stage whose ready state ``status`` is (the next stage to run), or ``None``."""
    for stage in STAGES:
        if status == stage.ready:
            return stage
    return None


def mermaid() -> str:
    """Render the happy path and the failure/cancel/re-run edges as a mermaid state diagram."""
    lines = ["stateDiagram-v2", f"    [*] --> {STAGES[0].ready}"]
    for stage in STAGES:
        lines.append(f"    {stage.ready} --> {stage.running}: {stage.name}")
        lines.append(f"    {stage.running} --> {stage.done}")
    lines.append(f"    {STAGES[2].running} --> FAILED: a stage fails for good (any non-terminal state)")
    lines.append(f"    {STAGES[2].running} --> CANCELLED: cancel (any non-terminal state)")
    for status in sorted(RERUNNABLE):
        lines.append(f"    {status} --> {STAGES[1].ready}: rerun --from-stage S goes to S's ready state")
    lines.append(f"    {Status.COMPLETED} --> [*]")
    return "\n".join(lines)
