"""The HTTP API (``python api.py``): FastAPI routes over the same service layer as the CLI."""

from __future__ import annotations
