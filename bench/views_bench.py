"""Archivist views benchmark: diff time, search latency and list-page latency.

    uv run python bench/views_bench.py                    # 100,000 articles on SQLite
    uv run python bench/views_bench.py --articles 20000   # smaller, faster
    uv run python bench/views_bench.py --sqlite /tmp/bench.db   # keep the archive; reuse it next time
    MEDIAWATCH_BENCH_PG_URL=postgresql+psycopg://... uv run python bench/views_bench.py   # + PostgreSQL

The archive is generated from the corpus's real NYT article texts (paragraphs recombined, words
varied with a seeded RNG; a third of the articles get a second or third version) and bulk-inserted
with SQLAlchemy Core (the FTS triggers / generated tsvector column index every row as usual).
Every figure is printed next to a baseline measured in the same run, as a ratio:
- diff: compare() (paragraph alignment + word diff + summary) vs raw difflib on word lists
  (the baseline of docs/development.md, Benchmarks);
- search: search() (FTS, grouped per article, snippets, count) vs a LIKE '%word%' scan LIMIT 20;
- list page: list_articles() and the full HTTP page vs SELECT * FROM article ORDER BY id LIMIT 50;
- statistics: the full /stats page (all time, the archive's last 30 days, the default window)
  and /api/stats, viewed first and again, vs the full list page, in the same run.
Articles are spread over 20 outlets; each version's change facts (version_change) are computed
with compare() as the store computes them (and each article's sums, article_change_summary, recounted
from them as the store does; the day summaries recounted once at the end, as a job does), and one
fetch in 50 is a failure.
The PostgreSQL database given is emptied (schema dropped) first: point it at a scratch database.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from corpus_data import nyt_captures, nyt_slugs  # noqa: E402

from archive.db import Archive  # noqa: E402
from archive.diff import TextVersion, compare  # noqa: E402
from archive.models import (  # noqa: E402
    Article,
    ChangeKind,
    Fetch,
    FetchOrigin,
    FetchOutcome,
    Source,
    SourceKind,
    Version,
    VersionChange,
)
from archive.queries import ListFilters, list_articles  # noqa: E402
from archive.search import search  # noqa: E402
from archive.stats import change_facts, change_row, recount_stale_days, refresh_change_summary  # noqa: E402

SEARCHES = ["Mubarak", "military council", '"contributed reporting"', "Singap*", "the", "zzzqxj"]


def timed(func: Callable[[], Any], runs: int) -> float:
    """Median wall time in milliseconds (one warm-up run first)."""
    func()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def timed_cpu(func: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median wall and processor time in milliseconds (one warm-up run first): on a shared
    machine the processor time is the steadier of the two."""
    func()
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        func()
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def corpus_paragraphs(corpus: Path) -> list[str]:
    seen: dict[str, None] = {}
    for slug in nyt_slugs(corpus):
        for capture in nyt_captures(corpus, slug):
            for para in capture.text.split("\n"):
                para = " ".join(para.split())
                if len(para) > 80:
                    seen.setdefault(para, None)
    return list(seen)


def vary(rng: random.Random, paragraph: str, vocabulary: list[str]) -> str:
    words = paragraph.split()
    for _ in range(rng.randint(0, 3)):
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    return " ".join(words)


def edit(rng: random.Random, text_: str, pool: list[str], vocabulary: list[str]) -> str:
    paras = text_.split("\n")
    action = rng.random()
    if action < 0.4:
        i = rng.randrange(len(paras))
        paras[i] = vary(rng, paras[i], vocabulary)
    elif action < 0.7:
        paras.insert(rng.randrange(len(paras) + 1), rng.choice(pool))
    elif action < 0.85 and len(paras) > 2:
        del paras[rng.randrange(len(paras))]
    else:
        paras.append("Correction: An earlier version of this article misstated a detail.")
    return "\n".join(paras)


def make_text(rng: random.Random, pool: list[str], vocabulary: list[str], target: int) -> str:
    paras: list[str] = []
    size = 0
    while size < target:
        para = vary(rng, rng.choice(pool), vocabulary)
        paras.append(para)
        size += len(para) + 1
    return "\n".join(paras)


def generate(archive: Archive, n: int, pool: list[str], seed: int = 42) -> tuple[int, float]:
    rng = random.Random(seed)
    vocabulary = sorted({w for p in pool for w in p.split()})
    languages = ["en"] * 8 + ["ur", "ps"]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    versions_total = 0
    batch = 2000
    next_version_id = 1
    outlets = 20
    with archive.transaction() as session:
        session.execute(
            insert(Source),
            [
                {
                    "id": k + 1,
                    "name": f"Outlet {k + 1}",
                    "kind": SourceKind.MANUAL,
                    "url": f"https://o{k}.example/",
                }
                for k in range(outlets)
            ],
        )
    for offset in range(0, n, batch):
        articles, versions, fetches, changes = [], [], [], []
        for i in range(offset, min(n, offset + batch)):
            article_id = i + 1
            first_seen = start + timedelta(minutes=7 * i)
            texts = [make_text(rng, pool, vocabulary, rng.randint(800, 3000))]
            for _ in range(rng.choice([0, 0, 0, 0, 1, 2])):
                texts.append(edit(rng, texts[-1], pool, vocabulary))
            language = rng.choice(languages)
            title = " ".join(texts[0].split()[:10])
            for seq, body in enumerate(texts, start=1):
                seen = first_seen + timedelta(hours=rng.choice([1, 3, 6, 30, 200]) * (seq - 1))
                kind = ChangeKind.FIRST if seq == 1 else ChangeKind.TEXT
                previous = TextVersion(texts[seq - 2], title) if seq > 1 else None
                facts = change_facts(previous, TextVersion(body, title), kind)
                changes.append(change_row(next_version_id, article_id, seq, seen, kind, [], facts))
                versions.append(
                    {
                        "id": next_version_id,
                        "article_id": article_id,
                        "seq": seq,
                        "first_seen": seen,
                        "last_seen": seen + timedelta(hours=5),
                        "title": title if seq == 1 or rng.random() < 0.8 else title + " (updated)",
                        "byline": "Staff reporter",
                        "published": first_seen.date().isoformat(),
                        "modified": None,
                        "language": language,
                        "sitename": "bench",
                        "text": body,
                        "text_sha256": hashlib.sha256(body.encode()).hexdigest(),
                        "extractor": "bench",
                        "change_kind": ChangeKind.FIRST if seq == 1 else ChangeKind.TEXT,
                        "flags": [],
                        "blob_sha256": None,
                    }
                )
                fetches.append(
                    {
                        "article_id": article_id,
                        "version_id": next_version_id,
                        "fetched_at": seen,
                        "url": f"https://bench.example/{article_id}",
                        "http_status": 200,
                        "outcome": FetchOutcome.NEW_VERSION,
                        "origin": FetchOrigin.IMPORT,
                    }
                )
                if rng.random() < 0.02:
                    fetches.append(
                        {
                            "article_id": article_id,
                            "fetched_at": seen + timedelta(hours=1),
                            "url": f"https://bench.example/{article_id}",
                            "http_status": 503,
                            "outcome": FetchOutcome.ERROR,
                            "origin": FetchOrigin.CRAWL,
                        }
                    )
                next_version_id += 1
            articles.append(
                {
                    "id": article_id,
                    "canonical_url": f"https://bench.example/{article_id}",
                    "source_id": article_id % outlets + 1,
                    "first_seen": first_seen,
                    "last_checked": first_seen + timedelta(days=1),
                    "last_changed": first_seen + timedelta(hours=6 * (len(texts) - 1)),
                    "version_count": len(texts),
                }
            )
        with archive.transaction() as session:
            session.execute(insert(Article), articles)
            session.execute(insert(Version), versions)
            session.execute(insert(Fetch), fetches)
            session.execute(insert(VersionChange), changes)
            refresh_change_summary(session, [a["id"] for a in articles])
        versions_total += len(versions)
        print(f"\r  generated {min(n, offset + batch):,}/{n:,} articles", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    # The rows inserted marked their days stale (the database's triggers); recounted once at the
    # end, as every job ends.
    recount_stale_days(archive.engine)
    return versions_total, time.perf_counter() - began


def bench_diff(pool: list[str]) -> None:
    rng = random.Random(7)
    vocabulary = sorted({w for p in pool for w in p.split()})
    print("diff (median ms per pair; baseline = difflib SequenceMatcher on word lists)")
    for label, size, runs in (("5 KB", 5_000, 30), ("50 KB", 50_000, 7)):
        ours, base = [], []
        for _ in range(6):
            old = make_text(rng, pool, vocabulary, size)
            new = old
            for _ in range(max(2, size // 5000)):
                new = edit(rng, new, pool, vocabulary)
            a, b = TextVersion(old, "t"), TextVersion(new, "t")
            ours.append(timed(lambda a=a, b=b: compare(a, b), runs))
            base.append(
                timed(
                    lambda a=a, b=b: difflib.SequenceMatcher(
                        None, a.text.split(), b.text.split()
                    ).get_opcodes(),
                    runs,
                )
            )
        o, bl = statistics.median(ours), statistics.median(base)
        print(
            f"  {label:>6}: compare() {o:7.2f} ms (worst {max(ours):.2f}) | difflib {bl:7.2f} ms"
            f" | ratio {o / bl:.2f}x"
        )


def bench_archive(label: str, archive: Archive, articles: int, pool: list[str], reuse: bool = False) -> None:
    with archive.reading() as session:
        existing = session.execute(text("SELECT count(*) FROM article")).scalar_one()
    if reuse and existing:
        print(f"\n== {label}: reusing {existing:,} articles already generated")
    else:
        print(f"\n== {label}: {articles:,} articles")
        versions, seconds = generate(archive, articles, pool)
        print(f"  generated {articles:,} articles / {versions:,} versions in {seconds:.0f} s")
    if archive.is_sqlite:
        with archive.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("INSERT INTO version_fts(version_fts) VALUES ('optimize')")
    else:
        with archive.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    runs = 7
    print("search (median ms; baseline = SELECT id FROM version WHERE text LIKE '%word%' LIMIT 20)")
    with archive.reading() as session:
        like = timed(
            lambda: session.execute(
                text("SELECT id FROM version WHERE text LIKE :p LIMIT 20"), {"p": "%Mubarak%"}
            ).all(),
            runs,
        )
        like_rare = timed(
            lambda: session.execute(
                text("SELECT id FROM version WHERE text LIKE :p LIMIT 20"), {"p": "%zzzqxj%"}
            ).all(),
            3,
        )
        print(f"  LIKE baseline: common word {like:.1f} ms, absent word (full scan) {like_rare:.1f} ms")
        for query in SEARCHES:
            total = search(session, query).total
            ms = timed(lambda q=query: search(session, q), runs)
            print(
                f"  {query!r:>24}: {ms:7.1f} ms ({total}{'+' if total >= 1000 else ''} articles) | "
                f"ratio vs full LIKE scan {ms / like_rare:.2f}x"
            )
    print("list page (median ms; baseline = SELECT * FROM article ORDER BY id LIMIT 50)")
    with archive.reading() as session:
        base = timed(lambda: session.execute(text("SELECT * FROM article ORDER BY id LIMIT 50")).all(), runs)
        print(f"  baseline: {base:.2f} ms")
        cases = {
            "first page": ListFilters(),
            "page 100": ListFilters(page=100),
            "edited only": ListFilters(edited=True),
            "language=ur": ListFilters(language="ur"),
            "date range": ListFilters(since=datetime(2025, 3, 1).date(), until=datetime(2025, 3, 31).date()),
            "search box 'Mubarak'": ListFilters(q="Mubarak"),
            "edited + search": ListFilters(edited=True, q="military council"),
        }
        for name, filters in cases.items():
            ms = timed(lambda f=filters: list_articles(session, f), runs)
            print(f"  {name:>22}: {ms:7.1f} ms | ratio {ms / base:.0f}x")
    from fastapi.testclient import TestClient

    from mediawatch.web.app import create_app

    viewer = Archive(archive.url, readonly=True)
    with TestClient(create_app(viewer)) as client:
        for path in [
            "/",
            "/?edited=1&q=Mubarak",
            "/search?q=military+council",
            "/articles/500",
            "/feeds/edits.atom",
        ]:
            assert client.get(path).status_code == 200, path
            ms = timed(lambda p=path: client.get(p), runs)
            print(f"  HTTP GET {path:<28} {ms:7.1f} ms (full page, in-process)")
        print(
            "statistics page (first view: nothing kept, median of 5, wall and processor time; again:"
            " the archive unchanged, median ms; baseline = the list page GET / in the same run)"
        )
        from mediawatch.web import stats as stats_web

        list_ms = timed(lambda: client.get("/"), runs)
        with archive.reading() as session:
            newest = session.execute(text("SELECT max(first_seen) FROM article")).scalar_one()
        last_month = (datetime.fromisoformat(str(newest)) - timedelta(days=30)).date().isoformat()
        # /stats counts the 30 days before now; the generated archive ends earlier, so its own
        # last 30 days are timed too.
        for path in [
            "/stats?since=2000-01-01",
            f"/stats?since={last_month}",
            "/stats",
            "/api/stats?since=2000-01-01",
        ]:
            assert client.get(path).status_code == 200, path

            def first(p: str = path) -> None:
                stats_web.forget()
                client.get(p)

            cold, cold_cpu = timed_cpu(first, 5)
            ms = timed(lambda p=path: client.get(p), runs)
            print(
                f"  HTTP GET {path:<28} first {cold:7.1f} ms ({cold_cpu:.1f} ms processor),"
                f" again {ms:7.1f} ms"
                f" | ratio vs list page ({list_ms:.1f} ms) {cold / list_ms:.1f}x, {ms / list_ms:.1f}x"
            )
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path(os.environ.get("MEDIAWATCH_CORPUS", ROOT.parent / "shared" / "corpus")),
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--sqlite",
        type=Path,
        help="keep the SQLite archive in this file: generated when new, measured again when it exists",
    )
    parser.add_argument(
        "--reuse-pg", action="store_true", help="measure the PostgreSQL archive a previous run generated"
    )
    args = parser.parse_args()
    pool = corpus_paragraphs(args.corpus)
    print(f"corpus: {len(pool)} distinct NYT paragraphs")
    bench_diff(pool)
    if args.sqlite:
        archive = Archive(f"sqlite:///{args.sqlite.resolve()}")
        bench_archive("SQLite", archive, args.articles, pool, reuse=True)
        archive.close()
    elif not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="mw-bench-") as tmp:
            archive = Archive(f"sqlite:///{tmp}/bench.db")
            bench_archive("SQLite", archive, args.articles, pool)
            archive.close()
    pg_url = os.environ.get("MEDIAWATCH_BENCH_PG_URL")
    if pg_url:
        from sqlalchemy import create_engine

        if not args.reuse_pg:
            engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            engine.dispose()
        archive = Archive(pg_url)
        bench_archive("PostgreSQL", archive, args.articles, pool, reuse=args.reuse_pg)
        archive.close()
    else:
        print("\n(PostgreSQL skipped: set MEDIAWATCH_BENCH_PG_URL to a scratch database)")


if __name__ == "__main__":
    main()
