"""Candidates: pages that scored a little under the topic threshold.

The crawler keeps their extracted text and score (not versions; they are not revisited), so
nothing relevant is silently lost: an archivist lists them, promotes one to a watched article
(recorded through the normal store path, ``record_fetch``, so it gets versions and revisits like
any other), or applies a changed topic file or threshold to all of them without fetching again.

The scorer is passed in (``archive`` does not import the crawler): any callable taking
``(text, title, url)`` and returning a ``Verdict``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from archive.db import insert_ignore
from archive.errors import NotFoundError
from archive.extract import Extracted
from archive.models import (
    CANDIDATE_DROPPED,
    CANDIDATE_OPEN,
    CANDIDATE_PROMOTED,
    Candidate,
    FetchOrigin,
    FetchOutcome,
    SkippedURL,
)
from archive.store import Capture, normalize_url_or_none, record_fetch

OPEN, PROMOTED, DROPPED = CANDIDATE_OPEN, CANDIDATE_PROMOTED, CANDIDATE_DROPPED
# Everything the extractor said besides the text and title, so a promoted candidate's version
# carries the same metadata and flags as the crawler's own first capture would have.
_META = [f.name for f in fields(Extracted) if f.name not in ("text", "title")]


def _meta_of(extracted: Extracted) -> dict[str, Any]:
    return {
        name: list(value) if isinstance(value := getattr(extracted, name), tuple) else value for name in _META
    }


def _extracted_of(candidate: Candidate) -> Extracted:
    meta = {k: v for k, v in (candidate.extracted or {}).items() if k in _META}
    if "warnings" in meta:
        meta["warnings"] = tuple(meta["warnings"] or ())
    return Extracted(text=candidate.text, title=candidate.title, **meta)


@dataclass(frozen=True)
class Verdict:
    score: float
    keep: bool
    candidate: bool
    groups: tuple[str, ...] = ()


Scorer = Callable[[str, str | None, str | None], Verdict]


def add_candidate(
    session: Session,
    *,
    url: str,
    fetched_url: str,
    fetched_at: datetime,
    extracted: Extracted,
    verdict: Verdict,
    source_id: int | None = None,
    crawl_run_id: int | None = None,
) -> None:
    """Store a candidate (once per normalised URL; a second sighting changes nothing)."""
    session.execute(
        insert_ignore(session, Candidate).values(
            url=url,
            fetched_url=fetched_url,
            fetched_at=fetched_at,
            title=extracted.title,
            text=extracted.text,
            extracted=_meta_of(extracted),
            score=verdict.score,
            groups=list(verdict.groups),
            scored_at=fetched_at,
            status=OPEN,
            source_id=source_id,
            crawl_run_id=crawl_run_id,
        )
    )


def find_candidate(session: Session, key: str) -> Candidate:
    """A candidate by its id or by URL (as fetched, or any form that normalises to it)."""
    candidate: Candidate | None = None
    if key.strip().isdigit():
        number = int(key)
        # An id no integer column holds is no candidate (PostgreSQL would refuse the query).
        candidate = session.get(Candidate, number) if number < 2**31 else None
    else:
        url = key.strip()
        normal = normalize_url_or_none(url) or url
        candidate = session.scalars(
            select(Candidate).where(or_(Candidate.url == normal, Candidate.fetched_url == url))
        ).first()
    if candidate is None:
        raise NotFoundError(f"no candidate {key!r} (see `mediawatch candidates`)")
    return candidate


@dataclass(frozen=True)
class Promotion:
    candidate_id: int
    url: str
    article_id: int | None
    outcome: str  # the store's outcome, or "already promoted"
    message: str | None = None

    @property
    def promoted(self) -> bool:
        return self.article_id is not None


def _promote(session: Session, candidate: Candidate) -> Promotion:
    if candidate.status == PROMOTED:
        return Promotion(candidate.id, candidate.fetched_url, candidate.article_id, "already promoted")
    extracted = _extracted_of(candidate)
    # The stored text is what the crawler saw when it fetched the page: record it as that fetch.
    capture = Capture(
        url=candidate.fetched_url,
        fetched_at=candidate.fetched_at,
        status=200,
        extracted=extracted,
        origin=FetchOrigin.CRAWL,
        source_id=candidate.source_id,
        crawl_run_id=candidate.crawl_run_id,
        relevance=candidate.score,
    )
    result = record_fetch(session, capture)
    if result.article_id is None or result.outcome not in (FetchOutcome.NEW_VERSION, FetchOutcome.UNCHANGED):
        return Promotion(candidate.id, candidate.fetched_url, None, result.outcome.value, result.message)
    candidate.status = PROMOTED
    candidate.article_id = result.article_id
    # No longer off-topic: discovery may link to it like any archived article.
    keys = {candidate.url, normalize_url_or_none(candidate.fetched_url)} - {None}
    session.execute(delete(SkippedURL).where(SkippedURL.url.in_(keys)))
    return Promotion(candidate.id, candidate.fetched_url, result.article_id, result.outcome.value)


def promote(sessions: sessionmaker[Session], key: str) -> Promotion:
    """Make one candidate a watched article: version 1 from its stored text, then revisits."""
    with sessions.begin() as session:
        return _promote(session, find_candidate(session, key))


@dataclass
class Rescored:
    rescored: int = 0
    promoted: list[Promotion] | None = None
    still_candidates: int = 0
    dropped: int = 0
    revived: int = 0  # dropped before, a candidate again

    def as_dict(self) -> dict[str, Any]:
        return {
            "rescored": self.rescored,
            "promoted": [
                {"id": p.candidate_id, "url": p.url, "article_id": p.article_id} for p in self.promoted or []
            ],
            "still_candidates": self.still_candidates,
            "dropped": self.dropped,
            "revived": self.revived,
        }


def rescore(sessions: sessionmaker[Session], scorer: Scorer, *, now: datetime | None = None) -> Rescored:
    """Apply a (changed) topic to every stored candidate not yet promoted, from its stored text.

    Those that now reach the threshold are promoted; those under the candidate margin are
    dropped (kept, so that a later, lower threshold can bring them back)."""
    at = now or datetime.now(UTC)
    summary = Rescored(promoted=[])
    with sessions.begin() as session:
        waiting = select(Candidate.id).where(Candidate.status != PROMOTED).order_by(Candidate.id)
        ids = list(session.scalars(waiting))
    for candidate_id in ids:
        with sessions.begin() as session:
            candidate = session.get(Candidate, candidate_id)
            if candidate is None or candidate.status == PROMOTED:
                continue
            verdict = scorer(candidate.text, candidate.title, candidate.fetched_url)
            summary.rescored += 1
            candidate.score = verdict.score
            candidate.groups = list(verdict.groups)
            candidate.scored_at = at
            if verdict.keep:
                promotion = _promote(session, candidate)
                if promotion.promoted:
                    summary.promoted.append(promotion)  # type: ignore[union-attr]
                    continue
            if verdict.keep or verdict.candidate:
                summary.revived += candidate.status == DROPPED
                candidate.status = OPEN
                summary.still_candidates += 1
            else:
                candidate.status = DROPPED
                summary.dropped += 1
    return summary
