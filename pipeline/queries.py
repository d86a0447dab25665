"""SQL building blocks shared by the stages' PostgreSQL reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by


def json_rows(*columns: Any, order_by: Sequence[Any], where: Any, select_from: Any = None) -> Any:
    """A scalar subquery: the rows of ``columns`` as one JSON array of arrays, in ``order_by`` order.

    NULL when no row matches. Several of them in one SELECT read a stage's lists in one round trip;
    psycopg2 hands each back as Python lists (JSON types: numbers, strings, nested JSON as dicts).
    """
    query = select(func.json_agg(aggregate_order_by(func.json_build_array(*columns), *order_by)))
    if select_from is not None:
        query = query.select_from(select_from)
    return query.where(where).scalar_subquery()
