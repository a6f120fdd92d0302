"""What a person sees while a crawl or the demo runs (issue 13 point 10).

At a terminal a crawl shows a bar whose counts move to the end, with log lines printed above it,
never into it. Rich takes stderr for a terminal when TTY_COMPATIBLE=1, so the crawl runs in its
own process with that set and stderr captured. The demo says each step as it goes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from crawl_site import Site, healthy_pages, quiet_crawl_args, rewrite_feed
from demo_steps import DEMO_STEPS, demo_steps_in_order

PAGES = 5
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The bar's text (mediawatch/progress.py crawl_counts).
COUNTS = re.compile(r"(\d+)/(\d+) requests, (\d+)/(\d+) pages, (\d+) new")


def terminal_lines(stream: str) -> list[str]:
    """The lines a terminal leaves on screen, roughly: a carriage return starts the line again."""
    return [ANSI.sub("", line.rsplit("\r", 1)[-1]) for line in stream.split("\n")]


def crawl_at_a_terminal(
    site: Site, corpus: Path, tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    pages = healthy_pages(corpus, PAGES)
    for page in pages:
        site.set(page.path, page.raw)
    site.set(
        "/feed.xml", rewrite_feed(corpus, site, [p.path for p in pages]), content_type="application/rss+xml"
    )
    # The shipped contact URL: the crawl warns about it once, while the bar is showing.
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "version: 1\ndefaults: {download_delay_seconds: 0, concurrent_per_domain: 2,"
        " contact_url: 'https://github.com/mediawatch/mediawatch'}\nsources: []\n"
    )
    args = [a for a in quiet_crawl_args(sources, site.url("/feed.xml")) if a != "--quiet"]
    env = {
        **os.environ,
        "MEDIAWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "TTY_COMPATIBLE": "1",
        "TTY_INTERACTIVE": "1",
        "TERM": "xterm-256color",
        "COLUMNS": "160",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mediawatch", *args, *extra], capture_output=True, env=env, timeout=300
    )
    # Decoded here, not with text=True: universal newlines would turn the bar's carriage returns
    # into line breaks.
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    )


@pytest.mark.slow  # a real crawl
def test_crawl_progress_counts_reach_the_pages_and_warnings_print_above_the_bar(
    site: Site, corpus: Path, tmp_path: Path
) -> None:
    proc = crawl_at_a_terminal(site, corpus, tmp_path)
    assert proc.returncode == 0, proc.stderr
    # Every frame the bar drew, in order (each starts with a carriage return).
    frames = [COUNTS.search(ANSI.sub("", frame)) for frame in re.split(r"[\r\n]", proc.stderr)]
    counts = [tuple(int(n) for n in m.groups()) for m in frames if m]
    assert counts, proc.stderr[-2000:]
    # The counts move: the last frame has every request done and every page of the feed checked.
    requests_done, requests_queued, pages_done, pages_planned, new = counts[-1]
    assert (pages_done, pages_planned, new) == (PAGES, PAGES, PAGES), counts
    assert requests_done == requests_queued == PAGES + 1  # the feed and its pages
    assert counts[0] != counts[-1]
    assert "0/? " not in proc.stderr
    lines = terminal_lines(proc.stderr)
    # The warning is a line of its own, above the bar: never on a line the bar has drawn on.
    warnings = [line for line in lines if "WARNING" in line]
    assert any("contact URL is still the default" in line for line in warnings), proc.stderr[-2000:]
    assert all(line.startswith("WARNING ") and not COUNTS.search(line) for line in warnings), warnings
    assert all("crawling" not in line for line in warnings), warnings
    # The summary follows on stdout as before.
    assert f"{PAGES} new articles" in proc.stdout


@pytest.mark.slow  # a real crawl
def test_quiet_crawl_at_a_terminal_shows_no_bar(site: Site, corpus: Path, tmp_path: Path) -> None:
    """--quiet stays quiet for cron even where stderr is a terminal: no bar, no summary."""
    proc = crawl_at_a_terminal(site, corpus, tmp_path, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert not COUNTS.search(proc.stderr) and "crawling" not in proc.stderr
    # The one warning is still printed, as a plain line.
    assert [line for line in proc.stderr.splitlines() if line] == [
        line for line in proc.stderr.splitlines() if line.startswith("WARNING crawler.run: ")
    ]


def test_demo_says_each_step_before_its_crawl_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mediawatch demo` is no longer silent for half a minute: each step is printed as it starts
    and each crawl's outcome as it ends (the crawls are stubbed here; test_crawl.py runs them)."""
    import mediawatch.demo as demo

    said: list[str] = []
    seen_by_crawl: list[list[str]] = []

    def crawl(db_url: str, sources: Path, feed: str, revisit: str, env: dict[str, str] | None = None) -> Any:
        seen_by_crawl.append(list(said))
        return {"counters": {"new_articles": 3, "skipped_offtopic": 1}}

    monkeypatch.setattr(demo, "_crawl", crawl)
    demo.run_demo(tmp_path / "demo.db", say=said.append)
    assert demo_steps_in_order("\n".join(said)) == DEMO_STEPS
    # What had been said when each crawl started: its step, and the previous crawl's outcome.
    assert [demo_steps_in_order("\n".join(lines))[-1] for lines in seen_by_crawl] == [
        "[2/5] first crawl",
        "[4/5] second crawl",
        "[5/5] checking",
    ]
    assert "first crawl: 3 new articles" in seen_by_crawl[1][-3]
