"""What a start refused by the run lock costs (cron every few minutes while a long crawl runs).

A refused ``mediawatch crawl`` / ``mediawatch import`` should cost little more than starting the
CLI at all: the lock is taken before Scrapy, the extractor and the importer are imported.
Baseline in the same run: ``mediawatch --help`` (interpreter + CLI start).

Usage: uv run python bench/refused_start.py [--rounds 5] [--db DB_URL]  (default: temp SQLite)
Prints the median seconds of each and the ratio refused / baseline.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ops_helpers import hold_lock  # noqa: E402

from archive.db import Archive  # noqa: E402


def median_s(argv: list[str], rounds: int, expect: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "mediawatch", *argv], capture_output=True, text=True)
        samples.append(time.perf_counter() - start)
        if proc.returncode != expect:
            raise SystemExit(f"{argv[0]}: exit {proc.returncode}, expected {expect}: {proc.stderr}")
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mediawatch-refused-"))
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    Archive(url).close()  # migrate once
    empty = tmp / "empty.jsonl"
    empty.write_text("")
    baseline = median_s(["--help"], args.rounds, 0)
    holder = hold_lock(url)
    try:
        refused_import = median_s(["import", str(empty), "--db", url], args.rounds, 75)
        refused_crawl = median_s(["crawl", "--quiet", "--db", url], args.rounds, 75)
    finally:
        holder.kill()
        holder.wait()
    print(f"baseline `mediawatch --help`: {baseline:.2f} s")
    print(f"refused import: {refused_import:.2f} s  ({refused_import / baseline:.1f}x baseline)")
    print(f"refused crawl:  {refused_crawl:.2f} s  ({refused_crawl / baseline:.1f}x baseline)")


if __name__ == "__main__":
    main()
