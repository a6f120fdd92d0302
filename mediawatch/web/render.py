"""The Jinja2 environment: autoescape on for every template, link and highlight helpers.

Archived content is hostile. No template applies ``|safe`` to anything derived from a crawl;
the only Markup built here comes from escaped pieces (``highlight``) and fixed tags.
Links to archived URLs are rendered only when the URL is http(s), checked at render time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from archive.diff import visible_rows
from archive.search import snippet_parts

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
# Control characters that should never reach a page (C0 except tab/newline, C1, bidi overrides).
_HIDDEN = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, *range(0x80, 0xA0)])
_HIDDEN.update(dict.fromkeys([0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]))
# Nor characters XML cannot carry (one would make the Atom feed ill-formed): the store drops
# them since they were found, but an archive written earlier may still hold some.
_HIDDEN.update(dict.fromkeys([*range(0xD800, 0xE000), 0xFFFE, 0xFFFF]))


def http_url(value: Any) -> str | None:
    """The URL if it is an absolute http(s) URL with a host, else None (never a javascript: link)."""
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    if any(ch in candidate for ch in "\x00\r\n\t") or len(candidate) > 4096:
        return None
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return candidate


def visible(value: Any) -> str:
    """Text with control and bidi-override characters removed (escaping happens afterwards)."""
    return "" if value is None else str(value).translate(_HIDDEN)


def highlight(snippet: str) -> Markup:
    """A search snippet with its matches in <mark>: every piece is escaped first."""
    out = []
    for part in snippet_parts(snippet):
        text = escape(visible(part.text))
        out.append(Markup("<mark>%s</mark>") % text if part.highlighted else text)
    return Markup("").join(out)


def when(value: datetime | None) -> Markup:
    """A time to the second in UTC, as a <time> element whose ``datetime`` and ``title`` (shown on
    hover) carry the full ISO 8601 timestamp: checks minutes or seconds apart never read alike."""
    if value is None:
        return Markup("—")
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    iso = utc.isoformat()
    return Markup('<time datetime="%s" title="%s">%s</time>') % (
        iso,
        iso,
        utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


# Outcomes of a check that found the page as archived: runs of them fold into one timeline row.
QUIET_OUTCOMES = ("unchanged", "not-modified")


@dataclass(frozen=True)
class QuietRun:
    """Consecutive checks that found nothing new, shown as one row of the timeline."""

    count: int
    first: datetime  # the earliest check of the run
    last: datetime  # the latest
    outcomes: tuple[str, ...]  # the distinct outcomes, e.g. ("unchanged", "not-modified")
    urls: tuple[str, ...]  # the distinct URLs fetched, when another than the article's


def timeline_rows(fetches: Sequence[Any], article_url: str) -> list[Any]:
    """The timeline (newest first) with every run of two or more quiet checks folded into a
    :class:`QuietRun`: "checked 31 times between … and …, unchanged" instead of 31 equal rows."""
    rows: list[Any] = []
    run: list[Any] = []

    def flush() -> None:
        if len(run) == 1:
            rows.append(run[0])
        elif run:
            rows.append(
                QuietRun(
                    count=len(run),
                    first=run[-1].fetched_at,
                    last=run[0].fetched_at,
                    outcomes=tuple(dict.fromkeys(f.outcome for f in run)),
                    urls=tuple(dict.fromkeys(f.url for f in run if f.url != article_url)),
                )
            )
        run.clear()

    for fetch in fetches:
        if fetch.outcome in QUIET_OUTCOMES and not fetch.message:
            run.append(fetch)
        else:
            flush()
            rows.append(fetch)
    flush()
    return rows


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its extension (.html, .xml)
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["http_url"] = http_url
    env.filters["visible"] = visible
    env.filters["highlight"] = highlight
    env.filters["when"] = when
    env.globals["urlencode"] = urlencode
    env.globals["visible_rows"] = visible_rows
    env.globals["timeline_rows"] = timeline_rows
    return env


ENVIRONMENT = make_environment()


def render(template: str, **context: Any) -> str:
    return ENVIRONMENT.get_template(template).render(**context)


def standalone_diff(page: Any, *, generated: datetime) -> str:
    """A self-contained HTML page of one comparison (``mediawatch diff --format html``)."""
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    # The stylesheet is our own file, not crawled data.
    return render("diff_standalone.html", page=page, css=Markup(css), generated=generated)
