"""Archive-core benchmark: import throughput and storage cost, SQLite and PostgreSQL.

    uv run python bench/import_bench.py [--pages 200] [--no-postgres]

Prints, for each backend:
- text-only import of the 704 NYT captures (records/s, versions/s) against a baseline measured in
  the same run: a bare SQLAlchemy Core insert of the same number of fetch rows, one per
  transaction (the floor for "one transaction per recorded fetch"); the ratio is what the
  versioning logic costs on top;
- raw-HTML import of real pages (each page, then an edited copy, then a byte-identical revisit):
  records/s, and bytes stored per version (blob + text) against the raw bytes captured.
PostgreSQL is a throwaway cluster started like the test suite's (or MEDIAWATCH_BENCH_PG_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import PostgresCluster, _pg_admin, _with_database, corpus_root  # noqa: E402
from corpus_data import eval_pages, write_nyt_jsonl  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from archive.db import Archive  # noqa: E402
from archive.importer import import_jsonl  # noqa: E402
from archive.models import Blob, Fetch, FetchOutcome, Version  # noqa: E402
from archive.store import Capture, record  # noqa: E402


def fresh_url(backend: str, pg_server: str | None, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'{uuid.uuid4().hex}.db'}"
    assert pg_server is not None
    name = f"bench_{uuid.uuid4().hex[:8]}"
    _pg_admin(pg_server, f'CREATE DATABASE "{name}"')
    return _with_database(pg_server, name)


def baseline_inserts(url: str, n: int) -> float:
    """Seconds for n single-row fetch inserts, one transaction each (Core)."""
    with Archive(url) as archive:
        t0 = time.perf_counter()
        at = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(n):
            with archive.engine.begin() as conn:
                conn.execute(
                    insert(Fetch).values(
                        fetched_at=at + timedelta(seconds=i),
                        url=f"https://example.com/{i}",
                        http_status=200,
                        outcome=FetchOutcome.UNCHANGED.value,
                        origin="import",
                    )
                )
        return time.perf_counter() - t0


def text_import(url: str, jsonl: Path) -> tuple[float, int, int]:
    with Archive(url) as archive:
        t0 = time.perf_counter()
        summary = import_jsonl(archive, jsonl)
        return time.perf_counter() - t0, summary.records, summary.new_versions


def raw_import(url: str, corpus: Path, pages: int) -> dict[str, float]:
    chosen = [p for p in eval_pages(corpus) if p.url][:pages]
    raws = [(p.url, p.raw()) for p in chosen]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    records = raw_bytes = 0
    with Archive(url) as archive:
        t0 = time.perf_counter()
        for i, (page_url, raw) in enumerate(raws):
            words = raw.split(b" ")
            middle = len(words) // 2
            edited = b" ".join(
                words[:middle] + [b"<p>An added sentence about the Doha Agreement.</p>"] + words[middle:]
            )
            for step, body in enumerate((raw, edited, edited)):
                assert page_url is not None
                record(archive.sessions, Capture(page_url, at + timedelta(days=step, seconds=i), raw=body))
                records += 1
                raw_bytes += len(body)
        seconds = time.perf_counter() - t0
        with archive.reading() as s:
            versions = s.scalar(select(func.count()).select_from(Version)) or 0
            blob_bytes = s.scalar(select(func.sum(func.length(Blob.data)))) or 0
            text_bytes = s.scalar(select(func.sum(func.length(Version.text)))) or 0
    return {
        "records": records,
        "seconds": seconds,
        "versions": versions,
        "raw_bytes": raw_bytes,
        "blob_bytes": blob_bytes,
        "text_bytes": text_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=150)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    corpus = corpus_root()
    if corpus is None:
        sys.exit("the shared corpus is absent (set MEDIAWATCH_CORPUS)")
    workdir = Path(tempfile.mkdtemp(prefix="mw-bench-"))
    jsonl = workdir / "nyt.jsonl"
    n_records = write_nyt_jsonl(corpus, jsonl)

    cluster = None
    pg_server = os.environ.get("MEDIAWATCH_BENCH_PG_URL")
    backends = ["sqlite"]
    if not args.no_postgres:
        if pg_server is None:
            cluster = PostgresCluster()
            cluster.start()
            pg_server = cluster.url()
        backends.append("postgresql")
    results = {}
    try:
        for backend in backends:
            base = baseline_inserts(fresh_url(backend, pg_server, workdir), n_records)
            seconds, records, versions = text_import(fresh_url(backend, pg_server, workdir), jsonl)
            raw = raw_import(fresh_url(backend, pg_server, workdir), corpus, args.pages)
            results[backend] = {
                "text_import_records_per_s": round(records / seconds, 1),
                "text_import_versions_per_s": round(versions / seconds, 1),
                "baseline_bare_insert_rows_per_s": round(n_records / base, 1),
                "ratio_import_vs_bare_insert": round((records / seconds) / (n_records / base), 3),
                "raw_import_records_per_s": round(raw["records"] / raw["seconds"], 1),
                "raw_import_versions": raw["versions"],
                "raw_bytes_per_capture": round(raw["raw_bytes"] / raw["records"]),
                "stored_bytes_per_version": round((raw["blob_bytes"] + raw["text_bytes"]) / raw["versions"]),
                "stored_vs_raw_ratio": round((raw["blob_bytes"] + raw["text_bytes"]) / raw["raw_bytes"], 4),
            }
            print(backend, json.dumps(results[backend], indent=2), flush=True)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
