"""What the run lock costs a run: acquire+release of the lock vs. opening the archive (baseline).

Usage: uv run python bench/runlock_overhead.py [DB_URL]   (default: a temporary SQLite file)
Prints the median milliseconds of each and the ratio lock / open-archive.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from archive.db import Archive
from archive.runlock import acquire_run_lock

ROUNDS = 50


def median_ms(action) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    Archive(url).close()  # migrate once

    def lock() -> None:
        with acquire_run_lock(url):
            pass

    def open_archive() -> None:
        Archive(url).close()

    lock_ms, open_ms = median_ms(lock), median_ms(open_archive)
    print(f"backend: {url.split(':', 1)[0]}")
    print(f"run lock acquire+release: {lock_ms:.3f} ms (median of {ROUNDS})")
    print(f"baseline, open archive:   {open_ms:.3f} ms (median of {ROUNDS})")
    print(f"ratio lock/open: {lock_ms / open_ms:.3f}")


if __name__ == "__main__":
    main()
