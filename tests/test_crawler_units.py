"""Pure functions of the crawler: config validation, relevance, feed/sitemap parsing, settings."""

from __future__ import annotations

import gzip
import inspect
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.errors import ConfigError
from crawler import settings as settings_module
from crawler.config import (
    DEFAULT_SOURCES,
    DEFAULT_TOPIC,
    discovery_feed_urls,
    load_sources,
    load_topic,
)
from crawler.discovery import (
    MAX_KEPT_LINKS_CHARS,
    Link,
    clean_url,
    links_from_json,
    links_to_json,
    parse_feed,
    parse_sitemap,
    robots_sitemaps,
)
from crawler.settings import CrawlSettings, scrapy_settings
from mediawatch.cli import cli

FEEDS = "news-feeds-and-sitemaps"
BASE = "http://127.0.0.1:9/"


# ---------------------------------------------------------------------------------------------
# Config


def test_shipped_config_is_valid_and_diverse() -> None:
    sources = load_sources(DEFAULT_SOURCES)
    topic = load_topic(DEFAULT_TOPIC)
    enabled = [s for s in sources.sources if s.enabled and s.feeds]
    assert len(enabled) >= 25
    assert {"PK", "AF", "IN"} <= {s.country for s in enabled}
    assert len({s.viewpoint for s in enabled}) >= 4
    urls = [u for _, u in discovery_feed_urls(sources, topic)]
    assert any(u.startswith("https://news.google.com/rss/search?q=") and "ceid=PK:en" in u for u in urls)
    assert any(
        u.startswith("https://api.gdeltproject.org/api/v2/doc/doc?") and "format=RSS" in u for u in urls
    )
    assert "Khalilzad" in urls[0]
    assert sources.defaults.contact_url.startswith("https://")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nsources:\n  - id: a\n    name: A\n    country: PK\n    lang: en\n    feedz: []\n",
            ":7: sources[0].feedz: Extra inputs are not permitted",
        ),
        (
            "version: 1\nsources:\n  - id: a\n    name: A\n    country: PK\n    lang: en\n"
            "    feeds:\n      - {url: 'file:///etc/passwd'}\n",
            ":8: sources[0].feeds[0].url: not an http(s) URL",
        ),
        ("version: 2\nsources: []\n", ":1: version: Input should be 1"),
        ("version: 1\ndefaults:\n  user_agent: 'bot {name}'\nsources: []\n", ":3: defaults.user_agent: only"),
        ("version: 1\nsources: [\n", ": invalid YAML"),
        ("- just\n- a list\n", ":1: expected a mapping"),
        (
            "version: 1\nsources:\n  - {id: a, name: A, country: PK, lang: en}\n"
            "  - {id: a, name: B, country: PK, lang: en}\n",
            "duplicate source id 'a'",
        ),
    ],
)
def test_sources_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_topic_errors(tmp_path: Path) -> None:
    path = tmp_path / "topic.yaml"
    path.write_text("version: 2\nname: t\ngroups:\n  - name: x\n    role: actor\n    terms: []\n")
    with pytest.raises(
        ConfigError, match=r"topic.yaml:6: groups\[0\].terms: List should have at least 1 item"
    ):
        load_topic(path)
    path.write_text(
        "version: 2\nname: t\ngroups: [{name: x, role: actor, terms: [a]}]\nalways_keep: [[x, nope]]\n"
    )
    with pytest.raises(ConfigError, match="unknown term group 'nope'"):
        load_topic(path)
    path.write_text("version: 2\nname: t\ngroups: [{name: x, role: place, terms: [Kabul]}]\n")
    with pytest.raises(ConfigError, match="place group 'x' needs a side"):
        load_topic(path)
    path.write_text("version: 2\nname: t\ngroups: [{name: x, role: actor, terms: ['re:(']}]\n")
    with pytest.raises(ConfigError, match="bad regular expression"):
        load_topic(path)
    path.write_text("version: 1\nname: t\ntier_a: [{name: x, terms: [a]}]\n")
    with pytest.raises(ConfigError, match="version 1 .* is no longer read"):
        load_topic(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_topic(tmp_path / "missing.yaml")


def test_crawl_cli_bad_config_and_unreachable_database(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text("version: 1\nsources: 3\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["crawl", "--sources", str(bad), "--db", f"sqlite:///{tmp_path}/x.db"])
    assert result.exit_code == 2
    assert "sources.yaml:2: sources: Input should be a valid list" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        cli,
        [
            "crawl",
            "--topic",
            "none",
            "--db",
            "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
        ],
    )
    assert result.exit_code == 3, result.output
    assert result.output.startswith("Error: ")


# ---------------------------------------------------------------------------------------------
# Feeds and sitemaps


@pytest.mark.parametrize(
    ("path", "kind", "count"),
    [
        ("diffengine/test-data/feed1.xml", "rss20", 20),
        ("diffengine/test-data/feed2.xml", "rss20", 24),
        ("news-sniffer/spec/fixtures/rss_feeds/bbc_uk_politics.xml", "rss20", 57),
        ("news-sniffer/spec/fixtures/rss_feeds/nyt_global_home.xml", "rss20", 25),
        ("trafilatura/tests/resources/feed.json", "json", 25),
        ("trafilatura/tests/resources/feed1.atom", "atom10", 1),
    ],
)
def test_parse_real_feeds(corpus: Path, path: str, kind: str, count: int) -> None:
    result = parse_feed((corpus / FEEDS / path).read_bytes(), BASE)
    assert result.error is None
    assert result.kind == kind
    assert len(result.links) == count
    assert all(link.url.startswith(("http://", "https://")) for link in result.links)


def test_cross_feed_duplicates_are_the_same_urls(corpus: Path) -> None:
    a = {
        link.url
        for link in parse_feed((corpus / FEEDS / "diffengine/test-data/feed1.xml").read_bytes(), BASE).links
    }
    b = {
        link.url
        for link in parse_feed((corpus / FEEDS / "diffengine/test-data/feed2.xml").read_bytes(), BASE).links
    }
    assert len(a & b) == 6


def test_parse_feed_refuses_str() -> None:
    with pytest.raises(TypeError):
        parse_feed("https://example.com/feed", BASE)  # type: ignore[arg-type]


def test_every_conformance_feed_parses_without_crashing(corpus: Path) -> None:
    files = [p for p in (corpus / "feedparser-conformance-feeds/tests").rglob("*") if p.is_file()]
    assert len(files) == 2107
    ok = 0
    for path in files:
        result = parse_feed(path.read_bytes(), "http://127.0.0.1:9/base/feed.xml")
        assert (result.error is None) or result.links == []
        assert all(clean_url(link.url, BASE) == link.url for link in result.links)
        ok += result.error is None
    assert ok > 2000


def test_kept_feed_links_read_back_as_parsed_and_refuse_anything_else(corpus: Path) -> None:
    """A feed's links are kept between crawls (feed_memory) and read back as the parse gave them;
    a row that is not what links_to_json wrote is refused whole (the feed is then parsed again)."""
    parsed = parse_feed(
        (corpus / FEEDS / "news-sniffer/spec/fixtures/rss_feeds/bbc_uk_politics.xml").read_bytes(), BASE
    )
    assert parsed.links and any(link.published for link in parsed.links)
    text = links_to_json(parsed.links)
    assert text is not None and links_from_json(text) == parsed.links
    assert links_from_json(links_to_json([])) == []
    long_title = Link("https://example.org/a", "x" * 1001)
    for damaged in (
        None,
        b"[]",
        "{not json",
        '{"url": "https://example.org/"}',
        '[["javascript:alert(1)", null, null]]',
        '[["file:///etc/passwd", null, null]]',
        '[["https://example.org/a", null]]',
        '[["https://example.org/a", 7, null]]',
        '[["https://example.org/a", null, "yesterday"]]',
        '[["https://example.org/' + "a" * 5000 + '", null, null]]',
        links_to_json([long_title]),
        "[" * 100_000 + "]" * 100_000,
        " " * (MAX_KEPT_LINKS_CHARS + 1),
    ):
        assert links_from_json(damaged) is None, str(damaged)[:80]
    # More than a feed may weigh is not kept at all.
    huge = [Link(f"https://example.org/{n}", "t" * 900) for n in range(12_000)]
    assert links_to_json(huge) is None


def test_parse_sitemaps(corpus: Path) -> None:
    res = corpus / FEEDS / "trafilatura/tests/resources"
    plain = parse_sitemap((res / "sitemap.xml").read_bytes(), BASE)
    assert plain.kind == "urlset" and len(plain.links) == 84
    gz = parse_sitemap((res / "sitemap.xml.gz").read_bytes(), BASE)
    assert [link.url for link in gz.links] == [link.url for link in plain.links]
    index = parse_sitemap((res / "sitemap2.xml").read_bytes(), BASE)
    assert index.kind == "index" and len(index.sitemaps) == 2 and not index.links
    news_path = next((corpus / FEEDS / "sitemapRetriever").glob("*.xml"))
    news = parse_sitemap(news_path.read_bytes(), BASE)
    assert news.kind == "news" and len(news.links) == 4
    assert all(link.url.startswith("https://www.washingtonpost.com/") for link in news.links)
    assert all(link.published and link.published.year == 2017 for link in news.links)
    assert parse_sitemap(news_path.read_bytes(), BASE, since=datetime(2020, 1, 1, tzinfo=UTC)).links == []


def test_hostile_xml_is_refused_without_reading_files(tmp_path: Path) -> None:
    sentinel = tmp_path / "secret.txt"
    sentinel.write_text("TOP-SECRET-SENTINEL")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file://{sentinel}">]>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://a.example/&x;</loc></url></urlset>'
    ).encode()
    result = parse_sitemap(xxe, BASE)
    assert "TOP-SECRET-SENTINEL" not in repr(result)
    feed = parse_feed(xxe.replace(b"urlset", b"rss"), BASE)
    assert feed.error and "entities" in feed.error
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><r>&b;</r>'
    )
    assert parse_sitemap(laughs, BASE).error
    bomb = gzip.compress(b" " * (60 * 1024 * 1024))
    assert "decompresses to more than" in (parse_sitemap(bomb, BASE).error or "")
    assert "decompresses to more than" in (parse_feed(bomb, BASE).error or "")
    # An undeclared entity in a sitemap is not resolved either (no DTD, no network).
    plain = (
        b"<urlset><url><loc>http://a.example/ok</loc></url><url><loc>file:///etc/passwd</loc></url></urlset>"
    )
    result = parse_sitemap(plain, BASE)
    assert [link.url for link in result.links] == ["http://a.example/ok"] and result.dropped == 1


def test_non_http_links_are_dropped_at_intake() -> None:
    for href in (
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://x/y",
        "data:text/html,x",
        "mailto:a@b",
        "",
        None,
    ):
        assert clean_url(href, BASE) is None
    assert clean_url("/a/b#frag", "https://x.example/feed") == "https://x.example/a/b"


def test_robots_sitemap_lines() -> None:
    robots = b"User-agent: *\nDisallow: /private\nSitemap: https://x.example/s.xml\nsitemap: /news.xml # c\n"
    robots += b"Sitemap: file:///etc/passwd\n"
    assert robots_sitemaps(robots, "https://x.example/robots.txt") == [
        "https://x.example/s.xml",
        "https://x.example/news.xml",
    ]


# ---------------------------------------------------------------------------------------------
# Scrapy settings


def test_the_shipped_contact_url_is_recognised_as_a_placeholder() -> None:
    """A crawl warns once when the User-Agent still points site owners at the project, not the operator."""
    from crawler.config import DEFAULT_SOURCES, load_sources
    from crawler.settings import contact_is_placeholder

    assert contact_is_placeholder(CrawlSettings().contact_url)
    assert contact_is_placeholder(load_sources(DEFAULT_SOURCES).defaults.contact_url)  # "…#crawler"
    assert contact_is_placeholder("https://GitHub.com/mediawatch/mediawatch/#demo")
    for own in (
        "https://example.org/contact",
        "https://newsroom.example.net/crawler",
        "https://github.com/me/x",
    ):
        assert not contact_is_placeholder(own), own


def test_scrapy_settings_are_derived_in_one_place() -> None:
    s = scrapy_settings(CrawlSettings(contact_url="https://example.org/contact", allow_private_networks=True))
    assert s["USER_AGENT"].startswith("mediawatch/") and "(+https://example.org/contact)" in s["USER_AGENT"]
    # Scrapy's fail-open robots middleware is replaced by the RFC 9309 one from safety.py.
    assert s["ROBOTSTXT_OBEY"] is False and s["MEDIAWATCH_ROBOTS_ENABLED"] is True
    assert s["DOWNLOADER_MIDDLEWARES"]["crawler.robots.RobotsPolicyMiddleware"] == 100
    assert s["DOWNLOADER_MIDDLEWARES"]["crawler.safety.UrlPolicyMiddleware"] == 10
    assert s["DOWNLOAD_HANDLERS"]["file"] is None and s["DOWNLOAD_HANDLERS"]["data"] is None
    assert s["TWISTED_DNS_RESOLVER"] == "crawler.safety.GuardedHostnameResolver"
    assert s["AUTOTHROTTLE_ENABLED"] is True
    assert s["CONCURRENT_ITEMS"] == 1 and s["HTTPCACHE_ENABLED"] is False
    assert s["DOWNLOAD_MAXSIZE"] == 20 * 1024 * 1024 and s["DOWNLOAD_TIMEOUT"] == 30
    assert s["DOWNLOAD_FAIL_ON_DATALOSS"] is True and s["MEMUSAGE_ENABLED"] is True
    assert s["MEDIAWATCH_ALLOW_PRIVATE_NETWORKS"] is True
    assert scrapy_settings(CrawlSettings())["MEDIAWATCH_ALLOW_PRIVATE_NETWORKS"] is False
    assert "# safety: merged by crawler.safety" in inspect.getsource(settings_module.scrapy_settings)


def test_a_crawl_loads_no_console_that_runs_code_sent_to_it(tmp_path: Path) -> None:
    # Scrapy's telnet console and remote control run Python sent to the crawl process. Both are
    # disabled, and a real crawl does not even import them: the remote control's module imports
    # aiohttp's web server, about 0.2 s of CPU at every crawl's start. Scrapy's other default extensions
    # stay (its stats, the memory limit, the close conditions).
    settings = scrapy_settings(CrawlSettings())
    assert settings["TELNETCONSOLE_ENABLED"] is False and settings["REMOTE_CONTROL_ENABLED"] is False
    assert {"scrapy.extensions.corestats.CoreStats", "scrapy.extensions.memusage.MemoryUsage"} <= set(
        settings["EXTENSIONS_BASE"]
    )
    # The crawl in a process of its own, which writes down the modules it imported as it exits.
    modules = tmp_path / "modules.txt"
    script = (
        "import atexit, runpy, sys\n"
        f"atexit.register(lambda: open({str(modules)!r}, 'w').write('\\n'.join(sys.modules)))\n"
        "runpy.run_module('mediawatch', run_name='__main__')"
    )
    crawl = [sys.executable, "-c", script, "crawl", "--db", str(tmp_path / "a.db"), "--json"]
    crawl += ["--allow-private-networks", "--no-discovery", "--topic", "none", "--workers", "1"]
    crawl += ["--feed", "http://127.0.0.1:9/feed.xml"]  # nothing listens there: the crawl fails
    done = subprocess.run(crawl, capture_output=True, text=True, timeout=120)
    imported = modules.read_text().split()
    assert {"scrapy.crawler", "scrapy.extensions.corestats", "crawler.pipeline"} <= set(imported)
    assert not [name for name in imported if name.startswith(("aiohttp", "scrapy.extensions.remote_control"))]
    assert "scrapy.extensions.telnet" not in imported
    assert '"status": "failed"' in done.stdout  # it did run: its one source was unreachable


# ---------------------------------------------------------------------------------------------
# Extraction pool and revisit planning


@pytest.mark.slow  # waits out a real extraction time limit
def test_extraction_pool_timeout_replaces_the_pool() -> None:
    import asyncio

    from crawl_slow import slow_or_fast

    from archive.extract import ExtractionError
    from crawler.extraction import ExtractionPool, ExtractionTimeout

    pool = ExtractionPool(1, timeout=20.0, func=slow_or_fast)  # generous: a busy machine

    async def scenario() -> None:
        first = await pool.extract(b"fast", url=None, content_type=None)
        with pytest.raises(ExtractionTimeout):
            await pool.extract(b"slow", url=None, content_type=None)
        assert pool.restarts == 1
        after = await pool.extract(b"fast", url=None, content_type=None)
        assert after.text.endswith("fast") and after.text != first.text  # a new worker process
        with pytest.raises(ExtractionError, match="worker died"):
            await pool.extract(b"die", url=None, content_type=None)
        assert (await pool.extract(b"again", url=None, content_type=None)).text.endswith("again")

    try:
        asyncio.run(scenario())
    finally:
        pool.close()


def test_extraction_pool_starts_again_when_a_worker_died_while_starting(guardian: bytes) -> None:
    """A worker killed while the pool warms up (the OOM killer, a SIGKILL) does not fail the
    crawl before its first page: the pool is replaced and the pages are extracted."""
    import asyncio
    import os
    import signal

    from archive.extract import extract
    from crawler.extraction import ExtractionPool

    pool = ExtractionPool(1, timeout=60.0)
    try:
        pool.warm()
        (worker,) = pool.executor._processes  # type: ignore[attr-defined]  # the executor's own pids
        os.kill(worker, signal.SIGKILL)
        pool.warm()  # as a crawl starting on this pool would
        assert pool.restarts == 1
        extracted = asyncio.run(pool.extract(guardian, url=None, content_type=None))
        assert extracted.text == extract(guardian).text
    finally:
        pool.close()


def test_revisit_plan_due_all_none(tmp_path: Path) -> None:
    from datetime import timedelta

    from archive.db import Archive
    from archive.models import Article, ArticleStatus
    from crawler.run import plan_revisits

    archive = Archive(f"sqlite:///{tmp_path / 'plan.db'}")
    now = datetime(2026, 3, 1, 8, tzinfo=UTC)
    with archive.transaction() as session:
        for i, due in enumerate((now - timedelta(hours=1), now + timedelta(hours=1), None)):
            session.add(
                Article(
                    canonical_url=f"https://x.example/{i}",
                    first_seen=now - timedelta(days=1),
                    next_check=due,
                    status=ArticleStatus.LIVE,
                    version_count=1,
                    etag=f'"e{i}"',
                )
            )
    assert [r.url for r in plan_revisits(archive, "due", now)] == ["https://x.example/0"]
    assert plan_revisits(archive, "due", now)[0].etag == '"e0"'
    assert len(plan_revisits(archive, "all", now)) == 3
    assert plan_revisits(archive, "none", now) == []
