"""The crawl's spider: thin callbacks around the plain functions of discovery.py.

One spider runs every kind of request of a crawl, each with its own callback: feeds (RSS,
Atom, JSON Feed; the outlets' and the web-wide discovery feeds), robots.txt ``Sitemap:``
lines, sitemaps (indexes with a visited set and depth cap, Google News sitemaps, a date
window), new article pages, and revisits of known articles with a conditional GET.
Callbacks only parse and yield; everything that touches the database is in the pipeline.

A feed whose last parse the archive kept (``CrawlPlan.feeds``) is asked for conditionally; a 304,
or a body with the kept SHA-256, is not parsed again: its kept links go the way parsed ones go.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler import gnews
from crawler.confirm import STAT_PREFIX, confirmed, needs_confirmation, outcome_key
from crawler.discovery import Link, parse_feed, parse_sitemap, robots_sitemaps
from crawler.safety import RefusedRequest, cause_label
from crawler.safety import failure_reason as network_failure
from crawler.state import REVISIT_SOURCE, CrawlState, KnownFeed, PlannedSource, Revisit

ARTICLE_STATUSES = [304, 404, 410]


def failure_reason(failure: Failure) -> tuple[int | None, str]:
    """(HTTP status or None, a short reason) for a failed request: the root cause a person can act
    on ("dns", "connection refused", "timeout", "robots.txt unreachable (dns)"), counted per run."""
    if failure.check(HttpError):
        status = failure.value.response.status
        return status, f"HTTP {status}"
    if failure.check(RefusedRequest) and failure.value.cause:
        return None, failure.value.cause
    if failure.check(IgnoreRequest):
        text = str(failure.value) or type(failure.value).__name__
        return None, "forbidden by robots.txt" if "robots" in text.lower() else f"ignored: {text[:80]}"
    code = network_failure(failure)
    if code in ("dns", "connection_refused", "timeout"):
        return None, cause_label(code)
    name = type(failure.value).__name__
    if name in ("TimeoutError", "TCPTimedOutError"):
        return None, "timeout"
    if name in ("DNSLookupError",):
        return None, "dns"
    if name in ("ConnectionRefusedError",):
        return None, "connection refused"
    if name in ("ResponseNeverReceived", "ConnectionLost", "ConnectionDone", "_DataLoss"):
        return None, "connection lost"
    return None, name


class ArchiveSpider(scrapy.Spider):
    name = "mediawatch"

    def __init__(self, state: CrawlState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state

    async def start(self) -> AsyncIterator[Any]:
        for request in self._start_requests():
            yield request

    def _start_requests(self) -> Iterator[scrapy.Request]:
        for revisit in self.state.plan.revisits:
            yield self._revisit_request(revisit)
        for source in self.state.plan.sources:
            for url in source.feeds:
                yield self._feed_request(url, source)
            for url in source.sitemaps:
                if self._claim_sitemap(url):
                    yield self._doc(url, source, "sitemap", self.on_sitemap, depth_sitemap=0)
            if source.robots_sitemaps:
                for url in _robots_urls(source):
                    yield self._doc(url, source, "robots", self.on_robots, dont_obey_robotstxt=True)

    # -- requests ---------------------------------------------------------------------------

    def _doc(
        self,
        url: str,
        source: PlannedSource,
        kind: str,
        callback: Any,
        headers: dict[str, str] | None = None,
        **meta: Any,
    ) -> scrapy.Request:
        self.state.count(source.name, f"{kind}_requests")
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.on_doc_error,
            headers=headers,
            dont_filter=True,
            priority=100,
            meta={"mw_source": source.name, "mw_kind": kind, **meta},
        )

    def _feed_request(self, url: str, source: PlannedSource) -> scrapy.Request:
        # The feed is remembered by the URL asked for here, whatever it redirects to.
        known = self.state.plan.feeds.get(url)
        headers = _conditional_headers(known.etag, known.last_modified) if known is not None else {}
        if not headers:
            return self._doc(url, source, "feed", self.on_feed, mw_feed=url)
        # The 304 reaches on_feed (HttpErrorMiddleware would make it an error).
        return self._doc(
            url, source, "feed", self.on_feed, headers, mw_feed=url, handle_httpstatus_list=[304]
        )

    def _article(self, link: Link, source: PlannedSource, via: str | None = None) -> scrapy.Request:
        meta: dict[str, Any] = {"mw_source": source.name, "handle_httpstatus_list": ARTICLE_STATUSES}
        if via is not None:
            meta["mw_via"] = via  # recorded as the article's alias, as a redirect's start would be
        return scrapy.Request(link.url, callback=self.on_article, errback=self.on_article_error, meta=meta)

    def _google_request(self, url: str, meta: dict[str, Any], callback: Any, **kwargs: Any) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.on_google_error,
            dont_filter=True,
            priority=90,
            meta=meta,
            **kwargs,
        )

    def _revisit_request(self, revisit: Revisit) -> scrapy.Request:
        headers = _conditional_headers(revisit.etag, revisit.last_modified)
        return scrapy.Request(
            revisit.url,
            callback=self.on_article,
            errback=self.on_article_error,
            headers=headers,
            priority=50,
            meta={
                "mw_source": REVISIT_SOURCE,
                "mw_revisit": revisit,
                "handle_httpstatus_list": ARTICLE_STATUSES,
            },
        )

    def _claim_sitemap(self, url: str) -> bool:
        if (
            url in self.state.visited_sitemaps
            or len(self.state.visited_sitemaps) >= self.state.plan.max_sitemaps
        ):
            return False
        self.state.visited_sitemaps.add(url)
        return True

    def _articles(self, links: list[Link], source: PlannedSource) -> Iterator[scrapy.Request]:
        self.state.count(source.name, "links_found", len(links))
        host = self.state.plan.google_news_host
        for link in links:
            google_id = gnews.article_id(link.url, host) if host else None
            if google_id is None:
                if self.state.claim(link.url):
                    yield self._article(link, source)
            elif self.state.claim(link.url, page=False):  # a known link was decoded before: skipped
                if self.state.counters["google_decodes"] >= self.state.plan.max_google_decodes:
                    self.state.count(source.name, "google_links_deferred")
                    continue
                self.state.count(source.name, "google_decodes")
                meta = {"mw_source": source.name, "mw_google": (link, google_id)}
                yield self._google_request(gnews.params_url(link.url, google_id), meta, self.on_google_page)

    # -- callbacks --------------------------------------------------------------------------

    def _source_of(self, response_or_failure: Any) -> PlannedSource:
        meta = response_or_failure.meta if hasattr(response_or_failure, "meta") else {}
        source = self.state.source(meta.get("mw_source", ""))
        assert source is not None
        return source

    def on_feed(self, response: Response) -> Iterator[Any]:
        source = self._source_of(response)
        feed_url = response.meta.get("mw_feed") or _requested_url(response)
        known = self.state.plan.feeds.get(feed_url)
        etag, last_modified = _header(response.headers, b"ETag"), _header(response.headers, b"Last-Modified")
        if response.status == 304:
            if known is None:  # only asked conditionally when known; a 304 unasked is unusable
                yield _doc_failure(feed_url, source, 304, "HTTP 304")
                return
            yield from self._unchanged_feed(known, source, etag, last_modified)
            return
        digest = hashlib.sha256(response.body).hexdigest()
        if known is not None and digest == known.body_sha256:
            yield from self._unchanged_feed(known, source, etag, last_modified)
            return
        result = parse_feed(response.body, response.url)
        if result.error:
            yield _doc_failure(_requested_url(response), source, response.status, result.error)
            return  # the kept links of its last good parse stay as they are
        self._doc_ok(source, "feed")
        self.state.count(source.name, "links_dropped", result.dropped)
        yield from self._articles(result.links, source)
        # Last: with one item at a time per response, the article requests go out first.
        yield _feed_memory(feed_url, source, etag, last_modified, digest, result.links, result.dropped)

    def _unchanged_feed(
        self, known: KnownFeed, source: PlannedSource, etag: str | None, last_modified: str | None
    ) -> Iterator[Any]:
        """A feed that has not changed since its last parse: its kept links, not parsed again."""
        self._doc_ok(source, "feed")
        self.state.count(source.name, "feeds_unchanged")
        self.state.count(source.name, "links_dropped", known.dropped)
        links = list(known.links)
        yield from self._articles(links, source)
        etag, last_modified = etag or known.etag, last_modified or known.last_modified
        if (etag, last_modified) != (known.etag, known.last_modified):  # new validators, same feed
            digest = known.body_sha256
            yield _feed_memory(known.url, source, etag, last_modified, digest, links, known.dropped)

    def on_robots(self, response: Response) -> Iterator[Any]:
        source = self._source_of(response)
        for url in robots_sitemaps(response.body, response.url):
            if self._claim_sitemap(url):
                yield self._doc(url, source, "sitemap", self.on_sitemap, depth_sitemap=0)

    def on_sitemap(self, response: Response) -> Iterator[Any]:
        source = self._source_of(response)
        plan = self.state.plan
        result = parse_sitemap(
            response.body, response.url, since=plan.sitemap_since, max_urls=plan.max_urls_per_sitemap
        )
        if result.error:
            yield _doc_failure(_requested_url(response), source, response.status, result.error)
            return
        self._doc_ok(source, "sitemap")
        self.state.count(source.name, "links_dropped", result.dropped)
        depth = response.meta.get("depth_sitemap", 0)
        for child in result.sitemaps:
            if depth + 1 > plan.max_sitemap_depth:
                self.state.count(source.name, "sitemaps_too_deep")
                continue
            if self._claim_sitemap(child):
                yield self._doc(child, source, "sitemap", self.on_sitemap, depth_sitemap=depth + 1)
        yield from self._articles(result.links, source)

    def on_google_page(self, response: Response) -> Iterator[Any]:
        link, google_id = response.meta["mw_google"]
        try:
            sig, ts = gnews.signature(response.body)
        except gnews.UndecodedLink as exc:
            self._undecoded(response.meta, str(exc))
            return
        yield self._google_request(
            gnews.batchexecute_url(link.url),
            response.meta,
            self.on_google_answer,
            method="POST",
            body=gnews.batchexecute_body(google_id, sig, ts),
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        )

    def on_google_answer(self, response: Response) -> Iterator[Any]:
        link, _google_id = response.meta["mw_google"]
        source = self._source_of(response)
        try:
            url = gnews.decoded_url(response.body, self.state.plan.google_news_host or "")
        except gnews.UndecodedLink as exc:
            self._undecoded(response.meta, str(exc))
            return
        self.state.count(source.name, "google_decoded")
        if self.state.claim(url):
            yield self._article(Link(url, link.title, link.published), source, via=link.url)
        else:  # already archived (or off-topic): remember the link, so it is not decoded again
            yield {"mw": "link-alias", "url": link.url, "target": url, "source": source.name}

    def on_google_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on download failures
        _status, reason = failure_reason(failure)
        self._undecoded(request.meta, reason)

    def _undecoded(self, meta: dict[str, Any], reason: str) -> None:
        # Nothing is fetched for the link: Google's interstitial page is not the article.
        self.state.fail(meta.get("mw_source"), f"Google News link not decoded: {reason}")
        self.state.count(meta.get("mw_source"), "google_undecoded")

    def _doc_ok(self, source: PlannedSource, kind: str) -> None:
        self.state.source_ok.add(source.name)
        self.state.count(source.name, f"{kind}s_ok")

    def on_doc_error(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on download failures
        source = self._source_of(request)
        status, reason = failure_reason(failure)
        if request.meta.get("mw_kind") == "robots":
            # No robots.txt (or an unreadable one) just means no Sitemap: lines.
            self.state.count(source.name, "robots_unavailable")
            return
        yield _doc_failure(request.url, source, status, reason)

    def on_article(self, response: Response) -> Iterator[Any]:
        item = _page_item(response)
        if needs_confirmation(item):
            # A possible edit of a known article: fetch it once more before recording.
            self._stat("requests")
            yield scrapy.Request(
                item["url"],
                callback=self.on_confirm,
                errback=self.on_confirm_error,
                dont_filter=True,
                priority=60,
                meta={"mw_source": item["source"], "mw_first": item},
            )
            return
        yield item

    def on_confirm(self, response: Response) -> Iterator[dict[str, Any]]:
        item = confirmed(response.meta["mw_first"], response.status, response.body, response.url)
        self._stat(outcome_key(item))
        yield item

    def on_confirm_error(self, failure: Failure) -> Iterator[dict[str, Any]]:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on download failures
        status, _reason = failure_reason(failure)
        item = confirmed(request.meta["mw_first"], status, None, None)
        self._stat(outcome_key(item))
        yield item

    def _stat(self, key: str) -> None:
        self.state.count(None, f"confirm_{key}")
        crawler = getattr(self, "crawler", None)
        if crawler is not None and crawler.stats is not None:
            crawler.stats.inc_value(STAT_PREFIX + key)

    def on_article_error(self, failure: Failure) -> Iterator[dict[str, Any]]:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on download failures
        status, reason = failure_reason(failure)
        yield {
            "mw": "page",
            "url": request.url,
            "final_url": None,
            "status": status,
            "body": None,
            "error": None if status is not None else reason,
            "reason": reason,
            "content_type": None,
            "etag": None,
            "last_modified": None,
            "source": request.meta.get("mw_source"),
            "revisit": request.meta.get("mw_revisit"),
        }


def _page_item(response: Response) -> dict[str, Any]:
    redirects = response.meta.get("redirect_urls") or []
    original = response.meta.get("mw_via") or (redirects[0] if redirects else _requested_url(response))
    headers = response.headers
    return {
        "mw": "page",
        "url": original,
        "final_url": response.url if response.url != original else None,
        "status": response.status,
        "body": response.body if 200 <= response.status < 300 else None,
        "content_type": _header(headers, b"Content-Type"),
        "etag": _header(headers, b"ETag"),
        "last_modified": _header(headers, b"Last-Modified"),
        "source": response.meta.get("mw_source"),
        "revisit": response.meta.get("mw_revisit"),
    }


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """The validators of the last answer, as a conditional GET sends them back."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _feed_memory(
    url: str,
    source: PlannedSource,
    etag: str | None,
    last_modified: str | None,
    body_sha256: str,
    links: list[Link],
    dropped: int,
) -> dict[str, Any]:
    """What the pipeline keeps of a feed's parse (archive.models.FeedMemory), by requested URL."""
    return {
        "mw": "feed-memory",
        "url": url,
        "source": source.name,
        "etag": etag,
        "last_modified": last_modified,
        "body_sha256": body_sha256,
        "links": links,
        "dropped": dropped,
    }


def _doc_failure(url: str, source: PlannedSource, status: int | None, reason: str) -> dict[str, Any]:
    return {"mw": "source-failure", "url": url, "source": source.name, "status": status, "reason": reason}


def _header(headers: Any, name: bytes) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return value.decode("latin-1")[:1000]


def _robots_urls(source: PlannedSource) -> list[str]:
    roots = []
    for url in (*source.feeds, *source.sitemaps):
        parts = urlsplit(url)
        root = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
        if root not in roots:
            roots.append(root)
    return roots


def _requested_url(response: Response) -> str:
    """The URL that was asked for (before redirects), which the plan and the failures are keyed by."""
    return response.request.url if response.request is not None else response.url
