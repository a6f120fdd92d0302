"""WARC import throughput on the corpus sample WARCs vs bare warcio iteration (same files, same run).

    uv run python bench/warc_bench.py [--db sqlite:///path | postgresql+psycopg://...]

Prints records/s for: bare warcio iteration (every payload read, digests checked), a full
import into a fresh archive (extraction and versioning included), a second import of the same
files (everything recognised as already imported), and WARC export of the result; and the
ratios to the bare-iteration baseline. Then the import of the same files into fresh archives
with its pages extracted on the local process pool (``mediawatch import-warc --workers N``) with
1 and 2 workers, as HTML pages/s against two baselines on the same pages, each in one process:
mediawatch's own extraction (``archive.extract.extract``) and bare trafilatura as installed
(``trafilatura.bare_extraction``, the crawl bench's baseline, run in a fresh process). The goal
(``crawl_bench.goal_ratio``: 0.9 x N while the calling process has a core of its own, 1.6 for 2
workers on 2 cores) is set against bare trafilatura; mediawatch's extraction is about as fast
(it does more, and skips metadata it never reads).

The sample files hold 76 HTML captures: a pooled import of them is a few seconds, of which the
pool's start and its last pages are a large share. So the same pooled imports then run on a
WARC of ``--pages`` real pages (default 300; 0 skips it): trafilatura's evaluation pages, each
as a response record under the URL it was saved from, written to a temporary file first. That
is the figure for a bulk import of many files, where start and tail do not count.

The speed of a shared machine drifts by a third within minutes, so the pooled imports run in
``--rounds`` rounds (default 3), each import against a bare extraction run just before it; the
median of the rounds' ratios is the figure. Each round also runs bare extraction on the 2-worker
pool: what two workers can do on this machine with no import work at all. And since a drifting
machine moves the wall-clock ratios, the CPU a page is printed too (median of the rounds): bare
extraction in this process and on the 2 workers, and the 2-worker import's workers and calling
process; it moves much less than the ratios.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawl_bench import bare_trafilatura, bench_corpus, bench_sized, goal_ratio, pooled_extraction  # noqa: E402
from warcio.archiveiterator import ArchiveIterator
from writer_bench import counted

from archive.db import Archive
from archive.warc import export_warc, import_warc

FILES = [
    "pywb/sample_archive/warcs/iana.warc.gz",
    "pywb/sample_archive/warcs/dupes.warc.gz",
    "pywb/sample_archive/warcs/example.warc.gz",
    "pywb/sample_archive/warcs/example-extra.warc",
    "pywb/sample_archive/warcs/example.arc.gz",
    "pywb/sample_archive/warcs/example-wget-1-14.warc.gz",
    "pywb/sample_archive/warcs/example-wpull.warc.gz",
    "resiliparse/tests/data/warcfile.warc.gz",
    "resiliparse/tests/data/clueweb-quirk.warc.gz",
    "commoncrawl-whirlwind/whirlwind.warc.gz",
    "warcio/test/data/example-iana.org-chunked.warc",
]


def bare_iteration(paths: list[Path]) -> int:
    records = 0
    for path in paths:
        with path.open("rb") as handle:
            for rec in ArchiveIterator(handle, arc2warc=True, check_digests=True):
                rec.content_stream().read()
                records += 1
    return records


def extraction_only(html: list[tuple[bytes, str]]) -> int:
    """What the store's extractor alone costs on the same HTML responses (a second reference)."""
    from archive.extract import ExtractionError, extract

    for payload, url in html:
        try:
            extract(payload, url=url)
        except ExtractionError:
            pass
    return len(html)


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None, help="empty database URL (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=3, help="bare-iteration passes (best taken)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the pooled imports (median taken)")
    parser.add_argument("--pages", type=int, default=300, help="real pages in the larger WARC (0: skip it)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    corpus = bench_corpus()
    paths = [corpus / "warc-samples" / name for name in FILES]
    missing = [p for p in paths if not p.exists()]
    if missing:
        sys.exit(f"corpus files missing (set MEDIAWATCH_CORPUS): {missing[0]}")
    size = sum(p.stat().st_size for p in paths)

    # Warm the extractor once, its date parser's tables included (dateparser builds them on the
    # first page with a date written in words: every worker would pay once what this process
    # has paid, a share that only a corpus this small would notice).
    from archive.extract import extract, warm_dates

    warm_dates()

    with paths[0].open("rb") as handle:
        for rec in ArchiveIterator(handle):
            if (
                rec.rec_type == "response"
                and b"html" in (rec.http_headers.get_header("Content-Type") or "").encode()
            ):
                sample = rec.content_stream().read()
                extract(sample, url=rec.rec_headers.get_header("WARC-Target-URI"))
                break

    best = min(timed(lambda: bare_iteration(paths))[1] for _ in range(args.repeat))
    records = bare_iteration(paths)
    base_rate = records / best

    html = html_pages(paths)
    pages, t_extract = timed(lambda: extraction_only(html))

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        with Archive(url) as archive:
            statements = counted(archive)
            first, t_import = timed(lambda: import_warc(archive, paths))
            statements_first = statements()
            second, t_again = timed(lambda: import_warc(archive, paths))
            exported, t_export = timed(lambda: export_warc(archive, Path(tmp) / "out.warc.gz"))

    print(f"corpus: {len(paths)} files, {size / 1e6:.2f} MB, {records} records, {first.taken} HTML captures")
    print(f"bare warcio iteration        : {base_rate:10.0f} records/s  (baseline, best of {args.repeat})")
    rate = first.records / t_import
    print(
        f"import-warc (fresh archive)  : {rate:10.0f} records/s"
        f"  {first.taken / t_import:8.1f} HTML captures/s"
        f"  ratio {base_rate / rate:6.1f}x slower than baseline"
    )
    print(
        f"extraction alone ({pages} HTML responses): {pages / t_extract:8.1f} pages/s"
        f"  -> import spends {t_extract / t_import:.0%} of its time extracting"
    )
    rate2 = second.records / t_again
    print(f"import-warc (again, no-op)   : {rate2:10.0f} records/s  ratio {base_rate / rate2:6.1f}x slower")
    n_out = exported.responses + exported.revisits
    print(f"export --format warc         : {n_out / t_export:10.0f} records/s  ({n_out} records)")
    print(f"new versions {first.new_versions}; skipped {dict(first.skipped)}")
    print(f"statements of the fresh import: {statements_first / first.taken:.1f} per HTML capture")

    from crawler.extraction import local_executor

    print(f"\n{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    bare = pages / t_extract
    print(f"bare extraction, one process      : {bare:8.1f} HTML pages/s (baseline)")
    print(
        f"import-warc, in the calling process: {pages / t_import:8.1f} HTML pages/s  "
        f"ratio {t_extract / t_import:.2f}"
    )
    with local_executor(1) as one, local_executor(2) as two:
        for workers, executor in ((1, one), (2, two)):
            warm = [executor.submit(extract, sample) for _ in range(4 * workers)]
            warm += [executor.submit(warm_dates) for _ in range(4 * workers)]
            for future in warm:
                future.result()
        print("\nthe sample files, on the pool:")
        pooled_rounds(paths, html, (one, two), args.rounds)
        if args.pages:
            with tempfile.TemporaryDirectory() as tmp:
                big = Path(tmp) / "pages.warc.gz"
                write_pages_warc(big, corpus_pages_at_urls(corpus, args.pages))
                # The pages as the import reads them (warcio mends a URL with a space in it).
                pages = html_pages([big])
                print(
                    f"\na WARC of {len(pages)} real pages ({big.stat().st_size / 1e6:.1f} MB), on the pool:"
                )
                pooled_rounds([big], pages, (one, two), args.rounds)


def pooled_rounds(
    paths: list[Path], html: list[tuple[bytes, str]], pools: tuple[Any, Any], rounds: int
) -> None:
    """The files imported on the 1- and 2-worker pools (``pools``), ``rounds`` times, each
    against bare extraction of their HTML pages in this process run just before it."""
    import psutil

    one, two = pools
    pages = len(html)
    ratios: dict[str, list[float]] = {"1": [], "2": [], "ceiling": []}
    # The same imports against bare trafilatura as installed, in a fresh process (crawl_bench's
    # baseline; mediawatch's extract() does more, skips metadata it never reads, and is about as fast).
    against_trafilatura: dict[str, list[float]] = {"1": [], "2": []}
    caller: dict[str, list[float]] = {"1": [], "2": []}  # CPU of the calling thread, ms a capture
    # CPU a page, ms: bare extraction in this process, on the 2 workers, and the 2-worker import's
    # workers and calling process (all its threads: the pool's result thread unpickles there).
    cpu: dict[str, list[float]] = {"bare": [], "bare on 2 workers": [], "workers": [], "caller": []}
    kids = psutil.Process().children(recursive=True)  # the pools' processes (and their server)

    def kids_cpu() -> float:
        return sum(sum(kid.cpu_times()[:2]) for kid in kids)

    versions: set[int] = set()
    payloads = [payload for payload, _ in html]
    for round_ in range(1, rounds + 1):
        traf = trafilatura_rate(payloads)
        base = pages / timed(lambda: extraction_only(html))[1]
        before = kids_cpu()
        ratios["ceiling"].append(pages / pooled_extraction(two, html) / base)
        cpu["bare on 2 workers"].append(1000 * (kids_cpu() - before) / pages)
        line = f"round {round_}:"
        for workers, executor in ((1, one), (2, two)):
            own = time.process_time()
            base = pages / timed(lambda: extraction_only(html))[1]
            if workers == 2:
                cpu["bare"].append(1000 * (time.process_time() - own) / pages)
            with tempfile.TemporaryDirectory() as tmp, Archive(f"sqlite:///{tmp}/bench.db") as archive:
                before, own, thread = kids_cpu(), time.process_time(), time.thread_time()
                summary, took = timed(lambda: import_warc(archive, paths, executor=executor))  # noqa: B023
                caller[str(workers)].append(1000 * (time.thread_time() - thread) / summary.taken)
                if workers == 2:
                    cpu["caller"].append(1000 * (time.process_time() - own) / pages)
                    cpu["workers"].append(1000 * (kids_cpu() - before) / pages)
            versions.add(summary.new_versions)
            ratios[str(workers)].append(pages / took / base)
            against_trafilatura[str(workers)].append(pages / took / traf)
            line += (
                f" {workers} worker(s) {ratios[str(workers)][-1]:.2f}"
                f" ({against_trafilatura[str(workers)][-1]:.2f});"
            )
        print(
            f"{line} bare extraction on 2 workers {ratios['ceiling'][-1]:.2f}"
            f" (bare, one process: {base:.1f} pages/s; bare trafilatura {traf:.1f} pages/s)"
        )
    assert len(versions) == 1, versions  # every import of the same files gives the same archive
    middle = {name: statistics.median(values) for name, values in ratios.items()}
    traf_middle = {name: statistics.median(values) for name, values in against_trafilatura.items()}
    print(
        f"import-warc, 1 worker : median ratio {middle['1']:.2f} against mediawatch's extraction,"
        f" {traf_middle['1']:.2f} against bare trafilatura (goal >= {goal_ratio(1)})"
    )
    print(
        f"import-warc, 2 workers: median ratio {middle['2']:.2f} against mediawatch's extraction,"
        f" {traf_middle['2']:.2f} against bare trafilatura (goal >= {goal_ratio(2)}); mediawatch's extraction"
        f" on the same 2 workers {middle['ceiling']:.2f}"
    )
    ms = {name: statistics.median(values) for name, values in cpu.items()}
    print(
        f"CPU a page (median): bare extraction {ms['bare']:.1f} ms in one process,"
        f" {ms['bare on 2 workers']:.1f} ms on 2 workers side by side;"
        f" the 2-worker import {ms['workers']:.1f} ms on the workers"
        f" + {ms['caller']:.1f} ms on the calling process; on 2 cores that import can give at most"
        f" 2 x {ms['bare']:.1f} / ({ms['workers']:.1f} + {ms['caller']:.1f})"
        f" = {2 * ms['bare'] / (ms['workers'] + ms['caller']):.2f} x bare extraction"
    )
    print(
        "the calling thread (reading the files, recording): "
        + ", ".join(f"{w} worker(s) {statistics.median(ms):.1f}" for w, ms in caller.items())
        + " ms CPU per HTML capture (median)"
    )


def trafilatura_rate(payloads: list[bytes]) -> float:
    """Pages/s of bare trafilatura over these payloads, in a fresh process: trafilatura as
    installed (this process has mediawatch's date languages in htmldate)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(bare_trafilatura, payloads).result()


def corpus_pages_at_urls(corpus: Path, n: int) -> list[tuple[bytes, str]]:
    """Up to ``n`` of trafilatura's evaluation pages (real pages from many sites, of the size the
    benches take) with the http(s) URL each was saved from, in URL order."""
    from corpus_data import eval_pages

    pages = []
    for page in sorted(eval_pages(corpus), key=lambda page: page.key):
        if page.path.parent.name != "eval" or not page.key.startswith(("http://", "https://")):
            continue  # (the crawl bench's pages are those of the eval folder too)
        raw = page.raw()
        if bench_sized(raw):
            pages.append((raw, page.key))
        if len(pages) == n:
            break
    return pages


def write_pages_warc(path: Path, pages: list[tuple[bytes, str]]) -> None:
    """The pages as 200 response records of a gzipped WARC, each under its URL."""
    from dask_cluster import write_response
    from warcio.warcwriter import WARCWriter

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for raw, url in pages:
            write_response(writer, url, at, raw, content_type="text/html")


def html_pages(paths: list[Path]) -> list[tuple[bytes, str]]:
    """The HTML responses of the files, as (payload, target URI)."""
    from archive.warcrecords import looks_like_html

    found = []
    for path in paths:
        with path.open("rb") as handle:
            for rec in ArchiveIterator(handle, arc2warc=True):
                if rec.rec_type != "response" or rec.http_headers is None:
                    continue
                payload = rec.content_stream().read()
                if looks_like_html(rec.http_headers.get_header("Content-Type"), payload):
                    found.append((payload, rec.rec_headers.get_header("WARC-Target-URI")))
    return found


if __name__ == "__main__":
    main()
