"""Statistics (docs/statistics.md) of an archive built by real crawls: a loopback site serves three
NYT articles that move through their real revision histories between crawls, as an outlet's
pages change overnight. The figures `mediawatch stats` gives are checked against what the test
served and when it crawled."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus_data import article_page
from crawl_site import Site, nyt_states, rewrite_feed, run_crawl_cli, sources_file

from mediawatch.cli import cli

pytestmark = pytest.mark.slow  # four real crawls per backend

SLUGS = ("mubarak-is-on", "rodney-king-whose", "road-trip-helps")
CRAWLS = 4
EPOCH = "2000-01-01"


def stats_json(db_url: str, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, ["stats", "--since", EPOCH, "--json", "--db", db_url, *args])
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.output)
    return document


def test_stats_of_crawls_of_changing_pages(db_url: str, corpus: Path, site: Site, tmp_path: Path) -> None:
    # Each page shows one more state of its history at each crawl; a history shorter than the
    # crawls stays at its last state (no edit).
    histories = {f"/nyt/{slug}": nyt_states(corpus, slug)[:CRAWLS] for slug in SLUGS}
    served_edits = {
        path: sum(states[i][2].split() != states[i - 1][2].split() for i in range(1, len(states)))
        for path, states in histories.items()
    }
    assert sum(served_edits.values()) >= 4, served_edits
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    site.set("/feed.xml", rewrite_feed(corpus, site, list(histories)), content_type="application/rss+xml")
    sources = sources_file(tmp_path)

    windows: list[tuple[datetime, datetime]] = []
    for crawl in range(CRAWLS):
        for path, states in histories.items():
            site.set(path, article_page(*states[min(crawl, len(states) - 1)]))
        before = datetime.now(UTC)
        # As a nightly crawl that re-checks every known article:
        code, report, stderr = run_crawl_cli(
            db_url,
            "--sources",
            str(sources),
            "--topic",
            "none",
            "--feed",
            site.url("/feed.xml"),
            "--revisit",
            "all",
        )
        windows.append((before, datetime.now(UTC)))
        assert code == 0, stderr[-2000:]

    rows = stats_json(db_url)["rows"]
    assert isinstance(rows, list)
    total = {key: sum(row[key] for row in rows) for key in ("articles", "edited", "edits")}
    assert total == {
        "articles": len(histories),
        "edited": sum(1 for n in served_edits.values() if n),
        "edits": sum(served_edits.values()),
    }
    # Every label counted once per edit; no removal, restoration or republication was served.
    for row in rows:
        assert sum(row["first_edit_buckets"].values()) == row["edited"]
        assert row["removals"] == row["restorations"] == row["republished"] == 0
    # Each edited page changed first at the second crawl: the time from first capture to first
    # edit lies between the two crawls' windows.
    shortest = (windows[1][0] - windows[0][1]).total_seconds()
    longest = (windows[1][1] - windows[0][0]).total_seconds()
    delays = [row["median_first_edit_s"] for row in rows if row["edited"]]
    assert delays and all(shortest - 1 <= d <= longest + 1 for d in delays), (delays, shortest, longest)

    # Per day: every new article and every edit once, and no failed fetch.
    days = stats_json(db_url, "--by", "day")["rows"]
    assert isinstance(days, list)
    assert sum(row["new_articles"] for row in days) == len(histories)
    assert sum(row["edits"] for row in days) == sum(served_edits.values())
    assert sum(row["failed_fetches"] for row in days) == 0
