"""Read-side questions archivists ask: which articles, which versions, what it said when."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.diff import word_counts
from archive.errors import NotFoundError
from archive.models import CANDIDATE_OPEN, Article, Candidate, Fetch, Version

MAX_PAGE = 1000


@dataclass(frozen=True)
class ArticleRow:
    id: int
    url: str
    status: str
    title: str | None
    versions: int
    first_seen: datetime
    last_checked: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "status": self.status,
            "title": self.title,
            "versions": self.versions,
            "first_seen": self.first_seen.isoformat(),
            "last_checked": self.last_checked.isoformat() if self.last_checked else None,
        }


@dataclass(frozen=True)
class VersionRow:
    seq: int
    change_kind: str
    first_seen: datetime
    last_seen: datetime
    title: str | None
    byline: str | None
    length: int
    words_added: int
    words_removed: int
    flags: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "change_kind": self.change_kind,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "title": self.title,
            "byline": self.byline,
            "length": self.length,
            "words_added": self.words_added,
            "words_removed": self.words_removed,
            "flags": self.flags,
        }


def list_articles(session: Session, *, limit: int = 100, offset: int = 0) -> list[ArticleRow]:
    limit = max(1, min(limit, MAX_PAGE))
    latest = (
        select(Version.article_id, func.max(Version.seq).label("seq")).group_by(Version.article_id).subquery()
    )
    rows = session.execute(
        select(Article, Version.title)
        .join(latest, latest.c.article_id == Article.id, isouter=True)
        .join(
            Version,
            (Version.article_id == latest.c.article_id) & (Version.seq == latest.c.seq),
            isouter=True,
        )
        .order_by(Article.first_seen.desc(), Article.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        ArticleRow(
            id=a.id,
            url=a.canonical_url,
            status=a.status.value,
            title=title,
            versions=a.version_count,
            first_seen=a.first_seen,
            last_checked=a.last_checked,
        )
        for a, title in rows
    ]


def versions_of(session: Session, article_id: int) -> list[Version]:
    return list(
        session.scalars(select(Version).where(Version.article_id == article_id).order_by(Version.seq))
    )


def with_previous_text(versions: list[Version]) -> Iterator[tuple[Version | None, Version]]:
    """Each version with the last earlier one that has text: a removal (empty text) is compared
    with what was removed, and a restoration with what was there before the removal."""
    previous: Version | None = None
    for v in versions:
        yield previous, v
        if v.text:
            previous = v


def version_rows(session: Session, article_id: int) -> list[VersionRow]:
    rows: list[VersionRow] = []
    for previous, v in with_previous_text(versions_of(session, article_id)):
        added, removed = (
            word_counts(previous.text, v.text) if previous is not None else (len(v.text.split()), 0)
        )
        rows.append(
            VersionRow(
                seq=v.seq,
                change_kind=v.change_kind.value,
                first_seen=v.first_seen,
                last_seen=v.last_seen,
                title=v.title,
                byline=v.byline,
                length=len(v.text),
                words_added=added,
                words_removed=removed,
                flags=list(v.flags or []),
            )
        )
    return rows


def version_by_seq(session: Session, article_id: int, seq: int) -> Version:
    version = session.scalar(select(Version).where(Version.article_id == article_id, Version.seq == seq))
    if version is None:
        raise NotFoundError(f"no version {seq} of this article")
    return version


def version_at(session: Session, article_id: int, at: datetime) -> Version:
    """The version the article showed at a moment: the newest first seen at or before it."""
    version = session.scalar(
        select(Version)
        .where(Version.article_id == article_id, Version.first_seen <= at)
        .order_by(Version.seq.desc())
        .limit(1)
    )
    if version is None:
        raise NotFoundError(f"the article was not yet archived at {at.isoformat()}")
    return version


def fetches_of(session: Session, article_id: int, *, limit: int = 1000) -> list[Fetch]:
    return list(
        session.scalars(
            select(Fetch)
            .where(Fetch.article_id == article_id)
            .order_by(Fetch.fetched_at, Fetch.id)
            .limit(limit)
        )
    )


def default_diff_pair(versions: list[Version]) -> tuple[Version, Version]:
    """The last two versions that carry text (a removal has none)."""
    with_text = [v for v in versions if v.text]
    if len(with_text) < 2:
        raise NotFoundError("the article has fewer than two versions with text to compare")
    return with_text[-2], with_text[-1]


# ---- candidates: pages just under the topic threshold (archive/candidates.py keeps them)


def list_candidates(
    session: Session, *, statuses: tuple[str, ...] = (CANDIDATE_OPEN,), limit: int = 50, offset: int = 0
) -> list[Candidate]:
    """Candidates with one of the statuses, best score first (the CLI's list and the viewer's)."""
    query = (
        select(Candidate)
        .where(Candidate.status.in_(statuses))
        .order_by(Candidate.score.desc(), Candidate.fetched_at.desc(), Candidate.id)
        .limit(max(1, min(limit, MAX_PAGE)))
        .offset(max(0, offset))
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class CandidateRow:
    id: int
    url: str
    fetched_url: str
    title: str | None
    score: float
    groups: list[str]
    fetched_at: datetime
    status: str
    article_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "fetched_at": self.fetched_at.isoformat()}


def candidate_rows(
    session: Session, *, status: str = CANDIDATE_OPEN, limit: int = 100, offset: int = 0
) -> list[CandidateRow]:
    """Candidates with one status, best score first, as plain records for the viewer and its JSON."""
    return [
        CandidateRow(
            id=c.id,
            url=c.url,
            fetched_url=c.fetched_url,
            title=c.title,
            score=c.score,
            groups=list(c.groups or []),
            fetched_at=c.fetched_at,
            status=c.status,
            article_id=c.article_id,
        )
        for c in list_candidates(session, statuses=(status,), limit=limit, offset=offset)
    ]
