"""A loopback HTTP server for crawl tests: serves a content map a test can change between crawls.

Binds 127.0.0.1 on port 0 only. Every path maps to a ``Page`` (status, body, content type,
extra headers); ETag/Last-Modified validators are answered with 304 when ``conditional`` is on.
Requests are logged per path so a test can assert what was (not) fetched.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Page:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


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
        etag = '"' + hashlib.sha256(page.body).hexdigest()[:16] + '"'
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
