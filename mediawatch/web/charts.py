"""Server-rendered SVG charts (pygal), with no script and no inline style.

The viewer's Content-Security-Policy allows no script and styles only from its own stylesheet,
and an archive's offline copy must work without either. pygal draws the chart; each chart is then
cleaned on its element tree before it reaches a page: its ``<script>`` (a JSON copy of the chart's
configuration, outlet names included) and ``<style>`` elements, its ``style`` attributes and
the tooltip overlay (which needs script) are removed; the colours and fonts come from
``static/style.css`` (the ``.pygal-chart`` rules). Text reaches the SVG only through lxml, which
escapes it, so a hostile outlet name or title is text inside the chart, never markup.

pygal costs about 70 ms to import: only the viewer imports this module, never the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import pygal
from lxml import etree
from markupsafe import Markup

from archive.stats import DELAY_BUCKETS, LABELS, DayStats, OutletStats

# Series order = colour: .color-0 … in style.css. Labels keep one colour on every chart.
LABEL_ORDER = (*LABELS, "unlabelled")
TIMELINE_SERIES = ("first", *LABELS, "removed", "restored", "other")
_HIDDEN = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, *range(0x80, 0xA0)])


def _text(value: Any) -> str:
    """Text for a chart: control characters (which XML cannot carry) removed; lxml escapes the rest."""
    return ("" if value is None else str(value)).translate(_HIDDEN)


def _config(**options: Any) -> dict[str, Any]:
    return {
        "js": [],
        "css": [],
        "disable_xml_declaration": True,
        "width": 900,
        "height": 360,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 5,
        "truncate_legend": 40,
        "truncate_label": 30,
        "print_values": False,
        "tooltip_fancy_mode": False,
        "no_data_text": "no data",
        **options,
    }


def clean_svg(chart: Any, title: str) -> Markup:
    """The chart as inline SVG markup without script, inline style or tooltip overlay."""
    # pygal's tree carries its namespace as a plain attribute: the tags have no namespace.
    tree = chart.render_tree()
    for element in list(tree.iter("script", "style")):
        element.getparent().remove(element)
    for element in list(tree.iter()):
        if not isinstance(element.tag, str):  # comments
            if element.getparent() is not None:
                element.getparent().remove(element)
            continue
        element.attrib.pop("style", None)
        classes = element.get("class", "").split()
        if "tooltip-overlay" in classes and element.getparent() is not None:
            element.getparent().remove(element)
    # A mark's label and value as its <title>: shown on hover and read by screen readers.
    for link in tree.iter("a"):
        parts = [d.text or "" for d in link.findall("desc") if d.get("class") in ("label", "value")]
        if parts:
            hint = etree.SubElement(link, "title")
            hint.text = " — ".join(p for p in parts if p)
    tree.set("role", "img")
    tree.set("aria-label", _text(title))
    return Markup(etree.tostring(tree, encoding="unicode"))


# A longer window is drawn per week, and beyond WEEKLY_BARS weeks per month: at most about 31
# bars of up to five labels.
DAILY_BARS = 31
WEEKLY_BARS = 26


def _period(days: Sequence[DayStats]) -> tuple[str, Callable[[date], date]]:
    """The bar width for a window: pygal's drawing time grows with the bars (about half a
    millisecond per drawn bar), so a long window gets weekly or monthly bars; the table beside
    the chart keeps the daily numbers."""
    if not days:
        return "day", lambda d: d
    span = (max(d.day for d in days) - min(d.day for d in days)).days + 1
    if span <= DAILY_BARS:
        return "day", lambda d: d
    if span <= WEEKLY_BARS * 7:
        return "week", lambda d: d - timedelta(days=d.weekday())
    return "month", lambda d: d.replace(day=1)


def edits_per_day(days: Sequence[DayStats]) -> Markup:
    """Edits per day (per week or month over a long window), stacked by change label."""
    period, start_of = _period(days)
    totals: dict[date, dict[str, int]] = {}
    for d in days:
        bar = totals.setdefault(start_of(d.day), {})
        for label, n in d.edits_by_label.items():
            bar[label] = bar.get(label, 0) + n
    return _edits_chart(period, tuple((day, tuple(sorted(totals[day].items()))) for day in sorted(totals)))


# The charts are pure functions of their numbers: the same numbers (the archive unchanged since
# the last view) give the same SVG, kept here instead of drawn again.
@lru_cache(maxsize=32)
def _edits_chart(period: str, bars: tuple[tuple[date, tuple[tuple[str, int], ...]], ...]) -> Markup:
    chart = pygal.StackedBar(
        **_config(
            title=f"Edits per {period}, by label",
            x_title=f"{period} (UTC)" if period == "day" else f"{period} starting (UTC)",
            y_title="edits",
            x_label_rotation=30,
            show_minor_x_labels=len(bars) <= 31,
            x_labels_major_every=max(1, len(bars) // 15),
            # Values taken as given: a stacked chart otherwise turns None into 0 and draws it.
            strict=True,
        )
    )
    chart.x_labels = [day.strftime("%Y-%m") if period == "month" else day.isoformat() for day, _ in bars]
    for label in LABEL_ORDER:
        # None, not 0: pygal draws no bar for it (a zero bar costs as much to draw as a tall one).
        chart.add(label, [dict(counts).get(label) or None for _, counts in bars])
    return clean_svg(chart, f"Edits per {period}, stacked by change label")


def forget() -> None:
    """Drop the charts kept from earlier views."""
    for drawn in (_edits_chart, _first_edit_chart, _edited_share_chart):
        drawn.cache_clear()


def first_edit_distribution(outlets: Sequence[OutletStats], limit: int = 12) -> Markup:
    return _first_edit_chart(tuple(o for o in outlets if o.edited)[:limit])


@lru_cache(maxsize=32)
def _first_edit_chart(shown: tuple[OutletStats, ...]) -> Markup:
    chart = pygal.HorizontalStackedBar(
        **_config(
            title="Time from first capture to first edit",
            x_title="edited articles",
            legend_at_bottom_columns=6,
            height=max(240, 60 + 36 * len(shown)),
        )
    )
    chart.x_labels = [_text(o.outlet) for o in shown]
    for index, (bucket, _) in enumerate(DELAY_BUCKETS):
        chart.add(bucket, [o.first_edit_buckets[index] for o in shown])
    return clean_svg(chart, "Time from first capture to first edit, per outlet")


def edited_share(outlets: Sequence[OutletStats], limit: int = 20) -> Markup:
    return _edited_share_chart(tuple(o for o in outlets if o.articles)[:limit])


@lru_cache(maxsize=32)
def _edited_share_chart(shown: tuple[OutletStats, ...]) -> Markup:
    chart = pygal.HorizontalBar(
        **_config(
            title="Share of articles edited",
            x_title="% of the articles first captured in the period",
            show_legend=False,
            height=max(240, 60 + 30 * len(shown)),
            range=(0, 100),
        )
    )
    chart.x_labels = [_text(o.outlet) for o in shown]
    chart.add(
        "edited",
        [
            {"value": round(100 * o.edited_share, 1), "label": f"{o.edited} of {o.articles} articles"}
            for o in shown
        ],
    )
    return clean_svg(chart, "Share of articles edited, per outlet")


def change_timeline(article_id: int, versions: Sequence[Any]) -> Markup:
    """One mark per version on a time axis: size = words changed, colour = label, each a link to
    its diff with the version before (the first version links to itself)."""
    series: dict[str, list[dict[str, Any] | None]] = {name: [] for name in TIMELINE_SERIES}
    previous_seq: int | None = None
    for v in versions:
        changed = v.words_added + v.words_removed
        if previous_seq is None:
            name, href = "first", f"/articles/{article_id}/versions/{v.seq}"
        else:
            name = (
                v.change_kind
                if v.change_kind in ("removed", "restored")
                else v.label
                if v.label in LABELS
                else "other"
            )
            href = f"/articles/{article_id}/diff?a={previous_seq}&b={v.seq}"
        when: datetime = v.first_seen
        series[name].append(
            {
                "value": (when, 1),
                "node": {"r": 4 + min(16.0, changed**0.5)},
                "xlink": {"href": href, "target": "_top"},
                "label": f"version {v.seq}: {v.change_kind}"
                + (f", {v.label}" if v.label and previous_seq is not None else "")
                + f", {changed} words changed",
            }
        )
        previous_seq = v.seq
    chart = pygal.DateTimeLine(
        **_config(
            title="Change timeline",
            height=280,
            legend_at_bottom_columns=8,
            stroke=False,
            show_y_labels=False,
            show_y_guides=False,
            range=(0, 2),
            x_title="first seen (UTC)",
            x_label_rotation=20,
            x_value_formatter=lambda d: d.strftime("%Y-%m-%d %H:%M"),
        )
    )
    for name in TIMELINE_SERIES:
        chart.add(name, series[name] or [None])
    return clean_svg(
        chart, "Change timeline: one mark per version, sized by words changed, linking to its diff"
    )
