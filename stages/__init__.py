"""The six stage actors. Import this package (after ``pipeline.broker.setup_broker()``) to register them."""

from __future__ import annotations

from stages import chunk, dedup, extract, ingest, report, storyboard

__all__ = ["chunk", "dedup", "extract", "ingest", "report", "storyboard"]
