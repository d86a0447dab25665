"""Mapped tables (SQLAlchemy 2, typed). Imports nothing of Juben's besides itself."""

from __future__ import annotations

from models.access import ApiKey, Tenant
from models.base import Base
from models.breakdown import Asset, ExtractionRecord, Report, Shot, ShotAsset
from models.job import DeadLetter, Job, JobEvent, Project, ScriptContent, WebhookDelivery
from models.script import Chunk, Episode, LlmCacheEntry, Scene

__all__ = [
    "ApiKey",
    "Asset",
    "Base",
    "Chunk",
    "DeadLetter",
    "Episode",
    "ExtractionRecord",
    "Job",
    "JobEvent",
    "LlmCacheEntry",
    "Project",
    "Report",
    "Scene",
    "ScriptContent",
    "Shot",
    "ShotAsset",
    "Tenant",
    "WebhookDelivery",
]
