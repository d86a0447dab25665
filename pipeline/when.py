"""Times and durations as people type them: ``30m``, ``12h``, ``7d``, or an ISO timestamp."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pipeline.errors import InputError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d`` → a timedelta.

    Raises:
        InputError: not of that form.
    """
    match = _DURATION.match(text.strip())
    if not match:
        raise InputError(f"not a duration: {text!r} (use e.g. 30m, 12h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_when(text: str | None) -> datetime | None:
    """An ISO timestamp, or a duration meaning that long ago (``2h``)."""
    if text is None:
        return None
    try:
        return datetime.now().astimezone() - parse_duration(text)
    except InputError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"not a time: {text!r} (use an ISO timestamp or a duration such as 2h)") from None
