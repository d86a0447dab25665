"""The six stage actors. Import this package (after ``pipeline.broker.setup_broker()``) to register them."""

from __future__ import annotations

from stages import chunk, ingest
from stages.dedup import stage as dedup
from stages.extract import stage as extract
from stages.report import stage as report
from stages.storyboard import stage as storyboard

__all__ = ["chunk", "dedup", "extract", "ingest", "report", "storyboard"]
