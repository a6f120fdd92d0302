"""The one parser of durations, moments and days given by users (CLI options, config, viewer).

Every result is bounded so that arithmetic on it cannot overflow: a duration is at most
:data:`MAX_DURATION`, a moment or a day lies between :data:`EARLIEST` and :data:`LATEST`
(a window start computed as ``now - duration`` or a day's end as ``day + 1 day`` always exists).
Bad values raise ``ValueError`` with a message fit for one line on a terminal.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
MAX_DURATION = timedelta(days=36500)  # a century: longer than any archive
EARLIEST = date(1900, 1, 1)
LATEST = date(9998, 12, 31)
DURATION_HINT = "use e.g. 90s, 15m, 2h, 1d"


def parse_duration(value: Any) -> timedelta:
    """``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"`` -> timedelta (positive, at most a century)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        raise ValueError(f"not a duration: {value!r} ({DURATION_HINT})")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be positive: {value!r}")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"a duration of at most {MAX_DURATION.days}d: {value!r}")
    return timedelta(seconds=seconds)


def parse_moment(value: Any) -> datetime:
    """An ISO 8601 date or date-time -> an aware UTC datetime (no zone means UTC)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected an ISO 8601 date or time")
    # Imported here, not at the top: most commands never parse a date, and dateutil's parser
    # module is among the heaviest of a read-only command's imports.
    from dateutil import parser as dateparser

    try:
        parsed = dateparser.isoparse(value.strip())
        moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"not a date or time: {value!r} (use ISO 8601, e.g. 2012-06-18T03:00Z)") from None
    if not EARLIEST <= moment.date() <= LATEST:
        raise ValueError(f"a date between {EARLIEST} and {LATEST}: {value!r}")
    return moment


def parse_day(value: str) -> date:
    """``YYYY-MM-DD`` -> a date between EARLIEST and LATEST."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not a date (use YYYY-MM-DD): {value!r}") from None
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"a date between {EARLIEST} and {LATEST}: {value!r}")
    return day


def is_duration(value: str) -> bool:
    """``value`` reads as a duration (``24h``, ``7d``): a window it starts moves with the clock."""
    return _DURATION.match(value) is not None


def parse_since(value: str, now: datetime) -> datetime:
    """A window start: a duration back from ``now`` (``24h``, ``7d``) or a date/time."""
    if is_duration(value):
        return now - parse_duration(value)
    try:
        return parse_moment(value)
    except ValueError:
        raise ValueError(
            f"not a duration or a date: {value!r} ({DURATION_HINT}, or ISO 8601 such as 2026-03-01)"
        ) from None
