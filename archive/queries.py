"""The read model: every question the CLI, the viewer, its JSON API and the exports ask of the
archive, answered as typed records (frozen dataclasses) that :func:`archive.serialize.to_json`
turns into JSON. One function per question, so the CLI's ``--json`` and the API give the same
JSON for the same query (docs/archivist.md, JSON output).

Every query is bounded (LIMIT, page size or a cap). Nothing here renders or escapes: the
templates do (autoescape) and the terminal renderer does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import takewhile
from typing import Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.diff import (
    ChangeLabel,
    Comparison,
    Op,
    compare,
    no_differences,
    visible_rows,
    word_counts,
    word_ops,
)
from archive.errors import InputError, NotFoundError
from archive.lookups import latest_version
from archive.models import (
    CANDIDATE_OPEN,
    Article,
    ArticleStatus,
    ArticleURL,
    Candidate,
    ChangeKind,
    Fetch,
    FetchOutcome,
    Source,
    Version,
)
from archive.serialize import json_field
from archive.timeparse import parse_day

logger = logging.getLogger(__name__)

MAX_PAGE = 1000  # the most rows one call returns (the CLI's --limit)
PAGE_SIZE = 50  # articles per page of the list (the viewer and the API)
MAX_PAGE_NUMBER = 10_000  # deeper pages than this are refused (use filters)
COUNT_CAP = 10_000
MAX_FETCHES = 500
MAX_VERSIONS = 1000
MAX_LABELLED = 200  # change labels are computed for at most this many versions of an article
MAX_SOURCES = 500
FEED_ENTRIES = 50
MAX_DUPLICATES = 100
MAX_ID = 2**31 - 1  # the largest id or number an INTEGER column holds on both backends
# The values of the list's status filter: an article's status, or "restored" (it was removed
# and came back: it has a restored version).
ARTICLE_STATUS_FILTERS = (*(s.value for s in ArticleStatus), ChangeKind.RESTORED.value)


def is_number(value: str, max_digits: int) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²" and "١", which ``int`` refuses or reads."""
    return 0 < len(value) <= max_digits and value.isascii() and value.isdigit()


def parse_seq(value: str | None, name: str) -> int | None:
    if value is None or not value.strip():
        return None
    if not is_number(value.strip(), 9):
        raise InputError(f"{name}: expected a version number")
    return int(value)


# ---------------------------------------------------------------------------------------------
# The article list (the viewer's front page, /api/articles and `mediawatch articles`)


@dataclass(frozen=True)
class ListFilters:
    source: int | None = None
    since: date | None = None  # a day (the viewer's form) or a moment (the CLI's --since 24h)
    until: date | None = None
    language: str | None = None
    edited: bool = False
    q: str | None = None
    status: str | None = None  # one of ARTICLE_STATUS_FILTERS
    page: int = 1

    @classmethod
    def parse(cls, params: dict[str, str | None]) -> ListFilters:
        """From query-string values; bad values are an InputError with a clear message."""
        from archive.search import parse_query

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
        if status is not None and status not in ARTICLE_STATUS_FILTERS:
            raise InputError(f"status: expected one of {', '.join(ARTICLE_STATUS_FILTERS)}")
        return cls(
            source=as_int("source", None, 1, MAX_ID),
            since=as_date("since"),
            until=as_date("until"),
            language=language,
            edited=clean("edited") in ("1", "true", "on", "yes"),
            q=q,
            status=status,
            page=as_int("page", 1, 1, MAX_PAGE_NUMBER) or 1,
        )

    def query_args(self, **override: Any) -> dict[str, str]:
        """The filters as query-string arguments (for pagination links and the JSON's ``filters``)."""
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


@dataclass(frozen=True)
class ArticleList:
    filters: ListFilters = json_field(skip=True)  # written as query-string arguments (below)
    articles: list[ArticleSummary] = json_field()
    total: int = json_field()
    total_capped: bool = json_field()
    page: int = json_field()
    pages: int = json_field()
    page_size: int = json_field()
    sources: list[tuple[int, str]] = json_field(skip=True)  # for the filter menus
    languages: list[str] = json_field(skip=True)

    json_extra: ClassVar[dict[str, Any]] = {"filters": lambda page: page.filters.query_args()}


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _moment(value: date) -> datetime:
    return value if isinstance(value, datetime) else _day_start(value)


def source_id(session: Session, name_or_id: str) -> int:
    """The id of a source given by its id or its name (case-insensitive), for the list's filter."""
    if is_number(name_or_id, 10) and int(name_or_id) <= MAX_ID:
        if session.get(Source, int(name_or_id)) is not None:
            return int(name_or_id)
    found = session.scalar(
        select(Source.id).where(func.lower(Source.name) == name_or_id.strip().lower()).limit(1)
    )
    if found is None:
        raise NotFoundError(f"no source named {name_or_id!r} (see the names in the viewer's filter)")
    return found


def list_articles(
    session: Session,
    filters: ListFilters | None = None,
    *,
    limit: int = PAGE_SIZE,
    offset: int | None = None,
) -> ArticleList:
    """Articles matching the filters, newest first: one page of ``limit`` (``offset`` or the
    filters' page), with the number matching (capped at COUNT_CAP)."""
    from archive.search import matching_version_ids, parse_query

    filters = filters or ListFilters()
    limit = max(1, min(limit, MAX_PAGE))
    start = offset if offset is not None else (filters.page - 1) * limit
    conditions: list[Any] = []
    if filters.source is not None:
        conditions.append(Article.source_id == filters.source)
    if filters.since is not None:
        conditions.append(Article.first_seen >= _moment(filters.since))
    if filters.until is not None:
        conditions.append(Article.first_seen < _day_start(filters.until + timedelta(days=1)))
    if filters.edited:
        conditions.append(Article.version_count > 1)
    if filters.status == ChangeKind.RESTORED.value:
        # Live again after a removal: not removed now, and a restored version on record.
        conditions.append(Article.status != ArticleStatus.REMOVED)
        conditions.append(
            select(Version.id)
            .where(Version.article_id == Article.id, Version.change_kind == ChangeKind.RESTORED)
            .exists()
        )
    elif filters.status is not None:
        conditions.append(Article.status == ArticleStatus(filters.status))
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
            .limit(limit)
            .offset(start)
        )
    )
    latest = _latest_versions(session, [a.id for a in rows])
    sources = _sources(session)
    source_names = dict(sources)
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
        page=start // limit + 1,
        pages=max(1, -(-total // limit)),
        page_size=limit,
        sources=sources,
        languages=_languages(session),
    )


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
# Versions of an article (`mediawatch versions`, the article page and /api/articles/{id})


def versions_of(session: Session, article_id: int, *, limit: int = MAX_VERSIONS) -> list[Version]:
    return list(
        session.scalars(
            select(Version).where(Version.article_id == article_id).order_by(Version.seq).limit(limit)
        )
    )


def with_previous_text(versions: list[Version]) -> Iterator[tuple[Version | None, Version]]:
    """Each version with the last earlier one that has text: a removal (empty text) is compared
    with what was removed, and a restoration with what was there before the removal."""
    previous: Version | None = None
    for v in versions:
        yield previous, v
        if v.text:
            previous = v


@dataclass(frozen=True)
class VersionEntry:
    seq: int
    change_kind: str
    first_seen: datetime
    last_seen: datetime
    title: str | None
    byline: str | None
    length: int
    label: str | None  # the change label vs the previous version with text ("first" for the first)
    words_added: int
    words_removed: int
    notices: list[str]
    flags: list[str]
    has_raw: bool


def version_entries(
    session: Session, article_id: int, versions: list[Version] | None = None
) -> list[VersionEntry]:
    """Every version with what changed against the previous one with text. Labels and notices
    come from the full comparison for the first MAX_LABELLED versions; later ones get word
    counts only (label None), which keeps a page of a long history fast."""
    if versions is None:
        versions = versions_of(session, article_id)
    entries: list[VersionEntry] = []
    for index, (previous, v) in enumerate(with_previous_text(versions)):
        notices: list[str] = []
        label: str | None
        if previous is None:
            label, added, removed = "first", len(v.text.split()), 0
        elif index < MAX_LABELLED:
            summary = compare(previous, v).summary
            label, added, removed = summary.label.value, summary.words_added, summary.words_removed
            notices = [n.text for n in summary.notices]
        else:
            label = None
            added, removed = word_counts(previous.text, v.text)
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
    return entries


@dataclass(frozen=True)
class VersionRecord:
    """One version in full (its text included): what `show`, the version page and the exports carry."""

    seq: int
    change_kind: ChangeKind
    first_seen: datetime
    last_seen: datetime
    title: str | None
    byline: str | None
    published: str | None
    modified: str | None
    language: str | None
    sitename: str | None
    extractor: str
    text_sha256: str
    blob_sha256: str | None
    flags: list[str]
    text: str

    @classmethod
    def of(cls, v: Version) -> VersionRecord:
        return cls(
            seq=v.seq,
            change_kind=v.change_kind,
            first_seen=v.first_seen,
            last_seen=v.last_seen,
            title=v.title,
            byline=v.byline,
            published=v.published,
            modified=v.modified,
            language=v.language,
            sitename=v.sitename,
            extractor=v.extractor,
            text_sha256=v.text_sha256,
            blob_sha256=v.blob_sha256,
            flags=list(v.flags or []),
            text=v.text,
        )


@dataclass(frozen=True)
class ArticleVersion(VersionRecord):
    """A version with the article it belongs to (`show --json`, /api/articles/{id}/versions/{seq})."""

    article_id: int
    url: str


def version_by_seq(session: Session, article_id: int, seq: int) -> Version:
    version = session.scalar(select(Version).where(Version.article_id == article_id, Version.seq == seq))
    if version is None:
        raise NotFoundError(f"article {article_id} has no version {seq}")
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


def article_version(
    session: Session, article_id: int, *, seq: int | None = None, at: datetime | None = None
) -> ArticleVersion:
    """One version of an article: by number, as shown at a moment, else the latest."""
    article = get_article(session, article_id)
    if seq is not None:
        v = version_by_seq(session, article_id, seq)
    elif at is not None:
        v = version_at(session, article_id, at)
    else:
        found = latest_version(session, article_id)
        if found is None:
            raise NotFoundError("the article has no versions")
        v = found
    record = VersionRecord.of(v)
    return ArticleVersion(**record.__dict__, article_id=article.id, url=article.canonical_url)


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

    json_extra: ClassVar[dict[str, Any]] = {"text": lambda c: c.text()}

    def text(self) -> str:
        when = "%Y-%m-%d %H:%M:%S UTC"
        title = f"“{self.title}”. " if self.title else ""
        return (
            f"{title}{self.outlet}. {self.url} — version {self.seq}, "
            f"first seen {self.first_seen.astimezone(UTC):{when}}, "
            f"last seen {self.last_seen.astimezone(UTC):{when}}. Archived copy: {self.permalink}"
        )


def citation(session: Session, article_id: int, seq: int, base_url: str) -> Citation:
    """The citation of a version; the outlet is the article's source, else the URL's host."""
    from urllib.parse import urlsplit

    article = get_article(session, article_id)
    version = version_by_seq(session, article_id, seq)
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


# ---------------------------------------------------------------------------------------------
# The article page (/articles/{id}, /api/articles/{id})


@dataclass(frozen=True)
class FetchRecord:
    """One fetch as the exports carry it."""

    fetched_at: datetime
    url: str
    http_status: int | None
    outcome: str
    origin: str
    etag: str | None
    last_modified: str | None
    raw_sha256: str | None
    message: str | None
    version_seq: int | None

    @classmethod
    def of(cls, f: Fetch, seq_by_version: dict[int, int]) -> FetchRecord:
        return cls(**_fetch_fields(f, seq_by_version))


def _fetch_fields(f: Fetch, seq_by_version: dict[int, int]) -> dict[str, Any]:
    return {
        "fetched_at": f.fetched_at,
        "url": f.url,
        "http_status": f.http_status,
        "outcome": f.outcome.value,
        "origin": f.origin.value,
        "etag": f.etag,
        "last_modified": f.last_modified,
        "raw_sha256": f.raw_sha256,
        "message": f.message,
        "version_seq": seq_by_version.get(f.version_id) if f.version_id is not None else None,
    }


@dataclass(frozen=True)
class FetchEntry(FetchRecord):
    """A fetch on the article's timeline: with the change label of the version it recorded."""

    label: str | None = None


@dataclass(frozen=True)
class DuplicateEntry:
    article_id: int
    url: str
    similarity: float | None
    kind: str | None


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
    current: VersionRecord | None  # the newest version with text
    fetches: list[FetchEntry]
    fetch_total: int
    duplicates: list[DuplicateEntry] = json_field(name="also_published_at", default_factory=list)

    @property
    def removal(self) -> Removal:
        """Whether the article is gone now, or came back after a removal. A removal dates from
        the first check that found the page gone, not from the later check that confirmed it
        (the removed version)."""
        removals = [v for v in self.versions if v.change_kind == ChangeKind.REMOVED]

        def gone_since(checks: Iterable[FetchEntry], removal: VersionEntry | None) -> datetime | None:
            gone = [f.fetched_at for f in takewhile(lambda f: f.outcome == FetchOutcome.REMOVED, checks)]
            return min([*gone, *([removal.first_seen] if removal is not None else [])], default=None)

        if self.status == ArticleStatus.REMOVED:
            return Removal(gone_since(self.fetches, removals[-1] if removals else None), None, None)
        restorations = [v for v in self.versions if v.change_kind == ChangeKind.RESTORED]
        if not restorations:
            return Removal(None, None, None)
        restored = restorations[-1]
        before = [v for v in removals if v.seq < restored.seq]
        earlier = (f for f in self.fetches if f.fetched_at < restored.first_seen)  # newest first
        removed_at = gone_since(earlier, before[-1]) if before else None
        return Removal(None, restored.first_seen, removed_at)


@dataclass(frozen=True)
class Removal:
    """Whether an article is gone now, or came back after a removal (the article page's banner)."""

    removed_since: datetime | None  # set while the article is removed
    restored_at: datetime | None  # the latest restoration, when it is live again
    removed_at: datetime | None  # the removal that restoration ended


def get_article(session: Session, article_id: int) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise NotFoundError(f"no article {article_id}")
    return article


def article_page(session: Session, article_id: int) -> ArticlePage:
    article = get_article(session, article_id)
    versions = versions_of(session, article_id)
    entries = version_entries(session, article_id, versions)
    labels = {v.id: e.label for v, e in zip(versions, entries, strict=True)}
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
            **_fetch_fields(f, seq_by_id),
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
        current=VersionRecord.of(current) if current is not None else None,
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
# Diffs (`mediawatch diff`, /articles/{id}/diff, /api/articles/{id}/diff)


def diff_pair(versions: list[Version], a: int | None = None, b: int | None = None) -> tuple[Version, Version]:
    """The one rule for which two versions a diff compares (docs/archivist.md, Diffs):

    - neither given: the last two versions that carry text (a removal has none);
    - only ``a``: version ``a`` against the newest version;
    - only ``b``: the first version against version ``b``;
    - both: those two.
    """
    if a is None and b is None:
        with_text = [v for v in versions if v.text]
        if len(with_text) < 2:
            raise NotFoundError("the article has fewer than two versions with text to compare")
        return with_text[-2], with_text[-1]
    by_seq = {v.seq: v for v in versions}
    for seq in (a, b):
        if seq is not None and seq not in by_seq:
            raise NotFoundError(f"the article has no version {seq}")
    return (by_seq[a] if a is not None else versions[0], by_seq[b] if b is not None else versions[-1])


@dataclass(frozen=True)
class VersionRef:
    """One side of a diff: which version, and when it was first seen."""

    seq: int
    change_kind: ChangeKind
    first_seen: datetime
    title: str | None

    @classmethod
    def of(cls, v: Version) -> VersionRef:
        return cls(v.seq, v.change_kind, v.first_seen, v.title)


@dataclass(frozen=True)
class DiffPage:
    article_id: int
    url: str
    old: Version = json_field(skip=True)  # written as "from" (a VersionRef)
    new: Version = json_field(skip=True)  # written as "to"
    comparison: Comparison = json_field(skip=True)  # written as summary, metadata, rows
    choices: list[tuple[int, str]] = json_field(skip=True)  # (seq, label) of every version, for the pickers
    changed_only: bool = False

    json_extra: ClassVar[dict[str, Any]] = {
        "from": lambda page: VersionRef.of(page.old),
        "to": lambda page: VersionRef.of(page.new),
        "identical": lambda page: page.identical,
        "summary": lambda page: page.comparison.summary,
        "metadata": lambda page: page.comparison.metadata,
        "rows": lambda page: page.rows,
        "ops": lambda page: page.ops,
    }

    @property
    def identical(self) -> bool:
        return no_differences(self.comparison)

    @property
    def rows(self) -> list[Any]:
        """The paragraph rows shown: all, or only the changed ones with ``changed_only``."""
        if self.identical:
            return []
        return [r for r in visible_rows(self.comparison.rows, self.changed_only) if not isinstance(r, int)]

    @property
    def ops(self) -> list[Op]:
        """The inline word edit script of the whole text (without its equal runs with ``changed_only``)."""
        if self.identical:
            return []
        return [
            op for op in word_ops(self.old.text, self.new.text) if not self.changed_only or op.kind != "equal"
        ]


def version_choices(versions: list[Version]) -> list[tuple[int, str]]:
    return [
        (v.seq, f"{v.seq} — {v.first_seen:%Y-%m-%d %H:%M:%S} UTC ({v.change_kind.value})") for v in versions
    ]


def diff_page(
    session: Session,
    article_id: int,
    a: int | None = None,
    b: int | None = None,
    *,
    changed_only: bool = False,
) -> DiffPage:
    article = get_article(session, article_id)
    versions = versions_of(session, article_id)
    if not versions:
        raise NotFoundError("the article has no versions")
    old, new = diff_pair(versions, a, b)
    return DiffPage(
        article.id,
        article.canonical_url,
        old,
        new,
        compare(old, new),
        version_choices(versions),
        changed_only,
    )


# ---------------------------------------------------------------------------------------------
# Feed of recent edits (/feeds/edits.atom, /api/feeds/edits)


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


# ---------------------------------------------------------------------------------------------
# Candidates: pages just under the topic threshold (archive/candidates.py keeps them)


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
