"""A loopback HTTP server for crawl tests: serves a content map a test can change between crawls.

Binds 127.0.0.1 on port 0 only. Every path maps to a ``Page`` (status, body, content type,
extra headers); ETag/Last-Modified validators are answered with 304 when ``conditional`` is on.
Requests are logged per path so a test can assert what was (not) fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from corpus_data import eval_pages, nyt_captures

from archive.extract import extract
from archive.health import assess
from crawler.relevance import split_text


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and has a one-call reply."""

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve_loopback(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Serve ``handler`` on 127.0.0.1, a free port, from a daemon thread (stop: ``stop_loopback``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_loopback(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


@dataclass
class Page:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


class Site:
    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.hits: Counter[str] = Counter()
        self.conditional_hits: Counter[str] = Counter()
        self.conditional = True
        self.last_modified = "Mon, 02 Mar 2026 08:00:00 GMT"
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                site._serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> Site:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set(self, path: str, body: bytes | str, **kwargs: Any) -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        with self.lock:
            self.pages[path] = Page(body, **kwargs)

    def etag(self, path: str) -> str:
        """The ETag the page at ``path`` is served with (when ``conditional`` is on)."""
        with self.lock:
            return _etag(self.pages[path].body)

    def remove(self, path: str, status: int = 404) -> None:
        self.set(path, b"<html><body><h1>Not found</h1></body></html>", status=status)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        with self.lock:
            self.hits[path] += 1
            page = self.pages.get(path)
        if page is None:
            page = Page(b"not found", status=404, content_type="text/plain")
        if page.delay:
            import time

            time.sleep(page.delay)
        etag = _etag(page.body)
        headers = {"Content-Type": page.content_type, **page.headers}
        if self.conditional and page.status == 200:
            headers.setdefault("ETag", etag)
            headers.setdefault("Last-Modified", self.last_modified)
            inm = handler.headers.get("If-None-Match")
            if inm is not None:
                self.conditional_hits[path] += 1
            if inm is not None and inm == headers["ETag"]:
                handler.send_response(304)
                for k in ("ETag", "Last-Modified"):
                    handler.send_header(k, headers[k])
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
        handler.send_response(page.status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(page.body)))
        handler.end_headers()
        handler.wfile.write(page.body)


class RenderingSite(Site):
    """The crawl site, with paths whose body is rendered afresh on every request."""

    def __init__(self) -> None:
        super().__init__()
        self.renderers: dict[str, Callable[[int], bytes]] = {}

    def _serve(self, handler: Any) -> None:
        render = self.renderers.get(handler.path)
        if render is not None:
            with self.lock:
                number = self.hits[handler.path] + 1
            body = render(number)
            with self.lock:
                self.pages[handler.path] = Page(body)
        super()._serve(handler)


# ---------------------------------------------------------------------------------------------
# Helpers for crawl tests: real corpus pages behind the real diffengine feed, and a crawl runner

FEED1 = "news-feeds-and-sitemaps/diffengine/test-data/feed1.xml"
NEWS_SITEMAP = (
    "news-feeds-and-sitemaps/sitemapRetriever/washingtonpost-politics-news-sitemap-2017-11-23.extracted.xml"
)
SITEMAP_INDEX = "news-feeds-and-sitemaps/trafilatura/tests/resources/sitemap2.xml"
_WORD = re.compile(r"[A-Za-z]{9,}")


@dataclass
class CorpusPage:
    path: str
    raw: bytes
    text: str


def healthy_pages(corpus: Path, count: int, *, skip: int = 0) -> list[CorpusPage]:
    """Evaldata pages whose extraction is a healthy article (deterministic order)."""
    out: list[CorpusPage] = []
    seen = 0
    for page in eval_pages(corpus):
        raw = page.raw()
        if len(raw) > 400_000:
            continue
        try:
            ex = extract(raw)
        except Exception:  # noqa: BLE001 - an unusable corpus page is simply not chosen
            continue
        if len(ex.text) < 1500 or assess(ex, None) is not None or ex.lossy_decoding:
            continue
        seen += 1
        if seen <= skip:
            continue
        out.append(CorpusPage(f"/news/{len(out)}", raw, ex.text))
        if len(out) == count:
            break
    return out


def with_edit(page: CorpusPage, addition: str) -> bytes:
    """The page with ``addition`` inserted into its article text (after a word that occurs once in
    both the HTML and the extracted text, so the edit lands in the article, never in navigation)."""
    html = page.raw.decode("utf-8", "replace")
    for word in re.findall(r"\b[a-z]{7,}\b", page.text[200:]):
        if html.count(word) == 1 and page.text.count(word) == 1:
            return html.replace(word, word + addition, 1).encode("utf-8")
    raise AssertionError(f"no editable word in {page.path}")


def topic_for(relevant: list[CorpusPage], off_topic: list[CorpusPage]) -> str:
    """A topic file with a named group matching each relevant page and none of the off-topic ones."""
    banned = {w.lower() for p in off_topic for w in _WORD.findall(p.text)}
    groups = []
    for i, page in enumerate(relevant):
        prose = " ".join(split_text(page.text, 10**9).lead)  # the scorer reads prose lines only
        words = [w for w in _WORD.findall(prose) if w.lower() not in banned]
        assert words, f"no distinctive word in {page.path}"
        groups.append(f"  - name: page{i}\n    role: context\n    bonus: 2\n    terms: [{words[0]}]\n")
    return "version: 2\nname: test topic\nthreshold: 2\ngroups:\n" + "".join(groups)


def rewrite_feed(corpus: Path, site: Site, paths: list[str]) -> bytes:
    """The real WaPo feed with its item links pointing at ``paths`` on the fixture (extras dropped)."""
    xml = (corpus / FEED1).read_text("utf-8")
    items = re.findall(r"<item>.*?</item>", xml, flags=re.S)
    assert len(items) >= len(paths)
    kept = []
    for item, path in zip(items, paths, strict=False):
        kept.append(re.sub(r"<link>.*?</link>", f"<link>{site.url(path)}</link>", item, count=1, flags=re.S))
    head = xml[: xml.index(items[0])]
    tail = xml[xml.index(items[-1]) + len(items[-1]) :]
    return (head + "".join(kept) + tail).encode("utf-8")


def sources_file(tmp: Path, body: str = "sources: []\n", window_days: int = 30, defaults: str = "") -> Path:
    """A sources file for loopback crawls; ``defaults`` adds entries to its ``defaults:`` mapping."""
    path = tmp / "sources.yaml"
    path.write_text(
        "version: 1\n"
        "defaults: {download_delay_seconds: 0, concurrent_per_domain: 8,"
        f" sitemap_window_days: {window_days}, contact_url: 'https://example.org/mediawatch-tests'"
        + (f", {defaults}" if defaults else "")
        + "}\n"
        + body
    )
    return path


def quiet_crawl_args(sources: Path, feed_url: str) -> list[str]:
    """``mediawatch crawl --quiet`` arguments for one feed of the loopback site, as cron runs it."""
    base = ["crawl", "--quiet", "--allow-private-networks", "--workers", "1", "--sources", str(sources)]
    return [*base, "--topic", "none", "--feed", feed_url]


def run_crawl_cli(db_url: str, *args: str, timeout: float = 300) -> tuple[int, dict[str, Any], str]:
    """Run ``mediawatch crawl --json`` in its own process (one reactor per process)."""
    # A removal is confirmed by a second check; crawls in tests are seconds apart.
    env = {**os.environ, "MEDIAWATCH_DATABASE_URL": db_url, "MEDIAWATCH_REMOVAL_CONFIRM_SECONDS": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "mediawatch", "crawl", "--json", "--allow-private-networks", "--workers", "1"]
        + list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    report: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
    return proc.returncode, report, proc.stderr


# ---------------------------------------------------------------------------------------------
# Real revision histories served as article pages


def nyt_states(corpus: Path, slug: str, *, min_text: int = 500) -> list[tuple[str, str, str]]:
    """The successive distinct (title, byline, text) states of one NYT revision history (the
    Wayback captures of the shared corpus), whitespace folded; captures with less than
    ``min_text`` characters of text (error pages, stubs) are left out."""
    states: list[tuple[str, str, str]] = []
    previous = None
    for capture in nyt_captures(corpus, slug):
        byline = "; ".join(a.strip() for a in capture.authors if a.strip())
        folded = (" ".join(capture.title.split()), " ".join(byline.split()), " ".join(capture.text.split()))
        if len(capture.text) > min_text and folded != previous:
            states.append((folded[0], folded[1], capture.text))
            previous = folded
    return states
