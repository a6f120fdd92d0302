"""robots.txt as RFC 9309 reads it, for every client mediawatch has: the crawler's middleware
(crawler/robots.py) and the Wayback backfill (archive/wayback.py) parse with the same Protego
rules and the same size cap (docs/fetching-safely.md, robots.txt)."""

from __future__ import annotations

from protego import Protego

MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309 §2.5: parse at least the first 500 KiB
MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 §2.3.1.2: follow at least five hops


def truncate_robots(body: bytes, max_bytes: int) -> bytes:
    """The first `max_bytes` of a robots.txt body, cut at the last complete line."""
    if len(body) <= max_bytes:
        return body
    head = body[:max_bytes]
    cut = head.rfind(b"\n")
    return head[: cut + 1] if cut != -1 else b""


def parse_robots(body: bytes, max_bytes: int = MAX_ROBOTS_BYTES) -> Protego:
    """The rules of a robots.txt body (its first `max_bytes`, undecodable bytes replaced)."""
    return Protego.parse(truncate_robots(body, max_bytes).decode("utf-8", errors="replace"))
