"""Web-archive interchange: WARC/ARC files in as fetches, fetches out as WARC/1.1.

Import (``import_warc``) reads WARC and ARC files, gzipped per record or not, with warcio. HTML
responses become fetches at their ``WARC-Date`` (origin ``warc``) through the versioned store;
revisit records are resolved against their originals (by ``WARC-Refers-To`` or payload digest);
everything else is skipped with a counted reason. A record is taken only when it was read whole
and its block digest (when present) verifies, so a truncated or corrupt record never becomes a
version. A file that cannot be read to its end keeps what was read before the damage and reports
the error. Importing the same file twice changes nothing: every fetch keeps its WARC-Record-ID.

Export (``export_warc``) writes every fetch whose raw bytes are kept as a WARC/1.1 ``response``
record dated at its fetch time, with its original HTTP headers when known (else headers rebuilt
from the fetch row); an unchanged re-fetch (same raw digest as one already written) becomes a
``revisit`` record (identical-payload-digest, ``WARC-Refers-To``), a 304 a ``revisit`` with the
server-not-modified profile, and a removal or error an empty-bodied response with its status.
Every record is its own gzip member, so the file passes ``warcio check`` and indexes with
``warcio index`` / cdxj-indexer.

Record-level reading, writing and header sanitising live in ``archive.warcrecords``, shared with
the crawl's WARC capture.
"""

from __future__ import annotations

import io
import logging
import os
import uuid
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import IO, Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.blobs import get_blob, put_blob, sha256_hex
from archive.bulk import WRITE_BATCH, Recorder, needs_extraction, prepare_args, prepare_capture, with_prepared
from archive.db import Archive
from archive.derive import Prepared
from archive.errors import NotFoundError
from archive.extract import Extracted, extract
from archive.files import open_output, require_input_files
from archive.lookups import find_article, find_articles, in_chunks
from archive.models import Article, Fetch, FetchOrigin, FetchOutcome
from archive.normalize import URLError, normalize_url
from archive.store import Capture, RecordResult, look_up_keys, raw_sha256_of, record_batch, record_fetch
from archive.warcrecords import (
    PROFILE_IDENTICAL,
    PROFILE_NOT_MODIFIED,
    RECORD_NAMESPACE,
    Skip,
    header,
    is_arc_file,
    looks_like_html,
    parse_http_date,
    parse_warc_date,
    response_headers,
    safe_headers,
    target_uri,
    warc_date,
)
from archive.warcrecords import digest_key as _digest_key
from archive.warcrecords import digest_problem as _digest_problem
from archive.warcrecords import read_payload as _read_payload
from archive.warcrecords import record_id as _record_id

logger = logging.getLogger(__name__)

ORIGINALS_CACHE_BYTES = 64 * 1024 * 1024  # payloads kept in memory to resolve revisit records
# Not meaningful once the payload is stored decoded and whole.
DROPPED_HEADERS = ("content-length", "transfer-encoding", "content-encoding")


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _plausible(at: datetime | None) -> datetime | None:
    if at is None or at.year < 1991 or at > datetime.now(UTC) + timedelta(days=1):
        return None
    return at


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


# ---------------------------------------------------------------------------------------------
# Import


@dataclass
class WarcImportSummary:
    files: int = 0
    records: int = 0  # WARC/ARC records read
    taken: int = 0  # HTML captures handed to the store
    outcomes: Counter[str] = field(default_factory=Counter)
    new_articles: int = 0
    new_versions: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)  # taken, with a remark
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, what stopped its reading)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "records": self.records,
            "taken": self.taken,
            "new_articles": self.new_articles,
            "new_versions": self.new_versions,
            "outcomes": dict(self.outcomes),
            "skipped": dict(self.skipped),
            "notes": dict(self.notes),
            "errors": [{"file": f, "error": e} for f, e in self.errors],
        }


@dataclass(frozen=True)
class _Original:
    raw: bytes
    status: int
    content_type: str | None
    headers: list[list[str]]


class _Originals:
    """Payloads of HTML responses seen in this import, to resolve revisit records (bounded LRU)."""

    def __init__(self, limit_bytes: int = ORIGINALS_CACHE_BYTES) -> None:
        self.limit = limit_bytes
        self.size = 0
        self.by_digest: OrderedDict[str, _Original] = OrderedDict()
        self.digest_of: dict[str, str] = {}  # WARC-Record-ID -> payload digest key

    def add(self, record_id: str | None, digest: str, original: _Original) -> None:
        if record_id:
            self.digest_of[record_id] = digest
        if digest in self.by_digest:
            self.by_digest.move_to_end(digest)
            return
        self.by_digest[digest] = original
        self.size += len(original.raw)
        while self.size > self.limit and self.by_digest:
            _, dropped = self.by_digest.popitem(last=False)
            self.size -= len(dropped.raw)

    def find(self, refers_to: str | None, digest: str | None) -> _Original | None:
        for key in (self.digest_of.get(refers_to or ""), digest):
            if key and key in self.by_digest:
                return self.by_digest[key]
        return None


class _Importer:
    def __init__(
        self,
        archive: Archive,
        summary: WarcImportSummary,
        crawl_run_id: int | None = None,
        executor: Any = None,
        extractor: Callable[..., Extracted] = extract,
    ) -> None:
        self.archive = archive
        self.summary = summary
        self.crawl_run_id = crawl_run_id  # the import's run: every fetch it records points at it
        self.extractor = extractor
        self.originals = _Originals()
        self.arc = False  # whether the file being read is an ARC file
        # Captures read, waiting to be extracted (on the executor) and recorded, in file order.
        self.parsed: list[Capture] = []
        self.recorder: Recorder[Capture, Prepared, RecordResult | None] = Recorder(
            executor, archive.sessions, self._record, self._count, write_many=self._record_many
        )

    # -- one record -> Capture | Skip

    def parse(self, rec: Any) -> Capture | Skip:
        rec_type = rec.rec_type
        if rec_type not in ("response", "revisit", "resource"):
            return Skip(f"not a capture ({rec_type} record)")
        uri = (rec.rec_headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
        try:
            normalize_url(uri)
        except URLError:
            return Skip("not an http(s) URL")
        if rec_type == "resource":
            headers: list[list[str]] = []
            content_type = rec.rec_headers.get_header("Content-Type")
            status: int | None = 200
        else:
            if rec.http_headers is None or not rec.http_headers.protocol.upper().startswith("HTTP/"):
                if rec_type == "response":
                    return Skip("no HTTP response headers")
                headers, content_type, status = [], None, None
            else:
                headers = safe_headers(rec.http_headers.headers)
                content_type = header(headers, "content-type")
                try:
                    status = int(rec.http_headers.get_statuscode())
                except (TypeError, ValueError):
                    return Skip("bad HTTP status")
                if not 100 <= status <= 599:
                    return Skip("bad HTTP status")
        if rec_type == "revisit":
            return self._revisit(rec, uri, headers, content_type, status)
        payload = _read_payload(rec)
        if isinstance(payload, Skip):
            return payload
        if not looks_like_html(content_type, payload):
            return Skip("not HTML")
        problem = _digest_problem(rec)
        if isinstance(problem, Skip):
            return problem
        at = self._date(rec, headers)
        if at is None:
            return Skip("no usable date")
        if problem:
            self.summary.notes[problem] += 1
        assert status is not None
        digest = _digest_key(rec.rec_headers.get_header("WARC-Payload-Digest")) or (
            "sha256:" + sha256_hex(payload)
        )
        record_id = _record_id(rec, uri, at, payload, arc=self.arc)
        self.originals.add(record_id, digest, _Original(payload, status, content_type, headers))
        return Capture(
            url=uri,
            fetched_at=at,
            status=status,
            raw=payload or None,  # an empty body (a 404, an error) has no bytes to keep
            content_type=content_type,
            etag=header(headers, "etag"),
            last_modified=header(headers, "last-modified"),
            origin=FetchOrigin.WARC,
            http_headers=headers or None,
            warc_record_id=record_id,
        )

    def _revisit(
        self,
        rec: Any,
        uri: str,
        headers: list[list[str]],
        content_type: str | None,
        status: int | None,
    ) -> Capture | Skip:
        if content_type is not None and not looks_like_html(content_type, None):
            return Skip("not HTML")
        at = self._date(rec, headers)
        if at is None:
            return Skip("no usable date")
        profile = (rec.rec_headers.get_header("WARC-Profile") or "").lower()
        record_id = _record_id(rec, uri, at, None, arc=self.arc)
        common: dict[str, Any] = {
            "url": uri,
            "fetched_at": at,
            "origin": FetchOrigin.WARC,
            "warc_record_id": record_id,
        }
        if profile.endswith("server-not-modified"):
            return Capture(
                status=304,
                content_type=content_type,
                etag=header(headers, "etag"),
                last_modified=header(headers, "last-modified"),
                http_headers=headers or None,
                **common,
            )
        refers_to = (rec.rec_headers.get_header("WARC-Refers-To") or "").strip() or None
        digest = _digest_key(rec.rec_headers.get_header("WARC-Payload-Digest"))
        original = self.originals.find(refers_to, digest) or self._stored_original(refers_to)
        if original is None:
            return Skip("revisit of an original not in the imported files")
        headers = headers or original.headers
        content_type = content_type or original.content_type
        if not looks_like_html(content_type, original.raw):
            return Skip("not HTML")
        return Capture(
            status=status if status is not None else original.status,
            raw=original.raw,
            content_type=content_type,
            etag=header(headers, "etag"),
            last_modified=header(headers, "last-modified"),
            http_headers=headers or None,
            **common,
        )

    def _stored_original(self, refers_to: str | None) -> _Original | None:
        """An original imported by an earlier run (or earlier in this one), by its WARC-Record-ID."""
        if not refers_to:
            return None
        self.flush()  # an original read earlier in this run may still wait to be recorded
        with self.archive.reading() as session:
            row = session.execute(
                select(Fetch.raw_sha256, Fetch.http_status, Fetch.http_headers)
                .where(Fetch.warc_record_id == refers_to, Fetch.raw_sha256.is_not(None))
                .limit(1)
            ).first()
            raw = get_blob(session, row.raw_sha256) if row is not None else None
        if row is None or raw is None:
            return None
        headers = safe_headers(row.http_headers)
        return _Original(raw, row.http_status or 200, header(headers, "content-type"), headers)

    def _date(self, rec: Any, headers: list[list[str]]) -> datetime | None:
        at = _plausible(parse_warc_date(rec.rec_headers.get_header("WARC-Date")))
        if at is None:
            at = _plausible(parse_http_date(header(headers, "date")))
            if at is not None:
                self.summary.notes["WARC-Date unusable, HTTP Date used"] += 1
        return at

    # -- the store

    def _record(self, session: Session, item: tuple[Capture, Prepared | None]) -> RecordResult | None:
        """Record one capture and keep its raw bytes (None if already imported)."""
        capture, extractor = with_prepared(*item)
        if _imported_all(session, [capture])[0]:
            return None
        result = record_fetch(session, capture, extractor=extractor)
        _keep_raw(session, capture, result)
        return result

    def _record_many(
        self, session: Session, items: list[tuple[Capture, Prepared | None]]
    ) -> list[RecordResult | None]:
        """``_record`` of each item in turn, with the look-ups of a run of captures done together
        (``record_batch``): about half the statements a capture."""
        results: list[RecordResult | None] = []
        for run in _independent_runs([with_prepared(*item) for item in items]):
            imported = _imported_all(session, [capture for capture, _ in run])
            todo = [pair for pair, done in zip(run, imported, strict=True) if not done]
            recorded = iter(record_batch(session, todo))
            for (capture, _), done in zip(run, imported, strict=True):
                result = None if done else next(recorded)
                if result is not None:
                    _keep_raw(session, capture, result)
                results.append(result)
        return results

    def _submit(self) -> None:
        """Hand the captures read so far to the executor (those not imported before)."""
        parsed, self.parsed = self.parsed, []
        ids = [c.warc_record_id for c in parsed if c.warc_record_id and needs_extraction(c)]
        known: set[str] = set()
        if ids:
            # One look-up for the batch: a re-import extracts nothing.
            with self.archive.reading() as session:
                known = _known_record_ids(session, ids)
        for capture in parsed:
            if needs_extraction(capture) and capture.warc_record_id not in known:
                self.recorder.put(capture, prepare_capture, *prepare_args(capture, self.extractor))
            else:
                self.recorder.put(capture)

    def flush(self) -> None:
        """Record everything read so far."""
        self._submit()
        self.recorder.flush()

    # -- one file

    def import_file(self, path: Path, progress: Callable[[int], None] | None) -> None:
        summary = self.summary
        try:
            handle = path.open("rb")
        except OSError as exc:
            summary.errors.append((str(path), _one_line(exc)))
            return
        summary.files += 1
        self.arc = is_arc_file(path)
        with handle:
            records = iter(ArchiveIterator(handle, arc2warc=True, check_digests=True))
            read = 0
            while True:
                try:
                    rec = next(records)
                except StopIteration:
                    break
                except Exception as exc:  # hostile file: warcio fails in many ways; keep what was read
                    reason = _stop_reason(exc, read)
                    summary.errors.append((str(path), reason))  # the caller reports it, once
                    logger.debug("%s: %s", path, _one_line(exc))
                    break
                read += 1
                summary.records += 1
                try:
                    item = self.parse(rec)
                except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError, LookupError) as exc:
                    item = Skip(f"unreadable record ({type(exc).__name__})")
                if isinstance(item, Skip):
                    summary.skipped[str(item)] += 1
                    logger.debug("%s: record skipped: %s", path, item)
                else:
                    self._take(item)
                if progress is not None:
                    progress(handle.tell())

    def _take(self, capture: Capture) -> None:
        if self.crawl_run_id is not None:
            capture = replace(capture, crawl_run_id=self.crawl_run_id)
        self.parsed.append(capture)
        if len(self.parsed) >= WRITE_BATCH:
            self._submit()

    def _count(self, result: RecordResult | None) -> None:
        summary = self.summary
        if result is None:
            summary.skipped["already imported"] += 1
            return
        if result.fetch_id is None:
            # The store already holds this capture (same article, time and status) from another
            # record or file: nothing was written.
            summary.skipped["already recorded"] += 1
            return
        summary.taken += 1
        summary.outcomes[result.outcome.value] += 1
        summary.new_articles += result.new_article
        summary.new_versions += result.outcome == FetchOutcome.NEW_VERSION


def _keep_raw(session: Session, capture: Capture, result: RecordResult) -> None:
    """Keep the raw bytes of every imported fetch (stored once by digest; a new version's bytes
    the store has kept already), so an export reproduces the file's evidence, not only the
    versions."""
    if capture.raw is not None and result.fetch_id is not None and result.outcome != FetchOutcome.NEW_VERSION:
        derived = capture.derived
        put_blob(
            session,
            capture.raw,
            raw_sha256_of(capture),
            compressed=derived.compressed if derived is not None else None,
        )


def _imported_all(session: Session, captures: list[Capture]) -> list[bool]:
    """Whether the archive already holds each capture: by record id, or as the same fetch (the
    record ids in one query, the URLs in two).

    The second test recognises a fetch exported from this archive (a crawl's fetch has no record
    id of its own): same article, same instant, same status, same bytes. Asked before any of the
    captures is recorded: right for a run of captures none of which can change the answer for
    another (``_independent_runs``).
    """
    known = _known_record_ids(
        session, [capture.warc_record_id for capture in captures if capture.warc_record_id]
    )
    rest = [capture.url for capture in captures if capture.warc_record_id not in known]
    articles = find_articles(session, rest) if rest else {}
    return [
        capture.warc_record_id in known or _same_fetch(session, articles[capture.url], capture)
        for capture in captures
    ]


def _known_record_ids(session: Session, ids: list[str]) -> set[str]:
    """The WARC record ids among ``ids`` that the archive's fetches already have."""
    known: set[str] = set()
    for chunk in in_chunks(ids):
        known.update(session.scalars(select(Fetch.warc_record_id).where(Fetch.warc_record_id.in_(chunk))))
    return known


def _same_fetch(session: Session, article: Article | None, capture: Capture) -> bool:
    """Whether ``article`` has a fetch at the capture's instant, with its status and bytes."""
    if article is None:
        return False
    digest = raw_sha256_of(capture)
    same = select(Fetch.id).where(
        Fetch.article_id == article.id,
        Fetch.fetched_at == capture.fetched_at,
        Fetch.http_status == capture.status,
        Fetch.raw_sha256.is_(None) if digest is None else Fetch.raw_sha256 == digest,
    )
    return session.scalar(same.limit(1)) is not None


def _independent_runs(
    batch: list[tuple[Capture, Callable[..., Extracted]]],
) -> Iterator[list[tuple[Capture, Callable[..., Extracted]]]]:
    """The batch cut where a capture repeats a record id or shares a URL (any form
    ``find_article`` matches) with one before it in its run: recording the earlier one may make
    the later one already imported, so the later one starts a run asked about afresh.

    (A page naming a later capture's URL as its canonical URL leads that capture to its article
    too; a capture of it at the same instant and status is then still skipped, by the store's
    re-import rule, as "already recorded".)"""
    run: list[tuple[Capture, Callable[..., Extracted]]] = []
    ids: set[str] = set()
    keys: set[str] = set()
    for pair in batch:
        capture = pair[0]
        mine = look_up_keys(capture)
        if run and (capture.warc_record_id in ids or not keys.isdisjoint(mine)):
            yield run
            run, ids, keys = [], set(), set()
        run.append(pair)
        keys |= mine
        if capture.warc_record_id:
            ids.add(capture.warc_record_id)
    if run:
        yield run


def _stop_reason(exc: Exception, records_read: int) -> str:
    """One printable line for why reading a file stopped (warcio quotes the offending bytes)."""
    if isinstance(exc, ArchiveLoadFailed) and records_read == 0:
        return "not a WARC or ARC file (unknown format at its start)"
    detail = _one_line(exc).split(", first line:")[0]
    detail = "".join(c if c.isprintable() else "?" for c in detail)[:200]
    return f"stopped reading after {records_read} records: {type(exc).__name__}: {detail}"


def import_warc(
    archive: Archive,
    paths: list[Path],
    *,
    progress: Callable[[int, int], None] | None = None,
    crawl_run_id: int | None = None,
    executor: Any = None,
    extractor: Callable[..., Extracted] = extract,
) -> WarcImportSummary:
    """Import WARC/ARC files (gzipped or not) in the order given; see the module docstring.

    ``executor`` (a ``concurrent.futures.Executor``, e.g. the crawl's process pool): where pages
    are extracted, in parallel; records are still applied in file order (archive/bulk.py).
    ``extractor`` replaces archive.extract.extract (a Dask worker's runs it under a time limit).
    """
    require_input_files(paths)
    summary = WarcImportSummary()
    importer = _Importer(archive, summary, crawl_run_id, executor, extractor)
    total = sum(p.stat().st_size for p in paths)
    done_before = 0
    for path in paths:
        base = done_before
        report = (lambda pos, base=base: progress(base + pos, total)) if progress is not None else None
        importer.import_file(path, report)
        done_before += path.stat().st_size
    importer.flush()
    return summary


# ---------------------------------------------------------------------------------------------
# Export


@dataclass
class WarcExportSummary:
    path: str
    responses: int = 0
    revisits: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    bytes_written: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "responses": self.responses,
            "revisits": self.revisits,
            "skipped": dict(self.skipped),
            "bytes": self.bytes_written,
        }


@dataclass(frozen=True)
class _Written:
    record_id: str
    uri: str
    date: str
    payload_digest: str | None


def _http_headers(fetch: Fetch, status: int, length: int | None) -> StatusAndHeaders:
    stored = [pair for pair in safe_headers(fetch.http_headers) if pair[0].lower() not in DROPPED_HEADERS]
    names = {name.lower() for name, _ in stored}
    if "content-type" not in names:
        stored.insert(0, ["Content-Type", "text/html"])
    for name, value in (("ETag", fetch.etag), ("Last-Modified", fetch.last_modified)):
        if value and name.lower() not in names:
            stored.append([name, value])
    if length is not None:
        stored.append(["Content-Length", str(length)])
    return response_headers(status, stored)


def _export_record_id(fetch: Fetch, date: str) -> str:
    rid = fetch.warc_record_id or ""
    if rid.startswith("<urn:") and rid.endswith(">"):
        return rid
    return f"<urn:uuid:{uuid.uuid5(RECORD_NAMESPACE, f'fetch {fetch.id} {fetch.url} {date}')}>"


def _fetch_batches(
    session: Session, since: datetime | None, article_id: int | None, size: int = 500
) -> Iterator[list[Fetch]]:
    """Fetches in (fetched_at, id) order, a page at a time (keyset pagination: bounded memory)."""
    last: tuple[datetime, int] | None = None
    while True:
        stmt = select(Fetch).order_by(Fetch.fetched_at, Fetch.id).limit(size)
        if since is not None:
            stmt = stmt.where(Fetch.fetched_at >= since)
        if article_id is not None:
            stmt = stmt.where(Fetch.article_id == article_id)
        if last is not None:
            stmt = stmt.where(
                or_(Fetch.fetched_at > last[0], and_(Fetch.fetched_at == last[0], Fetch.id > last[1]))
            )
        batch = list(session.scalars(stmt))
        if not batch:
            return
        yield batch
        session.expunge_all()
        last = (batch[-1].fetched_at, batch[-1].id)


class _Exporter:
    def __init__(self, writer: WARCWriter, summary: WarcExportSummary) -> None:
        self.writer = writer
        self.summary = summary
        self.by_raw: dict[str, _Written] = {}  # raw sha256 -> the response record holding it
        self.last_response: dict[int | None, _Written] = {}  # article -> its latest response

    def write(self, session: Session, fetch: Fetch) -> None:
        status = fetch.http_status
        if status is None:
            self.summary.skipped["no HTTP response"] += 1
            return
        date = warc_date(fetch.fetched_at)
        record_id = _export_record_id(fetch, date)
        warc_headers = {"WARC-Record-ID": record_id, "WARC-Date": date}
        if status == 304:
            self._not_modified(fetch, warc_headers)
            return
        if fetch.raw_sha256 is not None and fetch.raw_sha256 in self.by_raw:
            original = self.by_raw[fetch.raw_sha256]
            record = self.writer.create_revisit_record(
                target_uri(fetch.url),
                original.payload_digest,
                original.uri,
                original.date,
                http_headers=_http_headers(fetch, status, None),
                warc_headers_dict={**warc_headers, "WARC-Refers-To": original.record_id},
            )
            record.rec_headers.replace_header("WARC-Profile", PROFILE_IDENTICAL)
            self.writer.write_record(record)
            self.summary.revisits += 1
            return
        raw = b""
        if fetch.raw_sha256 is not None:
            kept = get_blob(session, fetch.raw_sha256)
            if kept is None:
                # An unchanged re-fetch whose bytes differed but whose text did not: the store
                # keeps raw bytes per version, not per fetch.
                self.summary.skipped["raw bytes not kept"] += 1
                return
            raw = kept
        record = self.writer.create_warc_record(
            target_uri(fetch.url),
            "response",
            payload=io.BytesIO(raw),
            length=len(raw),
            http_headers=_http_headers(fetch, status, len(raw)),
            warc_headers_dict=warc_headers,
        )
        self.writer.write_record(record)
        written = _Written(
            record_id, target_uri(fetch.url), date, record.rec_headers.get_header("WARC-Payload-Digest")
        )
        if fetch.raw_sha256 is not None and written.payload_digest:
            self.by_raw[fetch.raw_sha256] = written
            self.last_response[fetch.article_id] = written
        self.summary.responses += 1

    def _not_modified(self, fetch: Fetch, warc_headers: dict[str, str]) -> None:
        extra = dict(warc_headers)
        extra["WARC-Profile"] = PROFILE_NOT_MODIFIED
        original = self.last_response.get(fetch.article_id) if fetch.article_id is not None else None
        if original is not None:
            extra["WARC-Refers-To"] = original.record_id
            extra["WARC-Refers-To-Target-URI"] = original.uri
            extra["WARC-Refers-To-Date"] = original.date
        record = self.writer.create_warc_record(
            target_uri(fetch.url),
            "revisit",
            http_headers=_http_headers(fetch, 304, None),
            warc_headers_dict=extra,
        )
        self.writer.write_record(record)
        self.summary.revisits += 1


class _CountingWriter:
    """Counts the bytes written through it (the output may be a pipe, which has no size)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.written = 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


def _file_name(output: Path | str) -> str:
    """The warcinfo record's file name: text, whatever bytes the file system name holds."""
    if str(output) == "-":
        return "mediawatch-export.warc.gz"
    return os.fsencode(Path(output).name).decode("utf-8", "replace")


def export_warc(
    archive: Archive,
    output: Path,
    since: datetime | None = None,
    url: str | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> WarcExportSummary:
    """Write the archive's fetches (optionally since a date, or of one article) as WARC/1.1.

    ``output`` is written by :func:`archive.files.open_output`: a new or regular file is written
    beside and renamed into place when complete, so a failed export never leaves a half-written
    WARC under the requested name; a device or pipe is written into; ``-`` is standard output.
    """
    summary = WarcExportSummary(path=str(output))
    with archive.reading() as session:
        article_id = None
        if url is not None:
            article = find_article(session, url)
            if article is None:
                raise NotFoundError(f"no archived article for {url}")
            article_id = article.id
        with open_output(output, binary=True) as handle:
            counted = _CountingWriter(handle)
            writer = WARCWriter(counted, gzip=True, warc_version="1.1")
            writer.write_record(
                writer.create_warcinfo_record(
                    _file_name(output),
                    {
                        "software": f"mediawatch/{package_version('mediawatch')} (warcio)",
                        "format": "WARC File Format 1.1",
                        "description": "mediawatch archive export: every fetch with its raw bytes",
                    },
                )
            )
            exporter = _Exporter(writer, summary)
            done = 0
            for batch in _fetch_batches(session, since, article_id):
                for fetch in batch:
                    exporter.write(session, fetch)
                    done += 1
                if progress is not None:
                    progress(done, 0)
        summary.bytes_written = counted.written
    return summary
