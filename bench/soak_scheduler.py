"""Soak test of the real scheduler: every edit of a live article archived exactly once.

Runs ``mediawatch schedule`` (a temporary config of a crawl job every --interval seconds,
default 30) for N minutes
against a loopback site (tests/crawl_site.py, real corpus pages) whose first article is edited
every two intervals, then prints the edits made vs the new versions recorded (must be equal) and the
crawl_run statuses. Needs MEDIAWATCH_CORPUS (the shared corpus).

Usage: uv run python bench/soak_scheduler.py [--minutes 10] [--db DB_URL]  (default: temp SQLite)
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from crawl_site import Site, healthy_pages, quiet_crawl_args, rewrite_feed, sources_file, with_edit  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from archive.db import Archive  # noqa: E402
from archive.models import Article, CrawlRun, Version  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=int, default=30, help="seconds between scheduled crawls")
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    # A crawl starts a fresh process (and an extraction pool whose first page pays trafilatura's
    # warm-up), so the deadline is the interval less a second; edits come every two intervals and
    # stop early enough for the last one to be crawled before the scheduler is stopped.
    edit_every = 2 * args.interval
    quiet_tail = 2 * args.interval + 15
    corpus = Path(os.environ.get("MEDIAWATCH_CORPUS", "/work/shared/corpus"))
    tmp = Path(tempfile.mkdtemp(prefix="mediawatch-soak-"))
    db_url = args.db or f"sqlite:///{tmp / 'soak.db'}"
    archive = Archive(db_url)
    pages = healthy_pages(corpus, 3)
    site = Site().start()
    for page in pages:
        site.set(page.path, page.raw)
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    feed = rewrite_feed(corpus, site, [p.path for p in pages])
    site.set("/feed.xml", feed, content_type="application/rss+xml")
    sources = sources_file(tmp)
    crawl = [*quiet_crawl_args(sources, site.url("/feed.xml")), "--no-discovery"]
    config = tmp / "schedule.yaml"
    config.write_text(
        "misfire_grace_time: 1h\nstop_grace: 30s\njobs:\n"
        f"  - {{name: revisit-all, args: {crawl + ['--revisit', 'all']}, "
        f"interval: {args.interval}s, deadline: {args.interval - 1}s}}\n"
    )
    env = {**os.environ, "MEDIAWATCH_DATABASE_URL": db_url}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mediawatch", "schedule", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "scheduler.log", "w"),
    )
    edited_page = pages[0]
    end = time.monotonic() + args.minutes * 60
    edits = 0
    try:
        next_edit = time.monotonic() + edit_every
        while time.monotonic() < end:
            time.sleep(1)
            if time.monotonic() >= next_edit and end - time.monotonic() > quiet_tail:
                edits += 1
                marker = f" (Update {edits}: the editors revised this article once more.)"
                site.set(edited_page.path, with_edit(edited_page, marker))
                next_edit += edit_every
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
        site.stop()
    with archive.reading() as session:
        article_id = session.scalar(
            select(Article.id).where(Article.canonical_url == site.url(edited_page.path))
        )
        count = select(func.count()).select_from(Version).where(Version.article_id == article_id)
        versions = session.scalar(count)
        statuses = collections.Counter(session.scalars(select(CrawlRun.status)))
    recorded = max((versions or 0) - 1, 0)  # the first version is the article as first seen
    print(f"minutes: {args.minutes:g}, scheduler exit: {daemon.returncode}")
    verdict = "OK" if edits == recorded and versions else "MISMATCH"
    print(f"edits made: {edits}, new versions recorded: {recorded}  ->  {verdict}")
    print("crawl runs: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    sys.exit(0 if verdict == "OK" else 1)


if __name__ == "__main__":
    main()
