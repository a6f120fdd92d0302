"""``mediawatch demo``: a fictional outlet on loopback, crawled twice, with an edit and a removal.

"The Frontier Ledger" does not exist; its articles were written for this demo. The demo serves
them (pages, an RSS feed and robots.txt) on 127.0.0.1, crawls them into a fresh database with
the shipped topic query (the cricket report is skipped as off-topic), edits one article,
removes another, crawls again and returns what the archive recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from archive.errors import ConfigError, MediawatchError
from archive.files import regular_file_path

OUTLET = "The Frontier Ledger"

ARTICLES: dict[str, dict[str, Any]] = {
    "border-talks": {
        "title": "Torkham talks stall as Islamabad presses Kabul over TTP sanctuaries",
        "author": "Sana Qureshi",
        "date": "2026-03-01",
        "paragraphs": [
            "Pakistani and Afghan officials met at the Torkham crossing on Sunday for a third round of "
            "talks, but the meeting ended without agreement on how to deal with militants of the "
            "Tehreek-e-Taliban Pakistan (TTP) who Islamabad says shelter across the Durand Line.",
            "A Pakistani delegate said the Taliban government had been handed a list of camps in Kunar "
            "and Paktika. The Afghan side said it would not allow its soil to be used against any "
            "neighbour, repeating a commitment it made in the 2020 Doha Agreement.",
            "Trade through the crossing has been suspended for nine days. Truck drivers waiting near "
            "Landi Kotal said perishable goods worth millions of rupees were rotting in the heat.",
            "Analysts in Peshawar said the talks would resume next week if the ceasefire along the "
            "border held, although two posts in Bajaur came under fire on Saturday night.",
        ],
    },
    "khalilzad-remarks": {
        "title": "Khalilzad's remarks on Pakistan and the Taliban draw sharp replies",
        "author": "Omar Wardak",
        "date": "2026-03-02",
        "paragraphs": [
            "Zalmay Khalilzad, the former US envoy who negotiated the Doha Agreement with the Taliban, "
            "said on Monday that Pakistan should negotiate with the TTP rather than blame Kabul for "
            "every attack in Khyber Pakhtunkhwa.",
            "Pakistan's foreign office called the comments unhelpful and said the Taliban had failed "
            "to act against militants despite repeated requests, including after the Bannu attack.",
            "Afghan officials welcomed the remarks. A spokesman for the Islamic Emirate said the "
            "problem of the TTP was an internal matter for Pakistan and should be solved by dialogue.",
            "Several analysts noted that Khalilzad has made similar statements before and that his "
            "posts carry no official weight in Washington.",
        ],
    },
    "iskp-report": {
        "title": "UN monitors warn of ISKP recruitment in border districts",
        "author": "Farida Ahmadi",
        "date": "2026-03-03",
        "paragraphs": [
            "The UN Analytical Support and Sanctions Monitoring Team said in its latest report that "
            "Islamic State Khorasan Province (ISKP) continues to recruit in districts on both sides "
            "of the Durand Line, despite losses inflicted by Taliban security forces.",
            "The report said al-Qaeda maintained a low profile in Afghanistan but kept close ties "
            "with the Taliban leadership, and that the TTP remained the largest foreign group there.",
            "Member states quoted in the report estimated that several thousand TTP fighters and "
            "their families live in eastern Afghanistan, mostly in Kunar, Nangarhar and Khost.",
        ],
    },
    "cricket": {
        "title": "Spinners lead the way as Peshawar club side wins the regional T20 final",
        "author": "Bilal Khan",
        "date": "2026-03-03",
        "paragraphs": [
            "A fine spell of leg-spin bowling carried the Peshawar club side to victory in the regional "
            "T20 final on Tuesday, with the visitors bowled out for 121 in the nineteenth over.",
            "The captain praised his young wicket-keeper, who took three catches and made a stumping, "
            "and said the team would now prepare for the national club championship.",
            "The cricket board announced that next season's tournament will include two more teams "
            "and that matches will be streamed online for the first time.",
        ],
    },
}

EDIT = (
    "border-talks",
    "Trade through the crossing has been suspended for nine days.",
    "Trade through the crossing has been suspended for eleven days, according to customs officials.",
)
REMOVE = "iskp-report"


def page_html(slug: str, article: dict[str, Any]) -> str:
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in article["paragraphs"])
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(article['title'])} | {OUTLET}</title>"
        f'<meta name="author" content="{escape(article["author"])}">'
        f'<meta property="article:published_time" content="{article["date"]}T08:00:00Z">'
        f"</head><body><header><nav><a href=/>{OUTLET}</a> | <a href=/world>World</a></nav></header>"
        f"<main><article><h1>{escape(article['title'])}</h1>"
        f'<p class="byline">By {escape(article["author"])}</p>{paragraphs}</article></main>'
        "<footer><p>The Frontier Ledger is a fictional outlet written for the mediawatch demo.</p>"
        "</footer></body></html>"
    )


def feed_xml(base: str) -> str:
    items = ""
    for slug, article in ARTICLES.items():
        when = format_datetime(datetime.fromisoformat(article["date"] + "T08:00:00+00:00"))
        items += (
            f"<item><title>{escape(article['title'])}</title><link>{base}/news/{slug}</link>"
            f"<pubDate>{when}</pubDate></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{OUTLET}</title><link>{base}/</link><description>Demo feed</description>"
        f"{items}</channel></rss>"
    )


class DemoSite:
    """The fictional outlet on 127.0.0.1 (port chosen by the system)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, str]] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                status, ctype, body = site.pages.get(self.path, (404, "text/html", "<h1>Not found</h1>"))
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        for slug, article in ARTICLES.items():
            self.pages[f"/news/{slug}"] = (200, "text/html; charset=utf-8", page_html(slug, article))
        self.pages["/feed.xml"] = (200, "application/rss+xml", feed_xml(self.base))
        self.pages["/robots.txt"] = (200, "text/plain", "User-agent: *\nAllow: /\n")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def edit(self, slug: str, old: str, new: str) -> None:
        status, ctype, body = self.pages[f"/news/{slug}"]
        assert old in body
        self.pages[f"/news/{slug}"] = (status, ctype, body.replace(old, new))

    def remove(self, slug: str) -> None:
        self.pages[f"/news/{slug}"] = (404, "text/html", "<h1>Not found</h1>")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class DemoResult:
    db_url: str
    site: str
    first: dict[str, Any]
    second: dict[str, Any]
    edited_url: str
    removed_url: str
    skipped_url: str


def _crawl(
    db_url: str, sources: Path, feed: str, revisit: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    # Each crawl in its own process: a Scrapy reactor cannot be started twice in one process.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mediawatch",
            "crawl",
            "--json",
            "--sources",
            str(sources),
            "--feed",
            feed,
            "--revisit",
            revisit,
            "--allow-private-networks",
            "--db",
            db_url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        timeout=600,
    )
    report = next((json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")), None)
    if proc.returncode != 0 or report is None:
        # The crawl's own one-line error, and its exit code where it is a configuration error
        # (a broken topic.yaml in MEDIAWATCH_CONFIG_DIR is the user's to fix: exit 2).
        lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
        error = ConfigError if proc.returncode == ConfigError.exit_code else MediawatchError
        raise error(f"the demo crawl failed: {lines[-1].removeprefix('Error: ')}")
    return report


def crawl_line(label: str, report: dict[str, Any]) -> str:
    """One crawl's outcome in a line: ``first crawl: 3 new articles, …, 1 skipped off-topic``."""
    c = report["counters"]
    return (
        f"{label}: {c.get('new_articles', 0)} new articles, "
        f"{c.get('new_versions_text', 0)} new text versions, {c.get('unchanged', 0)} unchanged, "
        f"{c.get('removed', 0)} removed, {c.get('skipped_offtopic', 0)} skipped off-topic"
    )


STEPS = 5


def run_demo(db_path: Path, say: Callable[[str], None] = lambda line: None) -> DemoResult:
    """Run the demo into a fresh SQLite database at ``db_path`` (replaced if it exists), telling
    ``say`` each step as it starts and each crawl's outcome as it ends (each crawl takes seconds).

    A symlink is followed; anything there that is not a regular file (``/dev/null``, a pipe) is
    refused rather than deleted.
    """
    db_path = regular_file_path(db_path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db_url = f"sqlite:///{db_path.resolve()}"
    site = DemoSite()
    try:
        with tempfile.TemporaryDirectory(prefix="mediawatch-demo-") as tmp:
            sources = Path(tmp) / "sources.yaml"
            sources.write_text(
                "version: 1\ndefaults: {download_delay_seconds: 0, concurrent_per_domain: 4,"
                " contact_url: 'https://github.com/mediawatch/mediawatch#demo'}\nsources: []\n"
            )
            feed = f"{site.base}/feed.xml"
            say(f"[1/{STEPS}] serving the fictional outlet {OUTLET} at {site.base}")
            say(f"[2/{STEPS}] first crawl: reading its feed and archiving the on-topic articles ...")
            first = _crawl(db_url, sources, feed, "none")
            say(crawl_line("first crawl", first))
            site.edit(*EDIT)
            site.remove(REMOVE)
            say(f"[3/{STEPS}] the outlet edits /news/{EDIT[0]} and removes /news/{REMOVE}")
            say(f"[4/{STEPS}] second crawl: checking every archived article again ...")
            second = _crawl(db_url, sources, feed, "all")
            say(crawl_line("second crawl (after an edit and a removal)", second))
            # A removal needs a second check to confirm it (a lone 404 may be transient); the
            # demo checks again at once instead of waiting the usual 30 minutes.
            say(f"[5/{STEPS}] checking the missing article once more to confirm its removal ...")
            third = _crawl(db_url, sources, feed, "all", env={"MEDIAWATCH_REMOVAL_CONFIRM_SECONDS": "0"})
            say(crawl_line("confirming check", third))
    finally:
        site.close()
    return DemoResult(
        db_url=db_url,
        site=site.base,
        first=first,
        second=second,
        edited_url=f"{site.base}/news/{EDIT[0]}",
        removed_url=f"{site.base}/news/{REMOVE}",
        skipped_url=f"{site.base}/news/cricket",
    )
