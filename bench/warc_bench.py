"""WARC import throughput on the corpus sample WARCs vs bare warcio iteration (same files, same run).

    uv run python bench/warc_bench.py [--db sqlite:///path | postgresql+psycopg://...]

Prints records/s for: bare warcio iteration (every payload read, digests checked), a full
import into a fresh archive (extraction and versioning included), a second import of the same
files (everything recognised as already imported), and WARC export of the result; and the
ratios to the bare-iteration baseline. Then the import of the same files into fresh archives
with its pages extracted on the local process pool (``mediawatch import-warc --workers N``) with
1 and 2 workers, as HTML pages/s against bare extraction of the same pages in one process
(goal: >= 0.9 x N).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archive.db import Archive
from archive.warc import export_warc, import_warc

CORPUS = Path(os.environ.get("MEDIAWATCH_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
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


def extraction_only(paths: list[Path]) -> int:
    """What the store's extractor alone costs on the same HTML responses (a second reference)."""
    from archive.extract import ExtractionError, extract
    from archive.warcrecords import looks_like_html

    pages = 0
    for path in paths:
        with path.open("rb") as handle:
            for rec in ArchiveIterator(handle, arc2warc=True):
                if rec.rec_type != "response" or rec.http_headers is None:
                    continue
                payload = rec.content_stream().read()
                if looks_like_html(rec.http_headers.get_header("Content-Type"), payload):
                    try:
                        extract(payload, url=rec.rec_headers.get_header("WARC-Target-URI"))
                    except ExtractionError:
                        pass
                    pages += 1
    return pages


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None, help="empty database URL (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=3, help="bare-iteration passes (best taken)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    paths = [CORPUS / "warc-samples" / name for name in FILES]
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

    pages, t_extract = timed(lambda: extraction_only(paths))

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        with Archive(url) as archive:
            first, t_import = timed(lambda: import_warc(archive, paths))
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

    from crawler.extraction import local_executor

    print(f"\n{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    bare = pages / t_extract
    print(f"bare extraction, one process      : {bare:8.1f} HTML pages/s (baseline)")
    print(
        f"import-warc, in the calling process: {pages / t_import:8.1f} HTML pages/s  "
        f"ratio {t_extract / t_import:.2f}"
    )
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp, local_executor(workers) as executor:
            warm = [executor.submit(extract, sample) for _ in range(4 * workers)]
            warm += [executor.submit(warm_dates) for _ in range(4 * workers)]
            for future in warm:
                future.result()
            with Archive(f"sqlite:///{tmp}/bench.db") as archive:
                summary, took = timed(lambda: import_warc(archive, paths, executor=executor))  # noqa: B023
        assert summary.new_versions == first.new_versions, (summary.new_versions, first.new_versions)
        print(
            f"import-warc, {workers} worker(s)          : {pages / took:8.1f} HTML pages/s  "
            f"ratio {t_extract / took:.2f} (goal >= {0.9 * workers:.1f}; {summary.new_versions} versions)"
        )


if __name__ == "__main__":
    main()
