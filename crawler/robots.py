"""RFC 9309 robots.txt, as a downloader middleware replacing Scrapy's fail-open RobotsTxtMiddleware.

Per origin (scheme, host, port) and per run, robots.txt is fetched once, through the same policy as
every other request (scheme/SSRF guard), and decides:

* 2xx: the first ``MEDIAWATCH_ROBOTS_MAX_BYTES`` (500 KiB) are parsed with Protego; the group for our
  User-Agent token applies (``ROBOTSTXT_USER_AGENT``, else the request's User-Agent);
* 3xx: followed by hand, up to ``MEDIAWATCH_ROBOTS_MAX_REDIRECTS`` (5) hops; more hops, or a hop the
  policy refuses, means "unavailable" (RFC 9309 §2.3.1.2), which is treated like 4xx;
* 4xx other than 429 ("unavailable"): everything is allowed;
* 429, 5xx, timeout or a network error ("unreachable"): everything is disallowed. This verdict is kept
  only ``MEDIAWATCH_ROBOTS_ERROR_TTL`` seconds (600), then robots.txt is fetched again.

A disallowed request raises `RefusedRequest` ("robots") and counts ``mediawatch/refused/robots``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from protego import Protego
from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred
from w3lib.url import safe_url_string

from archive.netguard import SSRF
from archive.robotstxt import parse_robots
from crawler.safety import RefusedRequest, cause_label, failure_reason, refuse

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

ROBOTS_FETCH_META = "mediawatch_robots_fetch"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class RobotsVerdict:
    """What one origin's robots.txt decided, and until when (monotonic clock) it holds."""

    kind: str  # "rules" | "allow_all" | "disallow_all" | "refused"
    detail: str
    expires: float
    parser: Protego | None = None
    refusal: RefusedRequest | None = None
    cause: str | None = None  # disallow_all: why, e.g. "robots.txt unreachable (dns)"

    def allows(self, url: str, user_agent: str) -> bool:
        if self.kind == "rules":
            assert self.parser is not None
            return bool(self.parser.can_fetch(url, user_agent))
        return self.kind == "allow_all"


class RobotsPolicyMiddleware:
    """RFC 9309 robots.txt enforcement (downloader middleware, order 100)."""

    priority = 1000

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("MEDIAWATCH_ROBOTS_ENABLED", True):
            raise NotConfigured
        self.crawler = crawler
        self.max_bytes = settings.getint("MEDIAWATCH_ROBOTS_MAX_BYTES", 500 * 1024)
        self.max_redirects = settings.getint("MEDIAWATCH_ROBOTS_MAX_REDIRECTS", 5)
        self.error_ttl = settings.getfloat("MEDIAWATCH_ROBOTS_ERROR_TTL", 600)
        self.ttl = 24 * 3600.0  # RFC 9309 §2.4: a cached robots.txt should not be used for more than 24 h
        self.user_agent_override: str | None = settings.get("ROBOTSTXT_USER_AGENT") or None
        self.default_user_agent: str = settings.get("USER_AGENT") or ""
        self._verdicts: dict[str, RobotsVerdict] = {}
        self._waiting: dict[str, list[Deferred[RobotsVerdict]]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RobotsPolicyMiddleware:
        return cls(crawler)

    def _inc(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)

    def user_agent(self, request: Request) -> str:
        if self.user_agent_override:
            return self.user_agent_override
        header = request.headers.get(b"User-Agent")
        if header:
            return header.decode("latin-1")
        return self.default_user_agent

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if request.meta.get(ROBOTS_FETCH_META):
            return
        parsed = urlparse_cached(request)
        if parsed.scheme not in {"http", "https"} or parsed.path == "/robots.txt":
            return  # other schemes are refused by UrlPolicyMiddleware; robots.txt itself is always allowed
        origin = f"{parsed.scheme}://{parsed.netloc.rsplit('@', 1)[-1].lower()}"  # per scheme, host, port
        verdict = await self.verdict(origin)
        if verdict.refusal is not None:
            raise refuse(self.crawler, verdict.refusal.reason, verdict.refusal.detail, request.url)
        if not verdict.allows(request.url, self.user_agent(request)):
            detail = f"disallowed by {origin}/robots.txt" if verdict.kind == "rules" else verdict.detail
            raise refuse(self.crawler, "robots", detail, request.url, cause=verdict.cause)

    async def verdict(self, origin: str) -> RobotsVerdict:
        """The robots.txt verdict for `origin`, fetching it once while several requests wait."""
        cached = self._verdicts.get(origin)
        if cached is not None and cached.expires > time.monotonic():
            return cached
        waiters = self._waiting.get(origin)
        if waiters is not None:
            d: Deferred[RobotsVerdict] = Deferred()
            waiters.append(d)
            return await maybe_deferred_to_future(d)
        self._waiting[origin] = []
        try:
            verdict = await self._fetch(origin)
        except Exception as exc:  # never leave waiters hanging on an unexpected error
            logger.exception("robots.txt check for %s failed", origin)
            verdict = self._disallow(f"robots.txt check failed: {exc}", "error")
        self._verdicts[origin] = verdict
        for d in self._waiting.pop(origin):
            d.callback(verdict)
        return verdict

    def _allow(self, detail: str) -> RobotsVerdict:
        self._inc("mediawatch/robots/allow_all")
        return RobotsVerdict("allow_all", detail, time.monotonic() + self.ttl)

    def _disallow(self, detail: str, why: str) -> RobotsVerdict:
        """Robots.txt is unreachable: the whole site is disallowed for a while (RFC 9309 §2.3.1.4);
        ``why`` (``dns``, ``timeout``, ``HTTP 503`` …) is the root cause the run reports."""
        self._inc("mediawatch/robots/disallow_all")
        # INFO, not WARNING: offline, every site logs one; the run counts the cause and its summary
        # and `mediawatch runs` report it ("robots.txt unreachable (dns)").
        logger.info("%s: disallowing the whole site for %.0f s", detail, self.error_ttl)
        cause = f"robots.txt unreachable ({why})"
        return RobotsVerdict("disallow_all", detail, time.monotonic() + self.error_ttl, cause=cause)

    async def _download(self, url: str) -> Response:
        request = Request(
            url,
            priority=self.priority,
            callback=NO_CALLBACK,
            dont_filter=True,
            meta={
                ROBOTS_FETCH_META: True,
                "dont_obey_robotstxt": True,
                "dont_redirect": True,
                "dont_retry": True,
                "handle_httpstatus_all": True,
            },
        )
        assert self.crawler.engine is not None
        return await self.crawler.engine.download_async(request)

    async def _fetch(self, origin: str) -> RobotsVerdict:
        url = f"{origin}/robots.txt"
        for hop in range(self.max_redirects + 1):
            self._inc("mediawatch/robots/request_count")
            try:
                response = await self._download(url)
            except RefusedRequest as exc:
                if hop == 0 and exc.reason == SSRF:
                    # The origin itself is forbidden: refuse its requests for that reason, not "robots".
                    expires = time.monotonic() + self.error_ttl
                    return RobotsVerdict("refused", exc.detail, expires, refusal=exc)
                return self._allow(f"robots.txt unavailable: redirect refused ({exc.reason})")
            except IgnoreRequest as exc:
                return self._disallow(f"{url} unreachable: {exc}", cause_label(failure_reason(exc)))
            except Exception as exc:
                why = cause_label(failure_reason(exc))
                return self._disallow(f"{url} unreachable ({why}: {type(exc).__name__})", why)
            status = response.status
            self._inc(f"mediawatch/robots/status/{status}")
            location = response.headers.get(b"Location")
            if status in REDIRECT_STATUSES and location:
                url = urljoin(response.url, safe_url_string(location))
                continue
            if 200 <= status < 300:
                return self._parse(url, response.body)
            if status == 429 or status >= 500:
                return self._disallow(f"{url} answered HTTP {status}", f"HTTP {status}")
            return self._allow(f"{url} answered HTTP {status} (unavailable)")
        return self._allow(f"robots.txt unavailable: more than {self.max_redirects} redirects")

    def _parse(self, url: str, body: bytes) -> RobotsVerdict:
        if len(body) > self.max_bytes:
            self._inc("mediawatch/robots/truncated")
            logger.info("%s is %d bytes; parsing the first %d", url, len(body), self.max_bytes)
        parser: Any = parse_robots(body, self.max_bytes)
        self._inc("mediawatch/robots/parsed")
        return RobotsVerdict("rules", f"rules from {url}", time.monotonic() + self.ttl, parser=parser)
