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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import dedup
from archive.blobs import get_blob
from archive.extract import Extracted, ExtractionError, extract
from archive.lookups import current_version, find_article
from archive.models import Article, ChangeKind, Version
from archive.store import (
    _add_version,
    _lock_article,
    _state,
    _version_state,
    utcnow,
)
from archive.volatile import key_text

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


def rederive_article(
    session: Session,
    article_id: int,
    *,
    extractor: Callable[..., Extracted] = extract,
    at: datetime | None = None,
    summary: RederiveSummary | None = None,
) -> RederiveSummary:
    """Re-derive one article inside the caller's transaction."""
    summary = summary if summary is not None else RederiveSummary()
    at = at or utcnow()
    article = _lock_article(session, article_id)
    summary.articles += 1
    current = current_version(session, article)
    derived_current: tuple[Extracted, str] | None = None
    for version in session.scalars(
        select(Version).where(Version.article_id == article.id).order_by(Version.seq)
    ):
        if version.change_kind == ChangeKind.REMOVED:
            continue
        if version.blob_sha256 is None:
            summary.without_raw += 1
            continue
        raw = get_blob(session, version.blob_sha256)
        if raw is None:
            summary.without_raw += 1
            continue
        summary.versions_checked += 1
        try:
            extracted = extractor(raw, url=article.canonical_url)
        except ExtractionError as exc:
            logger.warning(
                "re-extracting version %s of %s failed: %s", version.seq, article.canonical_url, exc
            )
            summary.failed += 1
            continue
        key = key_text(extracted.text)
        if _state(extracted, key=key) != _version_state(version):
            summary.versions_differing += 1
            if current is not None and version.id == current.id:
                derived_current = (extracted, key)
    if derived_current is not None and current is not None:
        extracted, key = derived_current
        flags = [f"rederived-from:{current.seq}", f"extractor:{extracted.extractor}"[:64]]
        version = _add_version(
            session, article, extracted, ChangeKind.REDERIVED, at, current.blob_sha256, flags, key=key
        )
        version.first_seen = max(at, current.last_seen)
        version.last_seen = version.first_seen
        article.current_seq = None
        dedup.index_version(session, article, version, key)
        summary.recorded += 1
    return summary


def rederive(
    sessions: sessionmaker[Session],
    *,
    url: str | None = None,
    extractor: Callable[..., Extracted] = extract,
    at: datetime | None = None,
) -> RederiveSummary:
    """Re-derive one article (``url``) or every article, one transaction per article."""
    summary = RederiveSummary()
    with sessions() as session:
        if url is not None:
            article = find_article(session, url)
            ids = [article.id] if article is not None else []
        else:
            ids = list(session.scalars(select(Article.id).order_by(Article.id)))
    for article_id in ids:
        with sessions.begin() as session:
            rederive_article(session, article_id, extractor=extractor, at=at, summary=summary)
    return summary
