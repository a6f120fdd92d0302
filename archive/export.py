"""Export full article histories as evidence: every version with its metadata, every fetch.

Formats are registered in :data:`EXPORTERS` (JSON Lines and CSV here; WARC is another module's
job and plugs in the same way). The output path always comes from the user, never from crawled
data, and is written by :func:`archive.files.open_output`: a new or regular file is written
beside and renamed when complete (a failed export never leaves a truncated file under the
requested name), a device or pipe is written into, ``-`` is standard output, and a terminal
gets control characters escaped.

- ``jsonl``: one JSON object per article: URL, aliases, status, and ``versions`` (each with
  title, byline, dates, language, text, hashes, extractor, change kind, flags) and ``fetches``
  (time, URL, HTTP status, validators, raw digest, outcome, message, origin, version seq).
- ``csv``: one row per event (``record`` = ``version`` or ``fetch``), ordered by article and time.

``--since`` keeps the versions first seen and the fetches made at or after that moment (an
incremental export); ``--url`` limits the export to one article.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from archive.db import Archive
from archive.errors import InputError
from archive.files import open_output
from archive.models import Article, ArticleURL, Fetch, Version
from archive.queries import FetchRecord, VersionRecord
from archive.serialize import to_json

logger = logging.getLogger(__name__)

BATCH = 200  # articles per query batch: every query is bounded

CSV_COLUMNS = [
    "record",
    "article_id",
    "url",
    "status",
    "time",
    "seq",
    "change_kind",
    "title",
    "byline",
    "published",
    "modified",
    "language",
    "sitename",
    "extractor",
    "text_sha256",
    "blob_sha256",
    "flags",
    "first_seen",
    "last_seen",
    "text",
    "fetch_url",
    "http_status",
    "outcome",
    "origin",
    "etag",
    "last_modified",
    "raw_sha256",
    "message",
]


@dataclass(frozen=True)
class ExportSummary:
    path: str
    format: str
    articles: int
    versions: int
    fetches: int


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def version_record(v: Version) -> dict[str, Any]:
    """One version as the exports (and `show --json`) write it: the read model's VersionRecord."""
    return cast(dict[str, Any], to_json(VersionRecord.of(v)))


def fetch_record(f: Fetch, seq_by_version: dict[int, int]) -> dict[str, Any]:
    return cast(dict[str, Any], to_json(FetchRecord.of(f, seq_by_version)))


def histories(
    session: Session, *, since: datetime | None = None, url: str | None = None
) -> Iterator[dict[str, Any]]:
    """One dict per article (id order), read in bounded batches."""
    from archive.lookups import require_article

    only = require_article(session, url).id if url is not None else None
    last_id = 0
    while True:
        stmt = select(Article).where(Article.id > last_id).order_by(Article.id).limit(BATCH)
        if only is not None:
            stmt = stmt.where(Article.id == only)
        if since is not None:
            touched = or_(
                select(Version.id)
                .where(Version.article_id == Article.id, Version.first_seen >= since)
                .exists(),
                select(Fetch.id).where(Fetch.article_id == Article.id, Fetch.fetched_at >= since).exists(),
            )
            stmt = stmt.where(touched)
        batch = list(session.scalars(stmt))
        if not batch:
            return
        ids = [a.id for a in batch]
        last_id = ids[-1]
        vq = select(Version).where(Version.article_id.in_(ids)).order_by(Version.article_id, Version.seq)
        fq = (
            select(Fetch)
            .where(Fetch.article_id.in_(ids))
            .order_by(Fetch.article_id, Fetch.fetched_at, Fetch.id)
        )
        if since is not None:
            vq = vq.where(Version.first_seen >= since)
            fq = fq.where(Fetch.fetched_at >= since)
        versions: dict[int, list[Version]] = {}
        for v in session.scalars(vq):
            versions.setdefault(v.article_id, []).append(v)
        fetches: dict[int, list[Fetch]] = {}
        for f in session.scalars(fq):
            fetches.setdefault(f.article_id or 0, []).append(f)
        seq_by_version = dict(
            session.execute(select(Version.id, Version.seq).where(Version.article_id.in_(ids))).all()
        )
        aliases: dict[int, list[str]] = {}
        for article_id, alias in session.execute(
            select(ArticleURL.article_id, ArticleURL.url).where(ArticleURL.article_id.in_(ids))
        ):
            aliases.setdefault(article_id, []).append(alias)
        for a in batch:
            yield {
                "article_id": a.id,
                "url": a.canonical_url,
                "aliases": sorted(aliases.get(a.id, [])),
                "status": a.status.value,
                "first_seen": _iso(a.first_seen),
                "last_checked": _iso(a.last_checked),
                "last_changed": _iso(a.last_changed),
                "versions": [version_record(v) for v in versions.get(a.id, [])],
                "fetches": [fetch_record(f, seq_by_version) for f in fetches.get(a.id, [])],
            }
        session.expunge_all()


def write_jsonl(records: Iterator[dict[str, Any]], out: IO[str]) -> tuple[int, int, int]:
    articles = versions = fetches = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        articles += 1
        versions += len(record["versions"])
        fetches += len(record["fetches"])
    return articles, versions, fetches


def write_csv(records: Iterator[dict[str, Any]], out: IO[str]) -> tuple[int, int, int]:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    articles = versions = fetches = 0
    for record in records:
        articles += 1
        base = {"article_id": record["article_id"], "url": record["url"], "status": record["status"]}
        events: list[tuple[str, dict[str, Any]]] = []
        for v in record["versions"]:
            events.append(
                (v["first_seen"] or "", {**base, "record": "version", "time": v["first_seen"], **v})
            )
        for f in record["fetches"]:
            row = {
                **base,
                "record": "fetch",
                "time": f["fetched_at"],
                "seq": f["version_seq"],
                "fetch_url": f["url"],
                "http_status": f["http_status"],
                "outcome": f["outcome"],
                "origin": f["origin"],
                "etag": f["etag"],
                "last_modified": f["last_modified"],
                "raw_sha256": f["raw_sha256"],
                "message": f["message"],
            }
            events.append((f["fetched_at"] or "", row))
        for _time, row in sorted(events, key=lambda e: (e[0], e[1]["record"] == "version")):
            if isinstance(row.get("flags"), list):
                row["flags"] = ";".join(row["flags"])
            writer.writerow(row)
        versions += len(record["versions"])
        fetches += len(record["fetches"])
    return articles, versions, fetches


Writer = Callable[[Iterator[dict[str, Any]], IO[str]], tuple[int, int, int]]
# Text formats. Other formats (WARC) register their own entry point in cli.py's choices.
EXPORTERS: dict[str, Writer] = {"jsonl": write_jsonl, "csv": write_csv}


def export(
    archive: Archive,
    fmt: str,
    output: Path | str,
    *,
    since: datetime | None = None,
    url: str | None = None,
) -> ExportSummary:
    """Write the export to ``output`` (``-`` is stdout; see archive.files); return what was written."""
    writer = EXPORTERS.get(fmt)
    if writer is None:
        raise InputError(f"unknown export format {fmt!r} (one of: {', '.join(sorted(EXPORTERS))})")
    with archive.reading() as session, open_output(output) as out:
        counts = writer(histories(session, since=since, url=url), out)
    logger.info("exported %d articles to %s", counts[0], output)
    return ExportSummary(str(output), fmt, *counts)
