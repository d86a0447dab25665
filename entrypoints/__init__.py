"""Entry points: the CLI, the worker's boot, the embedded runtime and its private PostgreSQL.

The top layer (docs/ARCHITECTURE.md, "Layers"): it may import ``pipeline``, ``stages`` and
``models``; nothing below imports it. It holds no rules of its own: every command calls the
service layer in ``pipeline`` (jobs, re-runs, dead letters, stats).
"""
