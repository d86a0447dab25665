"""What the breakdown found: extraction records, the project's assets, shots and reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class Asset(IdMixin, Base):
    """A character, location or prop of a project, shared by every job of that project."""

    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("project_id", "type", "key", name="uq_assets_project_id_type_key"),
        Index("ix_assets_project_id_type", "project_id", "type"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(500))
    #: The normalised name dedup matches on.
    key: Mapped[str] = mapped_column(String(500))
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(Text)
    gender: Mapped[str | None] = mapped_column(String(20))
    age: Mapped[str | None] = mapped_column(String(50))
    first_job_id: Mapped[str | None] = mapped_column(String(32))
    first_episode: Mapped[int | None] = mapped_column()
    first_scene: Mapped[int | None] = mapped_column()
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExtractionRecord(IdMixin, Base):
    """One asset seen in one scene, as an extractor reported it, and what dedup decided."""

    __tablename__ = "extraction_records"
    __table_args__ = (
        Index("ix_extraction_records_job_id_chunk_id", "job_id", "chunk_id"),
        Index("ix_extraction_records_asset_id", "asset_id"),
    )

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"))
    scene_number: Mapped[int] = mapped_column()
    asset_type: Mapped[str] = mapped_column(String(20))
    raw_name: Mapped[str] = mapped_column(String(500))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider: Mapped[str] = mapped_column(String(50))
    prompt_version: Mapped[str | None] = mapped_column(String(50))
    #: pending, new, exact, alias or fuzzy.
    dedup_status: Mapped[str] = mapped_column(String(10), default="pending")
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    dedup_score: Mapped[float | None] = mapped_column(Float)


class Shot(IdMixin, Base):
    __tablename__ = "shots"
    __table_args__ = (UniqueConstraint("job_id", "scene_number", "number", name="uq_shots_job_scene_number"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    episode: Mapped[int] = mapped_column()
    scene_number: Mapped[int] = mapped_column()
    number: Mapped[int] = mapped_column()
    type: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text)


class ShotAsset(Base):
    __tablename__ = "shot_assets"

    shot_id: Mapped[int] = mapped_column(ForeignKey("shots.id", ondelete="CASCADE"), primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(default=0)


class Report(Base):
    __tablename__ = "reports"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    format: Mapped[str] = mapped_column(String(10), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
