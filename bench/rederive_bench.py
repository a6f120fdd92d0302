"""Rederive throughput against bare extraction: `uv run python bench/rederive_bench.py [--pages N]`.

Archives N trafilatura-evaldata pages (../shared/corpus or MEDIAWATCH_CORPUS) into a temporary
SQLite archive, then prints, in one run: bare ``archive.extract.extract`` of the same pages in
one process (the baseline), and ``rederive`` of every article in the calling process and on the
local process pool with 1 and 2 workers (what ``mediawatch rederive --workers N`` uses), each with
its ratio to the baseline. The goal is ``crawl_bench.goal_ratio``: 0.9 x N while the calling
process has a core of its own, 1.6 for 2 workers on 2 cores.

The speed of a shared machine drifts by a third within minutes, so a baseline taken once and
compared with a run a minute later measures the drift as much as the code. The figures are
taken in ``--rounds`` rounds (default 3), each run against a baseline taken just before it;
the median of the rounds' ratios is the figure. Each round also runs bare
``extract()`` on the 2-worker pool: what two workers can do on this machine with no rederive
work at all (the processes slow each other down), so the last column is the share of that
ceiling ``rederive`` keeps.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from crawl_bench import corpus_pages, goal_ratio, pooled_extraction  # noqa: E402

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
    parser.add_argument("--rounds", type=int, default=3)
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
            print(f"(archived {imported.new_versions} versions to re-derive)")
            ratios: dict[str, list[float]] = {"1": [], "2": [], "ceiling": [], "of ceiling": []}
            caller_ms: list[float] = []  # CPU of the calling process (reads, comparison, writes) a page
            with local_executor(1) as one, local_executor(2) as two:
                warm(one, 1, pages)
                warm(two, 2, pages)
                for round_ in range(1, args.rounds + 1):
                    line = f"round {round_}:"
                    if round_ == 1:
                        base = len(pages) / bare(pages)
                        start = time.perf_counter()
                        summary = rederive(archive.sessions)
                        rate = summary.versions_checked / (time.perf_counter() - start)
                        line += f" in the calling process {rate / base:.2f};"
                    base = len(pages) / bare(pages)
                    ratios["ceiling"].append(
                        len(pages)
                        / pooled_extraction(
                            two, [(raw, f"https://bench.example/p/{i}") for i, raw in enumerate(pages)]
                        )
                        / base
                    )
                    for workers, executor in (("1", one), ("2", two)):
                        base = len(pages) / bare(pages)
                        start, cpu = time.perf_counter(), time.process_time()
                        summary = rederive(archive.sessions, executor=executor)
                        took = time.perf_counter() - start
                        ratios[workers].append(summary.versions_checked / took / base)
                        caller_ms.append(1000 * (time.process_time() - cpu) / summary.versions_checked)
                        line += f" {workers} worker(s) {ratios[workers][-1]:.2f};"
                    ratios["of ceiling"].append(ratios["2"][-1] / ratios["ceiling"][-1])
                    print(
                        f"{line} bare extract() on 2 workers {ratios['ceiling'][-1]:.2f} "
                        f"(bare, one process: {base:.1f} pages/s)"
                    )
            middle = {name: statistics.median(values) for name, values in ratios.items()}
            print(
                f"rederive, 1 worker : median ratio {middle['1']:.2f} (goal >= {goal_ratio(1)})\n"
                f"rederive, 2 workers: median ratio {middle['2']:.2f} (goal >= {goal_ratio(2)}); "
                f"bare extract() on the same 2 workers {middle['ceiling']:.2f}, so rederive keeps "
                f"{middle['of ceiling']:.0%} of what the machine gives two workers\n"
                f"({summary.versions_checked} pages a run, {summary.recorded} re-derived; the caller "
                f"spent {statistics.median(caller_ms):.1f} ms of CPU a page, median of the pooled runs)"
            )


if __name__ == "__main__":
    main()
