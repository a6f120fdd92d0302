"""The fetch policy layer that wraps Scrapy: what may be fetched, from where, and within which limits.

Scrapy's own defaults are permissive (it fetches ``file:``/``data:`` URLs a spider yields, connects to
any address, treats an unreachable robots.txt as "allow everything", and downloads up to 1 GiB for
3 minutes). This module replaces them:

* `UrlPolicyMiddleware` (downloader middleware, runs first): every request, including each redirect
  hop and every robots.txt fetch, is refused unless its scheme is http/https and its host is not a
  private, loopback, link-local, CGNAT, unique-local, multicast, unspecified or cloud-metadata address
  literal (`archive.netguard`).
* `GuardedHostnameResolver` (Twisted name resolver, installed on the reactor): at connect time, on
  every hop, a host name whose resolved addresses include a forbidden one resolves to nothing, so no
  connection is ever attempted to it.
* `HopGuardMiddleware` (downloader middleware next to the downloader): refuses redirects whose
  ``Location`` leaves the allowlist before RedirectMiddleware sees them, turns guarded-resolver refusals
  into `RefusedRequest`, and counts download failures by reason.
* `crawler.robots.RobotsPolicyMiddleware`: RFC 9309 robots.txt (replaces Scrapy's).

Every refusal raises `RefusedRequest` (an `IgnoreRequest`), reaches the request's errback, and is
counted in the stats as ``mediawatch/refused/<reason>``. Merge `SAFETY_SETTINGS` into the crawl's
Scrapy settings and set ``MEDIAWATCH_ALLOW_PRIVATE_NETWORKS`` (bool).
"""

from __future__ import annotations

import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.resolver import HostResolution
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from w3lib.url import safe_url_string
from zope.interface import implementer

from archive.netguard import (
    SSRF,
    Refusal,
    address_refusal,
    classify_url,
    explain_url,
    normalize_host,
)

__all__ = [
    "SAFETY_SETTINGS",
    "GuardedHostnameResolver",
    "HopGuardMiddleware",
    "Refusal",
    "RefusedRequest",
    "UrlPolicyMiddleware",
    "classify_url",
    "explain_url",
    "failure_reason",
]

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.internet.interfaces import IAddress, IHostResolution

logger = logging.getLogger(__name__)

MIB = 1024 * 1024

ALLOW_PRIVATE_SETTING = "MEDIAWATCH_ALLOW_PRIVATE_NETWORKS"
ALLOWED_HOSTS_SETTING = "MEDIAWATCH_ALLOWED_PRIVATE_HOSTS"

#: Scrapy settings the crawl must merge (nested dicts key by key, not replaced wholesale).
SAFETY_SETTINGS: dict[str, Any] = {
    "ROBOTSTXT_OBEY": False,  # Scrapy's fail-open middleware is replaced by ours
    "DOWNLOADER_MIDDLEWARES": {
        "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
        "crawler.safety.UrlPolicyMiddleware": 10,
        "crawler.robots.RobotsPolicyMiddleware": 100,
        "crawler.safety.HopGuardMiddleware": 650,
    },
    "DOWNLOAD_HANDLERS": {
        "file": None,
        "data": None,
        "s3": None,
        "ftp": None,
        # Pinned: the guarded resolver only sees connections made through Twisted's endpoints.
        "http": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
        "https": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
    },
    "TWISTED_DNS_RESOLVER": "crawler.safety.GuardedHostnameResolver",
    "DOWNLOAD_MAXSIZE": 20 * MIB,  # also caps the decompressed body (Content-Encoding bombs)
    "DOWNLOAD_WARNSIZE": 5 * MIB,
    "DOWNLOAD_TIMEOUT": 30,
    "DOWNLOAD_FAIL_ON_DATALOSS": True,
    "REDIRECT_MAX_TIMES": 10,
    "MEDIAWATCH_ROBOTS_ENABLED": True,
    "MEDIAWATCH_ROBOTS_MAX_BYTES": 500 * 1024,
    "MEDIAWATCH_ROBOTS_MAX_REDIRECTS": 5,
    "MEDIAWATCH_ROBOTS_ERROR_TTL": 600,
    ALLOW_PRIVATE_SETTING: False,
    ALLOWED_HOSTS_SETTING: [],
}


class RefusedRequest(IgnoreRequest):
    """A request the fetch policy refused before (or instead of) fetching it.

    `reason` is one of ``"scheme"``, ``"ssrf"``, ``"invalid"`` or ``"robots"``; `detail` says why.
    """

    def __init__(self, reason: str, detail: str, url: str, cause: str | None = None) -> None:
        super().__init__(f"refused ({reason}): {detail}: {url}")
        self.reason = reason
        self.detail = detail
        self.url = url
        # What a person should read when it is not the policy itself: a site whose robots.txt
        # could not be fetched is refused as "robots", but the cause is e.g. "robots.txt unreachable (dns)".
        self.cause = cause


def failure_reason(error: BaseException | Any) -> str:
    """A short reason code for a failed request (an exception or a Twisted Failure).

    ``scheme``/``ssrf``/``invalid``/``robots`` for policy refusals, ``timeout``, ``dataloss`` (truncated
    body), ``too_large`` (DOWNLOAD_MAXSIZE, also after decompression), ``dns``, ``connection_refused``,
    otherwise ``network``.
    """
    exc = getattr(error, "value", error)
    if isinstance(exc, RefusedRequest):
        return exc.reason
    if isinstance(exc, DownloadTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, ResponseDataLossError):
        return "dataloss"
    if isinstance(exc, DownloadCancelledError):
        return "too_large"
    if isinstance(exc, IgnoreRequest) and "DOWNLOAD_MAXSIZE" in str(exc):
        return "too_large"
    if isinstance(exc, CannotResolveHostError | DNSLookupError):
        return "dns"
    if isinstance(exc, DownloadConnectionRefusedError | ConnectionRefusedError):
        return "connection_refused"
    if type(exc).__name__ == "TimeoutError":  # twisted.internet.error.TimeoutError and friends
        return "timeout"
    return "network"


def _allowed_hosts(settings: BaseSettings) -> tuple[str, ...]:
    return tuple(settings.getlist(ALLOWED_HOSTS_SETTING))


def refuse(
    crawler: Crawler | None, reason: str, detail: str, url: str, cause: str | None = None
) -> RefusedRequest:
    """Count and log a refusal; return the exception to raise."""
    if crawler is not None and crawler.stats is not None:
        crawler.stats.inc_value(f"mediawatch/refused/{reason}")
    logger.info("Refused (%s) %s: %s", reason, url, detail)
    return RefusedRequest(reason, detail, url, cause)


def cause_label(code: str) -> str:
    """A failure_reason code as people read it: ``connection_refused`` → ``connection refused``."""
    return code.replace("_", " ")


# ---- connect-time guard: the resolver -------------------------------------------------------------


def _with_port(address: Any, port: int) -> Any:
    return type(address)(address.type, address.host, port)


@implementer(IResolutionReceiver)
class _GuardedReceiver:
    """Collects the addresses a name resolves to and passes them on only if all of them are allowed."""

    def __init__(self, guard: GuardedHostnameResolver, receiver: IResolutionReceiver, host: str) -> None:
        self._guard = guard
        self._receiver = receiver
        self._host = host
        self._addresses: list[IAddress] = []

    def resolutionBegan(self, resolution: IHostResolution) -> None:  # noqa: N802 (Twisted interface)
        self._receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:  # noqa: N802
        self._addresses.append(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        why = self._guard.refusal_for(self._host, self._addresses)
        if why is None:
            for address in self._addresses:
                self._receiver.addressResolved(address)
            self._guard.remember(self._host, self._addresses)
        else:
            self._guard.record_refusal(self._host, why)
        self._receiver.resolutionComplete()


@implementer(IHostnameResolver)
class GuardedHostnameResolver:
    """A Twisted name resolver that refuses names resolving to forbidden addresses.

    Wraps the reactor's resolver (or `inner`). A name with *any* forbidden address (a DNS answer mixing
    public and private addresses is a rebinding attempt) resolves to no address at all, so Twisted
    never connects; the refusal is remembered per host for `HopGuardMiddleware` to report. Every
    connection Scrapy's HTTP/1.1 handler makes (each redirect hop, robots.txt, proxies) resolves through
    here, including IP literals, so this is the connect-time check on every hop.

    Allowed answers are cached (``DNSCACHE_ENABLED``/``DNSCACHE_SIZE``, like Scrapy's resolvers), so a
    name keeps the addresses that were checked for the rest of the run; refusals are not cached.
    """

    max_remembered = 10_000

    def __init__(
        self,
        reactor: Any,
        allow_private: bool = False,
        allowed_hosts: Iterable[str] = (),
        inner: IHostnameResolver | None = None,
        cache_size: int = 0,
    ) -> None:
        self.reactor = reactor
        self.inner: IHostnameResolver = inner if inner is not None else reactor.nameResolver
        self.allow_private = allow_private
        self.allowed_hosts = frozenset(normalize_host(h) for h in allowed_hosts)
        self.refusals: dict[str, str] = {}
        self.cache_size = cache_size
        self._cache: OrderedDict[str, list[IAddress]] = OrderedDict()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedHostnameResolver:
        # Scrapy passes the CrawlerProcess here; only `.settings` is used.
        settings = crawler.settings
        return cls(
            reactor,
            allow_private=settings.getbool(ALLOW_PRIVATE_SETTING),
            allowed_hosts=_allowed_hosts(settings),
            cache_size=settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0,
        )

    def remember(self, host: str, addresses: Sequence[IAddress]) -> None:
        """Cache an allowed answer (without its port) for later connections to `host`."""
        if self.cache_size <= 0 or not addresses:
            return
        self._cache[host] = [_with_port(a, 0) for a in addresses]
        self._cache.move_to_end(host)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        self._cache.clear()

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def refusal_for(self, host: str, addresses: Sequence[IAddress]) -> str | None:
        """Why a connection to `host` resolved to `addresses` is refused, or None."""
        if normalize_host(host) in self.allowed_hosts:
            return None
        for address in addresses:
            text = str(getattr(address, "host", "")).split("%", 1)[0]
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                return f"{host} resolved to an unparsable address {text!r}"
            if text in self.allowed_hosts:
                continue
            why = address_refusal(ip, self.allow_private)
            if why is not None:
                return f"{host} resolves to {why}"
        return None

    def record_refusal(self, host: str, why: str) -> None:
        logger.warning("Connection refused by the network guard: %s", why)
        if len(self.refusals) >= self.max_remembered:
            self.refusals.clear()
        self.refusals[normalize_host(host)] = why

    def resolveHostName(  # noqa: N802 (Twisted interface)
        self,
        resolutionReceiver: IResolutionReceiver,  # noqa: N803
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type[IAddress]] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> IHostResolution:
        cached = self._cache.get(hostName)
        if cached is not None:
            resolution = HostResolution(hostName)
            resolutionReceiver.resolutionBegan(resolution)
            for address in cached:
                resolutionReceiver.addressResolved(_with_port(address, portNumber))
            resolutionReceiver.resolutionComplete()
            return resolution
        return self.inner.resolveHostName(
            _GuardedReceiver(self, resolutionReceiver, hostName),
            hostName,
            portNumber,
            addressTypes,
            transportSemantics,
        )


def current_guard() -> GuardedHostnameResolver | None:
    """The guarded resolver installed on the reactor, if any."""
    from twisted.internet import reactor

    current = getattr(reactor, "nameResolver", None)
    return current if isinstance(current, GuardedHostnameResolver) else None


def ensure_guard(allow_private: bool, allowed_hosts: Iterable[str]) -> GuardedHostnameResolver:
    """The guarded resolver on the reactor, installing one if something else is there.

    CrawlerProcess installs TWISTED_DNS_RESOLVER from the *process* settings when the reactor starts;
    a crawl started another way (CrawlerRunner, settings given only to the crawler, a resolver setting
    overridden) still gets the guard, because this runs before every request is downloaded. A crawler
    that does not allow private networks makes the guard strict for the whole process.
    """
    guard = current_guard()
    if guard is None:
        from twisted.internet import reactor

        guard = GuardedHostnameResolver(reactor, allow_private, allowed_hosts)
        guard.install_on_reactor()
        logger.info("Installed the network guard on the reactor's name resolver")
        return guard
    if not allow_private and guard.allow_private:
        guard.allow_private = False
        guard.forget()  # answers cached under the looser policy must be checked again
    return guard


# ---- intake: every request, every hop -------------------------------------------------------------


class UrlPolicyMiddleware:
    """Refuses requests whose URL has a non-http(s) scheme or names a forbidden address (order 10)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.allow_private = crawler.settings.getbool(ALLOW_PRIVATE_SETTING)
        self.allowed_hosts = _allowed_hosts(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> UrlPolicyMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        ensure_guard(self.allow_private, self.allowed_hosts)
        refusal = explain_url(request.url, self.allow_private, self.allowed_hosts)
        if refusal is not None:
            raise refuse(self.crawler, refusal.code, refusal.detail, request.url)


class HopGuardMiddleware:
    """Sits next to the downloader (order 650, after RedirectMiddleware's 600 on the way back).

    * A 3xx whose Location leaves the policy (``file:``, ``data:``, ``ftp:``, a private literal) is refused
      and counted before RedirectMiddleware could follow or silently drop it.
    * A host the guarded resolver refused becomes `RefusedRequest` ("ssrf") instead of a DNS error
      (so it is not retried either).
    * Other download errors are counted as ``mediawatch/fetch_error/<reason>``.
    """

    redirect_statuses = frozenset({301, 302, 303, 307, 308})

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.allow_private = crawler.settings.getbool(ALLOW_PRIVATE_SETTING)
        self.allowed_hosts = _allowed_hosts(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HopGuardMiddleware:
        return cls(crawler)

    def _follows(self, request: Request, response: Response) -> bool:
        if response.status not in self.redirect_statuses or b"Location" not in response.headers:
            return False
        meta = request.meta
        return not (
            meta.get("dont_redirect")
            or meta.get("handle_httpstatus_all")
            or response.status in meta.get("handle_httpstatus_list", ())
        )

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        if self._follows(request, response):
            location = response.headers[b"Location"] or b""
            target = urljoin(request.url, safe_url_string(location))
            if location.startswith(b"//"):
                target = urlparse_cached(request).scheme + ":" + safe_url_string(location)
            refusal = explain_url(target, self.allow_private, self.allowed_hosts)
            if refusal is not None:
                detail = f"redirect from {request.url}: {refusal.detail}"
                raise refuse(self.crawler, refusal.code, detail, target)
        return response

    def process_exception(
        self, request: Request, exception: BaseException, spider: Spider | None = None
    ) -> None:
        if isinstance(exception, CannotResolveHostError | DNSLookupError):
            host = normalize_host(urlparse_cached(request).hostname or "")
            guard = current_guard()
            why = guard.refusals.get(host) if guard is not None else None
            if why is not None:
                raise refuse(self.crawler, SSRF, why, request.url) from exception
        if not isinstance(exception, IgnoreRequest) and self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"mediawatch/fetch_error/{failure_reason(exception)}")
