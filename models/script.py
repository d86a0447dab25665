"""The script's structure as the chunk stage found it: episodes, scenes and extract chunks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin


class Episode(IdMixin, Base):
    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("job_id", "number", name="uq_episodes_job_id_number"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    title: Mapped[str | None] = mapped_column(String(500))
    start: Mapped[int] = mapped_column()
    end: Mapped[int] = mapped_column()


class Scene(IdMixin, Base):
    __tablename__ = "scenes"
    __table_args__ = (UniqueConstraint("job_id", "number", name="uq_scenes_job_id_number"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    episode: Mapped[int] = mapped_column()
    number: Mapped[int] = mapped_column()
    heading: Mapped[str] = mapped_column(Text)
    int_ext: Mapped[str | None] = mapped_column(String(10))
    time: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(500))
    start: Mapped[int] = mapped_column()
    end: Mapped[int] = mapped_column()
    listed_characters: Mapped[list[Any]] = mapped_column(default=list)


class Chunk(IdMixin, Base):
    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("job_id", "number", name="uq_chunks_job_id_number"),
        Index("ix_chunks_job_id_status", "job_id", "status"),
    )

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    start: Mapped[int] = mapped_column()
    end: Mapped[int] = mapped_column()
    first_scene: Mapped[int] = mapped_column()
    last_scene: Mapped[int] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64))
    #: pending → running → done (or failed); only the extract stage writes it.
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    provider: Mapped[str | None] = mapped_column(String(50))
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cached: Mapped[bool] = mapped_column(default=False)
    #: LLM requests this chunk's last extraction made (retries and repairs included; 0 if cached).
    calls: Mapped[int] = mapped_column(default=0)
    latency_ms: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    #: The model's last answer when it could not be used (kept for ops; shown by ``dlq show``).
    raw_answer: Mapped[str | None] = mapped_column(Text)


class LlmCacheEntry(Base):
    """A validated LLM answer, keyed by the sha256 of everything that shaped it (embedded mode;
    server mode keeps the cache in Redis)."""

    __tablename__ = "llm_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
