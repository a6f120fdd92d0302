"""Google News article links: from the opaque ``news.google.com/rss/articles/<id>`` to the publisher's URL.

Since July 2024 the id no longer contains the publisher's URL, and the link is not an HTTP
redirect: the page needs JavaScript (docs/crawling.md, Google News links). What the page's script does is two
requests, which the spider makes itself (so they go through the same downloader, rate limits and
address checks as every other request):

1. GET ``/rss/articles/<id>?hl=…&gl=…&ceid=…``: the page carries a signature and a timestamp in
   the ``data-n-a-sg`` and ``data-n-a-ts`` attributes of its ``c-wiz > div[jscontroller]``;
2. POST ``/_/DotsSplashUi/data/batchexecute`` (an RPC named ``Fbv4je``, request ``garturlreq``)
   with the id, timestamp and signature; the answer's ``garturlres`` holds the publisher's URL.

This is the protocol the maintained decoders use (PyPI ``googlenewsdecoder``); it is
reimplemented here as plain functions because that package makes its own blocking HTTP calls,
outside Scrapy. Every value read from Google's answers is bounded and checked: the decoded URL must
be an http(s) URL on another host, or the link is counted as undecoded and nothing is fetched.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from lxml import html as lxml_html

from crawler.discovery import clean_url

BATCHEXECUTE_PATH = "/_/DotsSplashUi/data/batchexecute"
MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_ANSWER_BYTES = 256 * 1024
_ID = re.compile(r"^[A-Za-z0-9_-]{8,2000}$")
_ATTR = re.compile(rb'data-n-a-(sg|ts)="([^"]{1,4096})"')
# The request context the page's own script sends (locale fields are not checked by the server).
_CONTEXT = [
    ["X", "X", ["X", "X"], None, None, 1, 1, "US:en", None, 1, None, None, None, None, None, 0, 1],
    "X",
    "X",
    1,
    [1, 1, 1],
    1,
    1,
    None,
    0,
    0,
    None,
    0,
]


class UndecodedLink(ValueError):
    """A Google News link whose publisher URL could not be recovered (the reason is the message)."""


def article_id(url: str, host: str) -> str | None:
    """The article id of a Google News article link on ``host``, or None for any other URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.netloc.lower() != host.lower():
        return None
    segments = parts.path.strip("/").split("/")
    if len(segments) == 3 and segments[0] == "rss" and segments[1] == "articles":
        candidate = segments[2]
    elif len(segments) == 2 and segments[0] in ("articles", "read"):
        candidate = segments[1]
    else:
        return None
    return candidate if _ID.match(candidate) else None


def params_url(url: str, art_id: str) -> str:
    """The page that carries the signature: ``/rss/articles/<id>`` with the link's locale.

    (``/articles/<id>`` and ``/read/<id>`` redirect non-browser clients to a CAPTCHA page.)
    """
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    defaults = (("hl", "en-US"), ("gl", "US"), ("ceid", "US:en"))
    locale = {key: query.get(key, [default])[0] for key, default in defaults}
    return urlunsplit((parts.scheme, parts.netloc, f"/rss/articles/{art_id}", urlencode(locale), ""))


def batchexecute_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, BATCHEXECUTE_PATH, "", ""))


def signature(page: bytes) -> tuple[str, str]:
    """(signature, timestamp) from the article page; raises UndecodedLink when they are absent."""
    if len(page) > MAX_PAGE_BYTES:
        raise UndecodedLink("the Google News page is too large")
    found: dict[str, str] = {}
    try:
        tree = lxml_html.fromstring(page)
        for node in tree.xpath("//c-wiz/div[@jscontroller]"):
            sg, ts = node.get("data-n-a-sg"), node.get("data-n-a-ts")
            if sg and ts:
                found = {"sg": sg, "ts": ts}
                break
    except (ValueError, lxml_html.etree.ParserError):
        pass
    if not found:  # markup moved: the attributes anywhere on the page
        for name, value in _ATTR.findall(page):
            found.setdefault(name.decode(), value.decode("utf-8", "replace"))
    sg, ts = found.get("sg"), found.get("ts")
    if not sg or not ts:
        raise UndecodedLink("no signature on the Google News page (blocked, or the page changed)")
    if not ts.isdigit() or len(sg) > 4096:
        raise UndecodedLink("an unexpected signature on the Google News page")
    return sg, ts


def batchexecute_body(art_id: str, sig: str, ts: str) -> str:
    """The form body of the ``garturlreq`` RPC for one article."""
    inner = ["garturlreq", _CONTEXT, art_id, int(ts), sig]
    envelope = [[["Fbv4je", json.dumps(inner, separators=(",", ":")), None, "generic"]]]
    return "f.req=" + quote(json.dumps(envelope, separators=(",", ":")), safe="")


def decoded_url(answer: bytes, google_host: str) -> str:
    """The publisher's URL from a batchexecute answer; raises UndecodedLink otherwise."""
    if len(answer) > MAX_ANSWER_BYTES:
        raise UndecodedLink("the Google News answer is too large")
    text = answer.decode("utf-8", "replace").lstrip()
    if text.startswith(")]}'"):  # the anti-JSON-hijacking prefix
        text = text[4:]
    rows = None
    for chunk in (text, *text.split("\n")):
        chunk = chunk.strip()
        if chunk.startswith("[["):
            try:
                rows = json.loads(chunk)
                break
            except ValueError:
                continue
    if not isinstance(rows, list):
        raise UndecodedLink("an unreadable Google News answer")
    for row in rows:
        if not (isinstance(row, list) and len(row) >= 3 and row[:2] == ["wrb.fr", "Fbv4je"]):
            continue
        payload = row[2]
        if not isinstance(payload, str):
            continue
        try:
            value = json.loads(payload)
        except ValueError:
            continue
        if isinstance(value, list) and len(value) >= 2 and value[0] == "garturlres":
            if not isinstance(value[1], str):
                raise UndecodedLink("Google News answered with an unusable URL")
            url = clean_url(value[1], "https://news.google.com/")
            if url is None:
                raise UndecodedLink("Google News answered with an unusable URL")
            if urlsplit(url).netloc.lower() == google_host.lower():
                raise UndecodedLink("Google News answered with another Google News URL")
            return url
    raise UndecodedLink("no URL in the Google News answer")
