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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import dedup
from archive.blobs import get_blob
from archive.bulk import Ahead, Batches, prepare_capture
from archive.derive import Derived, Prepared, prepare
from archive.extract import Extracted, extract
from archive.lookups import current_version, find_article
from archive.models import Article, ChangeKind, Fetch, Version
from archive.store import (
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


def stored_content_types(session: Session, article_id: int) -> dict[str, str]:
    """The Content-Type each of an article's stored pages (by raw digest) was fetched with: its
    charset decides how the bytes read, at the crawl as here. Fetches recorded before it was kept
    have none (their bytes are read by what they declare themselves); a later fetch of the same
    bytes that has one is used. (A missing header list is stored as JSON ``null``, not SQL NULL,
    so the rows are sorted out here, not by the query.)"""
    rows = session.execute(
        select(Fetch.raw_sha256, Fetch.http_headers)
        .where(Fetch.article_id == article_id, Fetch.raw_sha256.is_not(None))
        .order_by(Fetch.id)
    )
    found: dict[str, str] = {}
    for digest, headers in rows:
        content_type = header(headers, "content-type")
        if digest is not None and content_type and digest not in found:
            found[digest] = content_type
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
    content_types: dict[str, str] | None = None
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
                content_types = stored_content_types(session, article.id)
            content_type = content_types.get(version.blob_sha256)
            ready = prepare(raw, article.canonical_url, content_type, extractor=extractor)
        summary.versions_checked += 1
        extracted = ready.extracted
        if extracted is None:
            logger.warning(
                "re-extracting version %s of %s failed: %s", version.seq, article.canonical_url, ready.error
            )
            summary.failed += 1
            continue
        key = ready.derived.key_for(()) or key_text(extracted.text)
        if _state(extracted, key=key) != _version_state(version):
            summary.versions_differing += 1
            if current is not None and version.id == current.id:
                derived_current = (extracted, key, ready.derived)
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
    are re-extracted, in parallel (archive/bulk.py); articles are written in batched
    transactions. A custom ``extractor`` must pickle to run in another process.
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

    # One item per stored page, in article order; an article is written once all of its are back.
    ahead: Ahead[tuple[int, int | None], Prepared] = Ahead(executor)
    batches: Batches[tuple[int, dict[int, Prepared]], RederiveSummary] = Batches(sessions, write, summary.add)
    gathering: tuple[int, dict[int, Prepared]] | None = None

    def take(items: Iterator[tuple[tuple[int, int | None], Prepared | None]]) -> None:
        nonlocal gathering
        for (article_id, version_id), ready in items:
            if gathering is None or gathering[0] != article_id:
                if gathering is not None:
                    batches.add(gathering)
                gathering = (article_id, {})
            if version_id is not None and ready is not None:
                gathering[1][version_id] = ready

    for article_id in ids:
        with sessions() as session:
            canonical = session.scalar(select(Article.canonical_url).where(Article.id == article_id))
            rows = session.execute(
                select(Version.id, Version.blob_sha256).where(
                    Version.article_id == article_id,
                    Version.change_kind != ChangeKind.REMOVED,
                    Version.blob_sha256.is_not(None),
                )
            ).all()
            pages = [(version_id, digest, get_blob(session, digest)) for version_id, digest in rows if digest]
            content_types = stored_content_types(session, article_id) if pages else {}
        ahead.put((article_id, None))  # the article itself, even with no page to re-extract
        for version_id, digest, raw in pages:
            if raw is not None and canonical is not None:
                content_type = content_types.get(digest)
                args = (
                    (raw, canonical, content_type, ())
                    if extractor is extract
                    else (raw, canonical, content_type, (), extractor)
                )
                ahead.put((article_id, version_id), prepare_capture, *args)
        take(ahead.ready())
    take(ahead.drain())
    if gathering is not None:
        batches.add(gathering)
    batches.flush()
    return summary
