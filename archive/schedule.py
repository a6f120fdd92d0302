"""When to check an article again (docs/crawling.md, The revisit ladder).

New articles are checked often, then less and less; a detected change resets the ladder;
after the last rung the article is no longer revisited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from archive.timeparse import parse_duration as parse_duration  # re-exported: config and scheduler use it

MAX_RUNGS = 20


@dataclass(frozen=True)
class Rung:
    until_age: timedelta  # while the article (or its last change) is younger than this…
    interval: timedelta  # …check it this often


DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung(timedelta(days=1), timedelta(hours=1)),
    Rung(timedelta(days=3), timedelta(hours=6)),
    Rung(timedelta(days=14), timedelta(days=1)),
    Rung(timedelta(days=60), timedelta(days=7)),
    Rung(timedelta(days=365), timedelta(days=30)),
)


def check_ladder(ladder: Sequence[Rung]) -> tuple[Rung, ...]:
    """A ladder as configured: 1 to 20 rungs, ages strictly increasing, each interval within its age."""
    rungs = tuple(ladder)
    if not 1 <= len(rungs) <= MAX_RUNGS:
        raise ValueError(f"a revisit ladder has 1 to {MAX_RUNGS} rungs")
    for earlier, later in zip(rungs, rungs[1:], strict=False):
        if later.until_age <= earlier.until_age:
            raise ValueError("the rungs' `until` ages must increase")
    for rung in rungs:
        if rung.interval > rung.until_age:
            raise ValueError(f"checking every {rung.interval} is longer than the rung's {rung.until_age}")
    return rungs


def next_check(
    *,
    first_seen: datetime,
    last_changed: datetime | None,
    checked_at: datetime,
    ladder: Sequence[Rung] = DEFAULT_LADDER,
) -> datetime | None:
    """The next time to check, or None when the article has aged off the ladder."""
    anchor = max(first_seen, last_changed) if last_changed else first_seen
    age = checked_at - anchor
    for rung in ladder:
        if age < rung.until_age:
            return checked_at + rung.interval
    return None
