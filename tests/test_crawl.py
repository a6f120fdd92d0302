"""End-to-end crawls through the real Scrapy downloader against a loopback site.

Each crawl runs ``mediawatch crawl`` in its own process (one reactor per process) against
tests/crawl_site.py serving real trafilatura-evaldata pages behind the real Washington Post
feed (links rewritten). Assertions are on database rows and the crawl's own counters.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from crawl_site import (
    CorpusPage,
    Site,
    healthy_pages,
    quiet_crawl_args,
    rewrite_feed,
    run_crawl_cli,
    sources_file,
    topic_for,
)
from demo_steps import DEMO_STEPS, demo_steps_in_order
from sqlalchemy import func, select

from archive.db import Archive
from archive.models import (
    Article,
    ArticleStatus,
    ChangeKind,
    CrawlRun,
    Fetch,
    FetchOutcome,
    SkippedURL,
    Version,
)
from mediawatch.cli import cli

pytestmark = pytest.mark.slow  # real crawls and the demo

RELEVANT = 6
OFF_TOPIC = 3


@pytest.fixture(scope="module")
def pages(corpus: Path) -> list[CorpusPage]:
    return healthy_pages(corpus, RELEVANT + OFF_TOPIC)


def _versions(archive: Archive, url: str) -> list[Version]:
    with archive.reading() as session:
        article = session.scalar(select(Article).where(Article.canonical_url == url))
        assert article is not None, url
        return list(
            session.scalars(select(Version).where(Version.article_id == article.id).order_by(Version.seq))
        )


def _article(archive: Archive, url: str) -> Article:
    with archive.reading() as session:
        article = session.scalar(select(Article).where(Article.canonical_url == url))
        assert article is not None, url
        return article


def _rotate_boilerplate(raw: bytes, n: int) -> bytes:
    html = raw.decode("utf-8", "replace") if b"</body>" in raw else None
    assert html is not None
    junk = (
        f"<!-- served 2026-03-0{n}T08:00:00Z by edge-{n} -->"
        f'<script>window.__token="{"abcdef"[n % 6] * 32}{n}";var ts={1700000000 + n};</script>'
    )
    return html.replace("</body>", junk + "</body>", 1).encode("utf-8")


def _edit_sentence(page: CorpusPage) -> tuple[bytes, str]:
    """Change one word of the article body in the raw HTML."""
    html = page.raw.decode("utf-8", "replace")
    for word in re.findall(r"\b[a-z]{7,}\b", page.text[200:]):
        if html.count(word) == 1 and page.text.count(word) == 1:
            return html.replace(word, word + "ZZedited", 1).encode("utf-8"), word
    raise AssertionError("no editable word")


WALL = (
    "<html><head><title>Before you continue</title></head><body><div class=consent>"
    "<p>We value your privacy. We use cookies and similar technologies to improve your experience. "
    "Accept all cookies to continue reading, or manage your consent in the cookie settings.</p>"
    "</div></body></html>"
)


def test_crawl_archives_relevant_pages_then_revisits(
    db_url: str, site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    relevant, off_topic = pages[:RELEVANT], pages[RELEVANT:]
    for page in pages:
        site.set(page.path, page.raw)
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    feed = rewrite_feed(corpus, site, [p.path for p in pages])
    site.set("/feed.xml", feed, content_type="application/rss+xml")
    topic = tmp_path / "topic.yaml"
    topic.write_text(topic_for(relevant, off_topic))
    common = [
        "--sources",
        str(sources_file(tmp_path)),
        "--topic",
        str(topic),
        "--feed",
        site.url("/feed.xml"),
    ]
    archive = Archive(db_url)

    # 1. First crawl: every relevant page archived once, off-topic ones remembered.
    code, report, err = run_crawl_cli(db_url, *common)
    assert code == 0, err
    c = report["counters"]
    assert c["new_articles"] == RELEVANT
    assert c["skipped_offtopic"] == OFF_TOPIC
    assert c["extracted"] == RELEVANT + OFF_TOPIC
    assert report["extraction_start_seconds"] > 0  # the first page to extract started the workers
    with archive.reading() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == RELEVANT
        assert session.scalar(select(func.count()).select_from(Version)) == RELEVANT
        skipped = set(session.scalars(select(SkippedURL.url)))
        run = session.get(CrawlRun, report["run_id"])
        assert run is not None and run.status == "completed" and run.finished_at is not None
        assert run.counters["counters"]["new_articles"] == RELEVANT
    assert skipped == {site.url(p.path) for p in off_topic}
    for page in relevant:
        assert [v.change_kind for v in _versions(archive, site.url(page.path))] == [ChangeKind.FIRST]
    assert all(site.hits[p.path] == 1 for p in pages)

    # 2. Same content, revisit everything: 304s, no extraction, off-topic pages not refetched.
    code, report, err = run_crawl_cli(db_url, *common, "--revisit", "all")
    assert code == 0, err
    c = report["counters"]
    assert c["not_modified"] == RELEVANT
    assert c.get("extracted", 0) == 0
    assert report["extraction_start_seconds"] == 0  # nothing to extract: no worker started
    assert c.get("new_articles", 0) == 0 and c.get("skipped_offtopic", 0) == 0
    assert all(site.hits[p.path] == 1 for p in off_topic)
    assert all(site.conditional_hits[p.path] == 1 for p in relevant)

    # 3. No validators (byte-identical 200s), one edit, rotating boilerplate, 404, 410, a consent wall.
    site.conditional = False
    edited, word = _edit_sentence(relevant[0])
    site.set(relevant[0].path, edited)
    site.set(relevant[1].path, _rotate_boilerplate(relevant[1].raw, 3))
    site.remove(relevant[2].path, 404)
    site.remove(relevant[3].path, 410)
    site.set(relevant[4].path, WALL)
    code, report, err = run_crawl_cli(db_url, *common, "--revisit", "all")
    assert code == 0, err
    c = report["counters"]
    assert c.get("new_versions_text", 0) == 1
    assert c["removed"] == 2
    assert c["suspect"] == 1
    assert c["extracted"] == 3  # the edited, the re-decorated and the walled page; nothing else
    assert c["extraction_skipped"] == 1  # relevant[5]: byte-identical
    v = _versions(archive, site.url(relevant[0].path))
    assert [x.change_kind for x in v] == [ChangeKind.FIRST, ChangeKind.TEXT]
    assert word + "ZZedited" in v[1].text and word + "ZZedited" not in v[0].text
    assert len(_versions(archive, site.url(relevant[1].path))) == 1  # boilerplate is not an edit
    # One 404/410 is not yet a removal: a transient error must not end an article's history.
    for page in relevant[2:4]:
        assert _article(archive, site.url(page.path)).status == ArticleStatus.LIVE
    walled = _versions(archive, site.url(relevant[4].path))
    assert [x.change_kind for x in walled] == [ChangeKind.FIRST]
    with archive.reading() as session:
        outcomes = session.scalars(
            select(Fetch.outcome).where(
                Fetch.crawl_run_id == report["run_id"], Fetch.url == site.url(relevant[4].path)
            )
        ).all()
    assert outcomes == [FetchOutcome.SUSPECT]
    assert all(site.hits[p.path] == 1 for p in off_topic)

    # 4. The next check confirms the removals; the wall is gone again (no version either way).
    site.set(relevant[4].path, relevant[4].raw)
    code, report, err = run_crawl_cli(db_url, *common, "--revisit", "all")
    assert code == 0, err
    for page in relevant[2:4]:
        assert _article(archive, site.url(page.path)).status == ArticleStatus.REMOVED
        assert [x.change_kind for x in _versions(archive, site.url(page.path))] == [
            ChangeKind.FIRST,
            ChangeKind.REMOVED,
        ]
    assert [x.change_kind for x in _versions(archive, site.url(relevant[4].path))] == [ChangeKind.FIRST]


# ---------------------------------------------------------------------------------------------
# Discovery: sitemaps from robots.txt, indexes, news sitemaps, hostile documents, odd feeds

SENTINEL = "SENTINEL-7f3a-must-never-be-read"


def _rss(items: str, prolog: str = "") -> str:
    return f'<?xml version="1.0"?>{prolog}<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'


def _item(link: str, title: str = "x") -> str:
    return f"<item><title>{title}</title><link>{link}</link></item>"


def _sitemap_index(*locs: str) -> str:
    body = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>'


def _loopback(site: Site, data: bytes) -> bytes:
    # Every absolute URL in a corpus document now points at the fixture: tests never leave 127.0.0.1.
    return re.sub(rb"https?://[^/\"'<>\s]+", site.base.encode(), data)


def test_discovery_and_hostile_documents_never_crash_a_run(
    site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    import gzip

    db_url = f"sqlite:///{tmp_path / 'hostile.db'}"
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text(SENTINEL)
    for page in pages:
        site.set(page.path, page.raw)
    good = pages[0].path
    laughs = (
        '<!DOCTYPE rss [<!ENTITY a "lollollollollollollollollollol">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        + "]>"
    )
    site.set("/feeds/laughs.xml", _rss(_item(site.url(good), "&j;"), laughs))
    xxe = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{sentinel}">]>'
    site.set("/feeds/xxe.xml", _rss(_item("&xxe;", "&xxe;") + _item(site.url(good)), xxe))
    schemes = "".join(
        _item(u)
        for u in (f"file://{sentinel}", "javascript:alert(1)", "ftp://127.0.0.1/x", "data:text/html,hi")
    )
    site.set("/feeds/schemes.xml", _rss(schemes + _item(site.url(good))))
    site.set("/feeds/garbage.xml", bytes(range(256)) * 40, content_type="application/octet-stream")
    site.set("/feeds/error.xml", "oops", status=500, content_type="text/plain")
    site.set(
        "/feeds/npr.json",
        _loopback(
            site, (corpus / "news-feeds-and-sitemaps/trafilatura/tests/resources/feed.json").read_bytes()
        ),
        content_type="application/feed+json",
    )
    conformance = sorted((corpus / "feedparser-conformance-feeds/tests").rglob("*.xml"))[::53]
    for i, path in enumerate(conformance):
        site.set(f"/conf/{i}.xml", _loopback(site, path.read_bytes()), content_type="application/xml")
    bomb = gzip.compress(b"<urlset>" + b" " * (80 * 1024 * 1024), compresslevel=9)
    site.set("/sitemaps/bomb.xml.gz", bomb, content_type="application/x-gzip")
    news = (corpus / "news-feeds-and-sitemaps/sitemapRetriever").glob("*.xml").__next__().read_text()
    locs = re.findall(r"<loc>\s*(.*?)\s*</loc>", news, flags=re.S)
    for i, loc in enumerate(locs):
        news = news.replace(loc, site.url(pages[1 + i].path), 1)
    site.set("/sitemaps/news.xml", news, content_type="application/xml")
    site.set(
        "/sitemaps/index.xml",
        _sitemap_index(
            site.url("/sitemaps/index.xml"), site.url("/sitemaps/news.xml"), site.url("/sitemaps/deep/1.xml")
        ),
    )
    for n in range(1, 6):
        site.set(f"/sitemaps/deep/{n}.xml", _sitemap_index(site.url(f"/sitemaps/deep/{n + 1}.xml")))
    site.set(
        "/robots.txt",
        f"User-agent: *\nAllow: /\nSitemap: {site.url('/sitemaps/index.xml')}\n",
        content_type="text/plain",
    )
    feeds = ["laughs", "xxe", "schemes", "garbage", "error"]
    feed_lines = "".join(f"    - {{url: '{site.url(f'/feeds/{f}.xml')}'}}\n" for f in feeds)
    feed_lines += f"    - {{url: '{site.url('/feeds/npr.json')}'}}\n"
    feed_lines += "".join(f"    - {{url: '{site.url(f'/conf/{i}.xml')}'}}\n" for i in range(len(conformance)))
    body = (
        "sources:\n  - id: fixture\n    name: Fixture outlet\n    country: PK\n    lang: en\n"
        f"    robots_sitemaps: true\n    sitemaps: [{{url: '{site.url('/sitemaps/bomb.xml.gz')}'}}]\n"
        f"    feeds:\n{feed_lines}"
    )
    sources = sources_file(tmp_path, body, window_days=36500)
    code, report, err = run_crawl_cli(db_url, "--sources", str(sources), "--topic", "none", "--no-discovery")
    assert code == 0, err
    failures = report["failures"]
    assert any("entities" in r for r in failures), failures
    assert any(r.startswith("not a feed") for r in failures), failures
    assert any("HTTP 500" in r for r in failures), failures
    assert any("decompresses to more than" in r for r in failures), failures
    src = report["sources"]["Fixture outlet"]
    assert src["sitemaps_ok"] >= 2 and src["feeds_ok"] >= 3
    assert src["sitemaps_too_deep"] >= 1
    # The sitemap index loop was read once; the depth cap stopped the chain.
    assert site.hits["/sitemaps/index.xml"] == 1
    assert site.hits["/sitemaps/deep/3.xml"] == 1 and site.hits["/sitemaps/deep/4.xml"] == 0
    archive = Archive(db_url)
    with archive.reading() as session:
        urls = set(session.scalars(select(Article.canonical_url)))
        texts = " ".join(session.scalars(select(Version.text)))
        fetch_urls = set(session.scalars(select(Fetch.url)))
        messages = " ".join(m or "" for m in session.scalars(select(Fetch.message)))
        run = session.get(CrawlRun, report["run_id"])
    assert site.url(good) in urls
    assert {site.url(pages[1 + i].path) for i in range(len(locs))} <= urls  # from the Google News sitemap
    assert not any(u.startswith(("file:", "javascript:", "ftp:", "data:")) for u in fetch_urls)
    assert SENTINEL not in texts and SENTINEL not in messages
    assert run is not None and run.status == "completed"
    assert run.counters["failures"] == failures


def test_every_source_failing_exits_non_zero(site: Site, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'fail.db'}"
    site.set("/bad.xml", b"\x00\x01 not xml at all", content_type="application/xml")
    code, report, err = run_crawl_cli(
        db_url,
        "--sources",
        str(sources_file(tmp_path)),
        "--topic",
        "none",
        "--feed",
        site.url("/missing.xml"),
        "--feed",
        site.url("/bad.xml"),
        "--sitemap",
        site.url("/bad.xml"),
    )
    assert code == 5, err
    assert "every source failed" in err
    assert report["status"] == "failed" and report["message"].startswith("every source failed: ")
    archive = Archive(db_url)
    with archive.reading() as session:
        run = session.get(CrawlRun, report["run_id"])
        errors = session.scalars(select(Fetch).where(Fetch.outcome == FetchOutcome.ERROR)).all()
    assert run is not None and run.status == "failed" and run.message == report["message"]
    assert sorted(f.url for f in errors) == sorted(
        [site.url("/missing.xml"), site.url("/bad.xml"), site.url("/bad.xml")]
    )
    assert any(r.startswith("not a sitemap") for r in report["failures"]), report["failures"]
    assert all(f.source_id is not None for f in errors)


def test_demo_shows_versions_and_a_word_diff(tmp_path: Path) -> None:
    import subprocess
    import sys

    db_file = tmp_path / "demo.db"
    proc = subprocess.run(
        [sys.executable, "-m", "mediawatch", "demo", "--db-file", str(db_file)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert demo_steps_in_order(out) == DEMO_STEPS  # each step printed, in order
    assert "first crawl: 3 new articles" in out and "1 skipped off-topic" in out
    assert "[-nine days.-]" in out and "{+eleven days, according to customs officials.+}" in out
    assert re.search(r"2\s+removed", out)
    # The demo prints its diff through the `diff` command's renderer: the same notation, same text.
    edited_url = re.search(r"mediawatch diff (\S+) --db", out)
    assert edited_url is not None
    command = ["diff", edited_url.group(1), "--changed-only", "--db", f"sqlite:///{db_file}"]
    diff = CliRunner().invoke(cli, command)
    assert diff.exit_code == 0 and "[-nine days.-]" in diff.output
    assert diff.output in out
    archive = Archive(f"sqlite:///{db_file}")
    with archive.reading() as session:
        kinds = [v.change_kind for v in session.scalars(select(Version).order_by(Version.id))]
        assert session.scalar(select(func.count()).select_from(SkippedURL)) == 1
    assert kinds.count(ChangeKind.TEXT) == 1 and kinds.count(ChangeKind.REMOVED) == 1


def test_quiet_crawl_prints_nothing_on_success(site: Site, corpus: Path, tmp_path: Path) -> None:
    """`crawl --quiet` from cron: a completed run writes nothing at all, so cron mails nothing."""
    [page] = healthy_pages(corpus, 1)
    site.set(page.path, page.raw)
    site.set("/feed.xml", rewrite_feed(corpus, site, [page.path]), content_type="application/rss+xml")
    sources = sources_file(tmp_path)
    env = {**os.environ, "MEDIAWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"}
    command = [sys.executable, "-m", "mediawatch", *quiet_crawl_args(sources, site.url("/feed.xml"))]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    with Archive(env["MEDIAWATCH_DATABASE_URL"]) as archive, archive.reading() as session:
        assert [r.status for r in session.scalars(select(CrawlRun))] == ["completed"]
        assert session.scalar(select(func.count()).select_from(Article)) == 1


def test_sigterm_ends_a_crawl_as_interrupted_with_exit_143(site: Site, corpus: Path, tmp_path: Path) -> None:
    """A deadline's SIGTERM (cron's `timeout`, the scheduler, systemctl stop) is an interruption,
    not "every source failed" or "the crawler stopped abnormally": exit 143, run `interrupted`."""
    pages = healthy_pages(corpus, 2)
    site.set(pages[0].path, pages[0].raw)
    site.set(pages[1].path, pages[1].raw, delay=5)  # still downloading when SIGTERM comes
    site.set(
        "/feed.xml", rewrite_feed(corpus, site, [p.path for p in pages]), content_type="application/rss+xml"
    )
    db = f"sqlite:///{tmp_path / 'a.db'}"
    env = {**os.environ, "MEDIAWATCH_DATABASE_URL": db}
    command = [
        sys.executable,
        "-m",
        "mediawatch",
        *quiet_crawl_args(sources_file(tmp_path), site.url("/feed.xml")),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while site.hits[pages[1].path] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert site.hits[pages[1].path] == 1, "the crawl never reached the slow page"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("Error: crawl run 1 stopped by SIGTERM/SIGINT")
    assert "crawl run 1: interrupted" in out  # even with --quiet: cron mails the interruption
    with Archive(db) as archive, archive.reading() as session:
        [run] = session.scalars(select(CrawlRun)).all()
        assert run.status == "interrupted" and run.finished_at is not None
        # Scrapy lets the requests in flight finish; what was fetched is archived whole.
        archived = session.scalar(select(func.count()).select_from(Article))
        assert archived == run.counters["counters"].get("new_articles", 0)
