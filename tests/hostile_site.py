"""Loopback-only hostile web servers for the fetch-safety tests (docs/fetching-safely.md).

`HostileSite` serves on 127.0.0.1, port 0, and logs every request path server-side, so tests can count
requests that reached it (e.g. 0 requests to robots-disallowed paths). Each site has one robots.txt
behaviour (robots.txt is per origin, so each robots case gets its own site/port):

  ``text:<body>`` 200 with that body · ``404`` · ``429`` · ``503`` · ``timeout`` (never answers in time) ·
  ``reset`` (closes the connection without answering) · ``big`` (600 KiB: ``Disallow: /early`` first,
  ``Disallow: /late`` after 550 KiB) · ``redirect:N`` (N hops, then ``Disallow: /private``) ·
  ``to:<url>`` (302 to that URL)

Endpoints: ``/page/...`` (small HTML page), ``/slowdrip`` (tarpit: headers, then 1 byte every 0.5 s),
``/bomb.{gz,deflate,br,zst}`` (64 MiB of zeros, compressed, as Content-Encoding), ``/dataloss``
(Content-Length 10000, 100 bytes, close), ``/huge/N`` (N MiB, declared), ``/infinite`` (endless
chunked), ``/to?url=U`` (302 to U), ``/chain/N`` (N redirects, then a page).

`Canary` is a bare TCP listener on 127.0.0.1 that only counts accepted connections.
"""

from __future__ import annotations

import functools
import gzip
import socket
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import brotli
import zstandard

BOMB_SIZE = 64 * 1024 * 1024
ROBOTS_BIG_SIZE = 600 * 1024
TARPIT_SECONDS = 60


@functools.cache
def bomb(encoding: str) -> bytes:
    zeros = bytes(BOMB_SIZE)
    if encoding == "gzip":
        return gzip.compress(zeros, compresslevel=9)
    if encoding == "deflate":
        return zlib.compress(zeros, 9)
    if encoding == "br":
        return brotli.compress(zeros, quality=5)
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(zeros)
    raise ValueError(encoding)


def big_robots() -> bytes:
    head = b"User-agent: *\nDisallow: /early\n"
    filler_line = b"# " + b"x" * 97 + b"\n"
    body = head
    while len(body) < 550 * 1024:
        body += filler_line
    body += b"Disallow: /late\n"
    while len(body) < ROBOTS_BIG_SIZE:
        body += filler_line
    return body


BOMB_PATHS = {"/bomb.gz": "gzip", "/bomb.deflate": "deflate", "/bomb.br": "br", "/bomb.zst": "zstd"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        merged = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body))}
        merged.update(headers or {})
        for name, value in merged.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        site = self.server.site
        parts = urlsplit(self.path)
        path = parts.path
        site.record(path)
        if path == "/robots.txt" or path.startswith("/robots/hop/"):
            return self._robots(path)
        if path.startswith("/page/") or path in {"/", "/early", "/late"} or path.startswith("/private"):
            return self._send(200, f"<html><body><p>page {path}</p></body></html>".encode())
        if path == "/slowdrip":
            return self._slowdrip()
        if path in BOMB_PATHS:
            body = bomb(BOMB_PATHS[path])
            return self._send(200, body, {"Content-Encoding": BOMB_PATHS[path]})
        if path.startswith("/huge/"):
            return self._stream(int(path.rsplit("/", 1)[1]) * 1024 * 1024, declared=True)
        if path == "/infinite":
            return self._stream(None, declared=False)
        if path == "/dataloss":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "10000")
            self.end_headers()
            self.wfile.write(b"<html><body>" + b"a" * 88)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if path == "/to":
            target = parse_qs(parts.query).get("url", [""])[0]
            return self._send(302, b"", {"Location": target})
        if path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            if left <= 0:
                return self._send(200, b"<html><body>end of chain</body></html>")
            return self._send(302, b"", {"Location": f"/chain/{left - 1}"})
        return self._send(404, b"not found")

    def _stream(self, size: int | None, declared: bool) -> None:
        """`size` bytes with a Content-Length, or an endless chunked body; stops when the client leaves."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        if declared:
            self.send_header("Content-Length", str(size))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"a" * 262144
        sent = 0
        try:
            while (size is None or sent < size) and not self.server.site.stopping.is_set():
                if declared:
                    self.wfile.write(chunk)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            self.server.site.record(f"{self.path}#client-gone")
        self.close_connection = True

    def _slowdrip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        deadline = time.monotonic() + TARPIT_SECONDS
        try:
            while time.monotonic() < deadline and not self.server.site.stopping.is_set():
                self.wfile.write(b"a")
                self.wfile.flush()
                self.server.site.record("/slowdrip#byte")
                time.sleep(0.5)
        except OSError:
            self.server.site.record("/slowdrip#client-gone")
        self.close_connection = True

    def _robots(self, path: str) -> None:
        mode = self.server.site.robots
        if mode.startswith("text:"):
            return self._send(200, mode[5:].encode(), {"Content-Type": "text/plain"})
        if mode in {"404", "429", "503"}:
            return self._send(int(mode), b"<html>error</html>")
        if mode == "timeout":
            self.server.site.stopping.wait(TARPIT_SECONDS)
            self.close_connection = True
            return None
        if mode == "reset":
            self.close_connection = True
            linger_zero = struct.pack("ii", 1, 0)  # close with RST
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
            self.connection.close()
            return None
        if mode == "big":
            return self._send(200, big_robots(), {"Content-Type": "text/plain"})
        if mode.startswith("redirect:"):
            hops = int(mode.split(":", 1)[1])
            done = int(path.rsplit("/", 1)[1]) if path.startswith("/robots/hop/") else 0
            if done < hops:
                return self._send(301, b"", {"Location": f"/robots/hop/{done + 1}"})
            return self._send(200, b"User-agent: *\nDisallow: /private\n", {"Content-Type": "text/plain"})
        if mode.startswith("to:"):
            return self._send(302, b"", {"Location": mode[3:]})
        return self._send(404, b"")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: HostileSite


class HostileSite:
    """A hostile HTTP server on 127.0.0.1:<random port> that records every path requested."""

    def __init__(self, robots: str = "404") -> None:
        self.robots = robots
        self.paths: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.site = self
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def record(self, path: str) -> None:
        with self._lock:
            self.paths.append(path)

    def hits(self, path: str) -> int:
        with self._lock:
            return self.paths.count(path)

    def url(self, path: str) -> str:
        return self.origin + path

    def __enter__(self) -> HostileSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


class Canary:
    """A TCP listener on 127.0.0.1 that counts connections and answers each with a tiny page."""

    def __init__(self) -> None:
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ncanary")
            except OSError:
                pass
            conn.close()

    def __enter__(self) -> Canary:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
