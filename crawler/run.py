"""One crawl, start to finish: plan, run the spider in this process, fill in the crawl's run.

``mediawatch crawl`` opens the job (the run lock and the crawl_run row, archive/jobs.py) and
calls :func:`run_crawl` inside it; the crawl records its summary on the run and says how it
ended. A crawl runs in its own process: Scrapy's reactor cannot be started twice, so
``run_crawl`` may be called once per process (the CLI is one process per invocation).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from archive.db import Archive
from archive.errors import DatabaseError, Interrupted, MediawatchError
from archive.lookups import in_chunks
from archive.models import (
    Article,
    ArticleStatus,
    ArticleURL,
    FeedMemory,
    SkippedURL,
    Source,
    SourceKind,
)
from archive.policy import revisit_ladder
from archive.runs import OpenRun, RunStatus, top_causes
from crawler.config import (
    DEFAULT_SOURCES,
    DEFAULT_TOPIC,
    SourcesFile,
    capture_options,
    discovery_feed_urls,
    load_sources,
    load_topic,
)
from crawler.relevance import Relevance
from crawler.settings import CrawlSettings, contact_is_placeholder, scrapy_settings
from crawler.state import CrawlPlan, CrawlState, KnownFeed, PlannedSource, Revisit

if TYPE_CHECKING:
    from crawler.progress import CrawlProgress

logger = logging.getLogger(__name__)

RevisitMode = Literal["due", "all", "none"]


class AllSourcesFailed(MediawatchError):
    """Every source's feeds and sitemaps failed: the run found nothing it could read."""

    exit_code = 5


class CrawlAborted(MediawatchError):
    """The crawl could not complete (the crawler stopped with an error)."""

    exit_code = 6


@dataclass
class CrawlOptions:
    sources_path: Path | None = None  # None: config/sources.yaml
    topic_path: Path | None | Literal["none"] = None  # None: config/topic.yaml; "none": keep everything
    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    revisit: RevisitMode = "due"
    discovery: bool = True
    allow_private_networks: bool = False
    extract_workers: int | None = None
    warc_dir: Path | None = None  # also write what was fetched as WARC files here
    warc_max_size: int | None = None  # bytes per WARC file [default: the sources file's, 1 GB]
    progress: Callable[[CrawlProgress], None] | None = None  # the progress bar (crawler/progress.py)
    cluster: str | None = None  # a Dask scheduler's address: extract on its workers (crawler/cluster.py)


@dataclass
class CrawlReport:
    run_id: int
    status: RunStatus
    message: str | None  # why it did not complete (None when it did)
    started_at: datetime
    finished_at: datetime
    counters: dict[str, int]
    failures: dict[str, int]
    sources: dict[str, dict[str, int]]
    sources_ok: list[str]
    sources_failed: list[str]
    finish_reason: str | None
    stats: dict[str, Any]
    # The error the command exits with once the summary is shown (exit 5, 6 or 143), or None.
    error: BaseException | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": str(self.status),
            "message": self.message,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "counters": self.counters,
            "failures": self.failures,
            "sources": self.sources,
            "sources_ok": self.sources_ok,
            "sources_failed": self.sources_failed,
            "finish_reason": self.finish_reason,
            "warc": {k[16:]: v for k, v in self.stats.items() if k.startswith("mediawatch/warc/")},
            "elapsed_seconds": self.stats.get("elapsed_time_seconds"),
            "cpu_seconds": self.stats.get("mediawatch/cpu_seconds"),
            # of which the database writer thread (crawler/writer.py)
            "db_cpu_seconds": self.stats.get("mediawatch/db_cpu_seconds"),
            # how long the first page to extract waited for the extraction workers to start
            "extraction_start_seconds": self.stats.get("mediawatch/extraction_pool_start_seconds"),
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _upsert_source(
    session: Any, name: str, kind: SourceKind, url: str, lang: str | None, tags: list[str]
) -> int:
    existing = session.scalar(select(Source).where(Source.name == name))
    if existing is None:
        existing = Source(name=name, kind=kind, url=url, language=lang, tags=tags, enabled=True)
        session.add(existing)
        session.flush()
    else:
        existing.url, existing.language, existing.tags = url, lang, tags
    return int(existing.id)


def plan_sources(
    archive: Archive, sources: SourcesFile, relevance_topic: Any, options: CrawlOptions
) -> list[PlannedSource]:
    planned: list[PlannedSource] = []
    with archive.transaction() as session:
        if options.feeds or options.sitemaps:
            for url in options.feeds:
                sid = _upsert_source(session, f"feed {url}"[:200], SourceKind.FEED, url, None, ["manual"])
                planned.append(PlannedSource(f"feed {url}"[:200], sid, feeds=(url,)))
            for url in options.sitemaps:
                sid = _upsert_source(
                    session, f"sitemap {url}"[:200], SourceKind.SITEMAP, url, None, ["manual"]
                )
                planned.append(PlannedSource(f"sitemap {url}"[:200], sid, sitemaps=(url,)))
            return planned
        for s in sources.sources:
            if not s.enabled or not (s.feeds or s.sitemaps):
                continue
            kind = SourceKind.FEED if s.feeds else SourceKind.SITEMAP
            first = (s.feeds or s.sitemaps)[0].url
            tags = [t for t in (s.country, s.viewpoint, s.type) if t]
            sid = _upsert_source(session, s.name, kind, first, s.lang, tags)
            planned.append(
                PlannedSource(
                    s.name,
                    sid,
                    feeds=tuple(f.url for f in s.feeds),
                    sitemaps=tuple(f.url for f in s.sitemaps),
                    robots_sitemaps=s.robots_sitemaps,
                    trust_cross_domain_canonical=s.trust_cross_domain_canonical,
                )
            )
        if options.discovery:
            by_name: dict[str, list[str]] = {}
            for name, url in discovery_feed_urls(sources, relevance_topic):
                by_name.setdefault(name, []).append(url)
            for name, urls in by_name.items():
                sid = _upsert_source(session, name, SourceKind.DISCOVERY, urls[0], None, ["discovery"])
                planned.append(PlannedSource(name, sid, feeds=tuple(urls), discovery=True))
    return planned


def plan_revisits(archive: Archive, mode: RevisitMode, now: datetime) -> list[Revisit]:
    if mode == "none":
        return []
    stmt = select(
        Article.id,
        Article.canonical_url,
        Article.source_id,
        Article.etag,
        Article.last_modified,
        Article.last_raw_sha256,
    )
    if mode == "due":
        stmt = stmt.where(Article.next_check.is_not(None), Article.next_check <= now)
    else:
        stmt = stmt.where(or_(Article.status != ArticleStatus.REDIRECTED, Article.status.is_(None)))
    with archive.reading() as session:
        return [Revisit(*row) for row in session.execute(stmt.order_by(Article.next_check))]


def plan_feeds(archive: Archive, planned: list[PlannedSource]) -> dict[str, KnownFeed]:
    """What the last successful parse of each planned feed left (validators, body hash, links), by
    requested URL: read once here, so the spider never queries per feed. A row whose links cannot
    be read back is left out (logged): that feed is fetched unconditionally and parsed."""
    from crawler.discovery import links_from_json

    urls = sorted({url for source in planned for url in source.feeds})
    known: dict[str, KnownFeed] = {}
    with archive.reading() as session:
        for chunk in in_chunks(urls):
            rows = session.execute(
                select(
                    FeedMemory.url,
                    FeedMemory.etag,
                    FeedMemory.last_modified,
                    FeedMemory.body_sha256,
                    FeedMemory.links,
                    FeedMemory.dropped,
                ).where(FeedMemory.url.in_(chunk))
            )
            for url, etag, last_modified, body_sha256, links_json, dropped in rows:
                links = links_from_json(links_json)
                if links is None or not isinstance(body_sha256, str) or len(body_sha256) != 64:
                    logger.warning("the kept links of feed %s are unreadable; it is parsed again", url)
                    continue
                known[url] = KnownFeed(
                    url, etag, last_modified, body_sha256, tuple(links), max(0, int(dropped or 0))
                )
    return known


def plan_policies(archive: Archive, sources: SourcesFile) -> dict[int, dict[str, Any]]:
    """Capture options of every configured source with a policy, by Source id.

    Keyed by the archive's Source rows (matched by name), so revisits of a source's articles
    get its policy even when this run crawls other feeds (``--feed``) or the source is disabled.
    """
    wanted = {
        s.name: capture_options(s)
        for s in sources.sources
        if s.archive is not None or s.trust_cross_domain_canonical
    }
    if not wanted:
        return {}
    with archive.reading() as session:
        rows = session.execute(select(Source.id, Source.name).where(Source.name.in_(list(wanted))))
        return {int(sid): wanted[name] for sid, name in rows}


def _known_urls(archive: Archive) -> tuple[set[str], set[str]]:
    with archive.reading() as session:
        known = set(session.scalars(select(Article.canonical_url)))
        known.update(session.scalars(select(ArticleURL.url)))
        skipped = set(session.scalars(select(SkippedURL.url)))
    return known, skipped


def run_crawl(archive: Archive, run: OpenRun, options: CrawlOptions) -> CrawlReport:
    """Run one crawl in this process as ``run`` (a job's run, under the run lock) and return its
    report; raises MediawatchError when it cannot run. The run's counters get the crawl's
    summary and its end says how the crawl ended (completed, failed or interrupted)."""
    sources = load_sources(options.sources_path or DEFAULT_SOURCES)
    if options.topic_path == "none":
        topic = None
    else:
        topic = load_topic(options.topic_path or DEFAULT_TOPIC)
    relevance = Relevance(topic) if topic is not None else None
    warc_dir = options.warc_dir or sources.defaults.warc_dir
    if warc_dir:
        from crawler.warccapture import prepare_directory

        prepare_directory(Path(warc_dir))
    started = run.started_at
    try:
        planned = plan_sources(archive, sources, topic, options)
        revisits = plan_revisits(archive, options.revisit, started)
        feeds = plan_feeds(archive, planned)
        known, skipped = _known_urls(archive)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot prepare the crawl in the database: {exc}") from None
    run_id = run.id

    google_news = sources.discovery.google_news
    plan = CrawlPlan(
        run_id=run_id,
        sources=planned,
        revisits=revisits,
        sitemap_since=started - timedelta(days=sources.defaults.sitemap_window_days),
        policies=plan_policies(archive, sources),
        default_ladder=revisit_ladder(sources.defaults.revisit),
        google_news_host=google_news.host if google_news.enabled else None,
        # decode_links: false leaves every Google News link undecoded (skipped, never fetched).
        max_google_decodes=google_news.max_decodes_per_run if google_news.decode_links else 0,
        feeds=feeds,
    )
    state = CrawlState(
        plan=plan,
        sessions=archive.sessions,
        relevance=relevance,
        known=known,
        skipped=skipped,
        progress=options.progress,
    )
    overrides: dict[str, Any] = {"allow_private_networks": options.allow_private_networks}
    if options.extract_workers:
        overrides["extract_workers"] = options.extract_workers
    if options.warc_dir is not None:
        overrides["warc_dir"] = str(options.warc_dir)
    if options.warc_max_size is not None:
        overrides["warc_max_size"] = options.warc_max_size
    crawl_settings = CrawlSettings.from_defaults(sources.defaults, **overrides)
    if contact_is_placeholder(crawl_settings.contact_url):  # once per crawl, never per request
        logger.warning(
            "the User-Agent's contact URL is still the default (%s): set defaults.contact_url in the "
            "sources file to a page where site owners can reach you",
            crawl_settings.contact_url,
        )
    settings = scrapy_settings(crawl_settings)
    settings["DOWNLOAD_SLOTS"] = _discovery_slots(sources)
    settings["MEDIAWATCH_CRAWL_RUN_ID"] = run_id
    if options.cluster is not None:
        from crawler.cluster import crawl_extraction

        # Connected before the reactor starts, and closed after it stopped.
        with crawl_extraction(options.cluster, crawl_settings.extract_timeout) as pool_factory:
            settings["MEDIAWATCH_EXTRACTION_POOL"] = pool_factory
            stats, finish_reason = _run_spider(settings, state)
    else:
        stats, finish_reason = _run_spider(settings, state)

    finished = _now()
    summary = state.as_dict()
    summary["finish_reason"] = finish_reason
    run.record(summary)
    if state.database_error is not None:
        # The job records the run as failed with this line (or, if the database is gone for
        # good, the next run closes it as abandoned).
        raise DatabaseError(
            f"crawl run {run_id} stopped: the archive database is unavailable ({state.database_error})"
        )
    status, message, error = crawl_outcome(run_id, finish_reason, bool(planned), state)
    run.end(status, message)
    return CrawlReport(
        run_id=run_id,
        status=status,
        message=message,
        started_at=started,
        finished_at=finished,
        counters=summary["counters"],
        failures=summary["failures"],
        sources=summary["sources"],
        sources_ok=summary["sources_ok"],
        sources_failed=summary["sources_failed"],
        finish_reason=finish_reason,
        stats={k: v for k, v in stats.items() if isinstance(v, int | float | str)},
        error=error,
    )


def crawl_outcome(
    run_id: int, finish_reason: str | None, tried_sources: bool, state: CrawlState
) -> tuple[RunStatus, str | None, BaseException | None]:
    """How a crawl that ran ended: its run status, the one line `runs` and `report` show, and the
    error the command exits with (docs/running.md, Exit codes)."""
    if finish_reason == "shutdown":  # Scrapy's name for SIGTERM/SIGINT (a deadline, systemctl stop)
        stopped = Interrupted(f"crawl run {run_id} stopped by SIGTERM/SIGINT; what it fetched is recorded")
        return RunStatus.INTERRUPTED, "stopped by SIGTERM or SIGINT", stopped
    if tried_sources and not state.source_ok:
        causes = top_causes(state.failures)
        message = "every source failed" + (f": {causes}" if causes else "")
        return (
            RunStatus.FAILED,
            message,
            AllSourcesFailed(f"every source failed (crawl run {run_id}): {causes or 'see the log above'}"),
        )
    if finish_reason not in (None, "finished"):
        message = f"the crawler stopped: {finish_reason}"
        return RunStatus.FAILED, message, CrawlAborted(f"crawl run {run_id} did not complete: {message}")
    return RunStatus.COMPLETED, None, None


def _discovery_slots(sources: SourcesFile) -> dict[str, dict[str, Any]]:
    # The web-wide search services ask for low rates (docs/crawling.md, Politeness): one request at a
    # time, spaced.
    gn = sources.discovery.google_news
    google_host = urlsplit(gn.template).hostname or "news.google.com"
    return {
        google_host: {"concurrency": 1, "delay": gn.min_interval_seconds},
        "api.gdeltproject.org": {"concurrency": 1, "delay": sources.discovery.gdelt_doc.min_interval_seconds},
    }


def _run_spider(settings: dict[str, Any], state: CrawlState) -> tuple[dict[str, Any], str | None]:
    from scrapy.crawler import CrawlerProcess

    from crawler.spiders import ArchiveSpider

    # Scrapy's own chatter only when mediawatch runs with -v / -vv (Scrapy resets its loggers
    # to DEBUG when it starts, so the filter sits on the handlers).
    quiet = _QuietScrapy(logging.getLogger().getEffectiveLevel())
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
    process = CrawlerProcess(settings={**settings, "LOG_INSTALL_ROOT_HANDLER": False})
    # ...and Scrapy's DEBUG lines (two per page: crawled, scraped) are not even made: the filter
    # would drop them, after a log record had cost each page a stack walk.
    logging.getLogger("scrapy").setLevel(quiet.level)
    crawler = process.create_crawler(ArchiveSpider)
    process.crawl(crawler, state=state)
    # Scrapy handles SIGTERM/SIGINT while it runs (finishing the requests in flight); afterwards
    # the job's handlers are back, so a signal during the summary still ends the run cleanly.
    saved = (
        {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
        if threading.current_thread() is threading.main_thread()
        else {}
    )
    try:
        process.start()
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    return stats, stats.get("finish_reason")


class _QuietScrapy(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = max(level, logging.INFO)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(("scrapy", "twisted", "py.warnings", "protego", "filelock")):
            return record.levelno >= max(self.level, logging.WARNING if record.name != "scrapy" else 0)
        return True
