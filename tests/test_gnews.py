"""Google News discovery links: a real crawl decodes each opaque news.google.com link to the
publisher's URL through a loopback stand-in of Google's two endpoints, archives the article under
the publisher's URL, remembers the Google link as an alias (so the next run does not decode it
again), and never archives Google's interstitial page."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from crawl_site import (
    QuietHandler,
    Site,
    healthy_pages,
    rewrite_feed,
    run_crawl_cli,
    serve_loopback,
    sources_file,
    stop_loopback,
    topic_for,
)
from sqlalchemy import select

from archive.db import Archive
from archive.models import Article, ArticleURL
from crawler import gnews

SIGNATURE = "AZ5r3eS-sig_value"
TIMESTAMP = "1732600000"


class GoogleNewsStandIn:
    """Serves a search feed of opaque links, their article pages, and the batchexecute RPC.

    The page and RPC shapes are those the maintained decoders (PyPI googlenewsdecoder) read; ids in
    ``blocked`` get Google's consent/CAPTCHA answer instead: a page without a signature.
    """

    def __init__(self) -> None:
        self.feed = b""
        self.targets: dict[str, str] = {}  # article id -> publisher URL
        self.blocked: set[str] = set()
        self.hits: Counter[str] = Counter()
        google = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                google.hits[path.rsplit("/", 1)[0]] += 1
                if path == "/rss/search":
                    self.reply(200, google.feed, "application/rss+xml")
                elif path.startswith("/rss/articles/"):
                    art_id = path.rsplit("/", 1)[1]
                    if art_id in google.blocked:
                        self.reply(
                            200,
                            b"<html><body><form action='/sorry'>unusual traffic</form></body></html>",
                            "text/html",
                        )
                        return
                    page = (
                        "<html><body><c-wiz><div jscontroller='aLI87' "
                        f"data-n-a-id='{art_id}' data-n-a-sg='{SIGNATURE}' data-n-a-ts='{TIMESTAMP}'>"
                        "</div></c-wiz><script>window.location = 'elsewhere';</script></body></html>"
                    )
                    self.reply(200, page.encode(), "text/html; charset=utf-8")
                else:
                    self.reply(404, b"not found", "text/plain")

            def do_POST(self) -> None:  # noqa: N802
                google.hits["batchexecute"] += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                envelope = json.loads(unquote(parse_qs(body, keep_blank_values=True)["f.req"][0]))
                rpc, inner_json = envelope[0][0][0], envelope[0][0][1]
                inner = json.loads(inner_json)
                ok = rpc == "Fbv4je" and inner[0] == "garturlreq" and inner[3:] == [int(TIMESTAMP), SIGNATURE]
                if not ok or inner[2] not in google.targets:
                    self.reply(400, b')]}\'\n\n[["er",null,null,null,null,400]]', "application/json")
                    return
                payload = json.dumps(["garturlres", google.targets[inner[2]], 1])
                rows = [["wrb.fr", "Fbv4je", payload, None, None, None, "generic"], ["di", 31]]
                text = json.dumps(rows)
                self.reply(200, f")]}}'\n\n{len(text)}\n{text}\n".encode(), "application/json; charset=utf-8")

        self.server = serve_loopback(Handler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def google() -> Iterator[GoogleNewsStandIn]:
    stand_in = GoogleNewsStandIn()
    yield stand_in
    stop_loopback(stand_in.server)


@pytest.mark.slow  # a real crawl
def test_crawl_decodes_google_news_links_to_publisher_urls(
    tmp_path: Path, corpus: Path, site: Site, google: GoogleNewsStandIn
) -> None:
    pages = healthy_pages(corpus, 3)
    for page in pages:
        site.set(page.path, page.raw)
    ids = [f"CBMiTestArticle{i}AAA" for i in range(len(pages))]
    for art_id, page in zip(ids, pages, strict=True):
        google.targets[art_id] = site.url(page.path)
    google.blocked.add(ids[2])  # this one meets Google's "unusual traffic" page
    # The real WaPo feed, its item links made opaque Google News links as in Google's search feed.
    google.feed = rewrite_feed(corpus, google, [f"/rss/articles/{i}" for i in ids]).replace(
        b"</link>", b"?oc=5</link>"
    )
    topic = tmp_path / "topic.yaml"
    topic.write_text(topic_for(pages, []) + "discovery_queries: ['Khalilzad Doha']\n")
    template = google.url("/rss/search") + "?q={q}&hl={hl}&gl={gl}&ceid={gl}:{lang}"
    sources = sources_file(
        tmp_path,
        "sources: []\ndiscovery:\n"
        f"  google_news: {{template: '{template}', min_interval_seconds: 0,"
        " editions: [{hl: en-US, gl: US, lang: en}]}\n"
        "  gdelt_doc: {enabled: false}\n",
    )
    db = f"sqlite:///{tmp_path / 'a.db'}"
    args = ("--sources", str(sources), "--topic", str(topic), "--revisit", "none")

    code, report, stderr = run_crawl_cli(db, *args)
    assert code == 0, stderr
    counters = report["counters"]
    assert counters["google_decoded"] == 2 and counters["google_undecoded"] == 1
    assert report["failures"] == {
        "Google News link not decoded: no signature on the Google News page (blocked, or the page changed)": 1
    }
    with Archive(db) as archive, archive.reading() as session:
        canonical = set(session.scalars(select(Article.canonical_url)))
        aliases = {
            url: article for url, article in session.execute(select(ArticleURL.url, ArticleURL.article_id))
        }
        by_url = {a.canonical_url: a.id for a in session.scalars(select(Article))}
    # The publishers' URLs are the articles; nothing is archived under Google's host.
    assert canonical == {site.url(pages[0].path), site.url(pages[1].path)}
    assert not any(url.startswith(google.base) for url in canonical)
    # Each Google link is an alias of its article: `mediawatch show <google link>` finds it.
    for art_id, page in zip(ids[:2], pages[:2], strict=True):
        google_alias = [u for u in aliases if art_id in u]
        assert google_alias and aliases[google_alias[0]] == by_url[site.url(page.path)]
    assert site.hits[pages[2].path] == 0  # the undecoded link led nowhere
    decode_calls = google.hits["batchexecute"]
    assert decode_calls == 2

    # The next run: the decoded links are known, so Google is asked only about the blocked one and
    # a new link, which leads to an article already archived: that link becomes its alias.
    google.blocked.clear()
    ids.append("CBMiAnotherLinkSameStoryAAA")
    google.targets[ids[3]] = site.url(pages[0].path)
    feed = rewrite_feed(corpus, google, [f"/rss/articles/{i}" for i in ids])  # type: ignore[arg-type]
    google.feed = feed.replace(b"</link>", b"?oc=5</link>")
    code, report, stderr = run_crawl_cli(db, *args)
    assert code == 0, stderr
    assert google.hits["batchexecute"] == decode_calls + 2
    assert report["counters"]["already_known"] == 3  # two Google links, then the new link's target
    assert report["counters"]["new_articles"] == 1
    assert report["counters"]["link_aliases"] == 1
    with Archive(db) as archive, archive.reading() as session:
        row = session.execute(
            select(ArticleURL.article_id).where(ArticleURL.url.contains("CBMiAnotherLinkSameStory"))
        ).one()
        assert row.article_id == by_url[site.url(pages[0].path)]


def test_decoder_functions_read_google_answers_and_refuse_bad_ones() -> None:
    host = "news.google.com"
    link = "https://news.google.com/rss/articles/CBMiXkFVX3lxTE5abcdef?oc=5&hl=ur&gl=PK&ceid=PK:ur"
    assert gnews.article_id(link, host) == "CBMiXkFVX3lxTE5abcdef"
    assert gnews.article_id("https://news.google.com/read/CBMiXkFVX3lx", host) == "CBMiXkFVX3lx"
    assert gnews.article_id("https://news.google.com/rss/search?q=x", host) is None
    assert gnews.article_id("https://example.org/rss/articles/CBMiXkFVX3lx", host) is None
    assert gnews.params_url(link, "CBMiXkFVX3lxTE5abcdef") == (
        "https://news.google.com/rss/articles/CBMiXkFVX3lxTE5abcdef?hl=ur&gl=PK&ceid=PK%3Aur"
    )
    page = b"<c-wiz><div jscontroller='x' data-n-a-sg='S1' data-n-a-ts='17'></div></c-wiz>"
    assert gnews.signature(page) == ("S1", "17")
    with pytest.raises(gnews.UndecodedLink, match="no signature"):
        gnews.signature(b"<html><body>Our systems have detected unusual traffic</body></html>")

    def answer(url: object) -> bytes:
        payload = json.dumps(["garturlres", url, 1])
        return (
            ")]}'\n\n" + json.dumps([["wrb.fr", "Fbv4je", payload, None, None, None, "generic"]])
        ).encode()

    assert gnews.decoded_url(answer("https://www.dawn.com/news/1"), host) == "https://www.dawn.com/news/1"
    for bad, why in [
        (answer("javascript:alert(1)"), "unusable URL"),
        (answer(["nested"]), "unusable URL"),
        (answer("https://news.google.com/rss/articles/CBMiAgain"), "another Google News URL"),
        (b')]}\'\n\n[["er",null,null,null,null,400]]', "no URL"),
        (b"<html>rate limited</html>", "unreadable"),
        (b"[[" + b"x" * (gnews.MAX_ANSWER_BYTES + 1), "too large"),
    ]:
        with pytest.raises(gnews.UndecodedLink, match=why):
            gnews.decoded_url(bad, host)
    body = gnews.batchexecute_body("CBMiX", "S1", "17")
    envelope = json.loads(unquote(body.removeprefix("f.req=")))
    assert envelope[0][0][0] == "Fbv4je"
    assert json.loads(envelope[0][0][1])[0] == "garturlreq"
