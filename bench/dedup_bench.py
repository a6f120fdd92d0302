"""Near-duplicate look-up time per document in the persisted LSH index (issue 5).

For each size (stored signatures: 10k, 100k, 1M by default) the ``lsh_bucket`` table of a fresh
archive is filled with Core bulk inserts (42 band rows per signature; random keys for the filler
documents, real band keys and stored signatures for a set of planted near-duplicates), then
``dedup.near_candidates`` + the signature check that picks the candidates whose text is read
(estimated Jaccard ≥ ``dedup.MIN_CANDIDATE_JACCARD``) is timed for query documents whose planted
copy must be found. Baseline, measured in the same run: an in-memory datasketch ``MinHashLSH``
(threshold 0.6, 128 permutations) query over the planted signatures plus up to 100k fillers.

    uv run python bench/dedup_bench.py                 # 10k, 100k, 1M on SQLite
    uv run python bench/dedup_bench.py --max 100000    # stop at 100k
    MEDIAWATCH_BENCH_PG_URL=postgresql+psycopg://... uv run python bench/dedup_bench.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH
from sqlalchemy import create_engine, insert, text

from archive import dedup
from archive.db import Archive
from archive.models import LshBucket, TextSignature

QUERIES = 200
CHUNK = 50_000


def near_copy(values: np.ndarray, rng: np.random.Generator, share: float = 0.08) -> np.ndarray:
    copy = values.copy()
    changed = rng.choice(len(copy), int(len(copy) * share), replace=False)
    copy[changed] = rng.integers(0, 2**32, len(changed), dtype=np.uint32)
    return copy


def fill(archive: Archive, size: int, planted: list[np.ndarray], rng: np.random.Generator) -> float:
    started = time.perf_counter()
    # A plain engine (no mediawatch hooks): SQLite does not enforce foreign keys by default, and
    # on PostgreSQL replica mode skips them, so filler buckets need no article/version rows.
    loader = create_engine(archive.engine.url)
    with loader.begin() as conn:
        if not archive.is_sqlite:
            conn.execute(text("SET session_replication_role = replica"))
            conn.execute(text("TRUNCATE lsh_bucket, text_signature"))
        conn.execute(
            insert(TextSignature),
            [
                {
                    "version_id": i + 1,
                    "article_id": i + 1,
                    "num_perm": dedup.NUM_PERM,
                    "hashvalues": dedup.to_bytes(v),
                }
                for i, v in enumerate(planted)
            ],
        )
        conn.execute(
            insert(LshBucket),
            [row for i, v in enumerate(planted) for row in dedup.bucket_rows(i + 1, i + 1, v)],
        )
        next_id = len(planted) + 1
        remaining = size - len(planted)
        while remaining > 0:
            docs = min(remaining, CHUNK // dedup.BANDS)
            keys = rng.integers(-(2**63), 2**63 - 1, size=(docs, dedup.BANDS), dtype=np.int64)
            conn.execute(
                insert(LshBucket),
                [
                    {"key": int(k), "version_id": next_id + d, "article_id": next_id + d}
                    for d in range(docs)
                    for k in keys[d]
                ],
            )
            next_id += docs
            remaining -= docs
        conn.execute(text("ANALYZE"))
    loader.dispose()
    return time.perf_counter() - started


def lookups(archive: Archive, queries: list[np.ndarray], expected: list[int]) -> tuple[list[float], int]:
    times, found = [], 0
    with archive.sessions() as session:
        for query, want in zip(queries, expected, strict=True):
            started = time.perf_counter()
            hits = [
                article
                for article, _v, values in dedup.near_candidates(session, query)
                if dedup.jaccard(query, values) >= dedup.MIN_CANDIDATE_JACCARD
            ]
            times.append(time.perf_counter() - started)
            found += want in hits
    return times, found


def baseline(
    planted: list[np.ndarray], queries: list[np.ndarray], fillers: int, rng: np.random.Generator
) -> float:
    lsh = MinHashLSH(threshold=dedup.DEFAULT_THRESHOLD, num_perm=dedup.NUM_PERM)
    for i, values in enumerate(planted):
        lsh.insert(f"p{i}", MinHash(hashvalues=values, scheme="affine32"))
    for i in range(fillers):
        values = rng.integers(0, 2**32, dedup.NUM_PERM, dtype=np.uint32)
        lsh.insert(f"f{i}", MinHash(hashvalues=values, scheme="affine32"))
    minhashes = [MinHash(hashvalues=q, scheme="affine32") for q in queries]
    times = []
    for minhash in minhashes:
        started = time.perf_counter()
        lsh.query(minhash)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(url_for: dict[str, str], sizes: list[int]) -> None:
    rng = np.random.default_rng(7)
    originals = [rng.integers(0, 2**32, dedup.NUM_PERM, dtype=np.uint32) for _ in range(QUERIES)]
    planted = [near_copy(o, rng) for o in originals]
    expected = list(range(1, QUERIES + 1))
    base = baseline(planted, originals, min(max(sizes), 100_000), rng)
    print(f"baseline in-memory MinHashLSH query: median {base * 1e3:.3f} ms")
    for backend, url in url_for.items():
        print(f"\n{backend}")
        print(
            f"{'signatures':>12} {'fill s':>8} {'median ms':>10} {'p95 ms':>8} {'found':>7} {'vs memory':>10}"
        )
        for size in sizes:
            with Archive(url() if callable(url) else url) as archive:
                seconds = fill(archive, size, planted, rng)
                times, found = lookups(archive, originals, expected)
                times.sort()
                median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
                print(
                    f"{size:>12,} {seconds:>8.1f} {median * 1e3:>10.3f} {p95 * 1e3:>8.3f} "
                    f"{found:>4}/{len(originals)} {median / base:>9.1f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="stored signatures per step")
    parser.add_argument("--max", type=int, default=None, help="skip sizes above this")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if args.max is None or int(s) <= args.max]
    workdir = Path(tempfile.mkdtemp(prefix="mw-dedup-bench-"))
    counter = iter(range(10**6))
    backends: dict = {"sqlite": lambda: f"sqlite:///{workdir}/bench-{next(counter)}.db"}
    pg = os.environ.get("MEDIAWATCH_BENCH_PG_URL")
    if pg:
        backends["postgresql"] = pg  # the bench tables are emptied before each size
    try:
        run(backends, sizes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
