"""What a stage reads and writes, stated once: the claim reads it, the finish writes it.

A stage declares its I/O as a module constant::

    IO = StageIO(
        reads={
            "text": Value(ScriptContent.text, where=lambda job: ScriptContent.job_id == job.id),
            "scenes": Rows(Scene.number, Scene.heading, where=lambda job: Scene.job_id == job.id,
                           order_by=(Scene.number,)),
        },
        writes=(Insert(Shot.__table__, ("scene_number", "number", "type")),),
    )

and :func:`pipeline.runner.run_stage` turns it into two statements per message:

- the **claim** (``ready → running`` with its event row) also returns every read, each a scalar
  subquery over the claimed job's columns (``job.id``, ``job.project_id``, ``job.run`` …); a list
  comes back as one JSON array of rows. The stage's ``load`` gets them by name.
- the **finish** (``running → done`` with its event row) also inserts the output rows, each table's
  rows travelling as one array parameter per column (``INSERT … SELECT … FROM unnest(…)``), joined
  to the compare-and-set's row so that nothing is written if the job moved on meanwhile. An
  :class:`Insert`'s ``children`` fill a table that refers to the new rows' ids (shots → their
  assets), matched on columns both carry.

Both statements are built once per :class:`StageIO` and prepared once per connection
(:mod:`pipeline.prepared`): a :class:`StageIO` must be a module constant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CTE, ColumnElement, FromClause, Table, and_, insert, select, true
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from pipeline.queries import array_params, column_arrays, insert_from_arrays, json_rows, unnest_arrays

#: The claimed job's columns, as the claim's statement sees them.
JobColumns = ReadOnlyColumnCollection[str, ColumnElement[Any]]
#: A condition over the claimed job's columns.
Where = Callable[[JobColumns], ColumnElement[bool]]
#: Output rows per table name (an :class:`Insert`'s or a :class:`Children`'s), in its column order.
OutputRows = Mapping[str, Sequence[Sequence[Any]]]


@dataclass(frozen=True, eq=False)
class Value:
    """One value: ``column`` of the one row matching ``where`` (``None`` if none does)."""

    column: Any
    where: Where

    def expression(self, job: JobColumns) -> ColumnElement[Any]:
        return select(self.column).where(self.where(job)).scalar_subquery()

    def value(self, raw: Any) -> Any:
        return raw


@dataclass(frozen=True, eq=False, init=False)
class Rows:
    """Every row of ``columns`` matching ``where`` in ``order_by`` order, as lists (JSON types:
    numbers, strings, lists; JSON columns as dicts; timestamps as ISO strings). ``[]`` if none."""

    columns: tuple[Any, ...]
    where: Where
    order_by: tuple[Any, ...]
    select_from: FromClause | None = None

    def __init__(
        self, *columns: Any, where: Where, order_by: Sequence[Any], select_from: FromClause | None = None
    ) -> None:
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "where", where)
        object.__setattr__(self, "order_by", tuple(order_by))
        object.__setattr__(self, "select_from", select_from)

    def expression(self, job: JobColumns) -> ColumnElement[Any]:
        rows: ColumnElement[Any] = json_rows(
            *self.columns, order_by=self.order_by, where=self.where(job), select_from=self.select_from
        )
        return rows

    def value(self, raw: Any) -> Any:
        return raw or []


@dataclass(frozen=True, eq=False)
class Expression:
    """Any scalar expression over the claimed job's columns (an aggregate, a JSON object)."""

    build: Callable[[JobColumns], ColumnElement[Any]]

    def expression(self, job: JobColumns) -> ColumnElement[Any]:
        return self.build(job)

    def value(self, raw: Any) -> Any:
        return raw


Read = Value | Rows | Expression


@dataclass(frozen=True, eq=False)
class Children:
    """Rows of ``table`` that point at rows an :class:`Insert` makes: ``parent`` (the foreign key
    column) is set from the new row whose ``on`` columns equal the child row's first values.

    A child row is ``(*on values, *columns values)``.
    """

    table: Table
    parent: str
    on: tuple[str, ...]
    columns: tuple[str, ...]

    def given(self, parent_table: Table) -> list[Any]:
        """The columns a child row carries, typed: the parent's ``on`` columns, then its own."""
        return [parent_table.c[k] for k in self.on] + [self.table.c[c] for c in self.columns]


@dataclass(frozen=True, eq=False)
class Insert:
    """The job's rows of ``table`` (``job_id`` set), each a tuple in ``columns`` order."""

    table: Table
    columns: tuple[str, ...]
    children: tuple[Children, ...] = ()


@dataclass(frozen=True, eq=False)
class StageIO:
    """A stage's reads (by name, in order) and writes; a module constant (see the module's doc)."""

    reads: Mapping[str, Read] = field(default_factory=dict)
    writes: tuple[Insert, ...] = ()

    def read_expressions(self, job: JobColumns) -> list[ColumnElement[Any]]:
        """The reads as expressions over the claimed job's columns, in declaration order."""
        return [read.expression(job) for read in self.reads.values()]

    def inputs(self, values: Sequence[Any] | None) -> dict[str, Any]:
        """The claim's values of the reads, by name (lists ``[]`` when no row matched)."""
        values = values or (None,) * len(self.reads)
        return {name: read.value(raw) for (name, read), raw in zip(self.reads.items(), values, strict=True)}

    def write_ctes(self, moved: CTE) -> list[CTE]:
        """The writes as data-modifying CTEs of the finish, each joined to ``moved`` (the
        compare-and-set's row: none if the job did not move, and then nothing is written)."""
        ctes: list[CTE] = []
        for write in self.writes:
            table = write.table
            made = insert_from_arrays(table, write.columns, prefix=table.name, job_id=moved.c.id, join=moved)
            if not write.children:
                ctes.append(made.cte(f"{table.name}_in"))
                continue
            keys = {key for child in write.children for key in child.on}
            new = made.returning(table.c.id, *(table.c[k] for k in sorted(keys))).cte(f"{table.name}_in")
            ctes.append(new)
            for child in write.children:
                rows = unnest_arrays(child.given(table), prefix=child.table.name)
                on = and_(true(), *(new.c[k] == rows.c[k] for k in child.on))
                chosen = select(new.c.id, *(rows.c[c] for c in child.columns)).join(new, on)
                statement = insert(child.table).from_select([child.parent, *child.columns], chosen)
                ctes.append(statement.cte(f"{child.table.name}_in"))
        return ctes

    def write_params(self, rows: OutputRows) -> dict[str, Any]:
        """The finish's parameters: each table's rows (by table name) as one array per column."""
        params: dict[str, Any] = {}
        for write in self.writes:
            table = write.table
            params.update(array_params(table, write.columns, rows.get(table.name, ()), prefix=table.name))
            for child in write.children:
                params.update(
                    column_arrays(child.given(table), rows.get(child.table.name, ()), prefix=child.table.name)
                )
        return params
