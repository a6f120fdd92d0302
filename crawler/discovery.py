"""Finding article URLs: feeds, sitemaps and robots.txt, as plain functions of bytes.

Everything here takes the bytes a spider downloaded and returns values; nothing fetches.
Hostile input is expected: documents are size-bounded, gzip is decompressed with a ceiling,
XML is parsed without entity resolution, DTD loading or network access, and only http(s)
links survive intake. A document that cannot be used gives a result with ``error`` set
(the spider records it as a failed fetch of its source), never an exception.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from lxml import etree

logger = logging.getLogger(__name__)

MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit, uncompressed
MAX_LINKS_PER_DOCUMENT = 50_000
MAX_URL_CHARS = 4096
MAX_TITLE_CHARS = 1000  # a link's title as kept
ALLOWED_SCHEMES = ("http", "https")
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    url: str
    title: str | None = None
    published: datetime | None = None


@dataclass
class FeedResult:
    links: list[Link] = field(default_factory=list)
    kind: str | None = None  # "rss", "atom", "json", …
    title: str | None = None
    error: str | None = None
    dropped: int = 0  # links refused at intake (scheme, length, duplicates)


@dataclass
class SitemapResult:
    links: list[Link] = field(default_factory=list)  # pages
    sitemaps: list[str] = field(default_factory=list)  # child sitemaps (from a sitemap index)
    kind: str | None = None  # "urlset", "news", "index", "text"
    error: str | None = None
    dropped: int = 0


class TooBig(ValueError):
    pass


def clean_url(href: Any, base_url: str) -> str | None:
    """An absolute http(s) URL, or None: other schemes (file:, javascript:, data:, ftp:) are dropped."""
    if not isinstance(href, str):
        return None
    href = href.strip()
    if not href or len(href) > MAX_URL_CHARS:
        return None
    try:
        url = urljoin(base_url, href)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        return None
    return url.split("#", 1)[0]


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress gzip data, refusing output larger than ``limit`` (gzip bombs)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise TooBig(f"decompresses to more than {limit} bytes")
    return out


def maybe_gunzip(data: bytes, limit: int) -> bytes:
    if data[:2] == b"\x1f\x8b":
        try:
            return gunzip_bounded(data, limit)
        except zlib.error as exc:
            raise ValueError(f"broken gzip data: {exc}") from None
    return data


def _dedupe(links: list[Link]) -> tuple[list[Link], int]:
    seen: set[str] = set()
    out = []
    for link in links:
        if link.url in seen:
            continue
        seen.add(link.url)
        out.append(link)
    return out, len(links) - len(out)


# ---------------------------------------------------------------------------------------------
# The links of a feed's last parse, kept between crawls (archive.models.FeedMemory)

# The kept links of one feed, as JSON text: at most what a feed may weigh. A parse whose links
# would take more is not kept (the feed is simply fetched and parsed again next time).
MAX_KEPT_LINKS_CHARS = MAX_FEED_BYTES


def links_to_json(links: list[Link]) -> str | None:
    """The links as ``[[url, title, published], …]`` JSON text, or None when over the bound."""
    if len(links) > MAX_LINKS_PER_DOCUMENT:
        return None
    rows = [[link.url, link.title, link.published.isoformat() if link.published else None] for link in links]
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= MAX_KEPT_LINKS_CHARS else None


def links_from_json(text: Any) -> list[Link] | None:
    """The links kept by :func:`links_to_json`, or None when the text is not what it wrote.

    The kept links came from a third-party document and sat in the database since: each is checked
    again against parse_feed's intake rules (http(s), length, the count limit), and a row that does
    not pass as a whole is not used (the feed is then fetched and parsed as if never seen).
    """
    if not isinstance(text, str) or len(text) > MAX_KEPT_LINKS_CHARS:
        return None
    try:
        rows = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(rows, list) or len(rows) > MAX_LINKS_PER_DOCUMENT:
        return None
    links: list[Link] = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 3:
            return None
        url, title, published = row
        if not isinstance(url, str) or clean_url(url, url) != url:  # as parse_feed would keep it
            return None
        if title is not None and (not isinstance(title, str) or len(title) > MAX_TITLE_CHARS):
            return None
        when = None
        if published is not None:
            when = _iso_date(published)
            if when is None:
                return None
        links.append(Link(url, title, when))
    return links


# ---------------------------------------------------------------------------------------------
# Feeds


def parse_feed(data: bytes, base_url: str) -> FeedResult:
    """Article links of an RSS, Atom, RDF or JSON Feed document given as BYTES.

    feedparser is only ever given bytes (given a str it would treat it as a URL or a path).
    """
    if not isinstance(data, bytes | bytearray):
        raise TypeError("parse_feed takes bytes")
    try:
        data = maybe_gunzip(bytes(data), MAX_FEED_BYTES)
    except (TooBig, ValueError) as exc:
        return FeedResult(error=f"feed {exc}")
    if len(data) > MAX_FEED_BYTES:
        return FeedResult(error=f"feed larger than {MAX_FEED_BYTES} bytes")
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        return _parse_json_feed(stripped, base_url)
    if not stripped:
        return FeedResult(error="empty feed")
    if _ENTITY_DECL.search(data[:65536]):
        # Entity declarations are the vector of entity expansion (billion laughs) and external
        # entities (XXE). No real news feed needs them.
        return FeedResult(error="feed declares XML entities (refused)")
    try:
        parsed = feedparser.parse(
            bytes(data),
            response_headers={"content-location": base_url, "content-type": "application/xml"},
        )
    except Exception as exc:  # feedparser's fallback parsers raise assorted errors on garbage
        logger.info("feedparser failed on %s: %r", base_url, exc)
        return FeedResult(error=f"unparseable feed: {type(exc).__name__}")
    links: list[Link] = []
    dropped = 0
    for entry in parsed.get("entries", [])[:MAX_LINKS_PER_DOCUMENT]:
        href = entry.get("link") or _first_alternate(entry)
        url = clean_url(href, base_url)
        if url is None:
            dropped += 1 if href else 0
            continue
        links.append(Link(url, _text(entry.get("title")), _entry_date(entry)))
    links, dupes = _dedupe(links)
    version = parsed.get("version") or None
    if not links and not version:
        problem = parsed.get("bozo_exception")
        why = f": {type(problem).__name__}" if problem else " (no feed format recognised)"
        return FeedResult(error=f"not a feed{why}", dropped=dropped)
    return FeedResult(
        links=links,
        kind=version,
        title=_text(parsed.get("feed", {}).get("title")),
        dropped=dropped + dupes,
    )


def _first_alternate(entry: Any) -> str | None:
    for link in entry.get("links", []) or []:
        if isinstance(link, dict) and link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return None


def _text(value: Any) -> str | None:
    return value[:MAX_TITLE_CHARS] if isinstance(value, str) and value else None


def _entry_date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime(*value[:6]).replace(tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def _parse_json_feed(data: bytes, base_url: str) -> FeedResult:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        return FeedResult(error=f"invalid JSON feed: {str(exc)[:200]}")
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return FeedResult(error="JSON document is not a JSON Feed (no items list)")
    links: list[Link] = []
    dropped = 0
    for item in doc["items"][:MAX_LINKS_PER_DOCUMENT]:
        if not isinstance(item, dict):
            continue
        href = item.get("url") or item.get("external_url")
        url = clean_url(href, base_url)
        if url is None:
            dropped += 1 if href else 0
            continue
        links.append(Link(url, _text(item.get("title")), _iso_date(item.get("date_published"))))
    links, dupes = _dedupe(links)
    return FeedResult(links=links, kind="json", title=_text(doc.get("title")), dropped=dropped + dupes)


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Sitemaps


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )


def parse_sitemap(
    data: bytes, base_url: str, *, since: datetime | None = None, max_urls: int = MAX_LINKS_PER_DOCUMENT
) -> SitemapResult:
    """Page and child-sitemap URLs of a sitemap, sitemap index, Google News sitemap or text sitemap.

    ``since`` is the date window: entries dated (lastmod or news:publication_date) before it
    are left out; undated entries are kept.
    """
    try:
        data = maybe_gunzip(bytes(data), MAX_SITEMAP_BYTES)
    except (TooBig, ValueError) as exc:
        return SitemapResult(error=f"sitemap {exc}")
    if len(data) > MAX_SITEMAP_BYTES:
        return SitemapResult(error=f"sitemap larger than {MAX_SITEMAP_BYTES} bytes")
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        return SitemapResult(error="empty sitemap")
    if not head.startswith(b"<"):
        return _text_sitemap(head, base_url, max_urls)
    if _ENTITY_DECL.search(data[:65536]):
        return SitemapResult(error="sitemap declares XML entities (refused)")
    try:
        root = etree.fromstring(head, parser=_xml_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        return SitemapResult(error=f"unparseable sitemap: {str(exc)[:200]}")
    if root is None:
        return SitemapResult(error="unparseable sitemap: no root element")
    tag = etree.QName(root).localname.lower() if isinstance(root.tag, str) else ""
    if tag not in ("urlset", "sitemapindex"):
        return SitemapResult(error=f"not a sitemap (root element <{tag}>)")
    result = SitemapResult(kind="index" if tag == "sitemapindex" else "urlset")
    child_tag = "sitemap" if tag == "sitemapindex" else "url"
    count = 0
    for el in root:
        if not isinstance(el.tag, str) or etree.QName(el).localname.lower() != child_tag:
            continue
        count += 1
        if count > max_urls:
            result.dropped += 1
            continue
        loc, when, title, news = None, None, None, False
        for child in el.iter():
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname.lower()
            text = (child.text or "").strip()
            if name == "loc" and loc is None and child.getparent() is el:
                loc = text
            elif name == "lastmod" and when is None:
                when = _iso_date(text)
            elif name == "publication_date":
                news = True
                when = _iso_date(text) or when
            elif name == "title" and title is None and text:
                title = text[:MAX_TITLE_CHARS]
            elif name == "news":
                news = True
        url = clean_url(loc, base_url)
        if url is None:
            result.dropped += 1
            continue
        if tag == "sitemapindex":
            if since is not None and when is not None and when < since:
                continue
            result.sitemaps.append(url)
            continue
        if news:
            result.kind = "news"
        if since is not None and when is not None and when < since:
            continue
        result.links.append(Link(url, title, when))
    result.links, dupes = _dedupe(result.links)
    result.sitemaps = list(dict.fromkeys(result.sitemaps))
    result.dropped += dupes
    return result


def _text_sitemap(data: bytes, base_url: str, max_urls: int) -> SitemapResult:
    result = SitemapResult(kind="text")
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line:
            continue
        url = clean_url(line, base_url) if line.lower().startswith(("http://", "https://")) else None
        if url is None:
            result.dropped += 1
            if result.dropped > 100 and not result.links:
                return SitemapResult(error="not a sitemap (neither XML nor a list of URLs)")
            continue
        if len(result.links) >= max_urls:
            result.dropped += 1
            continue
        result.links.append(Link(url))
    if not result.links:
        return SitemapResult(error="not a sitemap (neither XML nor a list of URLs)")
    result.links, dupes = _dedupe(result.links)
    result.dropped += dupes
    return result


def robots_sitemaps(data: bytes, base_url: str) -> list[str]:
    """The ``Sitemap:`` URLs a robots.txt names (http(s) only, at most 100)."""
    out: list[str] = []
    for line in data[: 512 * 1024].decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap":
            url = clean_url(value.split("#", 1)[0].strip(), base_url)
            if url and url not in out:
                out.append(url)
        if len(out) >= 100:
            break
    return out
