"""The six stage actors. Import this package (after ``pipeline.broker.setup_broker()``) to register them."""

from __future__ import annotations

import stages.chunk
import stages.dedup.stage
import stages.extract.stage
import stages.ingest
import stages.report.stage
import stages.storyboard.stage
import stages.webhook  # noqa: F401 (imported for their actors)
