"""Re-extract stored raw HTML with the current extractor and normaliser.

When trafilatura or our normalisation is upgraded, the same bytes may yield different text; the
next revisit would then look like an edit. ``rederive`` re-extracts every version that has its
raw bytes (``blob_sha256``) and, where the article's current version now derives differently,
appends a version of kind ``rederived`` (flags ``rederived-from:N`` and the extractor) so later
checks are compared with what the current extractor makes of the page. It is never an edit:
``last_changed`` is not touched and the diff viewer shows the kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only, sessionmaker

from archive import dedup
from archive.blobs import get_blob, get_blobs
from archive.bulk import Ahead, Batches
from archive.derive import Derived, Prepared, prepare
from archive.extract import Extracted, extract
from archive.lookups import current_version, find_article, in_chunks
from archive.models import Article, ChangeKind, Fetch, Version
from archive.store import (
    State,
    _add_version,
    _lock_article,
    _state,
    _version_state,
    extraction_flags,
    utcnow,
)
from archive.volatile import key_text
from archive.warcrecords import header

logger = logging.getLogger(__name__)


@dataclass
class RederiveSummary:
    articles: int = 0
    versions_checked: int = 0
    versions_differing: int = 0  # stored versions the current extractor reads differently
    recorded: int = 0  # re-derivation versions appended (one per article whose current state moved)
    without_raw: int = 0  # versions with no stored raw bytes (imported text) cannot be re-derived
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def add(self, other: RederiveSummary) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


def stored_content_types(session: Session, article_ids: Sequence[int]) -> dict[tuple[int, str], str]:
    """The Content-Type each stored page of these articles (by article id and raw digest) was
    fetched with: its charset decides how the bytes read, at the crawl as here. Fetches recorded
    before it was kept have none (their bytes are read by what they declare themselves); a later
    fetch of the same bytes that has one is used. (A missing header list is stored as JSON
    ``null``, not SQL NULL, so the rows are sorted out here, not by the query.)"""
    rows = session.execute(
        select(Fetch.article_id, Fetch.raw_sha256, Fetch.http_headers)
        .where(Fetch.article_id.in_(article_ids), Fetch.raw_sha256.is_not(None))
        .order_by(Fetch.id)
    )
    found: dict[tuple[int, str], str] = {}
    for article_id, digest, headers in rows:
        content_type = header(headers, "content-type")
        if (
            article_id is not None
            and digest is not None
            and content_type
            and (article_id, digest) not in found
        ):
            found[(article_id, digest)] = content_type
    return found


def rederive_article(
    session: Session,
    article_id: int,
    *,
    extractor: Callable[..., Extracted] = extract,
    at: datetime | None = None,
    summary: RederiveSummary | None = None,
    prepared: Mapping[int, Prepared] | None = None,
) -> RederiveSummary:
    """Re-derive one article inside the caller's transaction.

    ``prepared``: versions already re-extracted (by version id, see :func:`rederive`); the others
    are re-extracted here.
    """
    summary = summary if summary is not None else RederiveSummary()
    at = at or utcnow()
    article = _lock_article(session, article_id)
    summary.articles += 1
    current = current_version(session, article)
    derived_current: tuple[Extracted, str, Derived | None] | None = None
    content_types: dict[tuple[int, str], str] | None = None
    for version in session.scalars(
        select(Version).where(Version.article_id == article.id).order_by(Version.seq)
    ):
        if version.change_kind == ChangeKind.REMOVED:
            continue
        if version.blob_sha256 is None:
            summary.without_raw += 1
            continue
        ready = prepared.get(version.id) if prepared is not None else None
        if ready is None:
            raw = get_blob(session, version.blob_sha256)
            if raw is None:
                summary.without_raw += 1
                continue
            if content_types is None:
                content_types = stored_content_types(session, [article.id])
            content_type = content_types.get((article.id, version.blob_sha256))
            ready = prepare(raw, article.canonical_url, content_type, extractor=extractor)
        key = _compare(summary, ready, _version_state(version))
        if ready.extracted is None:
            logger.warning(
                "re-extracting version %s of %s failed: %s", version.seq, article.canonical_url, ready.error
            )
        elif key is not None and current is not None and version.id == current.id:
            derived_current = (ready.extracted, key, ready.derived)
    if derived_current is not None and current is not None:
        extracted, key, derived = derived_current
        flags = [
            f"rederived-from:{current.seq}",
            f"extractor:{extracted.extractor}"[:64],
            *extraction_flags(extracted),
        ]
        version = _add_version(
            session, article, extracted, ChangeKind.REDERIVED, at, current.blob_sha256, flags, key=key
        )
        version.first_seen = max(at, current.last_seen)
        version.last_seen = version.first_seen
        article.current_seq = None
        dedup.index_version(
            session, article, version, key, precomputed=derived.dedup_for(key) if derived else None
        )
        summary.recorded += 1
    return summary


# Articles read per round trip while reading what to re-extract.
READ_CHUNK = 16


@dataclass
class StoredArticle:
    """What the re-extraction of one article is compared with, read before anything is written:
    the state (``store._version_state``) of each version whose page is stored, by version id,
    and the number of versions whose bytes are not stored."""

    article_id: int
    canonical_url: str
    current_id: int | None
    states: dict[int, State]
    without_raw: int = 0


# A stored page to re-extract: (version id, raw bytes, the Content-Type it was fetched with).
StoredPage = tuple[int, bytes, str | None]


def stored_articles(
    session: Session, article_ids: Sequence[int]
) -> list[tuple[StoredArticle, list[StoredPage]]]:
    """The articles ``article_ids`` (in id order), each with its stored pages, in a fixed number
    of queries."""
    articles = list(session.scalars(select(Article).where(Article.id.in_(article_ids)).order_by(Article.id)))
    versions: dict[int, list[Version]] = {article.id: [] for article in articles}
    for version in session.scalars(
        select(Version)
        .options(load_only(*_STATE_COLUMNS))
        .where(Version.article_id.in_(article_ids))
        .order_by(Version.article_id, Version.seq)
    ):
        versions[version.article_id].append(version)
    digests = {v.blob_sha256 for vs in versions.values() for v in vs if v.blob_sha256}
    raws = get_blobs(session, list(digests))
    content_types = stored_content_types(session, article_ids)
    found = []
    for article in articles:
        mine = versions[article.id]
        current = _current_of(article, mine)
        stored = StoredArticle(article.id, article.canonical_url, current.id if current else None, {})
        pages: list[StoredPage] = []
        for version in mine:
            if version.change_kind == ChangeKind.REMOVED:
                continue
            digest = version.blob_sha256
            raw = raws.get(digest) if digest is not None else None
            if digest is None or raw is None:
                stored.without_raw += 1
                continue
            content_type = content_types.get((article.id, digest))
            stored.states[version.id] = _version_state(version)
            pages.append((version.id, raw, content_type))
        found.append((stored, pages))
    return found


_STATE_COLUMNS = (
    Version.id,
    Version.article_id,
    Version.seq,
    Version.change_kind,
    Version.blob_sha256,
    Version.text_sha256,
    Version.title,
    Version.byline,
    Version.published,
    Version.modified,
    Version.flags,
)


def _current_of(article: Article, versions: list[Version]) -> Version | None:
    """``lookups.current_version`` of an article whose versions (in order) are at hand."""
    if article.current_seq is not None:
        for version in versions:
            if version.seq == article.current_seq:
                return version
    return versions[-1] if versions else None


def settled(stored: StoredArticle, ready: Mapping[int, Prepared]) -> RederiveSummary | None:
    """The article's counts when its current version reads as it is stored (nothing to
    record, so nothing to write), else None: the article is then re-derived under its lock."""
    summary = RederiveSummary(articles=1, without_raw=stored.without_raw)
    for version_id, state in stored.states.items():
        prepared = ready.get(version_id)
        if prepared is None:
            return None
        if _compare(summary, prepared, state) is not None and version_id == stored.current_id:
            return None
    for prepared in ready.values():
        if prepared.extracted is None:
            logger.warning("re-extracting a version of %s failed: %s", stored.canonical_url, prepared.error)
    return summary


def _compare(summary: RederiveSummary, prepared: Prepared, state: State) -> str | None:
    """Count one re-extracted version in ``summary``, and return the re-extraction's key text
    when it no longer reads as the version is stored (``state``), else None (a failed
    re-extraction, counted as failed, is None too)."""
    summary.versions_checked += 1
    if prepared.extracted is None:
        summary.failed += 1
        return None
    key = prepared.derived.key_for(()) or key_text(prepared.extracted.text)
    if _state(prepared.extracted, key=key) == state:
        return None
    summary.versions_differing += 1
    return key


def rederive(
    sessions: sessionmaker[Session],
    *,
    url: str | None = None,
    extractor: Callable[..., Extracted] = extract,
    at: datetime | None = None,
    executor: Any = None,
) -> RederiveSummary:
    """Re-derive one article (``url``) or every article.

    ``executor`` (a ``concurrent.futures.Executor``; None: in this process): where stored pages
    are re-extracted, in parallel (archive/bulk.py). The pages are read a few articles at a
    time and compared with their versions as they come back; only an article whose current
    version now reads differently is written (re-derived under its lock, in batched
    transactions). A custom ``extractor`` must pickle to run in another process.
    """
    summary = RederiveSummary()
    with sessions() as session:
        if url is not None:
            article = find_article(session, url)
            ids = [article.id] if article is not None else []
        else:
            ids = list(session.scalars(select(Article.id).order_by(Article.id)))
    at = at or utcnow()

    def write(session: Session, item: tuple[int, dict[int, Prepared]]) -> RederiveSummary:
        article_id, ready = item
        return rederive_article(session, article_id, extractor=extractor, at=at, prepared=ready)

    # One item per stored page, in article order; an article is compared once all of its are back.
    ahead: Ahead[tuple[StoredArticle, int | None], Prepared] = Ahead(executor)
    batches: Batches[tuple[int, dict[int, Prepared]], RederiveSummary] = Batches(sessions, write, summary.add)
    gathering: tuple[StoredArticle, dict[int, Prepared]] | None = None

    def done(stored: StoredArticle, ready: dict[int, Prepared]) -> None:
        counts = settled(stored, ready)
        if counts is None:
            batches.add((stored.article_id, ready))
        else:
            summary.add(counts)

    def take(items: Iterator[tuple[tuple[StoredArticle, int | None], Prepared | None]]) -> None:
        nonlocal gathering
        for (stored, version_id), ready in items:
            if gathering is None or gathering[0] is not stored:
                if gathering is not None:
                    done(*gathering)
                gathering = (stored, {})
            if version_id is not None and ready is not None:
                gathering[1][version_id] = ready

    for chunk in in_chunks(ids, size=READ_CHUNK):
        with sessions() as session:
            chunk_articles = stored_articles(session, chunk)
        for stored, pages in chunk_articles:
            ahead.put((stored, None))  # the article itself, even with no page to re-extract
            for version_id, raw, content_type in pages:
                args: tuple[Any, ...] = (raw, stored.canonical_url, content_type)
                if extractor is not extract:
                    args += (extractor,)
                ahead.put((stored, version_id), rederive_page, *args)
                take(ahead.ready())
    take(ahead.drain())
    if gathering is not None:
        done(*gathering)
    batches.flush()
    return summary


def rederive_page(
    raw: bytes, url: str, content_type: str | None, extractor: Callable[..., Extracted] = extract
) -> Prepared:
    """The unit of work of ``rederive`` on the executor: extract one stored page and derive its
    key text. Not its shingles, signature or compressed bytes: a page is rarely re-derived, and
    when one is, the writer derives them for that one (``dedup.index_version``)."""
    return prepare(raw, url, content_type, extractor=extractor, light=True)
