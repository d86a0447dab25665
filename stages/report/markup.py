"""HTML building blocks of the report page: escaping, tables, fact lists (pure: no I/O).

Every value from the report goes through :func:`esc`, unless it is :class:`Markup` that this
package built from escaped pieces. Script text is hostile input.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


class Markup(str):
    """HTML built here from escaped pieces: :func:`esc` passes it through unchanged."""

    __slots__ = ()


def esc(value: Any) -> str:
    """Escape a report value for HTML; lists are joined with ``", "``, mappings as ``k: v``.

    Args:
        value: Any value from the report (``None`` becomes the empty string).

    Returns:
        The escaped text, or ``value`` itself when it is :class:`Markup`.

    >>> esc("<b>"), esc(["a", None, 3]), esc({"new": 2}), esc(Markup("<i>x</i>")), esc(2.5)
    ('&lt;b&gt;', 'a, , 3', 'new: 2', '<i>x</i>', '2.5')
    """
    # Most cells are plain strings and numbers: decided by their exact type, before the isinstance
    # checks (Mapping's is an ABC check), which were half of a small report's page.
    kind = type(value)
    if kind is str:
        return html.escape(value)
    if kind is int or kind is float:
        return str(value)  # digits, sign, ".", "e", "inf", "nan": nothing to escape
    if isinstance(value, Markup):
        return value
    if value is None:
        text = ""
    elif isinstance(value, list | tuple):
        text = ", ".join("" if item is None else str(item) for item in value)
    elif isinstance(value, Mapping):
        text = ", ".join(f"{key}: {item}" for key, item in value.items())
    else:
        text = str(value)
    return html.escape(text)


def number_key(value: Any) -> Any:
    """Make an episode or scene number safe to use as a dict key.

    Args:
        value: The number as found in the report.

    Returns:
        ``value`` itself, or its ``repr`` when it is out of contract and unhashable (a list, say).
    """
    return value if value is None or isinstance(value, int | float | str) else repr(value)


def item_count(value: Any) -> int:
    """Count the items of a list field of the report.

    Args:
        value: The field's value.

    Returns:
        Its length, or 0 when it is missing or not a list.
    """
    return len(value) if isinstance(value, list | tuple | set | frozenset) else 0


def mapping(value: Any) -> Mapping[str, Any]:
    """Return ``value`` if it is a mapping, else an empty one (reports may be partial)."""
    return value if isinstance(value, Mapping) else {}


def rows(report: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The mappings listed under ``report[key]``, skipping anything out of contract."""
    value = report.get(key)
    if not isinstance(value, list | tuple):
        return []
    return [row for row in value if isinstance(row, Mapping)]


def table(
    headers: Sequence[str],
    body: Iterable[Sequence[Any]],
    empty: str,
    *,
    css: str = "",
    row_css: Sequence[str] = (),
) -> str:
    """An HTML table, or a line saying ``empty`` when there are no rows.

    Args:
        headers: Column headings (escaped).
        body: One sequence of cells per row (each escaped unless :class:`Markup`).
        empty: What to say when ``body`` is empty.
        css: The table's class.
        row_css: Each row's class, in order (rows past its end get none).

    Returns:
        The table's HTML.
    """
    lines = []
    for i, row in enumerate(body):
        cls = f' class="{esc(row_css[i])}"' if i < len(row_css) and row_css[i] else ""
        lines.append(f"<tr{cls}>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>")
    if not lines:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(header)}</th>" for header in headers)
    cls = f' class="{esc(css)}"' if css else ""
    return (
        f"<table{cls}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody>\n</table>"
    )


def facts(pairs: Iterable[tuple[str, Any]], css: str = "facts") -> str:
    """A definition list of ``(label, value)`` pairs."""
    items = "".join(f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>" for label, value in pairs)
    return f'<dl class="{esc(css)}">{items}</dl>'


def when(value: Any) -> Any:
    """An ISO timestamp as ``2024-05-01 10:00 UTC``; anything else unchanged.

    >>> when("2024-05-01T12:00:30+02:00"), when("soon")
    ('2024-05-01 10:00 UTC', 'soon')
    """
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def sheet_numbers(numbers: Iterable[Any]) -> frozenset[int]:
    """The true integers among ``numbers``: the scene numbers that get a sheet (``id="scene-N"``).

    Made once per page and handed to every :func:`scene_links` call.
    """
    return frozenset(n for n in numbers if is_int(n))


def scene_links(numbers: Any, sheets: frozenset[int]) -> Markup | Any:
    """Scene numbers as links to their breakdown sheets (numbers without a sheet stay text).

    Args:
        numbers: A list of scene numbers from the report.
        sheets: The page's scene numbers that have a sheet (:func:`sheet_numbers`).

    Returns:
        Markup, or ``numbers`` unchanged when it is not a list.
    """
    if not isinstance(numbers, list | tuple):
        return numbers
    parts = [f'<a href="#scene-{n}">{n}</a>' if is_int(n) and n in sheets else esc(n) for n in numbers]
    return Markup(", ".join(parts))


def is_int(value: Any) -> bool:
    """Whether ``value`` is a true integer (not a bool), fit for an ``id`` or a link."""
    return isinstance(value, int) and not isinstance(value, bool)
