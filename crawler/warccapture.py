"""WARC capture: a Scrapy extension that writes what a crawl fetched as WARC/1.1 (warcio).

Hooked on ``response_downloaded`` (sent by the downloader before any middleware touches the
response), it sees the bytes as they came off the wire (still Content-Encoded) and the request
as it was sent. For every download it writes, each record its own gzip member:

* a ``request`` record (the request line and headers Scrapy sent, ``Host`` added);
* a ``response`` record with the original status, headers and bytes; or a ``revisit``:
  ``server-not-modified`` for a 304 (referring to the URL's latest response when known), and
  ``identical-payload-digest`` when the payload digest equals an earlier response's, in this run
  or an earlier one (looked up in ``mediawatch-warc-index.sqlite3`` in the WARC directory);
* a ``metadata`` record (``WARC-Concurrent-To`` the response) with the crawl run id, the source
  and the request kind.

Each file starts with a ``warcinfo`` record, is written as ``<name>.open`` and renamed to
``mediawatch-<run id>-<UTC timestamp>-<serial>.warc.gz`` when complete: when it reaches
``MEDIAWATCH_WARC_MAX_SIZE`` bytes (a capture is never split across files) or the spider closes.
A file's responses enter the index only once the file is complete, so a later run never refers
to a record in a file that was left unfinished.

Compression and disk writes run on one writer thread (~5 ms a page: docs/development.md, Benchmarks),
never on the reactor. A failed write is logged and counted (``mediawatch/warc/write_errors``);
the unfinished file keeps its ``.open`` name and the crawl goes on with a new file.

Settings: ``MEDIAWATCH_WARC_ENABLED`` (bool, default False: the extension is not configured),
``MEDIAWATCH_WARC_DIR`` (path), ``MEDIAWATCH_WARC_MAX_SIZE`` (bytes, default 1 GB),
``MEDIAWATCH_CRAWL_RUN_ID`` (int, the crawl_run row the files belong to).
"""

from __future__ import annotations

import io
import logging
import os
import queue
import sqlite3
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import NotConfigured
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.errors import ConfigError
from archive.warcrecords import (
    PROFILE_IDENTICAL,
    PROFILE_NOT_MODIFIED,
    header_value,
    payload_digest,
    request_headers,
    response_headers,
    target_uri,
    warc_date,
    warc_fields,
)
from crawler.robots import ROBOTS_FETCH_META
from crawler.settings import mediawatch_version

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 1_000_000_000  # bytes per WARC file (a capture is never split across files)
INDEX_NAME = "mediawatch-warc-index.sqlite3"
OPEN_SUFFIX = ".open"
QUEUE_CAPTURES = 16  # captures waiting for the writer thread before the crawl waits for it


def parse_size(text: str) -> int:
    """A size in bytes from ``123``, ``64K``, ``500M`` or ``1G`` (powers of 1000)."""
    value = text.strip().upper().removesuffix("B")
    factor = {"K": 10**3, "M": 10**6, "G": 10**9}.get(value[-1:], 1)
    digits = value[:-1] if factor > 1 else value
    if not digits.isdigit() or int(digits) < 1:
        raise ConfigError(f"not a size: {text!r} (bytes, or a number with K, M or G)")
    return int(digits) * factor


def prepare_directory(directory: Path) -> Path:
    """Create the WARC directory if needed and check it is writable (ConfigError if not)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".mediawatch-write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot write WARC files here: {exc.strerror or exc}") from None
    return directory


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    """Scrapy's headers (bytes, several values a name) as (name, value) text pairs, as received.

    Decoded only: the writer thread sanitises them once, as it builds the record
    (``response_headers``/``request_headers``), off the reactor thread.
    """
    return [(_latin1(name).strip(), _latin1(value)) for name, values in headers.items() for value in values]


def _latin1(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Download:
    """One download, copied off the reactor thread's objects."""

    url: str
    at: datetime
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    protocol: str
    response_headers: list[tuple[str, str]]
    body: bytes
    ip_address: str | None
    truncated: bool
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Original:
    record_id: str
    uri: str
    date: str


class RevisitIndex:
    """Payload digest and URL -> the response record that holds them (this and earlier runs).

    A SQLite file next to the WARC files; an unreadable index is replaced by an in-memory one
    (revisits are then found within this run only). Only used from the writer thread.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            self.db = sqlite3.connect(directory / INDEX_NAME, timeout=30)
            self._create()
        except sqlite3.Error as exc:
            logger.warning("WARC revisit index unusable (%s): revisits limited to this run", exc)
            self.db = sqlite3.connect(":memory:")
            self._create()
        self.pending: list[tuple[str, str, str, str, str]] = []
        self._by_digest: dict[str, _Original] = {}
        self._by_uri: dict[str, _Original] = {}

    def _create(self) -> None:
        with self.db:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS response (digest TEXT NOT NULL, record_id TEXT NOT NULL,"
                " uri TEXT NOT NULL, date TEXT NOT NULL, file TEXT NOT NULL)"
            )
            self.db.execute("CREATE INDEX IF NOT EXISTS response_digest ON response (digest)")
            self.db.execute("CREATE INDEX IF NOT EXISTS response_uri ON response (uri, date)")

    def _exists(self, name: str) -> bool:
        return (self.directory / name).is_file()

    def by_digest(self, digest: str) -> _Original | None:
        if digest in self._by_digest:
            return self._by_digest[digest]
        rows = self.db.execute(
            "SELECT record_id, uri, date, file FROM response WHERE digest = ? ORDER BY date LIMIT 20",
            (digest,),
        ).fetchall()
        for record_id, uri, date, name in rows:
            if self._exists(name):
                return _Original(record_id, uri, date)
        return None

    def by_uri(self, uri: str) -> _Original | None:
        if uri in self._by_uri:
            return self._by_uri[uri]
        rows = self.db.execute(
            "SELECT record_id, uri, date, file FROM response WHERE uri = ? ORDER BY date DESC LIMIT 20",
            (uri,),
        ).fetchall()
        for record_id, found, date, name in rows:
            if self._exists(name):
                return _Original(record_id, found, date)
        return None

    def add(self, digest: str, original: _Original) -> None:
        """Remember a response written to the current (unfinished) file."""
        self._by_digest.setdefault(digest, original)
        self._by_uri[original.uri] = original
        self.pending.append((digest, original.record_id, original.uri, original.date, ""))

    def commit(self, file_name: str) -> None:
        """The current file is complete: its responses become referable by later runs."""
        rows = [(d, r, u, t, file_name) for d, r, u, t, _ in self.pending]
        self.pending.clear()
        self._by_digest.clear()
        self._by_uri.clear()
        try:
            with self.db:
                self.db.executemany("INSERT INTO response VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            logger.warning("could not update the WARC revisit index: %s", exc)

    def discard(self) -> None:
        """The current file was abandoned: forget its responses."""
        self.pending.clear()
        self._by_digest.clear()
        self._by_uri.clear()

    def close(self) -> None:
        self.db.close()


@dataclass
class WarcCounts:
    files: int = 0
    records: int = 0
    responses: int = 0
    revisits: int = 0
    bytes: int = 0
    write_errors: int = 0
    names: list[str] = field(default_factory=list)


class WarcFiles:
    """Writes captures to rotating WARC files in one directory (call from one thread only)."""

    def __init__(
        self,
        directory: Path,
        run_id: int | None,
        max_size: int = DEFAULT_MAX_SIZE,
        info: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.run_id = run_id
        self.max_size = max_size
        self.info = info or {}
        self.counts = WarcCounts()
        self.index = RevisitIndex(directory)
        self._handle: io.BufferedWriter | None = None
        self._writer: WARCWriter | None = None
        self._name = ""
        self._serial = 0

    # -- files

    def _open(self) -> WARCWriter:
        if self._writer is not None:
            return self._writer
        stamp = datetime.now(UTC)
        run = self.run_id if self.run_id is not None else 0
        while True:
            name = f"mediawatch-{run}-{stamp:%Y%m%d%H%M%S}{stamp.microsecond // 1000:03d}-{self._serial:05d}"
            name += ".warc.gz"
            self._serial += 1
            if (self.directory / name).exists():
                continue
            try:
                self._handle = (self.directory / (name + OPEN_SUFFIX)).open("xb")
            except FileExistsError:  # another process writing to the same directory
                continue
            break
        self._name = name
        self._writer = WARCWriter(self._handle, gzip=True, warc_version="1.1")
        fields = {
            "software": f"mediawatch/{mediawatch_version()} (warcio)",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "isPartOf": f"mediawatch-crawl-{run}",
            "mediawatch-crawl-run": str(run),
            **self.info,
        }
        self._writer.write_record(self._writer.create_warcinfo_record(name, fields))
        self.counts.records += 1
        return self._writer

    def finish(self) -> None:
        """Close the current file and give it its final name."""
        if self._handle is None:
            return
        handle, name = self._handle, self._name
        self._handle, self._writer = None, None
        size = handle.tell()
        handle.close()
        os.replace(self.directory / (name + OPEN_SUFFIX), self.directory / name)
        self.index.commit(name)
        self.counts.files += 1
        self.counts.bytes += size
        self.counts.names.append(name)
        logger.info("WARC file complete: %s (%d bytes)", name, size)

    def abandon(self) -> None:
        """After a failed write: close the current file, which keeps its .open name."""
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError:
                pass
        self._handle, self._writer = None, None
        self.index.discard()

    def close(self) -> None:
        try:
            self.finish()
        finally:
            self.index.close()

    # -- records

    def write(self, capture: Download) -> None:
        writer = self._open()
        date = warc_date(capture.at)
        uri = target_uri(capture.url)
        response_id = f"<urn:uuid:{uuid.uuid4()}>"
        warc_headers = {"WARC-Record-ID": response_id, "WARC-Date": date}
        if capture.ip_address:
            warc_headers["WARC-IP-Address"] = capture.ip_address
        if capture.truncated:
            warc_headers["WARC-Truncated"] = "disconnect"
        http_headers = self._response_headers(capture)
        digest = payload_digest(capture.body)
        original: _Original | None = None
        if capture.status == 304:
            original = self.index.by_uri(uri)
            extra = dict(warc_headers, **{"WARC-Profile": PROFILE_NOT_MODIFIED})
            if original is not None:
                extra["WARC-Refers-To"] = original.record_id
                extra["WARC-Refers-To-Target-URI"] = original.uri
                extra["WARC-Refers-To-Date"] = original.date
            record = writer.create_warc_record(
                uri, "revisit", http_headers=http_headers, warc_headers_dict=extra
            )
            self.counts.revisits += 1
        elif capture.body and not capture.truncated and (original := self.index.by_digest(digest)):
            record = writer.create_revisit_record(
                uri,
                digest,
                original.uri,
                original.date,
                http_headers=http_headers,
                warc_headers_dict={**warc_headers, "WARC-Refers-To": original.record_id},
            )
            record.rec_headers.replace_header("WARC-Profile", PROFILE_IDENTICAL)
            self.counts.revisits += 1
        else:
            warc_headers["WARC-Payload-Digest"] = digest
            record = writer.create_warc_record(
                uri,
                "response",
                payload=io.BytesIO(capture.body),
                length=len(capture.body),
                http_headers=http_headers,
                warc_headers_dict=warc_headers,
            )
            if capture.body and not capture.truncated:
                self.index.add(digest, _Original(response_id, uri, date))
            self.counts.responses += 1
        request = writer.create_warc_record(
            uri,
            "request",
            payload=io.BytesIO(capture.request_body),
            length=len(capture.request_body),
            http_headers=self._request_headers(capture),
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": response_id},
        )
        metadata = self._metadata(capture)
        meta_record = writer.create_warc_record(
            uri,
            "metadata",
            payload=io.BytesIO(metadata),
            length=len(metadata),
            warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": response_id},
        )
        for rec in (record, request, meta_record):
            writer.write_record(rec)
        self.counts.records += 3
        assert self._handle is not None
        if self._handle.tell() >= self.max_size:
            self.finish()

    def _response_headers(self, capture: Download) -> StatusAndHeaders:
        headers = list(capture.response_headers)
        if any(name.lower() == "transfer-encoding" for name, _ in headers):
            # The bytes were de-chunked by the HTTP client: describe them as they are stored.
            headers = [(n, v) for n, v in headers if n.lower() not in ("transfer-encoding", "content-length")]
            headers.append(("Content-Length", str(len(capture.body))))
        return response_headers(capture.status, headers, capture.protocol)

    def _request_headers(self, capture: Download) -> StatusAndHeaders:
        parts = urlsplit(capture.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = list(capture.request_headers)
        if not any(name.lower() == "host" for name, _ in headers):
            headers.insert(0, ("Host", parts.netloc))
        return request_headers(capture.method, path, headers)

    def _metadata(self, capture: Download) -> bytes:
        fields = {"mediawatch-crawl-run": str(self.run_id if self.run_id is not None else 0), **capture.meta}
        return warc_fields(fields)


def capture_of(request: Request, response: Response, at: datetime) -> Download:
    """A `Download` from a downloaded response and the request that fetched it."""
    meta = request.meta
    redirects = meta.get("redirect_urls") or []
    kind = meta.get("mw_kind") or ("revisit" if meta.get("mw_revisit") is not None else "page")
    if meta.get(ROBOTS_FETCH_META):
        kind = "robots"
    ip = getattr(response, "ip_address", None)
    return Download(
        url=request.url,
        at=at,
        method=request.method,
        request_headers=_header_pairs(request.headers),
        request_body=bytes(request.body or b""),
        status=response.status,
        protocol=getattr(response, "protocol", None) or "HTTP/1.1",
        response_headers=_header_pairs(response.headers),
        body=bytes(response.body),
        ip_address=str(ip) if ip is not None else None,
        truncated="dataloss" in (response.flags or []),
        meta={
            "mediawatch-source": str(meta.get("mw_source") or ""),
            "mediawatch-request-kind": str(kind),
            "via": str(redirects[-1]) if redirects else "",
        },
    )


_STOP = object()


class WarcCaptureExtension:
    """Scrapy extension: every downloaded response (and its request) into rotating WARC files."""

    def __init__(self, crawler: Crawler, directory: Path, max_size: int, run_id: int | None) -> None:
        self.crawler = crawler
        self.directory = directory
        self.max_size = max_size
        self.run_id = run_id
        self.files: WarcFiles | None = None
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CAPTURES)
        self.thread: threading.Thread | None = None
        self.dropped = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcCaptureExtension:
        settings = crawler.settings
        if not settings.getbool("MEDIAWATCH_WARC_ENABLED"):
            # No message: with one, Scrapy logs a WARNING on every crawl, which cron would mail.
            raise NotConfigured
        directory = settings.get("MEDIAWATCH_WARC_DIR")
        if not directory:
            raise NotConfigured("MEDIAWATCH_WARC_DIR is not set")
        max_size = settings.getint("MEDIAWATCH_WARC_MAX_SIZE", DEFAULT_MAX_SIZE)
        run_id = settings.get("MEDIAWATCH_CRAWL_RUN_ID")
        ext = cls(crawler, Path(directory), max(1, max_size), int(run_id) if run_id is not None else None)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.response_downloaded, signal=signals.response_downloaded)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        settings = self.crawler.settings
        info = {
            "http-header-user-agent": header_value(str(settings.get("USER_AGENT") or "")),
            "robots": "obey" if settings.getbool("MEDIAWATCH_ROBOTS_ENABLED") else "ignore",
        }
        self.thread = threading.Thread(target=self._work, args=(info,), name="mediawatch-warc", daemon=True)
        self.thread.start()

    def response_downloaded(self, response: Response, request: Request, spider: Any = None) -> None:
        if self.thread is None:
            return
        capture = capture_of(request, response, datetime.now(UTC))
        while self.thread.is_alive():  # the crawl waits when the writer falls behind
            try:
                self.queue.put(capture, timeout=1.0)
                return
            except queue.Full:
                continue
        self.dropped += 1  # the writer thread stopped (a bug): the crawl itself goes on

    def _work(self, info: dict[str, str]) -> None:
        # Created here: the revisit index's SQLite connection belongs to this thread.
        files = self.files = WarcFiles(self.directory, self.run_id, self.max_size, info)
        while True:
            item = self.queue.get()
            if item is _STOP:
                break
            try:
                files.write(item)
            except OSError as exc:
                files.counts.write_errors += 1
                logger.error("could not write WARC record for %s: %s", item.url, exc)
                files.abandon()
        try:
            files.close()
        except OSError as exc:
            files.counts.write_errors += 1
            logger.error("could not complete the WARC file: %s", exc)

    def spider_closed(self, spider: Any = None, reason: str | None = None) -> None:
        if self.thread is None:
            return
        self.queue.put(_STOP)
        self.thread.join()
        self.thread = None
        if self.files is None:
            return
        counts = self.files.counts
        stats = self.crawler.stats
        if stats is not None:
            for key in ("files", "records", "responses", "revisits", "bytes", "write_errors"):
                stats.set_value(f"mediawatch/warc/{key}", getattr(counts, key))
            stats.set_value("mediawatch/warc/dropped", self.dropped)
