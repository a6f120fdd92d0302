"""Republished copies of real articles: one real article's text in the page of another real site.

A wire story republished by two outlets carries the same paragraphs inside two different pages:
each outlet's navigation, captions, teasers, author boxes and whatever else the extractor keeps
from its template. :func:`transplant` builds such a copy from real corpus pages: the body
paragraphs of a *host* page are replaced by the story's paragraphs, so the host's own furniture
(and any of its text that is not in plain paragraphs) surrounds the story after extraction.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from archive.dedup import shingles
from archive.extract import ExtractionError, extract
from archive.volatile import key_text

_PLAIN = re.compile(r"[^<>&\n]{40,}")


def body_paragraphs(raw: bytes, text: str) -> list[tuple[int, int]]:
    """(start, end) byte spans of the plain ``<p>`` elements of ``raw`` that hold the extracted text."""
    spans: set[tuple[int, int]] = set()
    for line in text.split("\n"):
        if len(line) < 60:
            continue
        match = _PLAIN.search(line)
        if match is None:
            continue
        snippet = match.group(0)[:60].encode()
        position = raw.find(snippet)
        if position < 0:
            continue
        opening = max(raw.rfind(b"<p>", 0, position), raw.rfind(b"<p ", 0, position))
        close = raw.find(b"</p>", position)
        if opening < 0 or close < 0 or raw.rfind(b"</p>", 0, position) > opening:
            continue
        inner = raw[opening:close].lower()
        if any(tag in inner for tag in (b"<script", b"<div", b"</div", b"<li", b"<td", b"<!--")):
            continue
        spans.add((opening, close + len(b"</p>")))
    return sorted(spans)


def transplant(host: bytes, host_text: str, paragraphs: list[str]) -> bytes | None:
    """``host`` with its body paragraphs replaced by ``paragraphs`` (None: no body found)."""
    spans = body_paragraphs(host, host_text)
    if len(spans) < 3:
        return None
    story = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs).encode()
    out = host
    for start, end in reversed(spans[1:]):
        out = out[:start] + out[end:]
    start, end = spans[0]
    return out[:start] + story + out[end:]


@dataclass(frozen=True)
class Copy:
    """One outlet's page carrying the story, and how much of its extracted text is not the story."""

    raw: bytes
    host: int  # index of the host page
    furniture: float  # share of the copy's shingles that are not the story's


def copies_of(
    story_text: str,
    hosts: list[tuple[bytes, str]],
    want: int,
    used: set[int],
    *,
    furniture: tuple[float, float] = (0.05, 0.35),
) -> list[Copy]:
    """Up to ``want`` copies of a story in hosts not yet ``used``, each keeping the whole story and
    adding furniture within ``furniture`` (a share of the copy's word 3-shingles)."""
    story = shingles(key_text(story_text))
    out: list[Copy] = []
    for index, (host_raw, host_text) in enumerate(hosts):
        if len(out) == want:
            break
        if index in used:
            continue
        raw = transplant(host_raw, host_text, story_text.split("\n"))
        if raw is None:
            continue
        try:
            copy = shingles(key_text(extract(raw).text))
        except ExtractionError:
            continue
        shared = len(story & copy)
        share = 1 - shared / len(copy) if copy else 1.0
        if shared >= 0.95 * len(story) and furniture[0] <= share <= furniture[1]:
            used.add(index)
            out.append(Copy(raw, index, share))
    return out
