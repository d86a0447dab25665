"""A stage's hot statements as PostgreSQL prepared statements: parsed, analysed and planned once per
connection instead of once per message.

psycopg2 sends every statement as text, so PostgreSQL parses, analyses and plans it each time: for a
stage's claim with its inputs (a dozen subqueries) that was two thirds of the statement's server CPU
(the report's claim: 1.6-1.9 ms unprepared, 0.5-0.7 ms prepared, measured on the 2-core VM).
:func:`execute` compiles a statement once per process into ``PREPARE juben_<n> (<types>) AS …``
(bind parameters numbered ``$1…``, their types declared), prepares it once per database connection
and then sends ``EXECUTE juben_<n> (…)`` with the parameter values. Both go through SQLAlchemy's connection, so errors,
connection invalidation and cursor events behave as for any statement.

The statement must be built once (a module constant or a cached builder): it is the cache key,
in a cache bounded to :data:`MAX_STATEMENTS` (a statement built per call would only churn it).
Juben's connections plan them generically from the first execution (``plan_cache_mode``, set in
:func:`pipeline.db.make_engine`). Behind a PgBouncer in transaction pooling mode, whose server
connections change under a client, set ``database.prepared_statements = false`` (the engine
carries it as its ``juben_prepared`` execution option, read per call without the settings).

What this relies on of SQLAlchemy, all public and pinned by tests/integration/test_prepared.py:
psycopg2's compiled text names its parameters ``%(name)s`` (``paramstyle = "pyformat"``);
``SQLCompiler.binds`` and ``construct_expanded_state``; and each bind type's
``dialect_impl(dialect).bind_processor(dialect)`` for the values (JSON to text …).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ClauseElement, CursorResult, Executable
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import SQLCompiler

_BIND = re.compile(r"%\(([^)]+)\)s")
_EXPANDED = re.compile(r"_\d+$")  # to_status_1_2: the second value of IN list to_status_1
_LENGTH = re.compile(r"(?<=CHAR)\(\d+\)")
_INFO_KEY = "juben_prepared"
#: The engine execution option that turns prepared statements on (set by make_engine).
OPTION = "juben_prepared"
#: The most statements kept prepared per process (the oldest built goes first past it).
MAX_STATEMENTS = 256
_lock = threading.Lock()
_numbers = itertools.count(1)
_prepared: OrderedDict[Any, _Prepared] = OrderedDict()


@dataclass(frozen=True, slots=True)
class _Prepared:
    name: str
    prepare: str  #: ``PREPARE <name> AS <statement with $n>``
    execute: str  #: ``EXECUTE <name> (%s, …)``
    names: tuple[str, ...]  #: the bind parameter behind each ``$n``
    fixed: dict[str, Any]  #: values the statement carries itself (literals, constant IN lists)
    processors: dict[str, Callable[[Any], Any]]  #: bind processors (JSON → text …)


def _build(statement: Executable, connection: Connection, params: Mapping[str, Any]) -> _Prepared:
    compiled = cast(ClauseElement, statement).compile(dialect=connection.dialect)
    assert isinstance(compiled, SQLCompiler)
    # The expanded state renders IN lists bound at build time (constant status lists) as one
    # parameter each; lists passed per call would change the statement's text, so none may be.
    per_call = {n for n, b in compiled.binds.items() if b.expanding} & set(params)
    if per_call:
        raise ValueError(f"per-call IN lists cannot be prepared: {sorted(per_call)}")
    state = compiled.construct_expanded_state(dict(params))
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    text = _BIND.sub(number, state.statement).replace("%%", "%")
    name = f"juben_{next(_numbers)}"
    types = ", ".join(_type_of(compiled, n, connection) for n in names)
    return _Prepared(
        name=name,
        prepare=f"PREPARE {name} ({types}) AS {text}" if names else f"PREPARE {name} AS {text}",
        execute=f"EXECUTE {name} ({', '.join(['%s'] * len(names))})" if names else f"EXECUTE {name}",
        names=tuple(names),
        fixed={k: v for k, v in state.parameters.items() if k not in params},
        processors=_processors(compiled, names, connection),
    )


def _processors(
    compiled: SQLCompiler, names: list[str], connection: Connection
) -> dict[str, Callable[[Any], Any]]:
    """Each parameter's bind processor (JSON → text …), from its type's public API."""
    found: dict[str, Callable[[Any], Any]] = {}
    for name in names:
        bind = compiled.binds.get(name)
        if bind is None:
            bind = compiled.binds.get(_EXPANDED.sub("", name))
        if bind is None:
            continue
        processor = bind.type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
        if processor is not None:
            found[name] = processor
    return found


def _type_of(compiled: SQLCompiler, name: str, connection: Connection) -> str:
    """The declared type of parameter ``name``: its bind's type, without a length (so a longer
    value fails where the column is, as unprepared), or ``unknown`` (inferred from its context).

    Declared, not inferred: PostgreSQL resolves a parameter it cannot place (``CASE WHEN … THEN $1``)
    as text, where psycopg2's literal was a number.
    """
    bind = compiled.binds.get(name)
    if bind is None:
        bind = compiled.binds.get(_EXPANDED.sub("", name))
    if bind is None or bind.type._isnull:
        return "unknown"
    try:
        declared = bind.type.compile(dialect=connection.dialect)
    except Exception:  # a type without a DDL name: let PostgreSQL infer it
        return "unknown"
    return _LENGTH.sub("", declared)


def execute(
    connection: Connection, statement: Executable, params: Mapping[str, Any]
) -> CursorResult[*tuple[Any, ...]]:
    """Execute ``statement`` with ``params`` as a prepared statement of ``connection``; with
    ``database.prepared_statements`` off, as ``connection.execute`` does.

    Returns:
        The result, as ``connection.execute`` would give it (rows by position and by name).
    """
    if not connection.get_execution_options().get(OPTION):
        return connection.execute(statement, dict(params))
    prepared = _prepared.get(statement)
    if prepared is None:
        with _lock:
            prepared = _prepared.get(statement)
            if prepared is None:
                prepared = _prepared[statement] = _build(statement, connection, params)
                while len(_prepared) > MAX_STATEMENTS:
                    _prepared.popitem(last=False)
    done: set[str] = connection.connection.info.setdefault(_INFO_KEY, set())
    if prepared.name not in done:
        connection.exec_driver_sql(prepared.prepare)
        done.add(prepared.name)
    values = []
    processors = prepared.processors
    for name in prepared.names:
        value = params[name] if name in params else prepared.fixed[name]
        processor = processors.get(name)
        values.append(value if processor is None or value is None else processor(value))
    return connection.exec_driver_sql(prepared.execute, tuple(values))
