"""What one crawl knows and counts: the plan, the URLs already known, and the counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from archive.lookups import normalize_url_or_none
from archive.schedule import Rung
from crawler.relevance import Relevance

if TYPE_CHECKING:
    from crawler.discovery import Link
    from crawler.progress import CrawlProgress


@dataclass(frozen=True)
class PlannedSource:
    name: str
    source_id: int | None
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    robots_sitemaps: bool = False
    trust_cross_domain_canonical: bool = False
    discovery: bool = False  # a web-wide search feed (Google News, GDELT)


@dataclass(frozen=True)
class Revisit:
    article_id: int
    url: str
    source_id: int | None
    etag: str | None
    last_modified: str | None
    raw_sha256: str | None


@dataclass(frozen=True)
class KnownFeed:
    """A feed as its last successful parse left it (archive.models.FeedMemory), read at planning."""

    url: str  # as requested
    etag: str | None
    last_modified: str | None
    body_sha256: str
    links: tuple[Link, ...]
    dropped: int


REVISIT_SOURCE = "(revisit)"


@dataclass
class CrawlPlan:
    run_id: int
    sources: list[PlannedSource]
    revisits: list[Revisit]
    sitemap_since: datetime | None
    max_sitemap_depth: int = 3
    max_sitemaps: int = 500
    max_urls_per_sitemap: int = 50_000
    max_new_pages: int = 100_000
    # Capture options (``SourcePolicy.capture_options()``) by Source id, for new pages and revisits.
    policies: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Google News links on this host are decoded to the publisher's URL (crawler/gnews.py).
    google_news_host: str | None = None
    max_google_decodes: int = 200
    # The sources file's default revisit ladder (for sources without their own); None: the built-in.
    default_ladder: tuple[Rung, ...] | None = None
    # The planned feeds' validators and last links, by requested URL (feeds never parsed: absent).
    feeds: dict[str, KnownFeed] = field(default_factory=dict)


@dataclass
class CrawlState:
    plan: CrawlPlan
    sessions: sessionmaker[Session]
    relevance: Relevance | None
    known: set[str]  # normalised URLs of archived articles and their aliases
    skipped: set[str]  # normalised URLs remembered as off-topic
    # Called a few times a second while the spider runs (crawler/progress.py); None: no reports.
    progress: Callable[[CrawlProgress], None] | None = None
    queued: set[str] = field(default_factory=set)
    visited_sitemaps: set[str] = field(default_factory=set)
    counters: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    per_source: dict[str, Counter[str]] = field(default_factory=dict)
    source_ok: set[str] = field(default_factory=set)
    source_failed: set[str] = field(default_factory=set)
    planned_pages: int = 0
    done_pages: int = 0
    database_error: str | None = None  # set when a write failed because the database is unavailable

    def source(self, name: str) -> PlannedSource | None:
        for s in self.plan.sources:
            if s.name == name:
                return s
        return None

    def claim(self, url: str, *, page: bool = True) -> bool:
        """Whether a discovered URL should be fetched now (new, not off-topic, not queued).

        ``page=False`` for a link that only leads to a page (a Google News link): it is not a page
        of the progress count itself.
        """
        key = normalize_url_or_none(url)
        if key is None:
            self.count(None, "dropped_url")
            return False
        if key in self.known or url in self.known:
            self.count(None, "already_known")
            return False
        if key in self.skipped:
            self.count(None, "skipped_known_offtopic")
            return False
        if key in self.queued or len(self.queued) >= self.plan.max_new_pages:
            return False
        self.queued.add(key)
        self.planned_pages += 1 if page else 0
        return True

    def count(self, source: str | None, key: str, n: int = 1) -> None:
        self.counters[key] += n
        if source is not None:
            self.per_source.setdefault(source, Counter())[key] += n

    def fail(self, source: str | None, reason: str) -> None:
        self.failures[reason] += 1
        self.count(source, "failed")

    def page_done(self) -> None:
        self.done_pages += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "counters": dict(self.counters),
            "failures": dict(self.failures),
            "sources": {k: dict(v) for k, v in sorted(self.per_source.items())},
            "sources_ok": sorted(self.source_ok),
            "sources_failed": sorted(self.source_failed - self.source_ok),
        }
