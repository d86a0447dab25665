"""Alembic migrations: the schema's history, bound to ``models.Base.metadata``."""
