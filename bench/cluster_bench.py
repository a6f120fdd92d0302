"""``import-warc --cluster`` scaling: the same import with 1 and with 2 single-threaded Dask workers.

    uv run python bench/cluster_bench.py [--files 40] [--revisions 5] [--news 2]

Builds WARC files from real corpus pages (Wikipedia revision histories and trafilatura's news
pages, as tests/test_cluster.py does), starts a throwaway PostgreSQL (or MEDIAWATCH_BENCH_PG_URL, a
server's maintenance database) and a ``dask scheduler`` on 127.0.0.1, then imports the files into
a fresh archive through one worker, adds a second worker, and imports them again into another
fresh archive. Each worker is warmed first (a scratch import), so the timed runs measure steady
extraction, not start-up. Prints pages/s for each and the ratio against the goal
(``crawl_bench.goal_ratio``: ≥ 1.6 on a 2-core machine, where the calling process, the scheduler
and PostgreSQL share the workers' cores).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import PostgresCluster, _pg_admin, _with_database, corpus_root  # noqa: E402
from crawl_bench import goal_ratio  # noqa: E402
from dask_cluster import start_dask_cluster, write_warc_files  # noqa: E402

from archive.db import make_engine, upgrade  # noqa: E402
from archive.jobs import job  # noqa: E402
from crawler.cluster import import_warc_on_cluster  # noqa: E402


def fresh_database(server: str) -> str:
    name = f"mw_bench_{uuid.uuid4().hex[:8]}"
    _pg_admin(server, f'CREATE DATABASE "{name}"')
    url = _with_database(server, name)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def timed_import(server: str, files: list[Path], address: str) -> tuple[float, int]:
    url = fresh_database(server)
    start = time.perf_counter()
    with job(url, command="import-warc") as (archive, run):
        summary = import_warc_on_cluster(archive, run, files, address)
    elapsed = time.perf_counter() - start
    assert not summary.errors, summary.errors
    return elapsed, summary.taken


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=40, help="WARC files (one task each)")
    parser.add_argument("--revisions", type=int, default=5, help="Wikipedia revisions per file")
    parser.add_argument("--news", type=int, default=2, help="news pages per file")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    corpus = corpus_root()
    if corpus is None:
        sys.exit("the shared corpus is absent (set MEDIAWATCH_CORPUS)")
    # A slow page on a loaded machine is not a pathological page.
    os.environ.setdefault("MEDIAWATCH_EXTRACT_TIMEOUT", "1200")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = write_warc_files(corpus, work, args.files, revisions=args.revisions, news=args.news)
        (work / "warm").mkdir()
        warm = write_warc_files(corpus, work / "warm", 4, revisions=1, news=1)
        pg: PostgresCluster | None = None
        server = os.environ.get("MEDIAWATCH_BENCH_PG_URL")
        if not server:
            pg = PostgresCluster()
            pg.start()
            server = pg.url()
        try:
            with start_dask_cluster(work, workers=1) as cluster:
                timed_import(server, warm, cluster.address)
                one, pages = timed_import(server, files, cluster.address)
                cluster.add_worker()
                cluster.wait_for_workers(2)
                timed_import(server, warm, cluster.address)
                two, pages_again = timed_import(server, files, cluster.address)
        finally:
            if pg is not None:
                pg.stop()
    assert pages == pages_again, (pages, pages_again)
    load = os.getloadavg()[0]
    print(
        f"corpus: {len(files)} WARC files, {pages} HTML captures; cores: {os.cpu_count()}; load: {load:.1f}"
    )
    print(f"1 worker  : {one:7.1f} s  {pages / one:6.2f} pages/s")
    print(f"2 workers : {two:7.1f} s  {pages / two:6.2f} pages/s")
    print(f"ratio     : {one / two:.2f}x  (goal >= {goal_ratio(2)})")


if __name__ == "__main__":
    main()
