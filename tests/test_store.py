"""Versioning rules 1–4 on real pages from the corpus, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from corpus_data import EvalPage, eval_pages
from sqlalchemy import event, func, select

from archive import blobs
from archive.db import Archive
from archive.lookups import find_article
from archive.models import Article, ArticleStatus, Blob, ChangeKind, Fetch, FetchOutcome, Version
from archive.store import Capture, record

GUARDIAN = "theguardian.com.academics.html.gz"
URL = "https://www.theguardian.com/education/2020/jan/20/thousands-of-uk-academics-treated-as-second-class-citizens"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def guardian(corpus: Path) -> EvalPage:
    return next(p for p in eval_pages(corpus) if p.path.name == GUARDIAN)


class Counting:
    """Wraps the real extractor and counts calls: unchanged revisits must not extract."""

    def __init__(self) -> None:
        from archive.extract import extract

        self.calls = 0
        self._extract = extract

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self._extract(*args, **kwargs)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def versions(archive: Archive) -> list[Version]:
    with archive.reading() as s:
        return list(s.scalars(select(Version).order_by(Version.article_id, Version.seq)))


def test_first_fetch_archives_one_version_with_metadata(archive: Archive, guardian: EvalPage) -> None:
    result = record(archive.sessions, Capture(URL, at(0), raw=guardian.raw()))
    assert result.outcome == FetchOutcome.NEW_VERSION and result.new_article
    [v] = versions(archive)
    assert v.seq == 1 and v.change_kind == ChangeKind.FIRST
    assert v.title == "Thousands of UK academics 'treated as second-class citizens'"
    assert v.byline == "Richard Adams"
    assert v.published and v.published.startswith("2020-01-20")
    assert "second-class citizens on precarious contracts" in v.text
    with archive.reading() as s:
        assert blobs.get_blob(s, v.blob_sha256) == guardian.raw()  # type: ignore[arg-type]


def test_the_writers_objects_are_the_rows_it_wrote(archive: Archive, guardian: EvalPage) -> None:
    # The writer inserts a new article's and a new version's rows on the connection and keeps
    # objects for them in the session (archive.db.attach_inserted). Later rules of the same
    # transaction read those objects: each must say what its row says, column for column.
    # (Held here: the session keeps an unchanged object only as long as someone refers to it.)
    from archive.store import record_fetch

    with archive.transaction() as session:
        attached: list[Any] = []
        event.listen(session, "detached_to_persistent", lambda _session, obj: attached.append(obj))
        result = record_fetch(session, Capture(URL, at(0), raw=guardian.raw()))
        session.flush()
        held = {type(obj): {c.key: getattr(obj, c.key) for c in obj.__table__.columns} for obj in attached}
        stored = {
            model: dict(session.connection().execute(select(model.__table__)).one()._mapping)
            for model in (Article, Version)
        }
    assert held == stored
    assert held[Article]["id"] == result.article_id
    assert held[Article]["version_count"] == 1 and held[Article]["last_checked"] == at(0)
    assert held[Version]["seq"] == 1 and held[Version]["change_kind"] == ChangeKind.FIRST


def test_byte_identical_revisit_is_unchanged_without_extraction(archive: Archive, guardian: EvalPage) -> None:
    counting = Counting()
    raw = guardian.raw()
    record(archive.sessions, Capture(URL, at(0), raw=raw), extractor=counting)
    assert counting.calls == 1
    for hour in (1, 2, 3):
        result = record(archive.sessions, Capture(URL, at(hour), raw=raw), extractor=counting)
        assert result.outcome == FetchOutcome.UNCHANGED
    assert counting.calls == 1, "an unchanged page must never reach the extractor"
    [v] = versions(archive)
    assert v.last_seen == at(3) and v.first_seen == at(0)
    with archive.reading() as s:
        assert s.scalar(select(func.count()).select_from(Fetch)) == 4
        assert s.scalar(select(func.count()).select_from(Blob)) == 1


def test_not_modified_confirms_latest_version(archive: Archive, guardian: EvalPage) -> None:
    counting = Counting()
    record(archive.sessions, Capture(URL, at(0), raw=guardian.raw(), etag='"abc"'), extractor=counting)
    result = record(archive.sessions, Capture(URL, at(5), status=304), extractor=counting)
    assert result.outcome == FetchOutcome.NOT_MODIFIED and counting.calls == 1
    [v] = versions(archive)
    assert v.last_seen == at(5)
    with archive.reading() as s:
        assert s.scalar(select(Article.etag)) == '"abc"'


def test_one_changed_word_is_an_edit_and_boilerplate_is_not(archive: Archive, guardian: EvalPage) -> None:
    raw = guardian.raw()
    record(archive.sessions, Capture(URL, at(0), raw=raw))
    # Bytes change outside the article (a cache-busting token): extraction runs, no version.
    noisy = raw.replace(b"</body>", b"<div class='ad'>token 83749283</div></body>")
    assert record(archive.sessions, Capture(URL, at(1), raw=noisy)).outcome == FetchOutcome.UNCHANGED
    edited = raw.replace(b"pool of low-paid staff", b"pool of poorly paid staff")
    assert edited != raw
    result = record(archive.sessions, Capture(URL, at(2), raw=edited))
    assert result.outcome == FetchOutcome.NEW_VERSION and result.change_kind == ChangeKind.TEXT
    v1, v2 = versions(archive)
    assert (v1.seq, v2.seq) == (1, 2)
    assert "poorly paid" in v2.text and "poorly paid" not in v1.text
    assert v1.last_seen == at(1)


def test_title_change_is_a_metadata_version(archive: Archive, guardian: EvalPage) -> None:
    raw = guardian.raw()
    record(archive.sessions, Capture(URL, at(0), raw=raw))
    retitled = raw.replace(b"second-class citizens'", b"second-class staff'").replace(
        b"second-class citizens&#x27;", b"second-class staff&#x27;"
    )
    result = record(archive.sessions, Capture(URL, at(1), raw=retitled))
    v1, v2 = versions(archive)
    if v1.title == v2.title:  # the headline was not in the bytes we replaced
        pytest.fail(f"headline not edited: {v2.title!r}")
    assert result.change_kind in (ChangeKind.METADATA, ChangeKind.TEXT)


def test_whitespace_and_zero_width_changes_are_not_edits(archive: Archive, guardian: EvalPage) -> None:
    raw = guardian.raw()
    record(archive.sessions, Capture(URL, at(0), raw=raw))
    reflowed = raw.replace(b"pool of low-paid", b"pool   of\n low-paid").replace(
        b"Thousands of academic", "Thousands\u200b of academic".encode()
    )
    assert record(archive.sessions, Capture(URL, at(1), raw=reflowed)).outcome == FetchOutcome.UNCHANGED
    assert len(versions(archive)) == 1


def test_removed_then_restored(archive: Archive, guardian: EvalPage) -> None:
    raw = guardian.raw()
    record(archive.sessions, Capture(URL, at(0), raw=raw))
    assert record(archive.sessions, Capture(URL, at(1), status=410)).outcome == FetchOutcome.REMOVED
    assert record(archive.sessions, Capture(URL, at(2), status=404)).outcome == FetchOutcome.REMOVED
    with archive.reading() as s:
        assert s.scalar(select(Article.status)) == ArticleStatus.REMOVED
    result = record(archive.sessions, Capture(URL, at(3), raw=raw))
    assert result.change_kind == ChangeKind.RESTORED
    kinds = [v.change_kind for v in versions(archive)]
    assert kinds == [ChangeKind.FIRST, ChangeKind.REMOVED, ChangeKind.RESTORED]


def test_server_errors_and_timeouts_never_mean_removed(archive: Archive, guardian: EvalPage) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian.raw()))
    assert record(archive.sessions, Capture(URL, at(1), status=503)).outcome == FetchOutcome.ERROR
    assert (
        record(archive.sessions, Capture(URL, at(2), status=None, error="timeout")).outcome
        == FetchOutcome.ERROR
    )
    assert [v.change_kind for v in versions(archive)] == [ChangeKind.FIRST]


CONSENT_WALL = b"""<html><head><title>Before you continue</title></head><body><main>
<h1>We value your privacy</h1><p>We use cookies and similar technologies to deliver our
services. Accept all cookies or manage your consent in the cookie settings.</p>
<button>Accept all cookies</button></main></body></html>"""


def test_consent_wall_is_suspect_not_a_version(archive: Archive, guardian: EvalPage) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian.raw()))
    result = record(archive.sessions, Capture(URL, at(1), raw=CONSENT_WALL))
    assert result.outcome == FetchOutcome.SUSPECT
    assert len(versions(archive)) == 1
    # Seen first, a wall creates no article at all.
    other = record(archive.sessions, Capture("https://example.org/wall", at(1), raw=CONSENT_WALL))
    assert other.outcome == FetchOutcome.SUSPECT and other.article_id is None


def test_collapsed_extraction_is_suspect(archive: Archive, guardian: EvalPage) -> None:
    raw = guardian.raw()
    record(archive.sessions, Capture(URL, at(0), raw=raw))
    head, _, _ = raw.partition(b"claims institutions have created")
    stub = head + b"</p></div></body></html>"
    result = record(archive.sessions, Capture(URL, at(1), raw=stub))
    assert result.outcome == FetchOutcome.SUSPECT, result
    assert len(versions(archive)) == 1


def test_alias_urls_find_the_same_article(archive: Archive, guardian: EvalPage) -> None:
    record(archive.sessions, Capture(URL + "?utm_source=twitter#comments", at(0), raw=guardian.raw()))
    with archive.reading() as s:
        for variant in (URL, URL.replace("https://www.", "HTTPS://WWW."), URL + "?fbclid=x", URL + "/"):
            article = find_article(s, variant)
            assert article is not None and article.canonical_url == URL


def test_different_pages_are_different_articles(archive: Archive, corpus: Path) -> None:
    pages = [p for p in eval_pages(corpus) if p.url and p.url.startswith("https://www.")][:5]
    for page in pages:
        record(archive.sessions, Capture(page.url, at(0), raw=page.raw()))  # type: ignore[arg-type]
    with archive.reading() as s:
        assert s.scalar(select(func.count()).select_from(Fetch)) == 5
        articles = s.scalar(select(func.count()).select_from(Article))
    assert articles is not None and 1 <= articles <= 5
