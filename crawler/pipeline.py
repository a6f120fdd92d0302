"""The item pipeline: extract (off the reactor thread) -> relevance -> ``archive.store.record``.

Unchanged pages never reach the extractor: a 304, or a 200 whose raw bytes hash to the
article's ``last_raw_sha256``, goes straight to the store, which confirms the latest version.
New pages are extracted in a process pool, scored against the topic, and either recorded or
remembered as off-topic (``skipped_url``) so they are not fetched again. A parsed feed's
validators, body hash and links are kept (``feed_memory``) for the next crawl. Database writes
run on one dedicated thread (crawler/writer.py), captures arriving together in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from archive.blobs import sha256_hex
from archive.candidates import Verdict, add_candidate
from archive.db import insert_ignore, write_retrying
from archive.derive import Derived
from archive.extract import Extracted, ExtractionError
from archive.health import assess
from archive.lookups import normalize_url_or_none
from archive.models import FeedMemory, FetchOutcome, SkippedURL
from archive.store import Capture, RecordResult, add_link_alias
from crawler.discovery import links_to_json
from crawler.extraction import ExtractionPool
from crawler.relevance import Score
from crawler.state import CrawlState
from crawler.writer import BatchWriter

logger = logging.getLogger(__name__)


def _not_on_this_thread(*_args: Any, **_kwargs: Any) -> Extracted:
    # The store only extracts when the pipeline did not; that would block the reactor.
    raise ExtractionError("page not extracted by the crawl pipeline")


def _now() -> datetime:
    return datetime.now(UTC)


class ArchivePipeline:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.settings = crawler.settings
        self.pool: ExtractionPool | None = None  # started with the spider (it needs the topic)
        self.writer: BatchWriter | None = None
        self.cpu_at_open = 0.0

    @classmethod
    def from_crawler(cls, crawler: Any) -> ArchivePipeline:
        return cls(crawler)

    def open_spider(self, spider: Any = None) -> None:
        state: CrawlState = self.crawler.spider.state
        self.writer = BatchWriter(state.sessions)
        # The topic scorer runs in the workers, beside the extraction it scores.
        # A factory of pools on a Dask cluster's workers with --cluster (crawler/cluster.py).
        make_pool = self.settings.get("MEDIAWATCH_EXTRACTION_POOL") or ExtractionPool
        self.pool = make_pool(
            self.settings.getint("MEDIAWATCH_EXTRACT_WORKERS", 1),
            self.settings.getfloat("MEDIAWATCH_EXTRACT_TIMEOUT", 60),
            score=state.relevance.score_extracted if state.relevance is not None else None,
        )
        # The workers start with the first page to extract (ExtractionPool.start), not here.
        self.cpu_at_open = time.process_time()

    def close_spider(self, spider: Any = None) -> None:
        if self.pool is not None:
            self.pool.close()
            self.stats.set_value("mediawatch/extraction_pool_restarts", self.pool.restarts)
            self.stats.set_value(
                "mediawatch/extraction_pool_start_seconds", round(self.pool.start_seconds, 3)
            )
        if self.writer is not None:
            self.writer.close()
            self.stats.set_value("mediawatch/db_batches", self.writer.batches)
            self.stats.set_value("mediawatch/db_cpu_seconds", round(self.writer.cpu_seconds, 3))
        # CPU time of the crawl process itself (its threads, not the extraction workers) while
        # the spider ran: what a revisit of unchanged pages costs here (bench/crawl_bench.py).
        self.stats.set_value("mediawatch/cpu_seconds", round(time.process_time() - self.cpu_at_open, 3))

    async def _in_db(self, fn: Any, *args: Any) -> Any:
        assert self.writer is not None
        return await asyncio.wrap_future(self.writer.call(fn, *args))

    async def _record(self, capture: Capture, extractor: Any) -> RecordResult:
        assert self.writer is not None
        return await self.writer.record(capture, extractor)

    def _inc(self, state: CrawlState, source: str | None, key: str) -> None:
        state.count(source, key)
        self.stats.inc_value(f"mediawatch/{key}")

    async def process_item(self, item: dict[str, Any], spider: Any = None) -> dict[str, Any]:
        state: CrawlState = self.crawler.spider.state
        try:
            if item.get("mw") == "source-failure":
                await self._source_failure(state, item)
            elif item.get("mw") == "link-alias":
                await self._in_db(self._link_alias, state, item)
            elif item.get("mw") == "feed-memory":
                await self._in_db(self._remember_feed, state, item)
            else:
                await self._page(state, item)
        except OperationalError as exc:  # the database is gone: every further page would fail too
            if state.database_error is None:
                state.database_error = str(exc).splitlines()[0][:300]
                logger.error("the archive database is unavailable; stopping the crawl: %s", exc)
                asyncio.ensure_future(self.crawler.engine.close_spider_async(reason="database-unavailable"))
        except Exception:  # the per-article boundary: one bad page never ends the run
            logger.exception("could not archive %s", item.get("url"))
            state.fail(item.get("source"), "internal error")
            self.stats.inc_value("mediawatch/failed/internal error")
        return {"url": item.get("url")}

    async def _source_failure(self, state: CrawlState, item: dict[str, Any]) -> None:
        source = state.source(item["source"])
        state.source_failed.add(item["source"])
        state.fail(item["source"], item["reason"])
        self.stats.inc_value("mediawatch/discovery_failed")
        self.stats.inc_value(f"mediawatch/failed/{item['reason'][:60]}")
        capture = Capture(
            url=item["url"],
            fetched_at=_now(),
            status=item["status"],
            error=f"discovery document unusable: {item['reason']}",
            crawl_run_id=state.plan.run_id,
            source_id=source.source_id if source else None,
        )
        await self._record(capture, _not_on_this_thread)

    async def _page(self, state: CrawlState, item: dict[str, Any]) -> None:
        source_name = item.get("source")
        source = state.source(source_name or "")
        revisit = item.get("revisit")
        source_id = source.source_id if source else (revisit.source_id if revisit else None)
        status = item.get("status")
        raw: bytes | None = item.get("body")
        policy = dict(state.plan.policies.get(source_id, {})) if source_id is not None else {}
        if source is not None and source.trust_cross_domain_canonical:
            policy["trust_cross_domain_canonical"] = True
        if policy.get("revisit_ladder") is None and state.plan.default_ladder is not None:
            policy["revisit_ladder"] = state.plan.default_ladder
        capture = Capture(
            url=item["url"],
            final_url=item.get("final_url"),
            fetched_at=_now(),
            status=status,
            raw=raw,
            content_type=item.get("content_type"),
            etag=item.get("etag"),
            last_modified=item.get("last_modified"),
            error=item.get("error"),
            crawl_run_id=state.plan.run_id,
            source_id=source_id,
            **policy,
        )
        state.page_done()
        extractor: Any = _not_on_this_thread
        if status == 304:
            self._inc(state, source_name, "not_modified")
        if raw is not None and status is not None and 200 <= status < 300:
            digest = sha256_hex(raw)
            if revisit is not None and revisit.raw_sha256 == digest:
                # Byte-identical: the store confirms the version without extracting.
                self._inc(state, source_name, "extraction_skipped")
                capture = _replace(capture, derived=Derived(raw_sha256=digest))
            else:
                # Extracted, scored and derived (key text, shingles, signature, compressed
                # bytes) in a worker: the one writer thread only looks up and inserts.
                assert self.pool is not None
                extracted: Extracted | None = None
                try:
                    prepared = await self.pool.prepare(
                        raw,
                        url=capture.final_url or capture.url,
                        content_type=capture.content_type,
                        patterns=capture.ignore_patterns,
                    )
                    capture = _replace(capture, derived=prepared.derived)
                    extracted = prepared.extracted
                    error = prepared.error
                except ExtractionError as exc:
                    error = str(exc)
                if extracted is not None:
                    self._inc(state, source_name, "extracted")
                else:
                    self._inc(state, source_name, "extraction_failed")
                    extractor = _ErrorExtractor(error or "not extracted")  # the store records it as suspect
                if extracted is not None and item.get("confirm") is not None:
                    capture = _replace(capture, confirm=await self._confirmation(state, item, extracted))
                if extracted is not None:
                    if state.relevance is not None:
                        score = prepared.score
                        capture = _replace(capture, extracted=extracted, relevance=score.score)
                        if revisit is None and not score.keep and assess(extracted, None) is None:
                            await self._in_db(self._remember_skipped, state, capture, score, source_id)
                            counter = "candidates" if score.candidate else "skipped_offtopic"
                            self._inc(state, source_name, counter)
                            return
                    else:
                        capture = _replace(capture, extracted=extracted)
        result = await self._record(capture, extractor)
        self._count_result(state, source_name, result, item)

    async def _confirmation(
        self, state: CrawlState, item: dict[str, Any], first: Extracted
    ) -> Extracted | None:
        """The confirming fetch, extracted in the pool (the store must not extract on its thread)."""
        second: bytes = item["confirm"]
        if second == item["body"]:
            return first
        assert self.pool is not None
        try:
            return await self.pool.extract(
                second, url=item.get("final_url") or item["url"], content_type=item.get("content_type")
            )
        except ExtractionError:
            self._inc(state, item.get("source"), "confirm_unextractable")
            return None

    def _link_alias(self, state: CrawlState, item: dict[str, Any]) -> None:
        """A link (a Google News one) resolved to an archived or off-topic URL: remember it."""
        at = _now()
        key = normalize_url_or_none(item["url"])
        if key is None:
            return
        with state.sessions.begin() as session:
            if add_link_alias(session, item["url"], item["target"], at):
                state.count(item.get("source"), "link_aliases")
            elif normalize_url_or_none(item["target"]) in state.skipped:
                session.execute(
                    insert_ignore(session, SkippedURL).values(
                        url=key, first_seen=at, reason="off-topic", crawl_run_id=state.plan.run_id
                    )
                )
                state.skipped.add(key)
                state.count(item.get("source"), "link_aliases_offtopic")
            # else: fetched in this run under another link; the next run knows it

    def _remember_feed(self, state: CrawlState, item: dict[str, Any]) -> None:
        """Keep a feed's validators, body hash and parsed links for the next crawl (one row per
        requested feed URL, replaced). Links over the bound are not kept: the row goes, and the
        feed is fetched and parsed afresh next time."""
        links_json = links_to_json(item["links"])  # encoded here, off the reactor thread

        def write(session: Session) -> None:
            row = session.scalar(select(FeedMemory).where(FeedMemory.url == item["url"]))
            if links_json is None:
                if row is not None:
                    session.delete(row)
                return
            if row is None:
                row = FeedMemory(url=item["url"])
                session.add(row)
            row.etag, row.last_modified = item["etag"], item["last_modified"]
            row.body_sha256, row.links, row.dropped = item["body_sha256"], links_json, item["dropped"]
            row.stored_at = _now()

        write_retrying(state.sessions, write)

    def _remember_skipped(
        self, state: CrawlState, capture: Capture, score: Score, source_id: int | None
    ) -> None:
        """Remember an off-topic page (not fetched again); a candidate also keeps its text."""
        keys = {
            k
            for k in (normalize_url_or_none(capture.url), normalize_url_or_none(capture.final_url or ""))
            if k
        }
        with state.sessions.begin() as session:
            for key in keys:
                session.execute(
                    insert_ignore(session, SkippedURL).values(
                        url=key,
                        source_id=source_id,
                        first_seen=capture.fetched_at,
                        relevance=score.score,
                        reason="candidate" if score.candidate else "off-topic",
                        crawl_run_id=state.plan.run_id,
                    )
                )
            fetched_url = capture.final_url or capture.url
            candidate_key = normalize_url_or_none(fetched_url)
            if score.candidate and candidate_key is not None and capture.extracted is not None:
                add_candidate(
                    session,
                    url=candidate_key,
                    fetched_url=fetched_url,
                    fetched_at=capture.fetched_at,
                    extracted=capture.extracted,
                    verdict=Verdict(score.score, score.keep, score.candidate, score.groups),
                    source_id=source_id,
                    crawl_run_id=state.plan.run_id,
                )
        state.skipped.update(keys)

    def _count_result(
        self, state: CrawlState, source: str | None, result: RecordResult, item: dict[str, Any]
    ) -> None:
        outcome = result.outcome
        if result.new_article:
            self._inc(state, source, "new_articles")
        if outcome == FetchOutcome.NEW_VERSION:
            kind = result.change_kind.value if result.change_kind else "unknown"
            if not result.new_article:
                self._inc(state, source, f"new_versions_{kind}")
        elif outcome == FetchOutcome.UNCHANGED:
            self._inc(state, source, "unchanged")
        elif outcome == FetchOutcome.REMOVED and result.article_id is None:
            # A feed or sitemap link that is already gone: not an archived article's removal.
            state.fail(source, f"HTTP {item.get('status')} for a new URL")
            self.stats.inc_value("mediawatch/failed/gone before first capture")
        elif outcome == FetchOutcome.REMOVED:
            self._inc(state, source, "removed")
        elif outcome == FetchOutcome.SUSPECT:
            self._inc(state, source, "suspect")
        elif outcome == FetchOutcome.ERROR:
            reason = item.get("reason") or result.message or "error"
            state.fail(source, reason[:80])
            self.stats.inc_value(f"mediawatch/failed/{reason[:60]}")
        elif outcome == FetchOutcome.SKIPPED:
            self._inc(state, source, "skipped")


def _replace(capture: Capture, **changes: Any) -> Capture:
    from dataclasses import replace

    return replace(capture, **changes)


class _ErrorExtractor:
    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, *_args: Any, **_kwargs: Any) -> Extracted:
        raise ExtractionError(self.message)
