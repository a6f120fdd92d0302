"""WARC capture cost per page (crawler/warccapture.py) vs bare warcio response records (same run).

    uv run python bench/warc_capture_bench.py [--pages N]

Writes N trafilatura-evaldata pages from the corpus (default 200) three ways and prints ms/page,
MB/s and the ratios to the baseline:

* baseline: warcio ``WARCWriter`` writing one gzip ``response`` record per page (what
  docs/development.md, Benchmarks);
* capture, first crawl: `WarcFiles.write` (request + response + metadata records, revisit index);
* capture, unchanged re-crawl: the same pages again, now ``revisit`` records found by payload digest.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.warccapture import Download, WarcFiles

CORPUS = Path(os.environ.get("MEDIAWATCH_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))


def corpus_pages(n: int) -> list[bytes]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from corpus_data import eval_pages

    out = []
    for page in eval_pages(CORPUS):
        out.append(page.raw())
        if len(out) == n:
            break
    return out


def download(i: int, raw: bytes) -> Download:
    return Download(
        url=f"https://news.example.org/article/{i}",
        at=datetime.now(UTC),
        method="GET",
        request_headers=[("User-Agent", "mediawatch/bench"), ("Accept-Encoding", "gzip, deflate")],
        request_body=b"",
        status=200,
        protocol="HTTP/1.1",
        response_headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(raw))),
            ("ETag", f'"{i}"'),
        ],
        body=raw,
        ip_address="203.0.113.7",
        truncated=False,
        meta={"mediawatch-source": "bench", "mediawatch-request-kind": "page"},
    )


def baseline(pages: list[bytes], directory: Path) -> float:
    start = time.perf_counter()
    with (directory / "baseline.warc.gz").open("wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        for i, raw in enumerate(pages):
            fields = [("Content-Type", "text/html"), ("Content-Length", str(len(raw)))]
            headers = StatusAndHeaders("200 OK", fields, protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(
                    f"https://news.example.org/article/{i}",
                    "response",
                    payload=io.BytesIO(raw),
                    length=len(raw),
                    http_headers=headers,
                )
            )
    return time.perf_counter() - start


def captured(pages: list[bytes], directory: Path, run_id: int) -> tuple[float, int, int]:
    files = WarcFiles(directory, run_id)
    start = time.perf_counter()
    for i, raw in enumerate(pages):
        files.write(download(i, raw))
    files.close()
    return time.perf_counter() - start, files.counts.responses, files.counts.revisits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    pages = corpus_pages(args.pages)
    mb = sum(map(len, pages)) / 1e6
    print(f"{len(pages)} corpus pages, {mb:.1f} MB, mean {mb * 1000 / len(pages):.0f} KB")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        base = baseline(pages, directory)
        first, responses, _ = captured(pages, directory, 1)
        again, _, revisits = captured(pages, directory, 2)
    rows = [
        ("baseline: warcio response records", base, len(pages), 0),
        ("capture, first crawl (req+resp+meta)", first, responses, 0),
        ("capture, unchanged re-crawl (revisits)", again, 0, revisits),
    ]
    for label, seconds, resp, rev in rows:
        print(
            f"{label:<42} {seconds * 1000 / len(pages):7.2f} ms/page  {mb / seconds:7.1f} MB/s"
            f"  ratio {seconds / base:5.2f}x  (responses {resp}, revisits {rev})"
        )


if __name__ == "__main__":
    main()
