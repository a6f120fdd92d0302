"""Rederive throughput against bare extraction: `uv run python bench/rederive_bench.py [--pages N]`.

Archives N trafilatura-evaldata pages (../shared/corpus or MEDIAWATCH_CORPUS) into a temporary
SQLite archive, then prints, in one run: bare ``archive.extract.extract`` of the same pages in
one process (the baseline), and ``rederive`` of every article in the calling process and on the
local process pool with 1 and 2 workers (what ``mediawatch rederive --workers N`` uses), each with
its ratio to the baseline. The goal on an N-core machine is >= 0.9 x N.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from crawl_bench import corpus_pages  # noqa: E402

from archive.db import Archive  # noqa: E402
from archive.extract import ExtractionError, extract  # noqa: E402
from archive.importer import import_jsonl  # noqa: E402
from archive.rederive import rederive  # noqa: E402
from crawler.extraction import local_executor  # noqa: E402


def bare(pages: list[bytes]) -> float:
    start = time.perf_counter()
    for i, raw in enumerate(pages):
        try:
            extract(raw, url=f"https://bench.example/p/{i}")
        except ExtractionError:
            pass
    return time.perf_counter() - start


def warm(executor: object, workers: int, pages: list[bytes]) -> None:
    """Run real pages on every worker first (htmldate builds its tables on first use)."""
    futures = [executor.submit(extract, pages[i % len(pages)]) for i in range(4 * workers)]  # type: ignore[attr-defined]  # any Executor
    for future in futures:
        future.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=120)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    pages = corpus_pages(args.pages)
    for raw in pages[:5]:
        extract(raw)  # warm this process the same way
    print(
        f"{len(pages)} evaldata pages, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        lines = tmp / "pages.jsonl"
        with lines.open("w") as out:
            for i, raw in enumerate(pages):
                record = {
                    "url": f"https://bench.example/p/{i}",
                    "fetched_at": "2026-01-01T00:00:00Z",
                    "html": raw.decode("utf-8", "replace"),
                }
                out.write(json.dumps(record) + "\n")
        with Archive(f"sqlite:///{tmp}/bench.db") as archive:
            with local_executor(2) as executor:
                imported = import_jsonl(archive, lines, executor=executor)
            t_bare = bare(pages)
            base = len(pages) / t_bare
            print(f"bare extract(), one process      : {base:7.1f} pages/s  (baseline)")
            print(f"(archived {imported.new_versions} versions to re-derive)")
            start = time.perf_counter()
            summary = rederive(archive.sessions)
            took = time.perf_counter() - start
            rate = summary.versions_checked / took
            print(f"rederive, in the calling process : {rate:7.1f} pages/s  ratio {rate / base:.2f}")
            for workers in (1, 2):
                with local_executor(workers) as executor:
                    warm(executor, workers, pages)
                    start = time.perf_counter()
                    summary = rederive(archive.sessions, executor=executor)
                    took = time.perf_counter() - start
                rate = summary.versions_checked / took
                goal = 0.9 * workers
                print(
                    f"rederive, {workers} worker(s)             : {rate:7.1f} pages/s  "
                    f"ratio {rate / base:.2f}"
                    f" (goal >= {goal:.1f}; {summary.versions_checked} pages, {summary.recorded} re-derived)"
                )


if __name__ == "__main__":
    main()
