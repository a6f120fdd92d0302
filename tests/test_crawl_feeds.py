"""Unchanged feeds: a conditional request, a 304 or the same bytes, and no parse (real crawls).

Each crawl runs ``mediawatch crawl`` in its own process against tests/crawl_site.py serving real
trafilatura-evaldata pages behind the real Washington Post feed (links rewritten). Whether the
feed was parsed is read from the crawl's own counters (``feeds_unchanged``); what was archived
from the database, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from crawl_site import CorpusPage, Site, healthy_pages, rewrite_feed, run_crawl_cli, sources_file
from sqlalchemy import func, select, update

from archive.db import Archive
from archive.models import Article, FeedMemory
from crawler.discovery import links_from_json

pytestmark = pytest.mark.slow  # real crawls

FEED = "/feed.xml"
SERVER_ERROR = b"<html><body><h1>Internal Server Error</h1></body></html>"


@pytest.fixture(scope="module")
def pages(corpus: Path) -> list[CorpusPage]:
    return healthy_pages(corpus, 3)


def _crawl(db_url: str, site: Site, tmp_path: Path) -> tuple[int, dict[str, int], dict[str, Any]]:
    code, report, err = run_crawl_cli(
        db_url, "--sources", str(sources_file(tmp_path)), "--topic", "none", "--feed", site.url(FEED)
    )
    assert report, err
    return code, report["counters"], report


def _serve_feed(site: Site, corpus: Path, pages: list[CorpusPage]) -> bytes:
    body = rewrite_feed(corpus, site, [p.path for p in pages])
    site.set(FEED, body, content_type="application/rss+xml")
    return body


def _memory(archive: Archive, site: Site) -> FeedMemory:
    with archive.reading() as session:
        row = session.scalar(select(FeedMemory).where(FeedMemory.url == site.url(FEED)))
    assert row is not None
    return row


def _archived(archive: Archive, site: Site, page: CorpusPage) -> bool:
    with archive.reading() as session:
        url = site.url(page.path)
        return session.scalar(select(func.count()).where(Article.canonical_url == url)) == 1


def _kept_urls(row: FeedMemory) -> list[str]:
    links = links_from_json(row.links)
    assert links is not None
    return [link.url for link in links]


def test_feed_answered_304_is_not_parsed_and_a_link_that_failed_is_fetched_again(
    db_url: str, site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    working, failing = pages[0], pages[1]
    site.set(working.path, working.raw)
    site.set(failing.path, SERVER_ERROR, status=500)
    _serve_feed(site, corpus, [working, failing])
    archive = Archive(db_url)

    # 1. The feed is parsed; one article archived, the other link fails (HTTP 500).
    code, c, report = _crawl(db_url, site, tmp_path)
    assert code == 0, report
    assert c["new_articles"] == 1 and c["failed"] == 1
    assert c.get("feeds_unchanged", 0) == 0
    assert _archived(archive, site, working) and not _archived(archive, site, failing)
    row = _memory(archive, site)
    assert row.etag == site.etag(FEED)
    assert _kept_urls(row) == [site.url(working.path), site.url(failing.path)]

    # 2. The site is fixed; the feed itself has not changed: a conditional request, a 304, no
    # parse, and the link that failed is still tried again (and archived), the known one skipped.
    site.set(failing.path, failing.raw)
    code, c, report = _crawl(db_url, site, tmp_path)
    assert code == 0, report
    assert site.conditional_hits[FEED] == 1
    assert c["feeds_unchanged"] == 1 and c["feeds_ok"] == 1
    assert report["failures"] == {} and report["sources_failed"] == []
    assert c["new_articles"] == 1 and c["already_known"] == 1
    assert _archived(archive, site, failing)
    assert site.hits[working.path] == 1  # known: not fetched from the feed again
    archive.close()


def test_same_feed_bytes_without_validators_are_not_parsed_and_a_changed_feed_is(
    db_url: str, site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    site.conditional = False  # no ETag, no Last-Modified, never a 304
    for page in pages:
        site.set(page.path, page.raw)
    body = _serve_feed(site, corpus, pages[:2])
    archive = Archive(db_url)

    code, c, report = _crawl(db_url, site, tmp_path)
    assert code == 0, report
    assert c["new_articles"] == 2
    row = _memory(archive, site)
    assert (row.etag, row.last_modified) == (None, None)
    assert row.body_sha256 == hashlib.sha256(body).hexdigest()

    # 2. The same bytes again (a plain 200): not parsed, the same links known, nothing new.
    code, c, report = _crawl(db_url, site, tmp_path)
    assert code == 0, report
    assert site.hits[FEED] == 2
    assert c["feeds_unchanged"] == 1 and c["feeds_ok"] == 1
    assert c["already_known"] == 2 and c.get("new_articles", 0) == 0
    with archive.reading() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 2

    # 3. An unusable feed is a failed source as before, and what the last good parse kept stays.
    site.set(FEED, b"<html><body><p>We are down for maintenance.</p></body></html>")
    code, c, report = _crawl(db_url, site, tmp_path)
    assert code == 5, report  # every source failed
    assert report["sources_failed"] == [f"feed {site.url(FEED)}"]
    assert c.get("feeds_unchanged", 0) == 0
    assert _memory(archive, site).body_sha256 == row.body_sha256

    # 4. A changed feed (one more item) is parsed, its new article archived, and kept instead.
    changed = _serve_feed(site, corpus, pages)
    code, c, report = _crawl(db_url, site, tmp_path)
    assert code == 0, report
    assert c.get("feeds_unchanged", 0) == 0 and c["feeds_ok"] == 1
    assert c["new_articles"] == 1 and c["already_known"] == 2
    assert _archived(archive, site, pages[2])
    row = _memory(archive, site)
    assert row.body_sha256 == hashlib.sha256(changed).hexdigest()
    assert _kept_urls(row) == [site.url(p.path) for p in pages]
    archive.close()


def test_unreadable_kept_links_mean_an_unconditional_fetch_and_a_parse(
    db_url: str, site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    for page in pages[:2]:
        site.set(page.path, page.raw)
    _serve_feed(site, corpus, pages[:2])
    archive = Archive(db_url)
    code, c, report = _crawl(db_url, site, tmp_path)
    assert code == 0, report
    assert c["new_articles"] == 2

    # The kept row is damaged: one link that is no longer an http(s) URL spoils the whole row.
    damaged = '[["file:///etc/passwd", null, null]]'
    with archive.transaction() as session:
        session.execute(update(FeedMemory).values(links=damaged))
    code, c, report = _crawl(db_url, site, tmp_path)
    assert code == 0, report
    assert site.conditional_hits[FEED] == 0  # no validators sent: the feed is fetched in full
    assert c.get("feeds_unchanged", 0) == 0 and c["feeds_ok"] == 1
    assert c["already_known"] == 2 and report["failures"] == {}
    assert _kept_urls(_memory(archive, site)) == [site.url(p.path) for p in pages[:2]]
    archive.close()
