"""SQL building blocks shared by the stages' PostgreSQL statements: lists read as JSON arrays, rows written as column arrays."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    FromClause,
    Insert,
    Table,
    Text,
    bindparam,
    func,
    insert,
    literal,
    select,
    true,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.sql.selectable import TableValuedAlias


def json_rows(*columns: Any, order_by: Sequence[Any], where: Any = None, select_from: Any = None) -> Any:
    """A scalar subquery: the rows of ``columns`` as one JSON array of arrays, in ``order_by`` order.

    NULL when no row matches. Several of them in one SELECT read a stage's lists in one round trip;
    psycopg2 hands each back as Python lists (JSON types: numbers, strings, nested JSON as dicts).
    """
    query = select(func.json_agg(aggregate_order_by(func.json_build_array(*columns), *order_by)))
    if select_from is not None:
        query = query.select_from(select_from)
    if where is not None:
        query = query.where(where)
    return query.scalar_subquery()


def insert_from_arrays(
    table: Table,
    columns: Sequence[str],
    *,
    prefix: str,
    job_id: Any,
    constants: Mapping[str, Any] | None = None,
    join: FromClause | None = None,
) -> Insert:
    """``INSERT INTO table (job_id, columns…) SELECT :job_id, u.… FROM unnest(:<prefix>_<column>, …)``.

    One statement for any number of rows: each column's values travel as one array parameter
    (``<prefix>_<column>``, made by :func:`array_params`), cast to the column's type. ``constants``
    gives other columns one value (an expression) for every row, possibly from ``join``, a FROM
    (a CTE) joined to every row: if it has no row, nothing is inserted. Columns named nowhere that
    have a constant Python-side default get it, as in an ORM insert. PostgreSQL only.
    """
    constants = dict(constants or {})
    rows = unnest_arrays([table.c[name] for name in columns], prefix=prefix)
    defaults = {
        c.name: literal(c.default.arg, c.type)
        for c in table.c
        if c.name not in {"job_id", *columns, *constants}
        and isinstance(c.default, ScalarElementColumnDefault)
    }
    names = ["job_id", *columns, *constants, *defaults]
    values = [job_id, *(rows.c[name] for name in columns), *constants.values(), *defaults.values()]
    query = select(*values)
    if join is not None:
        query = query.select_from(rows.join(join, true()))
    return insert(table).from_select(names, query, include_defaults=False)


def unnest_arrays(columns: Sequence[Column[Any]], *, prefix: str) -> TableValuedAlias:
    """``unnest(CAST(:<prefix>_<name> AS <type>[]), …) AS <prefix>(<names>)``: rows from one array
    parameter per column (made by :func:`column_arrays`), each cast to its column's type."""
    arrays = [
        sql_cast(bindparam(f"{prefix}_{c.name}", type_=ARRAY(Text)), ARRAY(JSONB))
        if _is_json(c)
        else sql_cast(bindparam(f"{prefix}_{c.name}"), ARRAY(c.type))
        for c in columns
    ]
    return func.unnest(*arrays).table_valued(*(c.name for c in columns)).render_derived(name=prefix)


def column_arrays(
    columns: Sequence[Column[Any]], rows: Sequence[Sequence[Any]], *, prefix: str
) -> dict[str, list[Any]]:
    """The parameters of :func:`unnest_arrays`: ``rows`` as one list per column (JSON as text)."""
    out: dict[str, list[Any]] = {}
    for i, column in enumerate(columns):
        values = [row[i] for row in rows]
        if _is_json(column):
            values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
        out[f"{prefix}_{column.name}"] = values
    return out


def array_params(
    table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, prefix: str
) -> dict[str, list[Any]]:
    """The parameters of :func:`insert_from_arrays`: ``rows`` as one list per named column."""
    return column_arrays([table.c[name] for name in columns], rows, prefix=prefix)


def _is_json(column: Any) -> bool:
    return isinstance(column.type, JSON)
