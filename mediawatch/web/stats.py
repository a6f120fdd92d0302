"""The viewer's statistics page (/stats, /api/stats) and the change timeline of the article page.

The numbers come from ``archive.stats`` (SQL on both backends, under the viewer's statement time
limit); the charts from ``mediawatch.web.charts`` (SVG without script). Each chart sits next to
the table it draws, which is its text alternative.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from archive.db import Archive
from archive.errors import InputError
from archive.stats import (
    DELAY_BUCKETS,
    LABELS,
    DayStats,
    OutletStats,
    archive_state,
    day_stats,
    duration,
    outlet_stats,
    snapshot,
)
from archive.timeparse import is_duration, parse_since
from mediawatch.web import charts
from mediawatch.web.render import ENVIRONMENT, render

DEFAULT_SINCE = "30d"
# The figures of the last few (window, archive state) pairs, for windows starting at a fixed
# moment: a page viewed again while the archive has not changed is not counted again. A changed
# archive is a new key, so nothing stale is shown.
CACHE_SIZE = 8
_CACHE: OrderedDict[tuple[Any, ...], tuple[list[OutletStats], list[DayStats]]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class StatsPage:
    since_text: str
    since: datetime
    outlets: list[OutletStats]
    days: list[DayStats]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "outlets": [o.as_dict() for o in self.outlets],
            "days": [d.as_dict() for d in self.days],
        }


def forget() -> None:
    """Drop the kept figures and charts (the benchmark times a first view with it)."""
    with _CACHE_LOCK:
        _CACHE.clear()
    charts.forget()


def stats_page(archive: Archive, since_text: str | None) -> StatsPage:
    text = (since_text or "").strip() or DEFAULT_SINCE
    if len(text) > 40:
        raise InputError("since: expected a duration (30d, 24h) or a date")
    try:
        since = parse_since(text, datetime.now(UTC))
    except ValueError as exc:
        raise InputError(f"since: {exc}") from None
    with archive.reading() as session:
        snapshot(session)
        if is_duration(text):
            # A window that moves with the clock never starts at the same moment twice: its
            # figures are counted, not kept (they would only push out windows viewed again).
            return StatsPage(text, since, outlet_stats(session, since), day_stats(session, since))
        # Read before the figures: a write landing in between then files them under the older
        # state, which no later view asks for again (never newer figures under an older key).
        key = (archive.url, since, archive_state(session))
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
            if cached is not None:
                _CACHE.move_to_end(key)
        if cached is None:
            cached = (outlet_stats(session, since), day_stats(session, since))
            with _CACHE_LOCK:
                _CACHE[key] = cached
                while len(_CACHE) > CACHE_SIZE:
                    _CACHE.popitem(last=False)
        return StatsPage(text, since, *cached)


def timeline(page: Any) -> Any:
    """The article page's change timeline (a Jinja global: ``{{ change_timeline(page) }}``)."""
    return charts.change_timeline(page.id, page.versions)


def install(app: FastAPI, archive: Archive) -> None:
    """Add /stats and /api/stats to the viewer and the timeline helper to its templates."""
    ENVIRONMENT.globals["change_timeline"] = timeline

    @app.get("/stats", response_class=HTMLResponse)
    def stats(request: Request) -> Response:
        page = stats_page(archive, request.query_params.get("since"))
        body = render(
            "stats.html",
            page=page,
            labels=LABELS,
            buckets=[name for name, _ in DELAY_BUCKETS],
            duration=duration,
            edits_chart=charts.edits_per_day(page.days),
            delay_chart=charts.first_edit_distribution(page.outlets),
            share_chart=charts.edited_share(page.outlets),
        )
        return HTMLResponse(body)

    @app.get("/api/stats")
    def api_stats(request: Request) -> Response:
        return JSONResponse(stats_page(archive, request.query_params.get("since")).as_dict())
