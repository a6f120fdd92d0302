"""A crawl's batch of checks (``record_batch``) archives exactly what recording them one by one does.

The crawl's writer records the captures that arrive together in one transaction; unchanged
revisits (304, the same raw bytes) share its look-ups and their fetch rows are inserted
together. Whatever the mix, the archive must end up row for row as if each capture had been
recorded on its own, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import fresh_postgres_url
from corpus_data import eval_pages
from sqlalchemy import event, select

from archive.db import Archive
from archive.extract import extract
from archive.models import Base, Fetch, FetchOutcome, Version
from archive.store import Capture, RecordResult, record, record_batch

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SITE = "https://news.example.org/2026/03/"
PAGES = (
    "theguardian.com.academics.html.gz",
    "bbc.com.52241221.html.gz",
    "tagesspiegel.de.abstandsregeln.html.gz",
    "nytimes.com.blackouts.html.gz",
)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture(scope="module")
def pages(corpus: Path) -> list[bytes]:
    by_name = {p.path.name: p for p in eval_pages(corpus)}
    return [by_name[name].raw() for name in PAGES]


@pytest.fixture
def twin(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Archive:
    """A second fresh archive on the same backend as ``archive``."""
    if db_url.startswith("sqlite"):
        path = tmp_path / "twin.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = fresh_postgres_url(server, request.getfixturevalue("postgres_template"))
    opened = Archive(url)
    request.addfinalizer(opened.close)
    return opened


def seed(archive: Archive, pages: list[bytes]) -> None:
    for name, raw in zip("abcd", pages, strict=True):
        result = record(archive.sessions, Capture(SITE + name, at(0), raw=raw, etag=f'"{name}"'))
        assert result.outcome == FetchOutcome.NEW_VERSION


def edited(raw: bytes) -> bytes:
    """The page with one sentence of its article text changed: a real edit."""
    text = extract(raw).text
    sentence = next(s for s in text.split(". ") if len(s) > 60 and s.encode() in raw)
    return raw.replace(sentence.encode(), sentence.encode() + b" The minister later denied this")


def mixed_batch(pages: list[bytes]) -> list[Capture]:
    a, b, c, d = (SITE + name for name in "abcd")
    new = SITE + "e"
    return [
        Capture(a, at(1), status=304, etag='"a"'),
        Capture(b, at(1), raw=pages[1]),  # byte-identical
        Capture(c, at(1), raw=edited(pages[2])),  # a new version...
        Capture(c, at(1.5), status=304, etag='"c2"'),  # ...which this 304 confirms
        Capture(new, at(1), raw=pages[3]),  # a new article (d's page republished)
        Capture(SITE + "never-archived", at(1), status=304),  # an error: 304 for an unknown URL
        Capture(b, at(2), raw=pages[1]),  # the same article twice in one batch
        Capture(d, at(1), status=404),  # a removal, not yet confirmed
        Capture(a, at(2), status=None, error="timeout"),
        Capture(new, at(2), raw=pages[3]),  # the article created in this batch, unchanged
        Capture(SITE + "old-path", at(2), raw=pages[0], final_url=a),  # redirected to a, same bytes
        Capture("not a url", at(2), status=304),  # skipped
        Capture(b, at(-1), raw=pages[1]),  # older than b's history
        Capture(a, at(3), status=304, etag='"a"'),
        Capture(new + "?utm_source=rss", at(3), raw=pages[3]),  # the new article, by another URL
    ]


@contextmanager
def statements_run(archive: Archive) -> Iterator[list[str]]:
    """The SQL statements the archive's engine runs inside the block, in order."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(archive.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(archive.engine, "before_cursor_execute", count)


def dump(archive: Archive) -> dict[str, list[Any]]:
    """Every row of every table, in primary-key order."""
    with archive.reading() as session:
        return {
            table.name: [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))]
            for table in Base.metadata.sorted_tables
        }


def test_a_mixed_batch_archives_the_same_rows_as_one_by_one(
    archive: Archive, twin: Archive, pages: list[bytes]
) -> None:
    seed(archive, pages)
    seed(twin, pages)
    captures = mixed_batch(pages)
    one_by_one = [record(archive.sessions, capture) for capture in captures]
    with twin.sessions.begin() as session:
        batched = record_batch(session, [(capture, extract) for capture in captures])
    assert batched == one_by_one
    outcomes = [r.outcome for r in batched]
    assert outcomes[:6] == [
        FetchOutcome.NOT_MODIFIED,
        FetchOutcome.UNCHANGED,
        FetchOutcome.NEW_VERSION,
        FetchOutcome.NOT_MODIFIED,
        FetchOutcome.NEW_VERSION,
        FetchOutcome.ERROR,
    ]
    assert batched[3].article_id == batched[2].article_id and batched[4].new_article
    assert batched[-1].article_id == batched[4].article_id and batched[-1].outcome == FetchOutcome.UNCHANGED
    assert all(r.fetch_id is not None for r in batched if r.outcome != FetchOutcome.SKIPPED)
    assert dump(twin) == dump(archive)


def test_unchanged_revisits_cost_a_few_statements_per_batch(archive: Archive, pages: list[bytes]) -> None:
    """Forty unchanged revisits (304s and identical bytes) in one batch: the look-ups and the
    updates once for the batch, not a few queries and a flush per page."""
    seed(archive, pages)
    captures = [
        Capture(SITE + name, at(hour), status=304) if hour % 2 else Capture(SITE + name, at(hour), raw=raw)
        for hour in range(1, 11)
        for name, raw in zip("abcd", pages, strict=True)
    ]
    with statements_run(archive) as statements, archive.sessions.begin() as session:
        results: list[RecordResult] = record_batch(session, [(c, extract) for c in captures])
    assert {r.outcome for r in results} == {FetchOutcome.NOT_MODIFIED, FetchOutcome.UNCHANGED}
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(selects) <= 3, selects  # articles, aliases, versions: for the whole batch
    assert len(updates) <= 4, updates  # (executemany) articles' check times, versions' last_seen
    assert len(inserts) <= len(captures), inserts  # the fetch rows, together where the backend can
    with archive.reading() as session:
        assert len(session.scalars(select(Fetch.id)).all()) == 4 + 40
        last_seen = {v.article_id: v.last_seen for v in session.scalars(select(Version))}
    assert set(last_seen.values()) == {at(10)}


def test_a_batch_of_new_articles_looks_up_their_urls_once(
    archive: Archive, twin: Archive, pages: list[bytes]
) -> None:
    """New pages arriving together (a crawl's first run): their URLs are looked up once for the
    batch, not twice per page, and the batch still archives what recording each alone does,
    also a later capture of a page the batch just archived, under a tracking-parameter URL."""
    captures = [Capture(f"{SITE}new/{i}", at(1), raw=raw) for i, raw in enumerate(pages)]
    captures.append(Capture(f"{SITE}new/0?utm_medium=feed", at(2), raw=pages[0]))
    one_by_one = [record(archive.sessions, capture) for capture in captures]
    with statements_run(twin) as statements, twin.sessions.begin() as session:
        batched = record_batch(session, [(capture, extract) for capture in captures])
    assert batched == one_by_one
    assert [r.new_article for r in batched] == [True] * len(pages) + [False]
    assert batched[-1].article_id == batched[0].article_id and batched[-1].outcome == FetchOutcome.UNCHANGED
    looked_up = [s for s in statements if "FROM article" in s and "canonical_url IN" in s]
    # Once for the batch, and once again for the last capture: its URL is the first one's.
    assert len(looked_up) == 2, looked_up
    # The new articles' version counts and check times are written a few together (when the
    # last capture is looked up again, at commit), not one article at a time as each new
    # version is indexed for republications.
    article_updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE ARTICLE ")]
    assert len(article_updates) < len(pages), article_updates
    assert dump(twin) == dump(archive)
