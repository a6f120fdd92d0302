"""Crawl benchmark: `uv run python bench/crawl_bench.py [--pages N]` (a few minutes).

Serves N real trafilatura-evaldata pages (../shared/corpus or MEDIAWATCH_CORPUS) and a feed
listing them from a loopback HTTP server, then prints, in one run:

1. new-article pages/s of `mediawatch crawl` (fetch + extraction in the process pool + relevance
   + versioned store into SQLite) with 1 and 2 extraction workers, against bare trafilatura
   extraction of the same pages in one process (the ratio is the figure to watch), and bare
   extraction in two processes at once (what two workers could do on this machine at best);
2. revisit of unchanged articles/s via 304 and via a byte-identical 200 (raw-hash short-circuit),
   against a fetch-only Scrapy spider fetching the same URLs with the same settings (once with
   plain GETs, once with conditional ones the site answers with 304), and the CPU time the crawl
   process spent per revisited article (the crawl reports it as ``cpu_seconds``, the database
   writer thread's share as ``db_cpu_seconds``); the spider's CPU is counted over the same span.

``--revisits-only`` skips the new-article figures (one crawl still fills the archive).

Crawl rates use Scrapy's own elapsed time, less the time the first page waited for the
extraction workers to start (``extraction_start_seconds``): interpreter start-up and pool warm-up
excluded. A crawl that extracts nothing (the revisits) starts no worker at all.

Each bare baseline runs in a fresh process and so, like each extraction worker, builds
dateparser's tables on the first page that needs them (htmldate's fallback for a date written
in words). Bare trafilatura as installed lets dateparser try all its ~200 locales: 2-3 s of CPU
once per process. mediawatch gives it the languages of ``archive.extract.DATE_LANGUAGES``:
0.3-0.7 s. Told every locale, dateparser also tries each of them on every string none can
read, so the difference stays on a long crawl (1.25x over 480 pages). The ratios are printed
against both: the first is the goal's, the second what the crawl adds to extraction with the
same settings.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import corpus_root, crawl_command  # noqa: E402

if TYPE_CHECKING:
    from crawl_site import Site


def bench_sized(raw: bytes) -> bool:
    """Whether a corpus page is of the size the benches take (not a stub, not a giant)."""
    return 5_000 < len(raw) < 400_000


def bench_corpus() -> Path:
    """The corpus, found as the tests find it ($MEDIAWATCH_CORPUS, else ../shared/corpus beside
    the checkout); without one the bench stops with one line."""
    corpus = corpus_root()
    if corpus is None:
        raise SystemExit("no corpus: set MEDIAWATCH_CORPUS or put it at ../shared/corpus")
    return corpus


def corpus_pages(n: int) -> list[bytes]:
    folder = bench_corpus() / "trafilatura-evaldata" / "tests" / "eval"
    out = []
    for path in sorted(folder.glob("*.gz")):
        raw = gzip.decompress(path.read_bytes())
        if bench_sized(raw):
            out.append(raw)
        if len(out) == n:
            break
    return out


def goal_ratio(workers: int) -> float:
    """The goal for ``workers`` extraction workers against bare extraction in one process.

    0.9 x N while the calling process (the crawl's writer, an import's reader and recorder) has a
    core of its own beside the workers'; on a machine with no core to spare 0.8 x N, so on 2
    cores: 1 worker 0.9, 2 workers 1.6 (docs/development.md, Benchmarks).
    """
    spare = (os.cpu_count() or 1) > workers
    return round((0.9 if spare else 0.8) * workers, 2)


def pooled_extraction(executor: Any, pages: list[tuple[bytes, str]]) -> float:
    """Seconds for bare ``archive.extract.extract`` of (page, URL) pairs on the executor's
    workers: the most a pool of that size does on this machine (its processes slow each other
    down), before any of mediawatch's own work is added."""
    from archive.extract import ExtractionError, extract

    start = time.perf_counter()
    futures = [executor.submit(extract, raw, url=url) for raw, url in pages]
    for future in futures:
        try:
            future.result()
        except ExtractionError:
            pass
    return time.perf_counter() - start


def bare_trafilatura(pages: list[bytes]) -> float:
    import trafilatura

    trafilatura.bare_extraction("<html><body><p>warm</p></body></html>")
    start = time.perf_counter()
    for raw in pages:
        trafilatura.bare_extraction(
            raw.decode("utf-8", "replace"), with_metadata=True, include_comments=False
        )
    return len(pages) / (time.perf_counter() - start)


def _bare_rate(n: int, date_languages: bool = False) -> float:
    # A fresh process (this module imports nothing of mediawatch's at its top): trafilatura as
    # installed, or with the date languages mediawatch gives it (importing archive.extract does).
    if date_languages:
        import archive.extract  # noqa: F401
    return bare_trafilatura(corpus_pages(n))


def _spawned(calls: list[tuple[int, bool]]) -> list[float]:
    """``_bare_rate`` of each call, each in its own fresh process, all at the same time."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(len(calls), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_bare_rate, *zip(*calls, strict=True)))


def bare_rate(n: int, *, date_languages: bool = False) -> float:
    """Pages/s of bare extraction of N pages in one fresh process."""
    return _spawned([(n, date_languages)])[0]


def bare_pair(n: int) -> float:
    """Pages/s of bare extraction run in two fresh processes at the same time, each over the
    same N pages: the ceiling of two extraction workers on this machine (the processes slow
    each other down), before any crawl work is added."""
    rates = _spawned([(n, False), (n, False)])
    # Each ran over all N pages: together they did 2N in the time of the slower one.
    return 2 * min(rates)


def sqlite_env(db: Path) -> dict[str, str]:
    """The environment of a crawl into the SQLite archive ``db``."""
    return {**os.environ, "MEDIAWATCH_DATABASE_URL": f"sqlite:///{db}"}


def crawl(db: Path, sources: Path, feed: str, *args: str) -> dict:
    proc = subprocess.run(
        crawl_command(sources, feed, *args), capture_output=True, text=True, env=sqlite_env(db), check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"crawl failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


FETCH_ONLY = r"""
import json, sys, time, scrapy
from scrapy import signals
from scrapy.crawler import CrawlerProcess
requests = json.load(open(sys.argv[1]))
class FetchOnly(scrapy.Spider):
    name = "fetch-only"
    async def start(self):
        for url, etag in requests:
            headers = {"If-None-Match": etag} if etag else {}
            meta = {"handle_httpstatus_list": [304]}
            yield scrapy.Request(url, callback=self.parse, dont_filter=True, headers=headers, meta=meta)
    def parse(self, response):
        return None
from crawler.settings import CrawlSettings, scrapy_settings
crawl = CrawlSettings(download_delay=0, concurrent_per_domain=16, allow_private_networks=True)
settings = scrapy_settings(crawl)
settings.pop("ITEM_PIPELINES")
settings["ROBOTSTXT_OBEY"] = False
p = CrawlerProcess({**settings, "LOG_INSTALL_ROOT_HANDLER": False})
c = p.create_crawler(FetchOnly)
cpu = {}
def opened(spider): cpu["opened"] = time.process_time()
def closed(spider): cpu["closed"] = time.process_time()
c.signals.connect(opened, signals.spider_opened)  # (signals keep weak references: named functions)
c.signals.connect(closed, signals.spider_closed)
p.crawl(c)
p.start()
stats = c.stats.get_stats()
n = stats.get("response_received_count", 0)
print(json.dumps({"elapsed": stats["elapsed_time_seconds"], "n": n, "cpu": cpu["closed"] - cpu["opened"]}))
"""


def fetch_only(urls: list[str], tmp: Path, etags: list[str] | None = None) -> tuple[float, float]:
    """Pages/s and CPU ms per page of a Scrapy spider that only fetches (with the crawl's
    settings), CPU counted while the spider ran as the crawl counts it; with ``etags``, every
    request is conditional (the site answers 304)."""
    path = tmp / "urls.json"
    path.write_text(json.dumps(list(zip(urls, etags or [None] * len(urls), strict=True))))
    proc = subprocess.run([sys.executable, "-c", FETCH_ONLY, str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the fetch-only baseline failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["n"] < len(urls):  # (robots.txt may add one)
        raise SystemExit(f"the fetch-only baseline fetched {result['n']} of {len(urls)} pages")
    return result["n"] / result["elapsed"], 1000 * result["cpu"] / result["n"]


def serve(pages: list[bytes]) -> tuple[Site, list[str]]:
    """A loopback site serving the pages at /p/N and a feed listing them at /feed.xml."""
    from crawl_site import Site  # it imports mediawatch's extraction (see _bare_rate)

    site = Site().start()
    paths = [f"/p/{i}" for i in range(len(pages))]
    for path, raw in zip(paths, pages, strict=True):
        site.set(path, raw)
    items = "".join(f"<item><title>{i}</title><link>{site.url(p)}</link></item>" for i, p in enumerate(paths))
    site.set(
        "/feed.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>',
        content_type="application/rss+xml",
    )
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    return site, paths


SOURCES_YAML = "version: 1\ndefaults: {download_delay_seconds: 0, concurrent_per_domain: 16}\nsources: []\n"


def cpu_ms(report: dict, articles: int) -> float:
    """CPU milliseconds the crawl process (all its threads, not the extraction workers) spent
    per article while the spider ran (start-up and pool warm-up excluded)."""
    return 1000 * (report.get("cpu_seconds") or 0.0) / max(articles, 1)


def db_cpu_ms(report: dict, articles: int) -> float:
    """Of ``cpu_ms``, what the crawl's database writer thread (crawler/writer.py) spent."""
    return 1000 * (report.get("db_cpu_seconds") or 0.0) / max(articles, 1)


def _feed_parsed(report: dict) -> str:
    """Whether the revisit crawl parsed the feed again (an unchanged one is not: ``feeds_unchanged``)."""
    return "no" if report["counters"].get("feeds_unchanged") else "yes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument(
        "--revisits-only", action="store_true", help="only the revisit figures (and the crawl they need)"
    )
    args = parser.parse_args()
    pages = corpus_pages(args.pages)
    site, paths = serve(pages)
    print(
        f"{len(pages)} evaldata pages, {sum(map(len, pages)) / len(pages) / 1024:.0f} KiB average, "
        f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sources = tmp / "sources.yaml"
        sources.write_text(SOURCES_YAML)
        feed = site.url("/feed.xml")
        if not args.revisits_only:
            bare = bare_rate(len(pages))
            print(f"bare trafilatura.bare_extraction, one process:   {bare:7.1f} pages/s")
            languages = bare_rate(len(pages), date_languages=True)
            print(
                f"the same, dates in mediawatch's languages only:  {languages:7.1f} pages/s  "
                f"(ratio {languages / bare:.2f}: dateparser builds the tables of 20 locales, not ~200)"
            )
            pair = bare_pair(len(pages))
            print(
                f"the same in two processes at once:               {pair:7.1f} pages/s  "
                f"(ratio {pair / bare:.2f}: what two workers could do here with nothing else running)"
            )
        for workers in (1, 2) if not args.revisits_only else (2,):
            db = tmp / f"new{workers}.db"
            report = crawl(db, sources, feed, "--workers", str(workers), "--revisit", "none")
            n = report["counters"].get("new_articles", 0)
            # The workers start when the first page needs them: their start-up is not crawling.
            started = report.get("extraction_start_seconds") or 0.0
            rate = n / (report["elapsed_seconds"] - started)
            goal = goal_ratio(workers)
            if not args.revisits_only:
                print(
                    f"crawl new articles, {workers} extraction worker(s): {rate:7.1f} pages/s  "
                    f"(ratio vs bare: {rate / bare:.2f}, goal >= {goal}; vs bare with the same date "
                    f"languages: {rate / languages:.2f}; {n} articles; "
                    f"crawl process CPU {cpu_ms(report, n):.1f} ms/article; "
                    f"{report['elapsed_seconds']:.1f} s in all, {started:.1f} s of it the workers' start)"
                )
        db = tmp / "new2.db"
        known = report["counters"].get("new_articles", 0)
        urls = [site.url(p) for p in paths]
        fetch, fetch_cpu = fetch_only(urls, tmp)
        print(
            f"fetch-only Scrapy spider (same settings):       {fetch:7.1f} pages/s  "
            f"(CPU {fetch_cpu:.2f} ms/page while the spider ran)"
        )
        fetch_304, fetch_304_cpu = fetch_only(urls, tmp, [site.etag(p) for p in paths])
        print(
            f"fetch-only Scrapy spider, every answer a 304:   {fetch_304:7.1f} pages/s  "
            f"(CPU {fetch_304_cpu:.2f} ms/page while the spider ran)"
        )
        site.conditional = True
        report = crawl(db, sources, feed, "--revisit", "all", "--no-discovery")
        revisited = report["counters"].get("not_modified", 0)
        rate = revisited / report["elapsed_seconds"]
        extractions = report["counters"].get("extracted", 0)
        print(
            f"revisit unchanged via 304:                      {rate:7.1f} articles/s  "
            f"(ratio vs fetch-only 304s: {rate / fetch_304:.2f}; {extractions} extractions; "
            f"feed parsed: {_feed_parsed(report)})"
        )
        print(
            f"   CPU of the crawl process per article: {cpu_ms(report, revisited):5.2f} ms (goal <= 2.5; "
            f"database writer thread {db_cpu_ms(report, revisited):.2f} ms)"
        )
        site.conditional = False
        report = crawl(db, sources, feed, "--revisit", "all", "--no-discovery")
        same = report["counters"].get("extraction_skipped", 0)
        revisited = report["counters"].get("unchanged", 0)
        rate = revisited / report["elapsed_seconds"]
        print(
            f"revisit unchanged via byte-identical 200:       {rate:7.1f} articles/s  "
            f"(ratio vs fetch-only: {rate / fetch:.2f}; {same} of {known} skipped extraction; "
            f"feed parsed: {_feed_parsed(report)})"
        )
        print(
            f"   CPU of the crawl process per article: {cpu_ms(report, revisited):5.2f} ms (goal <= 4; "
            f"database writer thread {db_cpu_ms(report, revisited):.2f} ms)"
        )
    site.stop()


if __name__ == "__main__":
    main()
