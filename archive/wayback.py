"""Backfill an article's history from a Wayback Machine (CDX API + ``id_`` replay).

For each article URL the CDX API lists its captures (status 200, collapsed by digest, oldest
first); each capture's original bytes are fetched through the ``id_`` replay form and recorded
through the versioned store as a fetch at the capture's time with origin ``backfill``.

Politeness: one request at a time, at most one per ``delay`` seconds (or the archive's
robots.txt Crawl-delay if longer), robots.txt of the archive honoured as the crawler honours a
site's (RFC 9309, the same Protego parser: 4xx allows, 429, 5xx or unreachable disallows), a
429/503 from the archive stops the run. Safety: the same address guard as the crawler
(archive/safehttp.py): an archive on loopback or a private network is refused unless
``allow_private_networks`` is given. Resumable: captures already recorded as backfill fetches
of the article are not fetched again.

History rule: versions are numbered in the order mediawatch learns of them, and the store never
splices an older state into the middle of a history. So backfill an article *before* it is first
crawled (``mediawatch backfill URL`` on a newly found URL, or ``--all`` on a freshly imported
list): its history then starts at its first Wayback capture. For an article already observed,
captures newer than its latest version extend the history as usual, and older captures are kept
as dated evidence (fetch rows: ``unchanged`` when they match the version current then, else
``suspect`` with the reason), never as new versions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego
from sqlalchemy import or_, select

from archive.bulk import Ahead, prepare_args, prepare_capture, with_prepared
from archive.db import Archive
from archive.derive import Prepared
from archive.errors import InputError, MediawatchError
from archive.lookups import find_article
from archive.models import Article, Fetch, FetchOrigin, FetchOutcome
from archive.normalize import URLError, normalize_url
from archive.robotstxt import MAX_ROBOTS_BYTES, MAX_ROBOTS_REDIRECTS, parse_robots
from archive.safehttp import AddressRefused, guarded_client, url_refusal
from archive.store import Capture, record
from archive.warcrecords import looks_like_html, safe_headers

logger = logging.getLogger(__name__)

DEFAULT_CDX_ENDPOINT = "https://web.archive.org/cdx/search/cdx"
DEFAULT_DELAY_S = 1.0  # at least this long between two requests to the archive
MAX_CDX_BYTES = 16 * 1024 * 1024
MAX_CAPTURE_BYTES = 20 * 1024 * 1024
CDX_LIMIT = 10000  # captures listed per article
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
TIMEOUT_S = 60.0
ARCHIVE_HEADER_PREFIX = "x-archive-orig-"
_REPLAY_TIMESTAMP = re.compile(r"/(\d{14})id_/")


class BackfillError(MediawatchError):
    """The web archive cannot be used (robots.txt forbids it, it is down, or it rate-limits us).

    ``stops_run``: the archive as a whole cannot be used now (its robots.txt, a rate limit, a
    refused address), so the other articles wait for the next run too.
    """

    def __init__(self, message: str, *, stops_run: bool = False) -> None:
        super().__init__(message)
        self.stops_run = stops_run


PRIVATE_HINT = " (pass --allow-private-networks for a web archive on this machine or network)"


def user_agent() -> str:
    return f"mediawatch/{package_version('mediawatch')} (web-archive backfill; one request at a time)"


@dataclass(frozen=True)
class CdxRow:
    timestamp: str
    original: str
    mimetype: str
    status: str
    digest: str

    @property
    def at(self) -> datetime:
        return parse_wayback_timestamp(self.timestamp)


def parse_wayback_timestamp(value: str) -> datetime:
    if not re.fullmatch(r"\d{4,14}", value):
        raise ValueError(f"not a Wayback timestamp: {value!r}")
    padded = value + "0101000000"[len(value) - 4 :] if len(value) < 14 else value
    return datetime.strptime(padded, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def parse_cdx(body: bytes) -> list[CdxRow]:
    """CDX API output: JSON (a header row, then rows) or space-separated lines; bad rows dropped."""
    text = body.decode("utf-8", errors="replace").strip()
    rows: list[CdxRow] = []
    if text.startswith("["):
        data = json.loads(text)
        if not isinstance(data, list) or not data:
            return []
        fields = [str(name) for name in data[0]]
        for item in data[1:]:
            if isinstance(item, list) and len(item) == len(fields):
                named = dict(zip(fields, (str(v) for v in item), strict=True))
                rows.append(
                    CdxRow(
                        named.get("timestamp", ""),
                        named.get("original", ""),
                        named.get("mimetype", ""),
                        named.get("statuscode", ""),
                        named.get("digest", ""),
                    )
                )
    else:
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 6:  # urlkey timestamp original mimetype statuscode digest [length …]
                rows.append(CdxRow(parts[1], parts[2], parts[3], parts[4], parts[5]))
    good = []
    for row in rows:
        try:
            row.at  # noqa: B018 - validates the timestamp
        except ValueError:
            continue
        good.append(row)
    return good


def collapse_by_digest(rows: list[CdxRow]) -> list[CdxRow]:
    """Drop captures whose digest equals the previous one (what ``collapse=digest`` asks for)."""
    out: list[CdxRow] = []
    for row in rows:
        if not out or row.digest != out[-1].digest or not row.digest:
            out.append(row)
    return out


def sha1_base32(data: bytes) -> str:
    return base64.b32encode(hashlib.sha1(data).digest()).decode()


@dataclass
class BackfillSummary:
    articles: int = 0
    listed: int = 0  # captures the CDX API listed (after collapsing)
    already_recorded: int = 0
    fetched: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    new_articles: int = 0
    new_versions: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (article URL, why it stopped)

    def as_dict(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "listed": self.listed,
            "already_recorded": self.already_recorded,
            "fetched": self.fetched,
            "new_articles": self.new_articles,
            "new_versions": self.new_versions,
            "outcomes": dict(self.outcomes),
            "skipped": dict(self.skipped),
            "notes": dict(self.notes),
            "errors": [{"url": u, "error": e} for u, e in self.errors],
        }


class _Polite:
    """One HTTP client for the archive: the address guard, robots.txt per origin, a minimum
    delay, bounded bodies."""

    def __init__(
        self,
        client: httpx.Client,
        delay: float,
        *,
        allow_private: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.delay = delay
        self.allow_private = allow_private
        self.sleep = sleep
        self.monotonic = monotonic
        self.next_at = 0.0
        self.robots: dict[str, Protego | None] = {}
        self.agent = user_agent()

    def _wait(self, delay: float) -> None:
        now = self.monotonic()
        if now < self.next_at:
            self.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + delay

    def _refusal(self, url: str) -> BackfillError | None:
        """The error that stops the run if ``url`` may not be requested (checked on its text)."""
        refusal = url_refusal(url, self.allow_private)
        return None if refusal is None else self._refused(url, refusal.detail)

    def _refused(self, url: str, why: object) -> BackfillError:
        hint = "" if self.allow_private or "cloud metadata" in str(why) else PRIVATE_HINT
        parts = urlsplit(url)
        return BackfillError(
            f"refused to fetch from {parts.scheme}://{parts.netloc}: {why}{hint}", stops_run=True
        )

    def _robots(self, url: str) -> Protego | None:
        """The archive origin's robots rules; None means everything is allowed (RFC 9309 as the
        crawler reads it: docs/fetching-safely.md, robots.txt)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin in self.robots:
            return self.robots[origin]
        target = origin + "/robots.txt"
        parser: Protego | None = None  # unavailable (4xx, too many or refused redirects): allow all
        for hop in range(MAX_ROBOTS_REDIRECTS + 1):
            refused = self._refusal(target)
            if refused is not None:
                if hop == 0:
                    raise refused
                break
            self._wait(self.delay)
            try:
                with self.client.stream("GET", target) as response:
                    status, location = response.status_code, response.headers.get("location")
                    body = _read_at_most(response, MAX_ROBOTS_BYTES) if 200 <= status < 300 else b""
            except AddressRefused as exc:
                if hop == 0:
                    raise self._refused(target, exc) from None
                break
            except httpx.HTTPError as exc:
                raise BackfillError(
                    f"robots.txt of {origin} unreachable ({exc}); not backfilling", stops_run=True
                ) from None
            if status in REDIRECT_STATUSES and location:
                target = urljoin(target, location)
                continue
            if 200 <= status < 300:
                parser = parse_robots(body)
            elif status == 429 or status >= 500:
                raise BackfillError(
                    f"robots.txt of {origin} answered HTTP {status}; not backfilling", stops_run=True
                )
            break
        self.robots[origin] = parser
        return parser

    def allowed(self, url: str) -> bool:
        parser = self._robots(url)
        return parser is None or bool(parser.can_fetch(url, self.agent))

    def get(self, url: str, limit: int) -> tuple[httpx.Response, bytes] | str:
        """GET with manual same-origin redirects; a str is why nothing usable came back."""
        origin = urlsplit(url)[:2]
        for _ in range(MAX_REDIRECTS + 1):
            refused = self._refusal(url)
            if refused is not None:
                raise refused
            if not self.allowed(url):
                return "disallowed by the archive's robots.txt"
            parser = self._robots(url)
            crawl_delay = parser.crawl_delay(self.agent) if parser is not None else None
            self._wait(max(self.delay, float(crawl_delay or 0)))
            try:
                with self.client.stream("GET", url) as response:
                    if response.status_code in (429, 503):
                        raise BackfillError(
                            f"the archive answered HTTP {response.status_code} (rate limited); resume later",
                            stops_run=True,
                        )
                    if response.is_redirect:
                        target = urljoin(url, response.headers.get("location", ""))
                        if urlsplit(target)[:2] != origin:
                            return "replay redirected off the archive"
                        url = target
                        continue
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > limit:
                            return f"larger than {limit} bytes"
                    return response, bytes(body)
            except AddressRefused as exc:
                raise self._refused(url, exc) from None
        return "too many redirects"


def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The body's first ``limit`` bytes (and up to one chunk more), without reading the rest."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            break
    return bytes(body)


def _existing_times(archive: Archive, url: str) -> set[datetime]:
    with archive.reading() as session:
        article = find_article(session, url)
        condition = Fetch.url == url
        if article is not None:
            condition = or_(condition, Fetch.article_id == article.id)
        return set(
            session.scalars(select(Fetch.fetched_at).where(condition, Fetch.origin == FetchOrigin.BACKFILL))
        )


def _original_headers(response: httpx.Response) -> list[list[str]]:
    """The captured response's own headers, as the archive relays them (x-archive-orig-*)."""
    pairs = [
        [name[len(ARCHIVE_HEADER_PREFIX) :], value]
        for name, value in response.headers.multi_items()
        if name.lower().startswith(ARCHIVE_HEADER_PREFIX)
    ]
    names = {name.lower() for name, _ in pairs}
    if "content-type" not in names and response.headers.get("content-type"):
        pairs.insert(0, ["Content-Type", response.headers["content-type"]])
    return safe_headers(pairs)


class Backfiller:
    def __init__(
        self,
        archive: Archive,
        *,
        cdx_endpoint: str = DEFAULT_CDX_ENDPOINT,
        replay_endpoint: str | None = None,
        delay: float = DEFAULT_DELAY_S,
        allow_private_networks: bool = False,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        crawl_run_id: int | None = None,
        executor: Any = None,
    ) -> None:
        try:
            parts = urlsplit(cdx_endpoint)
            usable = parts.scheme in ("http", "https") and bool(parts.netloc) and (parts.port or 0) >= 0
        except ValueError:  # an unclosed IPv6 bracket, a port out of range
            usable = False
        if not usable:
            raise InputError(f"not an http(s) CDX endpoint: {cdx_endpoint!r}")
        self.archive = archive
        self.cdx_endpoint = cdx_endpoint
        self.replay = (replay_endpoint or f"{parts.scheme}://{parts.netloc}/web").rstrip("/")
        self.crawl_run_id = crawl_run_id  # the backfill's run: every fetch it records points at it
        self.client = client or guarded_client(
            allow_private=allow_private_networks,
            headers={"User-Agent": user_agent()},
            timeout=TIMEOUT_S,
            follow_redirects=False,
        )
        self.http = _Polite(self.client, delay, allow_private=allow_private_networks, sleep=sleep)
        # Captures fetched, being extracted on the executor while the next one is fetched; recorded
        # in order, all of an article's before the next article starts.
        workers = getattr(executor, "_max_workers", 1) or 1
        self.ahead: Ahead[Capture, Prepared] = Ahead(executor, window=0 if executor is None else int(workers))

    def close(self) -> None:
        self.client.close()

    def captures(self, url: str, since: datetime | None) -> list[CdxRow]:
        params = {
            "url": url,
            "output": "json",
            "fl": "timestamp,original,mimetype,statuscode,digest",
            "filter": "statuscode:200",
            "collapse": "digest",
            "limit": str(CDX_LIMIT),
        }
        if since is not None:
            params["from"] = since.astimezone(UTC).strftime("%Y%m%d%H%M%S")
        query = str(httpx.URL(self.cdx_endpoint, params=params))
        got = self.http.get(query, MAX_CDX_BYTES)
        if isinstance(got, str):
            raise BackfillError(f"CDX query for {url}: {got}")
        response, body = got
        if response.status_code != 200:
            raise BackfillError(f"CDX query for {url}: HTTP {response.status_code}")
        try:
            rows = parse_cdx(body)
        except ValueError as exc:
            raise BackfillError(f"CDX query for {url}: unreadable answer ({exc})") from None
        rows = [r for r in rows if r.status == "200" and (since is None or r.at >= since)]
        rows.sort(key=lambda r: r.timestamp)  # oldest first: the store numbers versions in order
        return collapse_by_digest(rows)

    def backfill(self, url: str, summary: BackfillSummary, since: datetime | None = None) -> None:
        """Record every not-yet-recorded Wayback capture of one article URL, oldest first."""
        try:
            normalize_url(url)
        except URLError as exc:
            raise InputError(f"{url}: {exc}") from None
        summary.articles += 1
        rows = self.captures(url, since)
        summary.listed += len(rows)
        done = _existing_times(self.archive, url)
        try:
            for row in rows:
                if row.at in done:
                    summary.already_recorded += 1
                    continue
                if not looks_like_html(row.mimetype, None) and row.mimetype not in ("", "unk"):
                    summary.skipped["not HTML"] += 1
                    continue
                if not self._one(url, row, summary):
                    # Captures are applied oldest first; a gap would turn the later ones into the
                    # history and the missing one into late evidence. Stop here; the next run
                    # resumes from this capture.
                    break
        finally:
            self._record(self.ahead.drain(), summary)

    def _record(self, items: Iterator[tuple[Capture, Prepared | None]], summary: BackfillSummary) -> None:
        for capture, prepared in items:
            ready, extractor = with_prepared(capture, prepared)
            result = record(self.archive.sessions, ready, extractor=extractor)
            summary.outcomes[result.outcome.value] += 1
            summary.new_articles += result.new_article
            summary.new_versions += result.outcome == FetchOutcome.NEW_VERSION

    def _one(self, url: str, row: CdxRow, summary: BackfillSummary) -> bool:
        """Fetch and record one capture; False when it failed transiently (stop the article here)."""
        replay_url = f"{self.replay}/{row.timestamp}id_/{row.original}"
        try:
            got = self.http.get(replay_url, MAX_CAPTURE_BYTES)
        except httpx.HTTPError as exc:  # timeouts, resets, a body shorter than its Content-Length
            summary.skipped["replay failed (resumes next run)"] += 1
            logger.info("replay of %s failed: %s", replay_url, exc)
            return False
        if isinstance(got, str):
            summary.skipped[got] += 1  # permanent: robots.txt, size, off-archive redirect
            return True
        response, raw = got
        if response.status_code != 200:
            summary.skipped[f"replay HTTP {response.status_code} (resumes next run)"] += 1
            return response.status_code in (403, 404, 410)  # gone for good: skip it
        headers = _original_headers(response)
        content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        if not looks_like_html(content_type, raw):
            summary.skipped["not HTML"] += 1
            return True
        at = row.at
        redirected = _REPLAY_TIMESTAMP.search(str(response.url))
        if redirected and redirected.group(1) != row.timestamp:
            at = parse_wayback_timestamp(redirected.group(1))  # the archive served a nearby capture
            summary.notes["replay served another timestamp"] += 1
        if row.digest and sha1_base32(raw) != row.digest.upper():
            summary.notes["payload digest differs from the CDX index"] += 1
        capture = Capture(
            url=url,
            fetched_at=at,
            status=200,
            raw=raw,
            content_type=content_type,
            origin=FetchOrigin.BACKFILL,
            http_headers=headers or None,
            crawl_run_id=self.crawl_run_id,
        )
        summary.fetched += 1
        self.ahead.put(capture, prepare_capture, *prepare_args(capture))
        self._record(self.ahead.ready(), summary)
        return True


def backfill(
    archive: Archive,
    urls: list[str],
    *,
    all_articles: bool = False,
    since: datetime | None = None,
    cdx_endpoint: str = DEFAULT_CDX_ENDPOINT,
    replay_endpoint: str | None = None,
    delay: float = DEFAULT_DELAY_S,
    allow_private_networks: bool = False,
    progress: Callable[[int, int], None] | None = None,
    crawl_run_id: int | None = None,
    executor: Any = None,
) -> BackfillSummary:
    """Backfill the given article URLs (or every archived article) from a Wayback Machine.

    ``executor`` (a ``concurrent.futures.Executor``): where captures are extracted, while the
    next one is fetched (archive/bulk.py).
    """
    if all_articles:
        with archive.reading() as session:
            urls = [*urls, *session.scalars(select(Article.canonical_url).order_by(Article.id))]
    if not urls:
        raise InputError("give article URLs or --all")
    summary = BackfillSummary()
    backfiller = Backfiller(
        archive,
        cdx_endpoint=cdx_endpoint,
        replay_endpoint=replay_endpoint,
        delay=delay,
        allow_private_networks=allow_private_networks,
        crawl_run_id=crawl_run_id,
        executor=executor,
    )
    try:
        for done, url in enumerate(urls, start=1):
            try:
                backfiller.backfill(url, summary, since)
            except BackfillError as exc:
                summary.errors.append((url, str(exc)))
                if exc.stops_run:
                    break  # the archive cannot be used now: the rest waits for the next run
            except httpx.HTTPError as exc:
                summary.errors.append((url, f"CDX query failed: {exc}"))
            if progress is not None:
                progress(done, len(urls))
    finally:
        backfiller.close()
    return summary
