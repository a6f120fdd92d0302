"""A loopback Wayback Machine for tests: CDX API, ``id_`` replay and robots.txt on 127.0.0.1.

Built from the real CDX lines of the NYT histories in the shared corpus (timestamps, original
URLs, MIME types, statuses); each capture's page is made from that capture's title, authors and
text, and the CDX digest is the SHA-1 of the page served, as the Wayback Machine's is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from corpus_data import NYT_DIR, NytCapture, article_page, nyt_captures


def surt_key(url: str) -> str:
    """The CDX urlkey of a URL: reversed host without www, then the lower-cased path and query."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    path = (parts.path or "/").lower()
    while "//" in path:
        path = path.replace("//", "/")
    return (
        ",".join(reversed(host.split("."))) + ")" + path + (f"?{parts.query.lower()}" if parts.query else "")
    )


def nyt_page(capture: NytCapture) -> bytes:
    byline = "; ".join(a.strip() for a in capture.authors if a.strip())
    return article_page(capture.title, byline, capture.text, paragraph_break=r"\n\n", canonical=capture.url)


@dataclass
class Memento:
    urlkey: str
    timestamp: str
    original: str
    mimetype: str
    status: str
    body: bytes

    @property
    def digest(self) -> str:
        return base64.b32encode(hashlib.sha1(self.body).digest()).decode()


def nyt_mementos(corpus: Path, slug: str) -> list[Memento]:
    lines = (corpus / NYT_DIR / "cdx_files" / f"{slug}_cdx.txt").read_text().splitlines()
    captures = nyt_captures(corpus, slug)
    assert len(lines) == len(captures)
    mementos = []
    for line, capture in zip(lines, captures, strict=True):
        urlkey, timestamp, original, mimetype, status = line.split()[:5]
        assert timestamp == capture.fetched_at.replace("-", "").replace(":", "").replace("T", "").rstrip("Z")
        mementos.append(Memento(urlkey, timestamp, original, mimetype, status, nyt_page(capture)))
    return mementos


@dataclass
class WaybackSite:
    mementos: list[Memento]
    robots: str = "User-agent: *\nAllow: /\n"
    robots_status: int = 200
    honour_collapse: bool = True
    failing: set[str] = field(default_factory=set)  # timestamps whose replay answers 500
    requests: list[str] = field(default_factory=list)
    base: str = ""

    @property
    def cdx_endpoint(self) -> str:
        return f"{self.base}/cdx/search/cdx"

    def replays(self) -> list[str]:
        return [r for r in self.requests if r.startswith("/web/")]

    def cdx(self, query: dict[str, list[str]]) -> bytes:
        key = surt_key(query["url"][0])
        rows = [m for m in self.mementos if m.urlkey == key]
        for spec in query.get("filter", []):
            name, _, value = spec.partition(":")
            if name == "statuscode":
                rows = [m for m in rows if m.status == value]
        if "from" in query:
            start = query["from"][0]
            rows = [m for m in rows if m.timestamp >= start[: len(m.timestamp)]]
        if self.honour_collapse and query.get("collapse") == ["digest"]:
            collapsed: list[Memento] = []
            for m in rows:
                if not collapsed or collapsed[-1].digest != m.digest:
                    collapsed.append(m)
            rows = collapsed
        rows = rows[: int(query.get("limit", ["100000"])[0])]
        fields = query.get("fl", ["urlkey,timestamp,original,mimetype,statuscode,digest,length"])[0].split(
            ","
        )
        names = {"statuscode": "status"}
        table = [[str(getattr(m, names.get(f, f), len(m.body))) for f in fields] for m in rows]
        if query.get("output") == ["json"]:
            return json.dumps([fields, *table] if table else []).encode()
        return "".join(" ".join(row) + "\n" for row in table).encode()

    def replay(self, path: str) -> Memento | None:
        rest = path[len("/web/") :]
        timestamp, _, original = rest.partition("id_/")
        key = surt_key(unquote(original))
        for m in self.mementos:
            if m.timestamp == timestamp and m.urlkey == key:
                return m
        return None


@contextmanager
def serve(site: WaybackSite) -> Iterator[WaybackSite]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            site.requests.append(self.path)
            parts = urlsplit(self.path)
            if parts.path == "/robots.txt":
                self._send(site.robots_status, site.robots.encode(), {"Content-Type": "text/plain"})
            elif parts.path == "/cdx/search/cdx":
                self._send(200, site.cdx(parse_qs(parts.query)), {"Content-Type": "text/plain"})
            elif parts.path.startswith("/web/"):
                memento = site.replay(self.path)
                if memento is None:
                    self._send(404, b"not in the archive", {"Content-Type": "text/plain"})
                elif memento.timestamp in site.failing:
                    self._send(500, b"replay failed", {"Content-Type": "text/plain"})
                else:
                    self._send(
                        200,
                        memento.body,
                        {
                            "Content-Type": "text/html; charset=utf-8",
                            "X-Archive-Orig-Content-Type": "text/html; charset=utf-8",
                            "X-Archive-Orig-Server": "Apache",
                            "Memento-Datetime": memento.timestamp,
                        },
                    )
            else:
                self._send(404, b"", {})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
