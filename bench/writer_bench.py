"""The one writer's cost per capture: `uv run python bench/writer_bench.py [--pages N] [--db URL]`.

A crawl or a bulk import extracts and derives pages in worker processes; what stays on the one
writer (``archive.store.record_batch``) is the look-ups and the inserts. On a 2-core machine the
writer's CPU competes with the workers', so every millisecond it spends per new article is taken
from extraction. This prints, in one run, for N trafilatura-evaldata pages extracted and derived
ahead (as the workers do; not timed):

1. the baseline: the same article, blob, version and fetch rows inserted with SQLAlchemy Core,
   one executemany per table (the floor of writing those rows: no look-up, no rule);
2. ``record_batch`` of the N captures as new articles (batches of 16, as a crawl's writer gets them);
3. ``record_batch`` of a revisit of each: all 304s, then all the same raw bytes (batches of 64);

each as CPU milliseconds per capture, statements per capture, and the ratio to the baseline.
Default: fresh temporary SQLite archives; ``--db`` an empty database URL (PostgreSQL too), which
the baseline's rows (under their own URLs) then share with the measured ones.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crawl_bench import corpus_pages  # noqa: E402
from sqlalchemy import event, insert  # noqa: E402

from archive.db import Archive  # noqa: E402
from archive.derive import prepare  # noqa: E402
from archive.extract import extract  # noqa: E402
from archive.models import Article, ArticleStatus, Blob, ChangeKind, Fetch, FetchOutcome, Version  # noqa: E402
from archive.store import Capture, record_batch  # noqa: E402

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def counted(archive: Archive) -> Callable[[], int]:
    """A counter of the statements the archive's engine executes."""
    count = [0]

    def on_execute(*_args: object) -> None:
        count[0] += 1

    event.listen(archive.engine, "before_cursor_execute", on_execute)
    return lambda: count[0]


def baseline(url: str, pages: list[bytes], prepared: list, n: int) -> float:
    """CPU seconds to insert the rows of N new articles with Core, one executemany per table."""
    with Archive(url) as archive:
        start = time.process_time()
        with archive.transaction() as session:
            articles = [
                {
                    "canonical_url": f"https://bench.example/base/{i}",
                    "first_seen": T0,
                    "status": ArticleStatus.LIVE,
                    "version_count": 1,
                }
                for i in range(n)
            ]
            ids = session.scalars(
                insert(Article).returning(Article.id, sort_by_parameter_order=True), articles
            ).all()
            blobs = {
                p.derived.raw_sha256: (raw, p.derived.compressed)
                for raw, p in zip(pages, prepared, strict=True)
            }
            session.execute(
                insert(Blob),
                [
                    {"sha256": digest, "size": len(raw), "compression": "zstd", "data": data}
                    for digest, (raw, data) in blobs.items()
                ],
            )
            versions = session.scalars(
                insert(Version).returning(Version.id, sort_by_parameter_order=True),
                [
                    {
                        "article_id": article_id,
                        "seq": 1,
                        "first_seen": T0,
                        "last_seen": T0,
                        "title": p.extracted.title if p.extracted else None,
                        "text": p.extracted.text if p.extracted else "",
                        "text_sha256": p.derived.key_sha256 or "",
                        "extractor": "bench",
                        "change_kind": ChangeKind.FIRST,
                        "flags": [],
                        "blob_sha256": p.derived.raw_sha256,
                    }
                    for article_id, p in zip(ids, prepared, strict=True)
                ],
            ).all()
            session.execute(
                insert(Fetch),
                [
                    {
                        "article_id": article_id,
                        "version_id": version_id,
                        "fetched_at": T0,
                        "url": f"https://bench.example/base/{i}",
                        "http_status": 200,
                        "outcome": FetchOutcome.NEW_VERSION,
                    }
                    for i, (article_id, version_id) in enumerate(zip(ids, versions, strict=True))
                ],
            )
        return time.process_time() - start


def recorded(archive: Archive, captures: list[Capture], batch: int) -> tuple[float, int]:
    """CPU seconds and statements to record the captures with ``record_batch``, ``batch`` at a time."""
    statements = counted(archive)
    before = statements()
    start = time.process_time()
    for at in range(0, len(captures), batch):
        with archive.transaction() as session:
            record_batch(session, [(capture, extract) for capture in captures[at : at + batch]])
    return time.process_time() - start, statements() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--db", help="an empty database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    pages = corpus_pages(args.pages)
    prepared = [prepare(raw, f"https://bench.example/p/{i}", "text/html") for i, raw in enumerate(pages)]
    n = len(pages)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        # The best of three fresh SQLite archives: one executemany per table is short enough for
        # the machine's load to swing it. With --db, once, into that database.
        bases = [f"sqlite:///{tmp}/base{i}.db" for i in range(3)] if not args.db else [args.db]
        floor = min(baseline(base, pages, prepared, n) for base in bases) / n
        print(f"{n} evaldata pages, extracted and derived ahead; database: {url.split(':')[0]}")
        print(f"baseline: the rows of a new article inserted with Core:  {1000 * floor:6.2f} ms CPU/article")
        with Archive(url) as archive:
            new = [
                Capture(
                    f"https://bench.example/p/{i}",
                    T0,
                    raw=raw,
                    content_type="text/html",
                    extracted=p.extracted,
                    derived=p.derived,
                    relevance=1.0,
                )
                for i, (raw, p) in enumerate(zip(pages, prepared, strict=True))
            ]
            runs = [
                ("new articles (batches of 16)", new, 16),
                (
                    "revisits answered 304 (batches of 64)",
                    [Capture(c.url, T0 + timedelta(hours=1), status=304) for c in new],
                    64,
                ),
                (
                    "revisits, the same raw bytes (batches of 64)",
                    [
                        Capture(c.url, T0 + timedelta(hours=2), raw=c.raw, content_type="text/html")
                        for c in new
                    ],
                    64,
                ),
            ]
            for label, captures, batch in runs:
                cpu, statements = recorded(archive, captures, batch)
                print(
                    f"record_batch, {label:45s} {1000 * cpu / n:6.2f} ms CPU/capture  "
                    f"{statements / n:5.2f} statements/capture  (ratio to baseline {cpu / n / floor:5.1f})"
                )


if __name__ == "__main__":
    main()
