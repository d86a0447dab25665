"""Jobs and what hangs off them for bookkeeping: projects, script contents, events, dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, new_id, utcnow


class Project(IdMixin, Base):
    """A series or a set of scripts that share a cast: assets are merged within a project only."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_projects_tenant_id_name"),)

    #: The tenant the project belongs to (``default`` for the CLI's jobs unless told otherwise).
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("project_id", "idempotency_key", name="uq_jobs_project_idempotency_key"),
        Index("ix_jobs_status_updated_at", "status", "updated_at"),
        Index("ix_jobs_project_created_at", "project_id", "created_at"),
        Index("ix_jobs_created_at_id", "created_at", "id"),
        Index("ix_jobs_status_created_at_id", "status", "created_at", "id"),
        Index("ix_jobs_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
        # The console's counts per status (index-only) and its title search (pg_trgm; migration 0010).
        Index("ix_jobs_tenant_id_status", "tenant_id", "status"),
        Index(
            "ix_jobs_title_trgm", "title", postgresql_using="gin", postgresql_ops={"title": "gin_trgm_ops"}
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    #: The project's tenant, repeated so that a tenant's jobs are one index range (never changes).
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    title: Mapped[str | None] = mapped_column(String(500))
    #: Written only by pipeline.transitions (an AST check in tests/unit/test_states.py).
    status: Mapped[str] = mapped_column(String(20))
    run: Mapped[int] = mapped_column(default=1)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    chunks_total: Mapped[int] = mapped_column(default=0)
    chunks_done: Mapped[int] = mapped_column(default=0)
    #: The stage a FAILED or CANCELLED job stopped in.
    failed_stage: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    #: Claims of the current stage run (worker deaths redeliver without counting a retry).
    deliveries: Mapped[int] = mapped_column(default=0)
    #: Settings that shaped this job (chunk size, provider …), kept for re-runs and audits.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: What the script says about itself (title page: title, author …).
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    stage_started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    #: Where the job's end (COMPLETED, FAILED, CANCELLED) is POSTed, signed (pipeline.webhooks).
    callback_url: Mapped[str | None] = mapped_column(String(2000))


class WebhookDelivery(IdMixin, Base):
    """One end of a job to tell its callback URL: written by a trigger when the job ends (migration
    0008), sent by the ``deliver_webhook`` actor; ``sent_at`` or ``failed_at`` once it is done."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("job_id", "run", "status", name="uq_webhook_deliveries_job_id_run_status"),
        Index(
            "ix_webhook_deliveries_pending",
            "id",
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
    )

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    run: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the dispatcher last sent its message (a stale one is sent again).
    enqueued_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    #: Set when it was dead-lettered; ``dlq retry`` clears it and sends it again.
    failed_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ScriptContent(Base):
    """The script text, apart from the job row so listings never load it."""

    __tablename__ = "script_contents"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    char_count: Mapped[int] = mapped_column()
    byte_count: Mapped[int] = mapped_column()
    encoding: Mapped[str] = mapped_column(String(20))
    #: One entry per submitted file: {"name", "start", "end"} offsets into ``text``.
    sources: Mapped[list[Any]] = mapped_column(default=list)


class JobEvent(IdMixin, Base):
    """One row per transition: the audit trail, and the source of stage durations and ETAs."""

    __tablename__ = "job_events"
    __table_args__ = (
        Index("ix_job_events_job_id_id", "job_id", "id"),
        # Each stage's latest timed events (ETAs): a short backward scan whatever the events' order,
        # index-only on PostgreSQL, so its planner never prefers walking pk_job_events back instead.
        Index(
            "ix_job_events_to_status_id_timed",
            "to_status",
            "id",
            postgresql_include=["duration_s", "units"],
            postgresql_where=text("duration_s IS NOT NULL"),
        ),
    )

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    run: Mapped[int] = mapped_column()
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    message_id: Mapped[str | None] = mapped_column(String(64))
    attempt: Mapped[int | None] = mapped_column()
    #: Seconds the stage took, on the event that ends a stage.
    duration_s: Mapped[float | None] = mapped_column()
    #: Units of work the stage did (chunks, for extract), so ETAs scale with script size.
    units: Mapped[int | None] = mapped_column()
    detail: Mapped[str | None] = mapped_column(Text)


class DeadLetter(IdMixin, Base):
    """A message that failed for good, with what ops need to understand and re-drive it."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_created_at", "created_at"),
        Index("ix_dead_letters_fingerprint", "fingerprint"),
    )

    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    stage: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[str] = mapped_column(String(64))
    message: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_type: Mapped[str] = mapped_column(String(200))
    error: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(200))
