"""Import captures from other tools' archives (JSON Lines) as mediawatch fetches.

One JSON object a line, either a raw capture ``{"url", "fetched_at", "html"}`` or a text-only
one ``{"url", "fetched_at", "title", "text", "authors": [...]}``; ``"status"`` is optional
(404/410 mean removed). Records are applied in ``fetched_at`` order per article, so an archive
from diffengine, NewsDiffs or a Wayback export becomes a mediawatch history.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from dateutil import parser as dateparser
from sqlalchemy.orm import Session

from archive.bulk import Recorder, needs_extraction, prepare_args, prepare_capture, with_prepared
from archive.db import Archive
from archive.derive import Prepared, derive
from archive.errors import InputError
from archive.extract import Extracted, extract
from archive.files import require_input_files
from archive.models import FetchOrigin, FetchOutcome
from archive.normalize import URLError, normalize_text, normalize_url
from archive.store import Capture, RecordResult, record_batch, record_fetch

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024 * 1024
TEXT_IMPORT_EXTRACTOR = "import"


@dataclass
class ImportSummary:
    records: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    new_articles: int = 0
    new_versions: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "new_articles": self.new_articles,
            "new_versions": self.new_versions,
            "outcomes": dict(self.outcomes),
            "rejected": len(self.rejected),
            "rejected_lines": [{"line": n, "reason": r} for n, r in self.rejected[:100]],
        }


def parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("fetched_at must be an ISO 8601 string")
    parsed = dateparser.isoparse(value.strip())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def capture_from_record(obj: Any, origin: FetchOrigin = FetchOrigin.IMPORT) -> Capture:
    """Validate one import record and turn it into a Capture (raises ValueError if unusable)."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    url = obj.get("url")
    if not isinstance(url, str):
        raise ValueError("missing url")
    try:
        normalize_url(url)
    except URLError as exc:
        raise ValueError(str(exc)) from None
    fetched_at = parse_timestamp(obj.get("fetched_at"))
    status = obj.get("status", 200)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError("status must be an HTTP status code")
    if "html" in obj:
        if not isinstance(obj["html"], str):
            raise ValueError("html must be a string")
        return Capture(
            url=url,
            fetched_at=fetched_at,
            status=status,
            raw=obj["html"].encode("utf-8"),
            content_type="text/html; charset=utf-8",
            origin=origin,
        )
    if status in (404, 410) and "text" not in obj:
        return Capture(url=url, fetched_at=fetched_at, status=status, origin=origin)
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError("needs either html or text")
    authors = obj.get("authors") or []
    if isinstance(authors, str):
        authors = [authors]
    if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
        raise ValueError("authors must be a list of strings")
    title = obj.get("title")
    extracted = Extracted(
        text=normalize_text(text),
        title=title.strip() or None if isinstance(title, str) else None,
        byline="; ".join(a.strip() for a in authors if a.strip()) or None,
        published=obj.get("published") if isinstance(obj.get("published"), str) else None,
        modified=obj.get("modified") if isinstance(obj.get("modified"), str) else None,
        extractor=TEXT_IMPORT_EXTRACTOR,
    )
    return Capture(url=url, fetched_at=fetched_at, status=status, extracted=extracted, origin=origin)


def _open(path: Path) -> IO[bytes] | gzip.GzipFile:
    require_input_files([path])
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


GZIP_MAGIC = b"\x1f\x8b"


def _binary_reason(first: bytes) -> str | None:
    """Why a file whose first line is this is not JSON Lines at all (None: it is text)."""
    if first.startswith(GZIP_MAGIC):
        return "not a JSON Lines file: gzip-compressed data (name it .gz)"
    try:
        first.decode("utf-8")
    except UnicodeDecodeError:
        return "not a JSON Lines file: binary data, not UTF-8 text"
    if b"\x00" in first:
        return "not a JSON Lines file: binary data (NUL bytes)"
    return None


def _parse_line(line: bytes) -> Capture:
    """One line as a Capture; ValueError with a reason that names no second line number."""
    try:
        obj = json.loads(line)
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start + 1})") from None
    except json.JSONDecodeError as exc:
        # json counts lines inside the one it was given ("line 1 column 105"): only the column helps.
        raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    return capture_from_record(obj)


def _read_lines(path: Path, summary: ImportSummary) -> Iterator[tuple[int, Capture]]:
    with _open(path) as handle:
        checked_start = False
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if not checked_start:
                checked_start = True
                binary = _binary_reason(line[:8192])
                if binary is not None:
                    summary.rejected.append((number, binary))
                    return  # one reason for the whole file, not one per "line" of binary data
            if len(line) > MAX_LINE_BYTES:
                summary.rejected.append((number, f"line longer than {MAX_LINE_BYTES} bytes"))
                continue
            try:
                yield number, _parse_line(line)
            except (ValueError, OverflowError) as exc:
                summary.rejected.append((number, str(exc)[:200]))


def import_jsonl(
    archive: Archive,
    path: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    crawl_run_id: int | None = None,
    executor: Any = None,
    extractor: Callable[..., Extracted] = extract,
) -> ImportSummary:
    """Import one JSON Lines file; records are applied in fetched_at order per article.

    ``executor`` (a ``concurrent.futures.Executor``): where pages are extracted and derived, in
    parallel; records are written in order, in batched transactions (archive/bulk.py).
    ``extractor`` replaces archive.extract.extract (a Dask worker's runs it under a time limit).
    """
    summary = ImportSummary()
    try:
        captures = list(_read_lines(path, summary))
    except OSError as exc:
        raise InputError(f"{path}: {exc}") from None
    # Stable: equal timestamps keep file order. Articles interleave freely.
    captures.sort(key=lambda item: (normalize_url(item[1].url), item[1].fetched_at, item[0]))
    total = len(captures)

    def count(result: RecordResult) -> None:
        summary.records += 1
        summary.outcomes[result.outcome.value] += 1
        summary.new_articles += result.new_article
        summary.new_versions += result.outcome == FetchOutcome.NEW_VERSION
        if progress is not None:
            progress(summary.records, total)

    def work(capture: Capture) -> tuple[Any, ...]:
        if needs_extraction(capture):
            return (prepare_capture, *prepare_args(capture, extractor))
        if capture.extracted is not None:
            return (derive_capture, capture.extracted, capture.ignore_patterns)
        return ()  # a removal: nothing to extract

    recorder: Recorder[Capture, Prepared, RecordResult] = Recorder(
        executor, archive.sessions, _record, count, write_many=_record_many
    )
    for _number, capture in captures:
        if crawl_run_id is not None:
            capture = replace(capture, crawl_run_id=crawl_run_id)
        recorder.put(capture, *work(capture))
    recorder.flush()
    return summary


def derive_capture(extracted: Extracted, patterns: tuple[str, ...]) -> Prepared:
    """What the store derives from an already extracted (text-only) capture."""
    return Prepared(extracted, derive(extracted, None, patterns))


def _record(session: Session, item: tuple[Capture, Prepared | None]) -> RecordResult:
    capture, extractor = with_prepared(*item)
    return record_fetch(session, capture, extractor=extractor)


def _record_many(session: Session, items: list[tuple[Capture, Prepared | None]]) -> list[RecordResult]:
    """``_record`` of each item in turn, the batch's look-ups done together."""
    return record_batch(session, [with_prepared(*item) for item in items])
