"""The crawl's Scrapy settings, derived in ONE function from a typed settings object."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

from crawler.config import Defaults

MIB = 1024 * 1024


def mediawatch_version() -> str:
    try:
        return version("mediawatch")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def contact_is_placeholder(contact_url: str) -> bool:
    """Whether the User-Agent's contact URL is still the one mediawatch ships (the project's own
    page, whatever its #fragment): a site owner reading their logs would reach the project, not the
    operator of this crawler."""

    def place(url: str) -> tuple[str, str]:
        parts = urlsplit(url.strip())
        return parts.hostname or "", parts.path.rstrip("/")

    return place(contact_url) == place(Defaults().contact_url)


@dataclass(frozen=True)
class CrawlSettings:
    """Everything a crawl's politeness, limits and pipeline depend on."""

    contact_url: str = Defaults().contact_url
    user_agent_template: str = Defaults().user_agent
    download_delay: float = 1.0
    concurrent_per_domain: int = 2
    concurrent_requests: int = 16
    respect_robots: bool = True
    allow_private_networks: bool = False
    download_maxsize: int = 20 * MIB
    download_warnsize: int = 5 * MIB
    download_timeout: float = 30.0
    memusage_limit_mb: int = 1024
    retry_times: int = 2
    extract_workers: int = max(1, os.cpu_count() or 1)
    extract_timeout: float = 60.0
    log_level: str = "WARNING"
    warc_dir: str | None = None  # None: no WARC capture
    warc_max_size: int = 1_000_000_000  # bytes per WARC file

    @property
    def user_agent(self) -> str:
        return self.user_agent_template.format(version=mediawatch_version(), contact=self.contact_url)

    @classmethod
    def from_defaults(cls, defaults: Defaults, **overrides: Any) -> CrawlSettings:
        return cls(
            contact_url=defaults.contact_url,
            user_agent_template=defaults.user_agent,
            download_delay=defaults.download_delay_seconds,
            concurrent_per_domain=defaults.concurrent_per_domain,
            respect_robots=defaults.respect_robots,
            **{"warc_dir": defaults.warc_dir, "warc_max_size": defaults.warc_max_size, **overrides},
        )


# Scrapy's extensions that run Python sent to the crawl process (a telnet console, an HTTP
# "remote control"). Both are disabled below; they are also left out of the extensions Scrapy
# knows, because Scrapy imports every extension it is told about, enabled, disabled or set to
# None, and the remote control's module imports aiohttp's web server: about 0.2 s of CPU at
# every crawl's start (docs/development.md, Benchmarks).
_CONSOLES = ("scrapy.extensions.telnet.TelnetConsole", "scrapy.extensions.remote_control.RemoteControl")


def _extensions_base() -> dict[str, int | None]:
    """Scrapy's own default extensions (as this Scrapy has them), less its consoles."""
    from scrapy.settings import default_settings

    return {path: order for path, order in default_settings.EXTENSIONS_BASE.items() if path not in _CONSOLES}


def scrapy_settings(s: CrawlSettings) -> dict[str, Any]:
    """The Scrapy settings dict for one crawl process."""
    settings: dict[str, Any] = {
        "BOT_NAME": "mediawatch",
        "USER_AGENT": s.user_agent,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "LOG_LEVEL": s.log_level,
        # No control ports: a crawl is driven by its command line only.
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        # Politeness
        "ROBOTSTXT_OBEY": s.respect_robots,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": s.download_delay,
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(s.concurrent_per_domain),
        "DOWNLOAD_DELAY": s.download_delay,
        "DOWNLOAD_DELAY_JITTER": 0.5 if s.download_delay > 0 else 0.0,
        "CONCURRENT_REQUESTS": s.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": s.concurrent_per_domain,
        "COOKIES_ENABLED": False,
        # Limits
        "DOWNLOAD_MAXSIZE": s.download_maxsize,
        "DOWNLOAD_WARNSIZE": s.download_warnsize,
        "DOWNLOAD_TIMEOUT": s.download_timeout,
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        "MEMUSAGE_ENABLED": True,
        "MEMUSAGE_LIMIT_MB": s.memusage_limit_mb,
        "RETRY_TIMES": s.retry_times,
        "REDIRECT_MAX_TIMES": 10,
        # One item task per response instead of 100: 1.3x for 200s, 1.75x for 304s
        # (docs/development.md, Benchmarks).
        "CONCURRENT_ITEMS": 1,
        # Scrapy's check for `return value` in generator callbacks re-reads and parses the
        # callback's source for every response (its cache misses bound methods): about 0.15 ms
        # a page for a lint our own callbacks do not need (docs/development.md, Benchmarks).
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        # Revisits send their own conditional GET; a cache would hide what the site answers.
        "HTTPCACHE_ENABLED": False,
        "ITEM_PIPELINES": {"crawler.pipeline.ArchivePipeline": 300},
        "MEDIAWATCH_ALLOW_PRIVATE_NETWORKS": s.allow_private_networks,
        "MEDIAWATCH_EXTRACT_WORKERS": s.extract_workers,
        "MEDIAWATCH_EXTRACT_TIMEOUT": s.extract_timeout,
        "EXTENSIONS_BASE": _extensions_base(),  # Scrapy's own, less the consoles (above)
        # WARC capture: NotConfigured unless enabled (crawler/warccapture.py)
        "EXTENSIONS": {
            "crawler.warccapture.WarcCaptureExtension": 500,
            "crawler.progress.ProgressExtension": 510,  # the progress bar's counts
        },
        "MEDIAWATCH_WARC_ENABLED": s.warc_dir is not None,
        "MEDIAWATCH_WARC_DIR": s.warc_dir,
        "MEDIAWATCH_WARC_MAX_SIZE": s.warc_max_size,
    }
    # safety: merged by crawler.safety — scheme allowlist, SSRF guard at intake and at
    # connect time, RFC 9309 robots.txt (replacing Scrapy's fail-open middleware) and limits.
    from crawler.safety import SAFETY_SETTINGS

    for key, value in SAFETY_SETTINGS.items():
        if isinstance(value, dict):
            settings[key] = {**settings.get(key, {}), **value}
        elif key not in settings or key == "ROBOTSTXT_OBEY":
            settings[key] = value
    settings["MEDIAWATCH_ROBOTS_ENABLED"] = s.respect_robots
    return settings
