"""The job state machine: the one table every other part reads.

:data:`STAGES` lists the stages in order; each :class:`StageSpec` carries its states, queue, step
text, progress band, whether it fans out, its retry and time-limit defaults and the outputs a
re-run resets. The legal transitions, the statuses, progress, the runner, the reconciler, re-runs,
dead letters, the broker's queues and the architecture diagram are all derived from it and never
typed twice. A stage is added by adding its spec (and its actor); tests swap the table with
:meth:`StageTable.use`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, overload


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

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        """A state a stage of the current table names beyond these (a stage added to the table)."""
        if not isinstance(value, str) or value not in STAGES.states:
            return None
        member = str.__new__(cls, value)
        member._name_ = member._value_ = value
        return member


@dataclass(frozen=True)
class FanOut:
    """A stage that sends one message per piece of work (extract: per chunk) to ``actor`` on
    ``queue``; the piece that completes the set advances the job."""

    actor: str
    queue: str


@dataclass(frozen=True)
class Output:
    """What a stage wrote that a re-run from it (or an earlier stage) undoes: the job's rows of
    ``table`` deleted, or, with ``reset``, those columns of its rows set back."""

    table: str
    reset: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class StageSpec:
    """One stage: the states it moves a job through and everything the mechanism needs of it.

    ``progress`` is the (start, end) percentage band the job covers while in this stage;
    ``limits`` the defaults of its ``[stages.<name>]`` settings (retries, backoff, time limit);
    ``job_reset`` the job columns a re-run from it sets back.
    """

    name: str
    actor: str
    ready: Status
    running: Status
    done: Status
    queue: str
    progress: tuple[int, int]
    doing: str = ""
    fan_out: FanOut | None = None
    outputs: tuple[Output, ...] = ()
    job_reset: Mapping[str, Any] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)


#: An extract chunk's columns as a re-run of extract finds them.
_CHUNK_UNDONE = {
    "status": "pending",
    "error": None,
    "raw_answer": None,
    "attempts": 0,
    "calls": 0,
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "cached": False,
    "latency_ms": None,
}

#: The six stages in order.
SIX_STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        "ingest", "ingest", Status.PENDING, Status.INGESTING, Status.INGESTED, "default", (0, 5),
        doing="ingesting the script",
    ),
    StageSpec(
        "chunk", "chunk", Status.INGESTED, Status.CHUNKING, Status.CHUNKED, "default", (5, 10),
        doing="finding episodes and scenes",
        # Extraction records go with their chunks (ON DELETE CASCADE).
        outputs=(Output("chunks"), Output("scenes"), Output("episodes")),
        job_reset={"chunks_total": 0},
    ),
    StageSpec(
        "extract", "extract", Status.CHUNKED, Status.EXTRACTING, Status.EXTRACTED, "default", (10, 80),
        doing="extracting characters, props and locations",
        fan_out=FanOut("extract_chunk", "ai"),
        outputs=(Output("extraction_records"), Output("chunks", reset=_CHUNK_UNDONE)),
        job_reset={"chunks_done": 0},
        # LLM calls are slow and flaky: more retries, longer backoff and time limit.
        limits={"max_retries": 5, "min_backoff_ms": 2000, "max_backoff_ms": 300_000, "time_limit_s": 600},
    ),
    StageSpec(
        "dedup", "dedup", Status.EXTRACTED, Status.DEDUPING, Status.DEDUPED, "default", (80, 88),
        doing="merging assets",
        outputs=(
            Output("extraction_records", reset={"dedup_status": "pending", "asset_id": None, "dedup_score": None}),
        ),
    ),
    StageSpec(
        "storyboard", "storyboard", Status.DEDUPED, Status.STORYBOARDING, Status.STORYBOARDED, "default", (88, 95),
        doing="planning shots",
        outputs=(Output("shots"),),  # their asset references go with them (ON DELETE CASCADE)
    ),
    StageSpec(
        "report", "report", Status.STORYBOARDED, Status.REPORTING, Status.COMPLETED, "default", (95, 100),
        doing="writing the report",
        outputs=(Output("reports"),),
    ),
)  # fmt: skip

#: States no stage will move a job out of by itself.
TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
#: States a re-run may start from.
RERUNNABLE: frozenset[Status] = TERMINAL


class StageTable(Sequence[StageSpec]):
    """The stages in order, and what is derived from them (by name, states, legal transitions).

    One instance, :data:`STAGES`, which every module reads at call time, so that swapping its
    stages (:meth:`use`) changes the whole mechanism at once.
    """

    def __init__(self, specs: Sequence[StageSpec]) -> None:
        self._set(specs)

    def _set(self, specs: Sequence[StageSpec]) -> None:
        specs = tuple(specs)
        if not specs or specs[0].ready != Status.PENDING or specs[-1].done != Status.COMPLETED:
            raise ValueError("the stages must run from PENDING to COMPLETED")
        for before, after in itertools.pairwise(specs):
            if after.ready != before.done:
                raise ValueError(f"{after.name} must start from {before.name}'s done state {before.done}")
        self.states = frozenset(
            {"PENDING", "FAILED", "CANCELLED"}
            | {str(state) for s in specs for state in (s.ready, s.running, s.done)}
        )
        # States the Status enum does not list (an added stage's) become Status members now.
        specs = tuple(
            dataclasses.replace(s, ready=Status(s.ready), running=Status(s.running), done=Status(s.done))
            for s in specs
        )
        self._specs = specs
        self.by_name: dict[str, StageSpec] = {s.name: s for s in specs}
        self.names: tuple[str, ...] = tuple(self.by_name)
        #: Every status a job can have, in the order a job meets them.
        self.statuses: tuple[Status, ...] = (
            Status.PENDING,
            *(state for s in specs for state in (s.running, s.done)),
            Status.FAILED,
            Status.CANCELLED,
        )
        self.transitions = _derive_transitions(specs, self.statuses)
        #: The actors that take one piece of a fan-out stage (extract_chunk).
        self.fan_out_actors = frozenset(s.fan_out.actor for s in specs if s.fan_out is not None)
        #: Actor name → stage name (fan-out actors included).
        self.stage_of_actor = {s.actor: s.name for s in specs} | {
            s.fan_out.actor: s.name for s in specs if s.fan_out is not None
        }
        self.queues = tuple(
            dict.fromkeys([s.queue for s in specs] + [s.fan_out.queue for s in specs if s.fan_out])
        )

    @overload
    def __getitem__(self, index: int) -> StageSpec: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[StageSpec, ...]: ...
    def __getitem__(self, index: int | slice) -> StageSpec | tuple[StageSpec, ...]:
        return self._specs[index]

    def __len__(self) -> int:
        return len(self._specs)

    def after(self, spec: StageSpec) -> StageSpec | None:
        """The stage after ``spec``, or ``None`` after the last."""
        index = self.names.index(spec.name)
        return self._specs[index + 1] if index + 1 < len(self._specs) else None

    @contextlib.contextmanager
    def use(self, specs: Sequence[StageSpec]) -> Iterator[StageTable]:
        """These stages instead, for the block (tests: a stage added to the table)."""
        before = self._specs
        self._set(specs)
        try:
            yield self
        finally:
            self._set(before)


def _derive_transitions(
    specs: Sequence[StageSpec], statuses: Sequence[Status]
) -> frozenset[tuple[Status, Status]]:
    edges: set[tuple[Status, Status]] = set()
    for stage in specs:
        edges.add((stage.ready, stage.running))
        # A retried or redelivered message re-claims the stage it already holds.
        edges.add((stage.running, stage.running))
        edges.add((stage.running, stage.done))
    for status in statuses:
        if status not in TERMINAL:
            edges.add((status, Status.FAILED))
            edges.add((status, Status.CANCELLED))
    for status in RERUNNABLE:
        for stage in specs:
            edges.add((status, stage.ready))
    return frozenset(edges)


#: The stages in order. Everything else about the flow is derived from this table.
STAGES = StageTable(SIX_STAGES)


def is_legal(from_: Status, to: Status) -> bool:
    """Tell whether the state machine allows ``from_ → to``."""
    return (from_, to) in STAGES.transitions


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
    first = STAGES[0]
    # The failure and cancel edges leave from one stage's running state, standing for all of them.
    some = next((s for s in STAGES if s.fan_out), STAGES[len(STAGES) // 2])
    lines = ["stateDiagram-v2", f"    [*] --> {first.ready}"]
    for stage in STAGES:
        fans = f" (one message per piece, on {stage.fan_out.queue})" if stage.fan_out else ""
        lines.append(f"    {stage.ready} --> {stage.running}: {stage.name}{fans}")
        lines.append(f"    {stage.running} --> {stage.done}")
    lines.append(f"    {some.running} --> FAILED: a stage fails for good (any non-terminal state)")
    lines.append(f"    {some.running} --> CANCELLED: cancel (any non-terminal state)")
    for status in sorted(RERUNNABLE):
        lines.append(f"    {status} --> {STAGES[1].ready}: rerun --from-stage S goes to S's ready state")
    lines.append(f"    {Status.COMPLETED} --> [*]")
    return "\n".join(lines)
