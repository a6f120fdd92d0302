"""Wayback backfill against a loopback CDX/replay server built from the real NYT CDX lines."""

from __future__ import annotations

import ipaddress
import json
import urllib.robotparser
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner
from corpus_data import fold, nyt_captures, nyt_slugs
from sqlalchemy import func, select
from test_nyt_histories import expected_versions
from wayback_site import WaybackSite, nyt_mementos, serve, surt_key

from archive.db import Archive
from archive.lookups import require_article
from archive.models import Fetch, FetchOrigin, FetchOutcome
from archive.queries import versions_of
from archive.safehttp import guarded_client
from archive.store import Capture, record
from archive.wayback import (
    Backfiller,
    BackfillError,
    BackfillSummary,
    CdxRow,
    _Polite,
    backfill,
    collapse_by_digest,
    parse_cdx,
    parse_wayback_timestamp,
)
from mediawatch.cli import cli

SLUG = "mubarak-is-on"


def ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture
def site(corpus: Path) -> Iterator[WaybackSite]:
    mementos = [m for slug in nyt_slugs(corpus) for m in nyt_mementos(corpus, slug)]
    with serve(WaybackSite(mementos)) as running:
        yield running


def versions(archive: Archive, url: str) -> list[tuple[int, datetime, str]]:
    with archive.reading() as session:
        article = require_article(session, url)
        return [(v.seq, v.first_seen, v.change_kind.value) for v in versions_of(session, article.id)]


def last_page(site: WaybackSite, url: str) -> bytes:
    return [m for m in site.mementos if m.urlkey == surt_key(url)][-1].body


def expected(corpus: Path, slug: str) -> list[datetime]:
    captures = nyt_captures(corpus, slug)
    return [ts(captures[first].fetched_at) for first, _ in expected_versions(corpus, slug)]


@pytest.mark.slow
def test_backfill_rebuilds_every_history_with_its_dates(
    archive: Archive, corpus: Path, site: WaybackSite
) -> None:
    total_lines = 0
    for slug in nyt_slugs(corpus):
        url = nyt_captures(corpus, slug)[0].url
        before = len(site.replays())
        summary = backfill(
            archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True
        )
        assert not summary.errors and not summary.skipped and not summary.notes, slug
        got = versions(archive, url)
        want = expected(corpus, slug)
        assert [first for _, first, _ in got] == want, slug
        captures = nyt_captures(corpus, slug)
        starts = [captures[first] for first, _ in expected_versions(corpus, slug)]
        kinds = ["first"] + [
            "text" if fold(new.text) != fold(old.text) else "metadata"
            for old, new in zip(starts, starts[1:], strict=False)
        ]
        assert [kind for *_, kind in got] == kinds, slug
        # Duplicates (same digest) are collapsed: one replay per distinct consecutive capture.
        assert len(site.replays()) - before == summary.listed == summary.fetched == len(want), slug
        total_lines += len(nyt_captures(corpus, slug))
    assert len(site.replays()) < total_lines / 10
    with archive.reading() as session:
        origins = set(session.scalars(select(Fetch.origin)))
    assert origins == {FetchOrigin.BACKFILL}  # marked as taken from a web archive, not observed by us
    # The archive's robots.txt was read once, before anything else.
    assert site.requests[0] == "/robots.txt"
    assert site.requests.count("/robots.txt") == len(nyt_slugs(corpus))  # once per run


def test_client_collapses_duplicates_when_the_server_does_not(
    archive: Archive, corpus: Path, site: WaybackSite
) -> None:
    site.honour_collapse = False
    url = nyt_captures(corpus, SLUG)[0].url
    summary = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    assert summary.listed == len(expected(corpus, SLUG)) == len(site.replays())
    assert [first for _, first, _ in versions(archive, url)] == expected(corpus, SLUG)


def test_backfill_is_resumable(archive: Archive, corpus: Path, site: WaybackSite) -> None:
    url = nyt_captures(corpus, SLUG)[0].url
    want = expected(corpus, SLUG)
    site.failing = {want[2].strftime("%Y%m%d%H%M%S")}
    first = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    # Stops at the failed capture, so no later capture overtakes it.
    assert first.fetched == 2 and first.skipped == {"replay HTTP 500 (resumes next run)": 1}
    assert [first for _, first, _ in versions(archive, url)] == want[:2]
    site.failing = set()
    site.requests.clear()
    second = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    assert second.already_recorded == 2 and second.fetched == len(want) - 2
    assert len(site.replays()) == len(want) - 2  # only the missing captures are fetched
    assert [first for _, first, _ in versions(archive, url)] == want
    site.requests.clear()
    third = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    assert third.fetched == 0 and third.already_recorded == len(want) and not site.replays()


def test_backfill_before_first_observation_then_crawl_continues(
    archive: Archive, corpus: Path, site: WaybackSite
) -> None:
    captures = nyt_captures(corpus, SLUG)
    url = captures[0].url
    backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    # Our own crawl later sees the last archived state again: no new version, history intact.
    page = last_page(site, url)
    result = record(
        archive.sessions,
        Capture(
            url=url,
            fetched_at=datetime(2026, 3, 1, tzinfo=UTC),
            raw=page,
            content_type="text/html; charset=utf-8",
        ),
    )
    assert result.outcome == FetchOutcome.UNCHANGED
    assert len(versions(archive, url)) == len(expected(corpus, SLUG))


def test_backfill_of_an_observed_article_keeps_older_captures_as_evidence(
    archive: Archive, corpus: Path, site: WaybackSite
) -> None:
    captures = nyt_captures(corpus, SLUG)
    url = captures[0].url
    page = last_page(site, url)
    record(
        archive.sessions,
        Capture(
            url=url,
            fetched_at=datetime(2026, 3, 1, tzinfo=UTC),
            raw=page,
            content_type="text/html; charset=utf-8",
        ),
    )
    summary = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    assert summary.new_versions == 0 and summary.fetched == len(expected(corpus, SLUG))
    assert len(versions(archive, url)) == 1
    with archive.reading() as session:
        n = session.scalar(
            select(func.count()).select_from(Fetch).where(Fetch.origin == FetchOrigin.BACKFILL)
        )
    assert n == summary.fetched


def test_since_and_all(archive: Archive, corpus: Path, site: WaybackSite) -> None:
    want = expected(corpus, SLUG)
    url = nyt_captures(corpus, SLUG)[0].url
    summary = backfill(
        archive, [url], since=want[2], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True
    )
    assert summary.fetched == len(want) - 2
    assert [first for _, first, _ in versions(archive, url)] == want[2:]
    other = nyt_captures(corpus, "activism-grows-as")[0].url
    backfill(archive, [other], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    site.requests.clear()
    everything = backfill(
        archive, [], all_articles=True, cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True
    )
    assert everything.articles == 2
    assert everything.fetched == 2  # the two captures before --since, now listed too
    assert len(versions(archive, other)) == len(expected(corpus, "activism-grows-as"))


def test_robots_txt_of_the_archive_is_honoured(archive: Archive, corpus: Path, site: WaybackSite) -> None:
    url = nyt_captures(corpus, SLUG)[0].url
    site.robots = "User-agent: *\nDisallow: /web/\n"
    summary = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    assert summary.skipped == {"disallowed by the archive's robots.txt": summary.listed}
    assert not site.replays() and summary.fetched == 0
    # RFC 9309: a robots.txt that errors means "disallow everything".
    site.robots_status = 503
    site.requests.clear()
    summary = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    assert "robots.txt" in summary.errors[0][1] and site.requests == ["/robots.txt"]
    # 429 too, as the crawler reads it (a 4xx that means "come back later", not "no rules").
    site.robots_status = 429
    site.requests.clear()
    summary = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    assert "answered HTTP 429" in summary.errors[0][1] and site.requests == ["/robots.txt"]
    # A missing robots.txt (404) allows everything.
    site.robots_status = 404
    summary = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    assert summary.fetched == summary.listed > 0


def test_robots_txt_of_the_archive_is_read_as_rfc_9309(
    archive: Archive, corpus: Path, site: WaybackSite
) -> None:
    """The crawler's parser (Protego): the longest matching rule wins, whatever the order. The
    standard library's robotparser takes the first match and would refuse every capture here."""
    url = nyt_captures(corpus, SLUG)[0].url
    site.robots = "User-agent: *\nDisallow: /web/\nAllow: /web/2012\n"
    summary = backfill(archive, [url], cdx_endpoint=site.cdx_endpoint, delay=0, allow_private_networks=True)
    in_2012 = [at for at in expected(corpus, SLUG) if at.year == 2012]
    assert 0 < summary.fetched == len(in_2012) < summary.listed
    assert summary.skipped == {"disallowed by the archive's robots.txt": summary.listed - len(in_2012)}
    assert [first for _, first, _ in versions(archive, url)] == in_2012
    assert all(path.startswith("/web/2012") for path in site.replays())
    first_match = urllib.robotparser.RobotFileParser()
    first_match.parse(site.robots.splitlines())
    assert not first_match.can_fetch("mediawatch", f"{site.base}{site.replays()[0]}")


def test_an_archive_on_this_machine_is_refused_unless_allowed(
    db_url: str, corpus: Path, site: WaybackSite
) -> None:
    """The crawler's address guard: a web archive on loopback (or a private network) is never
    asked anything without --allow-private-networks; the run fails and says how to allow it."""
    url = nyt_captures(corpus, SLUG)[0].url
    args = ["backfill", "--db", db_url, "--cdx-endpoint", site.cdx_endpoint, "--delay", "0"]
    result = CliRunner().invoke(cli, [*args, url])
    assert result.exit_code == 1, result.output
    why = (
        f"refused to fetch from {site.base}: 127.0.0.1 is loopback "
        "(pass --allow-private-networks for a web archive on this machine or network)"
    )
    assert result.stderr.splitlines() == [f"Error: {url}: {why}"]
    assert site.requests == []
    [run] = CliRunner().invoke(cli, ["runs", "--json", "--db", db_url]).stdout.splitlines()
    assert json.loads(run)["status"] == "failed" and json.loads(run)["message"] == f"{url}: {why}"


def resolving(answers: dict[str, list[str]]) -> Callable[[str, int], list[Any]]:
    """A stub DNS: each name resolves to the given addresses (the tests have no network)."""
    return lambda host, _port: [ipaddress.ip_address(a) for a in answers[host]]


def test_names_are_checked_on_every_address_they_resolve_to(
    archive: Archive, corpus: Path, site: WaybackSite
) -> None:
    url = nyt_captures(corpus, SLUG)[0].url
    port = urlsplit(site.base).port
    endpoint = f"http://archive.test:{port}/cdx/search/cdx"

    def backfill_through(answers: list[str], allow_private: bool) -> BackfillSummary | str:
        client = guarded_client(
            allow_private=allow_private, resolver=resolving({"archive.test": answers}), follow_redirects=False
        )
        backfiller = Backfiller(
            archive, cdx_endpoint=endpoint, delay=0, allow_private_networks=allow_private, client=client
        )
        summary = BackfillSummary()
        try:
            backfiller.backfill(url, summary)
        except BackfillError as exc:
            return str(exc)
        finally:
            backfiller.close()
        return summary

    hint = " (pass --allow-private-networks for a web archive on this machine or network)"
    refused = f"refused to fetch from http://archive.test:{port}: archive.test: "
    # A name that resolves to loopback is refused at connect time, before any connection.
    assert backfill_through(["127.0.0.1"], False) == refused + "127.0.0.1 is loopback" + hint
    # One forbidden address among the answers is enough (DNS rebinding picks the other one later).
    assert backfill_through(["93.184.215.14", "10.1.2.3"], False) == refused + "10.1.2.3 is private" + hint
    # The cloud-metadata endpoint stays refused even when private networks are allowed.
    assert (
        backfill_through(["169.254.169.254"], True)
        == refused + "169.254.169.254 is a cloud metadata endpoint"
    )
    assert site.requests == []
    # Allowed, the client connects to the address it checked ("archive.test" has no real DNS).
    summary = backfill_through(["127.0.0.1"], True)
    assert isinstance(summary, BackfillSummary)
    assert summary.fetched == summary.listed == len(expected(corpus, SLUG))


def test_politeness_delay_and_crawl_delay(site: WaybackSite) -> None:
    sleeps: list[float] = []
    with httpx.Client() as client:
        polite = _Polite(client, 1.0, allow_private=True, sleep=sleeps.append, monotonic=lambda: 100.0)
        for _ in range(3):
            polite.get(f"{site.base}/robots.txt", 1000)
    # robots.txt itself, then three requests, each at least 1 s after the previous one.
    assert sleeps == [1.0, 2.0, 3.0]
    site.robots = "User-agent: *\nCrawl-delay: 5\nAllow: /\n"
    sleeps.clear()
    with httpx.Client() as client:
        polite = _Polite(client, 1.0, allow_private=True, sleep=sleeps.append, monotonic=lambda: 100.0)
        polite.get(f"{site.base}/cdx/search/cdx?url=x", 1000)
        polite.get(f"{site.base}/cdx/search/cdx?url=x", 1000)
    assert sleeps == [1.0, 6.0]


def test_rate_limited_archive_stops_the_run(archive: Archive, corpus: Path, tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class TooMany(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(404 if self.path == "/robots.txt" else 429)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), TooMany)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/cdx/search/cdx"
        urls = [nyt_captures(corpus, slug)[0].url for slug in nyt_slugs(corpus)[:3]]
        summary = backfill(archive, urls, cdx_endpoint=endpoint, delay=0, allow_private_networks=True)
    finally:
        server.shutdown()
        server.server_close()
    assert len(summary.errors) == 1 and "rate limited" in summary.errors[0][1]
    assert len([h for h in hits if h != "/robots.txt"]) == 1  # stopped at the first 429


def test_parse_cdx_forms_and_collapse() -> None:
    rows = parse_cdx(
        b'[["timestamp","original","mimetype","statuscode","digest"],'
        b'["20120620031328","http://a/","text/html","200","X"],["bad","http://a/","text/html","200","Y"]]'
    )
    assert rows == [CdxRow("20120620031328", "http://a/", "text/html", "200", "X")]
    text = parse_cdx(
        b"com,a)/ 20120620031328 http://a/ text/html 200 X 100\ncom,a)/ 2012062003 http://a/ "
        b"text/html 200 X 100\n\ngarbage\n"
    )
    assert [r.timestamp for r in text] == ["20120620031328", "2012062003"]
    assert collapse_by_digest(text) == text[:1]
    assert parse_wayback_timestamp("2012") == datetime(2012, 1, 1, tzinfo=UTC)
    assert parse_cdx(b"[]") == []


def test_cli_backfill(db_url: str, corpus: Path, site: WaybackSite) -> None:
    url = nyt_captures(corpus, SLUG)[0].url
    runner = CliRunner()
    args = [
        "backfill",
        "--db",
        db_url,
        "--cdx-endpoint",
        site.cdx_endpoint,
        "--delay",
        "0",
        "--allow-private-networks",
    ]
    result = runner.invoke(cli, [*args, url])
    assert result.exit_code == 0, result.output
    n = len(expected(corpus, SLUG))
    assert (
        f"1 articles, {n} captures listed, 0 already recorded, {n} fetched: 1 new articles, {n} new versions"
        in (result.stdout)
    )
    result = runner.invoke(cli, [*args, "--json", "--all"])
    assert json.loads(result.stdout)["already_recorded"] == n
    # The id `articles` shows is taken as the URL is.
    result = runner.invoke(cli, [*args, "--json", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["already_recorded"] == n
    result = runner.invoke(cli, [*args, "99"])
    assert result.exit_code == 4 and "no archived article with id 99" in result.stderr
    result = runner.invoke(cli, ["backfill", "--db", db_url])
    assert result.exit_code == 2 and "--all" in result.stderr


def test_backfiller_rejects_non_http_endpoints(archive: Archive) -> None:
    from archive.errors import InputError

    with pytest.raises(InputError):
        Backfiller(archive, cdx_endpoint="file:///etc/passwd")
    summary = BackfillSummary()
    assert summary.as_dict()["fetched"] == 0
