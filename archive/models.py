"""The archive's tables, as SQLAlchemy 2.0 typed models.

Every schema change is an Alembic migration (``alembic/versions``); CI runs
``alembic check`` so these models and the migrations never drift apart.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import text
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always returned timezone-aware (UTC).

    SQLite has no time zones; storing naive UTC on both backends keeps comparisons and
    ordering identical on SQLite and PostgreSQL.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SourceKind(enum.StrEnum):
    FEED = "feed"
    SITEMAP = "sitemap"
    NEWS_SITEMAP = "news-sitemap"
    DISCOVERY = "discovery"
    MANUAL = "manual"


class ArticleStatus(enum.StrEnum):
    LIVE = "live"
    REMOVED = "removed"
    REDIRECTED = "redirected"


class ChangeKind(enum.StrEnum):
    FIRST = "first"
    TEXT = "text"
    METADATA = "metadata"
    REMOVED = "removed"
    RESTORED = "restored"
    REDERIVED = "rederived"  # re-extracted from stored raw HTML by a newer extractor; not an edit


class FetchOutcome(enum.StrEnum):
    NEW_VERSION = "new-version"
    UNCHANGED = "unchanged"
    NOT_MODIFIED = "not-modified"
    REMOVED = "removed"
    SUSPECT = "suspect"
    ERROR = "error"
    SKIPPED = "skipped"


class FetchOrigin(enum.StrEnum):
    """Where the evidence of a fetch comes from."""

    CRAWL = "crawl"  # observed by us
    IMPORT = "import"  # imported from another tool's archive (JSON Lines)
    WARC = "warc"  # imported from a WARC/ARC file
    BACKFILL = "backfill"  # taken from a public web archive (Wayback) after the fact


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a member needs no ALTER TYPE.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


class Source(Base):
    __tablename__ = "source"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[SourceKind] = mapped_column(_enum(SourceKind, "source_kind"))
    url: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Article(Base):
    __tablename__ = "article"
    # The statistics count each outlet's articles first captured in a window (the days not in
    # outlet_day_summary, and its recount) from this index alone
    # (docs/statistics.md, How the figures stay fast).
    __table_args__ = (Index("ix_article_source_id_first_seen", "source_id", "first_seen"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    canonical_url: Mapped[str] = mapped_column(Text, unique=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_checked: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_check: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_changed: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[ArticleStatus] = mapped_column(
        _enum(ArticleStatus, "article_status"), default=ArticleStatus.LIVE
    )
    relevance: Mapped[float | None] = mapped_column(Float)
    # Revisit bookkeeping, kept on the article so the nightly revisit needs no join:
    # conditional-GET validators and the raw-bytes digest of the last healthy capture.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_raw_sha256: Mapped[str | None] = mapped_column(String(64))
    version_count: Mapped[int] = mapped_column(Integer, default=0)
    # Issue 5: which version the page currently shows (set while it flip-flops between
    # versions already archived; None means the latest), and a state seen once that needs
    # confirming on a later check before it is recorded (a removal, a wall, a collapse).
    current_seq: Mapped[int | None] = mapped_column(Integer)
    pending_key: Mapped[str | None] = mapped_column(String(64))
    pending_label: Mapped[str | None] = mapped_column(String(32))
    pending_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    versions: Mapped[list[Version]] = relationship(
        back_populates="article", lazy="raise", order_by="Version.seq"
    )
    urls: Mapped[list[ArticleURL]] = relationship(back_populates="article", lazy="raise")


class ArticleURL(Base):
    """Every other URL that led to the same article (aliases, redirects, AMP, tracking variants)."""

    __tablename__ = "article_url"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="alias")
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)

    article: Mapped[Article] = relationship(back_populates="urls", lazy="raise")


class Blob(Base):
    """Raw captured bytes, content-addressed by SHA-256 and zstd-compressed; stored once."""

    __tablename__ = "blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    compression: Mapped[str] = mapped_column(String(8), default="zstd")
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Version(Base):
    """One distinct state of an article."""

    __tablename__ = "version"
    __table_args__ = (
        UniqueConstraint("article_id", "seq", name="uq_version_article_id_seq"),
        Index("ix_version_text_sha256", "text_sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str | None] = mapped_column(Text)
    byline: Mapped[str | None] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(40))
    modified: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(16))
    sitename: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    extractor: Mapped[str] = mapped_column(String(64))
    change_kind: Mapped[ChangeKind] = mapped_column(_enum(ChangeKind, "change_kind"))
    # Free-form flags a reader should see next to the change (e.g. "revert", "lossy-decoding").
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blob.sha256"))

    article: Mapped[Article] = relationship(back_populates="versions", lazy="raise")


class CrawlRun(Base):
    __tablename__ = "crawl_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    status: Mapped[str] = mapped_column(String(24), default="running")
    counters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text)


class Fetch(Base):
    """Every check of an article, whatever came of it: the archivist's evidence."""

    __tablename__ = "fetch"
    __table_args__ = (
        Index("ix_fetch_article_id_fetched_at", "article_id", "fetched_at"),
        Index("ix_fetch_outcome_fetched_at", "outcome", "fetched_at"),  # failed fetches per day
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("version.id", ondelete="SET NULL"))
    crawl_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("crawl_run.id", ondelete="SET NULL"), index=True
    )
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    url: Mapped[str] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[FetchOutcome] = mapped_column(_enum(FetchOutcome, "fetch_outcome"))
    message: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[FetchOrigin] = mapped_column(_enum(FetchOrigin, "fetch_origin"), default=FetchOrigin.CRAWL)
    # The response's original HTTP headers as [name, value] pairs (bounded), so a WARC export can
    # reproduce them; None when unknown.
    http_headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    # The WARC-Record-ID this fetch was imported from (or a derived id for ARC input): importing
    # the same WARC again is recognised record by record.
    warc_record_id: Mapped[str | None] = mapped_column(String(255), index=True)


class SkippedURL(Base):
    """A page the crawler fetched and found off-topic: remembered so it is not fetched again."""

    __tablename__ = "skipped_url"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    relevance: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    crawl_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_run.id", ondelete="SET NULL"))


class FeedMemory(Base):
    """What the crawl kept of a feed's last successful parse, by the feed URL it requests.

    The validators (ETag, Last-Modified) make the next fetch of the feed conditional; a 304, or a
    body whose SHA-256 equals ``body_sha256``, means the feed is unchanged and the crawl takes its
    links from here instead of parsing it again. ``links`` is a JSON list of ``[url, title,
    published]`` (published as ISO 8601 or null), as the parse produced them: a value read from a
    third-party document, checked again when it is read (docs/crawling.md, Unchanged feeds)."""

    __tablename__ = "feed_memory"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)  # as requested (before any redirect)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    # SHA-256 (hex) of the body as Scrapy delivered it: after the HTTP Content-Encoding is
    # decoded, before parse_feed's own gunzip of a .gz document.
    body_sha256: Mapped[str] = mapped_column(String(64))
    links: Mapped[str] = mapped_column(Text)  # JSON text, decoded (and checked) per row on reading
    dropped: Mapped[int] = mapped_column(Integer, default=0)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)


# A candidate's status: open (waiting for an archivist), promoted (now an article), dropped (under
# the candidate margin after a rescore).
CANDIDATE_OPEN, CANDIDATE_PROMOTED, CANDIDATE_DROPPED = "open", "promoted", "dropped"
CANDIDATE_STATUSES = (CANDIDATE_OPEN, CANDIDATE_PROMOTED, CANDIDATE_DROPPED)


class Candidate(Base):
    """A page that scored a little under the topic threshold: its extracted text and score are
    kept (no versions, no revisits) so an archivist can promote it to a watched article, and a
    changed topic or threshold can be applied to it later without fetching it again."""

    __tablename__ = "candidate"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)  # normalised, like skipped_url.url
    fetched_url: Mapped[str] = mapped_column(Text)  # as fetched (after redirects)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    crawl_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_run.id", ondelete="SET NULL"))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the stored text was fetched
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    extracted: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the other metadata
    score: Mapped[float] = mapped_column(Float)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # open: waiting for an archivist; promoted: now an article; dropped: under the candidate margin.
    status: Mapped[str] = mapped_column(Text, default="open", index=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("article.id", ondelete="SET NULL"))


# ---------------------------------------------------------------------------------------------
# Republication links (issue 5): MinHash signatures, their LSH band buckets, and the links.


class TextSignature(Base):
    """The MinHash signature of one version's text (little-endian uint32 hash values)."""

    __tablename__ = "text_signature"

    version_id: Mapped[int] = mapped_column(ForeignKey("version.id", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), index=True)
    num_perm: Mapped[int] = mapped_column(Integer)
    hashvalues: Mapped[bytes] = mapped_column(LargeBinary)


class LshBucket(Base):
    """One LSH band of a signature: ``key`` hashes the band number and its rows (signed 64-bit).

    A near-duplicate lookup is one indexed ``key IN (…)`` query over the bands of the new text.
    """

    __tablename__ = "lsh_bucket"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("text_signature.version_id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(Integer)


class DuplicateLink(Base):
    """Two articles carrying the same (exact) or nearly the same (near) text.

    Stored once per pair with ``article_id < other_id``; ``first_article_id`` is the copy
    seen first. Duplicates are linked, never dropped.
    """

    __tablename__ = "duplicate_link"
    __table_args__ = (UniqueConstraint("article_id", "other_id", name="uq_duplicate_link_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "exact" | "near"
    similarity: Mapped[float] = mapped_column(Float)
    first_article_id: Mapped[int] = mapped_column(Integer)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VersionChange(Base):
    """What each version changed, computed once when it is written: the facts the statistics
    count (docs/statistics.md), kept apart from the version so that counting them reads small
    rows instead of article texts, and so that a change label is not recomputed per request."""

    __tablename__ = "version_change"
    # Covering indexes: the statistics read these columns only, in these orders (per article for
    # the per-outlet figures, by time for the per-day ones), so they never visit the table itself.
    __table_args__ = (
        Index(
            "ix_version_change_facts",
            "article_id",
            "seq",
            "edit",
            "label",
            "notice",
            "change_kind",
            "first_seen",
        ),
        Index("ix_version_change_by_time", "first_seen", "edit", "change_kind", "label"),
    )

    version_id: Mapped[int] = mapped_column(ForeignKey("version.id", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    change_kind: Mapped[ChangeKind] = mapped_column(_enum(ChangeKind, "change_kind"))
    # An edit: a text change that is not a wall or paywall coming down, and not (or no longer)
    # one side of a flip-flop. Cleared when the version later turns out to flip-flop.
    edit: Mapped[bool] = mapped_column(Boolean, default=False)
    # The change label against the previous version with text (None for a first version and a removal).
    label: Mapped[str | None] = mapped_column(String(16))
    words_added: Mapped[int] = mapped_column(Integer, default=0)
    words_removed: Mapped[int] = mapped_column(Integer, default=0)
    notice: Mapped[str | None] = mapped_column(String(16))  # "correction" | "update" | None


class ArticleChangeSummary(Base):
    """What the later versions of one article add up to: the per-article sums the per-outlet
    statistics count (docs/statistics.md, How the figures stay fast), so that a page of
    statistics reads one small row per changed article instead of grouping every version.

    One row per article with more than one version, recomputed from the article's
    ``version_change`` rows (never incremented) whenever a version is written or found to
    flip-flop, in the same transaction."""

    __tablename__ = "article_change_summary"
    # Also ix_article_change_summary_edited, a partial index: see declare_partial_indexes().
    __table_args__ = (Index("ix_article_change_summary_article_first_seen", "article_first_seen"),)

    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), primary_key=True)
    # The article's outlet, copied; kept equal to it by the database itself (a trigger on
    # article.source_id, and SET NULL when the source is deleted, as for the article).
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    edits: Mapped[int] = mapped_column(Integer)
    substantive: Mapped[int] = mapped_column(Integer)  # edits labelled substantive
    corrections: Mapped[int] = mapped_column(Integer)  # edits adding a correction notice
    updates: Mapped[int] = mapped_column(Integer)  # edits adding an update notice
    removals: Mapped[int] = mapped_column(Integer)
    restorations: Mapped[int] = mapped_column(Integer)
    # The article's first capture, copied (it never changes): a window's articles are picked here,
    # and only theirs are looked up for their outlet.
    article_first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    first_edit: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the first edit's first capture
    # Seconds from the article's first capture to its first edit (computed once here, not per page).
    first_edit_delay: Mapped[float | None] = mapped_column(Float)


class OutletDaySummary(Base):
    """What the articles of one outlet first captured on one UTC day add up to: the per-outlet
    statistics sum these rows (at most outlets × days) instead of one row per changed article
    (docs/statistics.md, How the figures stay fast).

    Recounted, never incremented, from ``article`` and ``article_change_summary`` for the days
    listed in ``stale_summary_day``, once at the end of each job (and by the migration and
    ``db copy``); until then the statistics count a stale day from the rows themselves."""

    __tablename__ = "outlet_day_summary"
    __table_args__ = (Index("ix_outlet_day_summary_day_source_id", "day", "source_id"),)

    # A surrogate key: the article's outlet may be none. No foreign key on the outlet: only the
    # recount writes these rows (a source's deletion marks its days stale instead, by trigger),
    # so no other writer ever waits on them or makes the recount wait.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)  # the UTC day of the articles' first capture
    articles: Mapped[int] = mapped_column(Integer)
    edited: Mapped[int] = mapped_column(Integer)  # articles with at least one edit
    edits: Mapped[int] = mapped_column(Integer)
    substantive: Mapped[int] = mapped_column(Integer)
    corrections: Mapped[int] = mapped_column(Integer)
    updates: Mapped[int] = mapped_column(Integer)
    removals: Mapped[int] = mapped_column(Integer)
    restorations: Mapped[int] = mapped_column(Integer)
    # Edited articles whose first edit came less than this long after their first capture.
    first_edit_under_1h: Mapped[int] = mapped_column(Integer)
    first_edit_under_6h: Mapped[int] = mapped_column(Integer)
    first_edit_under_24h: Mapped[int] = mapped_column(Integer)
    first_edit_under_3d: Mapped[int] = mapped_column(Integer)
    first_edit_under_7d: Mapped[int] = mapped_column(Integer)


class DaySummary(Base):
    """The per-day statistics of one UTC day: new articles, edits by label and removals dated by
    their first capture, failed fetches. Recounted like ``outlet_day_summary``."""

    __tablename__ = "day_summary"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    new_articles: Mapped[int] = mapped_column(Integer)
    edits_substantive: Mapped[int] = mapped_column(Integer)
    edits_minor: Mapped[int] = mapped_column(Integer)
    edits_cosmetic: Mapped[int] = mapped_column(Integer)
    edits_none: Mapped[int] = mapped_column(Integer)
    edits_unlabelled: Mapped[int] = mapped_column(Integer)
    removals: Mapped[int] = mapped_column(Integer)
    failed_fetches: Mapped[int] = mapped_column(Integer)


class StaleSummaryDay(Base):
    """A UTC day whose ``outlet_day_summary`` and ``day_summary`` rows may be out of date.

    Written by the database itself (triggers on ``article``, ``article_change_summary``,
    ``version_change``, ``fetch`` and ``source``), one row per written row that changes a day's
    figures: a plain insert, never an update of a shared row, so concurrent writers never wait on
    each other here. The recount at the end of a job deletes the rows it has seen."""

    __tablename__ = "stale_summary_day"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)


def declare_partial_indexes() -> None:
    """Add the archive's partial indexes to the metadata (once; calling again changes nothing).

    A partial index's WHERE clause is a dialect keyword (``postgresql_where``), and declaring one
    imports that dialect's whole package with every driver module — about 40 ms on each start of
    every command, most of which never touch PostgreSQL. The migrations create these indexes; only
    what compares or creates the schema from the metadata (Alembic's environment, for
    ``alembic check`` and autogenerate) needs them declared, and calls this first.
    """
    table = ArticleChangeSummary.__table__
    assert isinstance(table, Table)
    if any(index.name == "ix_article_change_summary_edited" for index in table.indexes):
        return
    # Each outlet's edited articles in order of their delay to the first edit: a percentile is
    # read at its rank, without sorting.
    Index(
        "ix_article_change_summary_edited",
        table.c.source_id,
        table.c.first_edit_delay,
        table.c.article_first_seen,
        table.c.edits,
        sqlite_where=text("edits > 0"),
        postgresql_where=text("edits > 0"),
    )
