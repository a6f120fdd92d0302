"""What the viewer shows, as plain data: one function per page, shared by HTML and the JSON API.

Every query is bounded (LIMIT, keyset or page size). Nothing here renders or escapes: the
templates do (autoescape), and the JSON API serialises these dataclasses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.diff import ChangeLabel, Comparison, compare
from archive.errors import InputError, NotFoundError
from archive.export import version_record
from archive.models import (
    Article,
    ArticleStatus,
    ArticleURL,
    ChangeKind,
    Fetch,
    FetchOutcome,
    Source,
    Version,
)
from archive.queries import with_previous_text
from archive.search import matching_version_ids, parse_query
from archive.timeparse import parse_day

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGE = 10_000  # deeper pages than this are refused (use filters)
COUNT_CAP = 10_000
MAX_FETCHES = 500
MAX_VERSIONS = 1000
MAX_LABELLED = 200  # change labels are computed for at most this many versions per page
MAX_SOURCES = 500
FEED_ENTRIES = 50
MAX_DUPLICATES = 100
MAX_ID = 2**31 - 1  # the largest id or number an INTEGER column holds on both backends


@dataclass(frozen=True)
class ListFilters:
    source: int | None = None
    since: date | None = None
    until: date | None = None
    language: str | None = None
    edited: bool = False
    q: str | None = None
    page: int = 1
    status: str | None = None  # one of LIST_STATUSES

    @classmethod
    def parse(cls, params: dict[str, str | None]) -> ListFilters:
        """From query-string values; bad values are an InputError with a clear message."""

        def clean(name: str) -> str | None:
            value = params.get(name)
            return value.strip() or None if isinstance(value, str) else None

        def as_date(name: str) -> date | None:
            value = clean(name)
            if value is None:
                return None
            try:
                return parse_day(value)
            except ValueError as exc:
                raise InputError(f"{name}: {exc}") from None

        def as_int(name: str, default: int | None, low: int, high: int) -> int | None:
            value = clean(name)
            if value is None:
                return default
            if not is_number(value, 10) or not low <= int(value) <= high:
                raise InputError(f"{name}: expected a number from {low} to {high}")
            return int(value)

        language = clean("language")
        if language is not None and (len(language) > 16 or not language.replace("-", "").isalnum()):
            raise InputError("language: expected a language code such as en or pt-BR")
        q = clean("q")
        if q is not None:
            parse_query(q)  # a clear message now rather than in the middle of the page
        status = clean("status")
        if status is not None and status not in LIST_STATUSES:
            raise InputError(f"status: expected one of {', '.join(LIST_STATUSES)}")
        return cls(
            source=as_int("source", None, 1, MAX_ID),
            since=as_date("since"),
            until=as_date("until"),
            language=language,
            edited=clean("edited") in ("1", "true", "on", "yes"),
            q=q,
            page=as_int("page", 1, 1, MAX_PAGE) or 1,
            status=status,
        )

    def query_args(self, **override: Any) -> dict[str, str]:
        """The filters as query-string arguments (for pagination links)."""
        values: dict[str, Any] = {
            "source": self.source,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "language": self.language,
            "edited": "1" if self.edited else None,
            "q": self.q,
            "status": self.status,
            "page": self.page,
        }
        values.update(override)
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.query_args().items()}


@dataclass(frozen=True)
class ArticleSummary:
    id: int
    url: str
    title: str | None
    status: str
    versions: int
    first_seen: datetime
    last_checked: datetime | None
    last_changed: datetime | None
    language: str | None
    source: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "status": self.status,
            "versions": self.versions,
            "first_seen": _iso(self.first_seen),
            "last_checked": _iso(self.last_checked),
            "last_changed": _iso(self.last_changed),
            "language": self.language,
            "source": self.source,
        }


@dataclass(frozen=True)
class ArticleList:
    filters: ListFilters
    articles: list[ArticleSummary]
    total: int
    total_capped: bool
    page: int
    pages: int
    sources: list[tuple[int, str]]
    languages: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "filters": self.filters.as_dict(),
            "total": self.total,
            "total_capped": self.total_capped,
            "page": self.page,
            "pages": self.pages,
            "page_size": PAGE_SIZE,
            "articles": [a.as_dict() for a in self.articles],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def list_articles(session: Session, filters: ListFilters) -> ArticleList:
    conditions: list[Any] = []
    if filters.source is not None:
        conditions.append(Article.source_id == filters.source)
    if filters.since is not None:
        conditions.append(Article.first_seen >= _day_start(filters.since))
    if filters.until is not None:
        conditions.append(Article.first_seen < _day_start(filters.until + timedelta(days=1)))
    if filters.edited:
        conditions.append(Article.version_count > 1)
    if filters.status is not None:
        conditions.append(status_condition(filters.status))
    if filters.language is not None:
        # A covering probe of ix_view_version_language (language, article_id) per article.
        conditions.append(
            select(Version.id)
            .where(Version.language == filters.language, Version.article_id == Article.id)
            .exists()
        )
    if filters.q is not None:
        matches = matching_version_ids(session, parse_query(filters.q)).subquery()
        conditions.append(
            Article.id.in_(select(Version.article_id).where(Version.id.in_(select(matches.c.version_id))))
        )
    counted = session.execute(
        select(func.count()).select_from(
            select(Article.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
        )
    ).scalar_one()
    rows = list(
        session.scalars(
            select(Article)
            .where(*conditions)
            .order_by(Article.first_seen.desc(), Article.id.desc())
            .limit(PAGE_SIZE)
            .offset((filters.page - 1) * PAGE_SIZE)
        )
    )
    latest = _latest_versions(session, [a.id for a in rows])
    source_names = dict(_sources(session))
    articles = [
        ArticleSummary(
            id=a.id,
            url=a.canonical_url,
            title=latest[a.id].title if a.id in latest else None,
            status=a.status.value,
            versions=a.version_count,
            first_seen=a.first_seen,
            last_checked=a.last_checked,
            last_changed=a.last_changed,
            language=latest[a.id].language if a.id in latest else None,
            source=source_names.get(a.source_id) if a.source_id is not None else None,
        )
        for a in rows
    ]
    total = min(counted, COUNT_CAP)
    return ArticleList(
        filters=filters,
        articles=articles,
        total=total,
        total_capped=counted > COUNT_CAP,
        page=filters.page,
        pages=max(1, -(-total // PAGE_SIZE)),
        sources=_sources(session),
        languages=_languages(session),
    )


# The list's status filter: the article statuses, and "restored" (live again after a removal).
LIST_STATUSES = ("live", "removed", "redirected", "restored")


def status_condition(status: str) -> Any:
    """The WHERE condition of one LIST_STATUSES value."""
    if status == "restored":
        return (Article.status != ArticleStatus.REMOVED) & (
            select(Version.id)
            .where(Version.article_id == Article.id, Version.change_kind == ChangeKind.RESTORED)
            .exists()
        )
    return Article.status == ArticleStatus(status)


def _latest_versions(session: Session, article_ids: list[int]) -> dict[int, Version]:
    if not article_ids:
        return {}
    newest = (
        select(func.max(Version.seq))
        .where(Version.article_id == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Article.id, Version)
        .join(Version, Version.article_id == Article.id)
        .where(Article.id.in_(article_ids), Version.seq == newest)
    ).all()
    return {article_id: version for article_id, version in rows}


def _sources(session: Session) -> list[tuple[int, str]]:
    return [
        (i, n)
        for i, n in session.execute(select(Source.id, Source.name).order_by(Source.name).limit(MAX_SOURCES))
    ]


_LANGUAGE_CACHE: dict[str, tuple[float, list[str]]] = {}
LANGUAGE_CACHE_S = 300.0


def _languages(session: Session) -> list[str]:
    """Languages for the filter menu: distinct values of the (language, article_id) index,
    cached for a few minutes per database (the menu need not follow every import at once)."""
    import time as _time

    key = str(session.get_bind().engine.url)
    cached = _LANGUAGE_CACHE.get(key)
    if cached is not None and _time.monotonic() - cached[0] < LANGUAGE_CACHE_S:
        return cached[1]
    languages = sorted(
        lang
        for (lang,) in session.execute(
            select(Version.language).where(Version.language.is_not(None)).distinct().limit(200)
        )
        if lang is not None
    )
    _LANGUAGE_CACHE[key] = (_time.monotonic(), languages)
    return languages


# ---------------------------------------------------------------------------------------------
# Article page


@dataclass(frozen=True)
class VersionEntry:
    seq: int
    change_kind: str
    first_seen: datetime
    last_seen: datetime
    title: str | None
    byline: str | None
    length: int
    label: str | None  # the change label vs the previous version (None for the first)
    words_added: int
    words_removed: int
    notices: list[str]
    flags: list[str]
    has_raw: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "change_kind": self.change_kind,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "title": self.title,
            "byline": self.byline,
            "length": self.length,
            "label": self.label,
            "words_added": self.words_added,
            "words_removed": self.words_removed,
            "notices": self.notices,
            "flags": self.flags,
            "has_raw": self.has_raw,
        }


@dataclass(frozen=True)
class FetchEntry:
    fetched_at: datetime
    url: str
    http_status: int | None
    outcome: str
    origin: str
    message: str | None
    version_seq: int | None
    label: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fetched_at": _iso(self.fetched_at),
            "url": self.url,
            "http_status": self.http_status,
            "outcome": self.outcome,
            "origin": self.origin,
            "message": self.message,
            "version_seq": self.version_seq,
            "label": self.label,
        }


@dataclass(frozen=True)
class DuplicateEntry:
    article_id: int
    url: str
    similarity: float | None
    kind: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "url": self.url,
            "similarity": self.similarity,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class ArticlePage:
    id: int
    url: str
    status: str
    first_seen: datetime
    last_checked: datetime | None
    next_check: datetime | None
    source: str | None
    aliases: list[str]
    versions: list[VersionEntry]
    current: Version | None
    fetches: list[FetchEntry]
    fetch_total: int
    duplicates: list[DuplicateEntry] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "status": self.status,
            "first_seen": _iso(self.first_seen),
            "last_checked": _iso(self.last_checked),
            "next_check": _iso(self.next_check),
            "source": self.source,
            "aliases": self.aliases,
            "versions": [v.as_dict() for v in self.versions],
            "current": version_record(self.current) if self.current is not None else None,
            "fetches": [f.as_dict() for f in self.fetches],
            "fetch_total": self.fetch_total,
            "also_published_at": [d.as_dict() for d in self.duplicates],
        }


def get_article(session: Session, article_id: int) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise NotFoundError(f"no article {article_id}")
    return article


def _versions(session: Session, article_id: int) -> list[Version]:
    return list(
        session.scalars(
            select(Version).where(Version.article_id == article_id).order_by(Version.seq).limit(MAX_VERSIONS)
        )
    )


def article_page(session: Session, article_id: int) -> ArticlePage:
    article = get_article(session, article_id)
    versions = _versions(session, article_id)
    entries: list[VersionEntry] = []
    labels: dict[int, str | None] = {}
    for index, (previous, v) in enumerate(with_previous_text(versions)):
        label = None
        added = len(v.text.split()) if previous is None else 0
        removed = 0
        notices: list[str] = []
        if previous is not None and index < MAX_LABELLED:
            summary = compare(previous, v).summary
            label, added, removed = summary.label.value, summary.words_added, summary.words_removed
            notices = [n.text for n in summary.notices]
        elif previous is None:
            label = "first"
        labels[v.id] = label
        entries.append(
            VersionEntry(
                seq=v.seq,
                change_kind=v.change_kind.value,
                first_seen=v.first_seen,
                last_seen=v.last_seen,
                title=v.title,
                byline=v.byline,
                length=len(v.text),
                label=label,
                words_added=added,
                words_removed=removed,
                notices=notices,
                flags=list(v.flags or []),
                has_raw=v.blob_sha256 is not None,
            )
        )
    seq_by_id = {v.id: v.seq for v in versions}
    fetch_total = session.execute(
        select(func.count()).select_from(Fetch).where(Fetch.article_id == article_id)
    ).scalar_one()
    recent = list(
        session.scalars(
            select(Fetch)
            .where(Fetch.article_id == article_id)
            .order_by(Fetch.fetched_at.desc(), Fetch.id.desc())
            .limit(MAX_FETCHES)
        )
    )
    fetches = [
        FetchEntry(
            fetched_at=f.fetched_at,
            url=f.url,
            http_status=f.http_status,
            outcome=f.outcome.value,
            origin=f.origin.value,
            message=f.message,
            version_seq=seq_by_id.get(f.version_id) if f.version_id is not None else None,
            label=labels.get(f.version_id)
            if f.outcome == FetchOutcome.NEW_VERSION and f.version_id
            else None,
        )
        for f in recent
    ]
    aliases = list(
        session.scalars(
            select(ArticleURL.url)
            .where(ArticleURL.article_id == article_id)
            .order_by(ArticleURL.id)
            .limit(100)
        )
    )
    source = session.get(Source, article.source_id) if article.source_id is not None else None
    current = next((v for v in reversed(versions) if v.text), None)
    return ArticlePage(
        id=article.id,
        url=article.canonical_url,
        status=article.status.value,
        first_seen=article.first_seen,
        last_checked=article.last_checked,
        next_check=article.next_check,
        source=source.name if source else None,
        aliases=aliases,
        versions=entries,
        current=current,
        fetches=fetches,
        fetch_total=fetch_total,
        duplicates=also_published_at(session, article_id),
    )


def also_published_at(session: Session, article_id: int) -> list[DuplicateEntry]:
    """Other articles linked to this one as exact or near duplicates ("also published at")."""
    from archive.dedup import duplicates_of

    return [
        DuplicateEntry(d.article_id, d.url, d.similarity, d.kind)
        for d in duplicates_of(session, article_id, limit=MAX_DUPLICATES)
    ]


# ---------------------------------------------------------------------------------------------
# Version and diff pages


def get_version(session: Session, article_id: int, seq: int) -> Version:
    version = session.scalar(select(Version).where(Version.article_id == article_id, Version.seq == seq))
    if version is None:
        raise NotFoundError(f"article {article_id} has no version {seq}")
    return version


@dataclass(frozen=True)
class Citation:
    """What a reader needs to cite one version: shown as a "cite this" block to copy."""

    title: str | None
    outlet: str
    url: str
    seq: int
    first_seen: datetime
    last_seen: datetime
    permalink: str  # the viewer's address of this version

    def text(self) -> str:
        when = "%Y-%m-%d %H:%M:%S UTC"
        title = f"“{self.title}”. " if self.title else ""
        return (
            f"{title}{self.outlet}. {self.url} — version {self.seq}, "
            f"first seen {self.first_seen.astimezone(UTC):{when}}, "
            f"last seen {self.last_seen.astimezone(UTC):{when}}. Archived copy: {self.permalink}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "outlet": self.outlet,
            "url": self.url,
            "seq": self.seq,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "permalink": self.permalink,
            "text": self.text(),
        }


def citation(session: Session, article_id: int, version: Version, base_url: str) -> Citation:
    """The citation of a version; the outlet is the article's source, else the URL's host."""
    from urllib.parse import urlsplit

    article = get_article(session, article_id)
    source = session.get(Source, article.source_id) if article.source_id is not None else None
    outlet = source.name if source is not None else (urlsplit(article.canonical_url).hostname or "")
    return Citation(
        title=version.title,
        outlet=outlet,
        url=article.canonical_url,
        seq=version.seq,
        first_seen=version.first_seen,
        last_seen=version.last_seen,
        permalink=f"{base_url.rstrip('/')}/articles/{article_id}/versions/{version.seq}",
    )


@dataclass(frozen=True)
class DiffPage:
    article_id: int
    url: str
    old: Version
    new: Version
    comparison: Comparison
    choices: list[tuple[int, str]]  # (seq, label) of every version, for the pickers

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "url": self.url,
            "from": {"seq": self.old.seq, "first_seen": _iso(self.old.first_seen), "title": self.old.title},
            "to": {"seq": self.new.seq, "first_seen": _iso(self.new.first_seen), "title": self.new.title},
            **self.comparison.as_dict(),
        }


def is_number(value: str, max_digits: int) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²" and "١", which ``int`` refuses or reads."""
    return 0 < len(value) <= max_digits and value.isascii() and value.isdigit()


def parse_seq(value: str | None, name: str) -> int | None:
    if value is None or not value.strip():
        return None
    if not is_number(value.strip(), 9):
        raise InputError(f"{name}: expected a version number")
    return int(value)


def diff_page(session: Session, article_id: int, a: int | None, b: int | None) -> DiffPage:
    article = get_article(session, article_id)
    versions = _versions(session, article_id)
    with_text = [v for v in versions if v.text]
    by_seq = {v.seq: v for v in versions}
    if a is None and b is None:
        if len(with_text) < 2:
            raise NotFoundError("the article has fewer than two versions with text to compare")
        old, new = with_text[-2], with_text[-1]
    else:
        if a is not None and a not in by_seq:
            raise NotFoundError(f"article {article_id} has no version {a}")
        if b is not None and b not in by_seq:
            raise NotFoundError(f"article {article_id} has no version {b}")
        old = by_seq[a] if a is not None else versions[0]
        new = by_seq[b] if b is not None else versions[-1]
    choices = [
        (v.seq, f"{v.seq} — {v.first_seen:%Y-%m-%d %H:%M:%S} UTC ({v.change_kind.value})") for v in versions
    ]
    return DiffPage(article.id, article.canonical_url, old, new, compare(old, new), choices)


# ---------------------------------------------------------------------------------------------
# Feed of recent edits


@dataclass(frozen=True)
class EditEntry:
    article_id: int
    url: str
    seq: int
    title: str | None
    first_seen: datetime
    change_kind: str
    label: str
    words_added: int
    words_removed: int
    notices: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "url": self.url,
            "seq": self.seq,
            "title": self.title,
            "first_seen": _iso(self.first_seen),
            "change_kind": self.change_kind,
            "label": self.label,
            "words_added": self.words_added,
            "words_removed": self.words_removed,
            "notices": self.notices,
        }


def recent_edits(session: Session, limit: int = FEED_ENTRIES) -> list[EditEntry]:
    """The newest versions after the first (edits, removals, restorations), newest first."""
    rows = session.execute(
        select(Version, Article.canonical_url)
        .join(Article, Article.id == Version.article_id)
        .where(Version.seq > 1)
        .order_by(Version.first_seen.desc(), Version.id.desc())
        .limit(max(1, min(limit, FEED_ENTRIES)))
    ).all()
    previous = {
        (v.article_id, v.seq): v
        for v in session.scalars(
            select(Version).where(
                Version.article_id.in_([r[0].article_id for r in rows]),
                Version.seq.in_([r[0].seq - 1 for r in rows]),
            )
        )
    }
    entries = []
    for v, url in rows:
        before = previous.get((v.article_id, v.seq - 1))
        summary = compare(before, v).summary if before is not None else None
        entries.append(
            EditEntry(
                article_id=v.article_id,
                url=url,
                seq=v.seq,
                title=v.title,
                first_seen=v.first_seen,
                change_kind=v.change_kind.value,
                label=summary.label.value if summary else ChangeLabel.SUBSTANTIVE.value,
                words_added=summary.words_added if summary else 0,
                words_removed=summary.words_removed if summary else 0,
                notices=[n.text for n in summary.notices] if summary else [],
            )
        )
    return entries
