"""Runs one real Scrapy crawl with the fetch policy, in its own process (a reactor cannot restart).

Usage: ``python tests/safety_crawl.py CONFIG.json``. CONFIG holds ``urls`` (fetched in order when
``sequential``, else all at once), extra Scrapy ``settings``, ``stub_hosts`` (name -> addresses for the
stub resolver) and ``out`` (where the JSON result goes): per URL either ``{"status", "length", "body"}``
or ``{"reason", "error", "message"}``, the crawl stats, and every TCP connect the reactor was asked to make.

Offline by construction: names resolve only through the stub table (no real DNS), and any connect to an
address other than 127.0.0.1 is recorded in ``forbidden_connects`` and failed without touching the network.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess
from scrapy.resolver import HostResolution
from scrapy.utils.reactor import install_reactor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionRefusedError as TxConnectionRefusedError
from twisted.internet.interfaces import IHostnameResolver
from zope.interface import implementer

from archive.netguard import host_address, normalize_host
from crawler.safety import SAFETY_SETTINGS, GuardedHostnameResolver, failure_reason

STUB_ENV = "MEDIAWATCH_TEST_STUB_HOSTS"
CONNECTS: list[list[Any]] = []
FORBIDDEN_CONNECTS: list[list[Any]] = []


@implementer(IHostnameResolver)
class StubResolver:
    """Resolves IP literals to themselves and test names from a table; everything else to nothing."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = {k.lower(): v for k, v in table.items()}

    def resolveHostName(self, receiver, hostName, portNumber=0, addressTypes=None, transportSemantics="TCP"):  # noqa: N802,N803
        receiver.resolutionBegan(HostResolution(hostName))
        try:
            literal = host_address(normalize_host(hostName))
        except ValueError:
            literal = None
        if literal is not None:
            answers = [str(literal)]
        else:
            answers = self.table.get(normalize_host(hostName), [])
        for answer in answers:
            cls = IPv6Address if ":" in answer else IPv4Address
            receiver.addressResolved(cls("TCP", answer, portNumber))
        receiver.resolutionComplete()
        return receiver


class StubGuardedResolver(GuardedHostnameResolver):
    """The real guard, wrapped around the stub table instead of the system resolver."""

    def __init__(self, reactor: Any, **kwargs: Any) -> None:
        table = json.loads(os.environ.get(STUB_ENV, "{}"))
        super().__init__(reactor, inner=StubResolver(table), **kwargs)


class StubPlainResolver(StubResolver):
    """The stub table as a process resolver *without* the guard (tests the middleware's fallback)."""

    def __init__(self, reactor: Any) -> None:
        super().__init__(json.loads(os.environ.get(STUB_ENV, "{}")))
        self.reactor = reactor

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> StubPlainResolver:
        return cls(reactor)

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)


def guard_connects(reactor: Any) -> None:
    """Record every TCP connect; refuse (without connecting) anything but 127.0.0.1."""
    original = reactor.connectTCP

    def connect_tcp(host: str, port: int, factory: Any, *args: Any, **kwargs: Any) -> Any:
        CONNECTS.append([host, port])
        if host != "127.0.0.1":
            FORBIDDEN_CONNECTS.append([host, port])
            raise TxConnectionRefusedError(f"test harness: connect to {host} blocked")
        return original(host, port, factory, *args, **kwargs)

    reactor.connectTCP = connect_tcp


class ProbeSpider(Spider):
    name = "probe"

    def __init__(self, urls: list[str], sequential: bool, results: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = list(urls)
        self.sequential = sequential
        self.results = results

    def _request(self, url: str) -> Request:
        return Request(
            url, callback=self.parse, errback=self.failed, cb_kwargs={"probe": url}, dont_filter=True
        )

    async def start(self) -> AsyncIterator[Request]:
        pending = self.urls[:1] if self.sequential else self.urls
        for url in pending:
            yield self._request(url)

    def _next(self, probe: str) -> list[Request]:
        if not self.sequential:
            return []
        index = self.urls.index(probe) + 1
        return [self._request(self.urls[index])] if index < len(self.urls) else []

    def parse(self, response: Any, probe: str) -> list[Request]:
        self.results[probe] = {
            "status": response.status,
            "length": len(response.body),
            "body": response.body[:200].decode("latin-1"),
            "url": response.url,
        }
        return self._next(probe)

    def failed(self, failure: Any) -> list[Request]:
        probe = failure.request.cb_kwargs["probe"]
        self.results[probe] = {
            "reason": failure_reason(failure),
            "error": type(failure.value).__name__,
            "message": str(failure.value)[:500],
        }
        return self._next(probe)


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    settings: dict[str, Any] = {**SAFETY_SETTINGS}
    settings.update(
        {
            "TWISTED_DNS_RESOLVER": "safety_crawl.StubGuardedResolver",
            "USER_AGENT": "mediawatch-test/1.0 (+https://example.invalid/contact)",
            "LOG_LEVEL": "INFO",
            "TELNETCONSOLE_ENABLED": False,
            "REMOTE_CONTROL_ENABLED": False,
            "HTTPPROXY_ENABLED": False,  # an http_proxy in the environment must not reroute the probes
            "RETRY_ENABLED": False,
            "DOWNLOAD_TIMEOUT": 3,
        }
    )
    for key, value in config.get("settings", {}).items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    os.environ[STUB_ENV] = json.dumps(config.get("stub_hosts", {}))
    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    process = CrawlerProcess(settings)
    from twisted.internet import reactor

    guard_connects(reactor)
    results: dict[str, Any] = {}
    crawler = process.create_crawler(ProbeSpider)
    process.crawl(crawler, urls=config["urls"], sequential=config.get("sequential", False), results=results)
    process.start()
    stats = {k: v for k, v in crawler.stats.get_stats().items() if isinstance(v, int | float | str)}
    Path(config["out"]).write_text(
        json.dumps(
            {
                "results": results,
                "stats": stats,
                "connects": CONNECTS,
                "forbidden_connects": FORBIDDEN_CONNECTS,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
