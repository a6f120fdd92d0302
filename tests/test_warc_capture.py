"""WARC capture during a crawl (``mediawatch crawl --warc DIR``): crawler/warccapture.py.

The crawl test runs real crawls (one process each, tests/crawl_site.py) of real evaldata pages on
a loopback site, twice with one edit in between, then checks the files with warcio's own
``check`` and ``index`` commands and imports them into a fresh database with ``import-warc``.
The component test drives the extension through Scrapy's signals with a real crawler object.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import fresh_postgres_url
from crawl_site import CorpusPage, Site, healthy_pages, rewrite_feed, run_crawl_cli, sources_file, with_edit
from scrapy import signals
from scrapy.http import Request, Response
from scrapy.utils.test import get_crawler
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from archive.db import Archive
from archive.errors import ConfigError
from archive.models import Article, Version
from archive.store import Capture, record
from archive.warc import export_warc
from crawler.warccapture import (
    INDEX_NAME,
    OPEN_SUFFIX,
    Download,
    WarcCaptureExtension,
    WarcFiles,
    parse_size,
    payload_digest,
)

pytestmark = pytest.mark.slow  # real crawls writing WARC files

PAGES = 5
NAME = re.compile(r"^mediawatch-(\d+)-(\d{17})-(\d{5})\.warc\.gz$")
NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
IDENTICAL = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


@pytest.fixture(scope="module")
def pages(corpus: Path) -> list[CorpusPage]:
    return healthy_pages(corpus, PAGES + 1)


@pytest.fixture
def second_db_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> str:
    """Another fresh database on the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        path = tmp_path / "imported.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return fresh_postgres_url(
        request.getfixturevalue("postgres_server"), request.getfixturevalue("postgres_template")
    )


def warcio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warcio.cli", *args], capture_output=True, text=True, timeout=300
    )


def records(path: Path) -> list[dict[str, Any]]:
    out = []
    with path.open("rb") as handle:
        for rec in ArchiveIterator(handle, check_digests="raise"):
            h = rec.rec_headers
            out.append(
                {
                    "type": rec.rec_type,
                    "uri": h.get_header("WARC-Target-URI"),
                    "id": h.get_header("WARC-Record-ID"),
                    "refers_to": h.get_header("WARC-Refers-To"),
                    "concurrent_to": h.get_header("WARC-Concurrent-To"),
                    "profile": h.get_header("WARC-Profile"),
                    "digest": h.get_header("WARC-Payload-Digest"),
                    "status": rec.http_headers.get_statuscode() if rec.http_headers else None,
                    "http": rec.http_headers,
                    "body": rec.content_stream().read(),
                }
            )
    return out


def warc_files(directory: Path, run_id: int) -> list[Path]:
    found = sorted(p for p in directory.iterdir() if p.name.startswith(f"mediawatch-{run_id}-"))
    assert found and all(NAME.match(p.name) for p in found), found
    return found


def version_digests(archive: Archive) -> dict[str, list[str]]:
    with archive.reading() as session:
        rows = session.execute(
            select(Article.canonical_url, Version.text_sha256)
            .join(Article, Article.id == Version.article_id)
            .order_by(Article.canonical_url, Version.seq)
        )
        out: dict[str, list[str]] = {}
        for url, digest in rows:
            out.setdefault(url, []).append(digest)
        return out


def test_crawl_with_warc_twice_then_import_reproduces_versions(
    db_url: str, second_db_url: str, site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    articles, late = pages[:PAGES], pages[PAGES]
    for page in articles:
        site.set(page.path, page.raw)
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    feed = rewrite_feed(corpus, site, [p.path for p in articles])
    site.set("/feed.xml", feed, content_type="application/rss+xml")
    warc_dir = tmp_path / "warc"
    common = ["--sources", str(sources_file(tmp_path)), "--topic", "none", "--feed", site.url("/feed.xml")]

    # 1. First crawl: every page a response record, with its request and a metadata record.
    code, first, err = run_crawl_cli(db_url, *common, "--warc", str(warc_dir))
    assert code == 0, err
    assert first["counters"]["new_articles"] == PAGES
    files1 = warc_files(warc_dir, first["run_id"])
    assert len(files1) == 1  # default size limit: one file
    assert not list(warc_dir.glob("*" + OPEN_SUFFIX))
    recs1 = records(files1[0])
    assert recs1[0]["type"] == "warcinfo"
    assert f"mediawatch-crawl-run: {first['run_id']}" in recs1[0]["body"].decode()
    responses1 = {r["uri"]: r for r in recs1 if r["type"] == "response"}
    for page in articles:
        rec = responses1[site.url(page.path)]
        assert rec["body"] == page.raw and rec["status"] == "200"
        assert rec["http"].get_header("ETag") and rec["http"].get_header("Date")
        assert rec["digest"] == payload_digest(page.raw)
        related = [r for r in recs1 if r["concurrent_to"] == rec["id"]]
        assert sorted(r["type"] for r in related) == ["metadata", "request"]
        request = next(r for r in related if r["type"] == "request")
        assert request["http"].protocol == "GET" and request["http"].get_header("User-Agent")
        metadata = next(r for r in related if r["type"] == "metadata").get("body").decode()
        assert f"mediawatch-crawl-run: {first['run_id']}\r\n" in metadata
    assert first["warc"]["files"] == 1 and first["warc"]["responses"] >= PAGES

    # 2. One edit, one unchanged page served with a new ETag (a 200 with identical bytes), one new
    #    page; the others answer 304. Small files: the capture rotates.
    edited, forced, new_etag = articles[0], articles[1], '"same-bytes-new-etag"'
    edited_raw = with_edit(edited, "ZZedited")
    site.set(edited.path, edited_raw)
    site.set(forced.path, forced.raw, headers={"ETag": new_etag})
    site.set(late.path, late.raw)
    site.set(
        "/feed.xml",
        rewrite_feed(corpus, site, [p.path for p in [*articles, late]]),
        content_type="application/rss+xml",
    )
    code, second, err = run_crawl_cli(
        db_url, *common, "--revisit", "all", "--warc", str(warc_dir), "--warc-max-size", "5K"
    )
    assert code == 0, err
    assert second["counters"]["not_modified"] == PAGES - 2
    files2 = warc_files(warc_dir, second["run_id"])
    assert len(files2) >= 3, files2  # rotation
    assert second["warc"]["files"] == len(files2)
    assert not list(warc_dir.glob("*" + OPEN_SUFFIX))
    recs2 = [r for path in files2 for r in records(path)]
    assert all(records(path)[0]["type"] == "warcinfo" for path in files2)
    by_uri: dict[str, list[dict[str, Any]]] = {}
    for r in recs2:
        if r["type"] in ("response", "revisit"):
            by_uri.setdefault(r["uri"], []).append(r)
    for page in articles[2:]:  # 304: server-not-modified, referring to the first crawl's response
        (rec,) = by_uri[site.url(page.path)]
        assert rec["type"] == "revisit" and rec["profile"] == NOT_MODIFIED and rec["status"] == "304"
        assert rec["refers_to"] == responses1[site.url(page.path)]["id"]
    (rec,) = by_uri[site.url(forced.path)]  # same bytes: identical-payload-digest
    assert rec["type"] == "revisit" and rec["profile"] == IDENTICAL and rec["status"] == "200"
    assert rec["refers_to"] == responses1[site.url(forced.path)]["id"]
    assert rec["digest"] == payload_digest(forced.raw) and rec["http"].get_header("ETag") == new_etag
    # The changed page was fetched twice: the crawl confirms a changed revisit with a re-fetch.
    # Its confirming re-fetch carries the same bytes: an identical-payload revisit of the first.
    first, *again = by_uri[site.url(edited.path)]
    assert first["type"] == "response" and first["body"] == edited_raw
    assert len(again) == 1
    assert all(r["type"] == "revisit" and r["refers_to"] == first["id"] for r in again)
    (rec,) = by_uri[site.url(late.path)]
    assert rec["type"] == "response" and rec["body"] == late.raw
    (rec,) = by_uri[site.url("/feed.xml")]  # not an article, but what was fetched
    assert rec["type"] == "response"

    # 3. Every file passes warcio check and indexes; the revisit index sits beside them.
    everything = files1 + files2
    for path in everything:
        checked = warcio("check", "-v", str(path))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        indexed = warcio("index", "-f", "warc-type,warc-target-uri,offset,length", str(path))
        assert indexed.returncode == 0, indexed.stderr
        assert len(indexed.stdout.splitlines()) == len(records(path))
    assert (warc_dir / INDEX_NAME).is_file()

    # 4. import-warc of the files into a fresh database: the same articles and versions.
    proc = subprocess.run(
        [sys.executable, "-m", "mediawatch", "import-warc", "--db", second_db_url, "--json"]
        + [str(p) for p in everything],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    crawled, imported = version_digests(Archive(db_url)), version_digests(Archive(second_db_url))
    assert imported == crawled
    assert len(crawled[site.url(edited.path)]) == 2
    assert all(len(crawled[site.url(p.path)]) == 1 for p in [*articles[1:], late])


# ---------------------------------------------------------------------------------------------
# The extension on its own: Scrapy's signals, a real crawler object, wire bytes as they arrive


def _extension(tmp_path: Path, **settings: Any) -> tuple[Any, WarcCaptureExtension]:
    crawler = get_crawler(
        settings_dict={
            "MEDIAWATCH_WARC_ENABLED": True,
            "MEDIAWATCH_WARC_DIR": str(tmp_path),
            "MEDIAWATCH_CRAWL_RUN_ID": 42,
            **settings,
        }
    )
    return crawler, WarcCaptureExtension.from_crawler(crawler)


def test_disabled_without_the_setting(tmp_path: Path) -> None:
    from scrapy.exceptions import NotConfigured

    with pytest.raises(NotConfigured):
        WarcCaptureExtension.from_crawler(get_crawler(settings_dict={"MEDIAWATCH_WARC_DIR": str(tmp_path)}))
    with pytest.raises(NotConfigured):
        WarcCaptureExtension.from_crawler(get_crawler(settings_dict={"MEDIAWATCH_WARC_ENABLED": True}))


def test_wire_bytes_open_files_rotation_and_hostile_headers(pages: list[CorpusPage], tmp_path: Path) -> None:
    crawler, ext = _extension(tmp_path, MEDIAWATCH_WARC_MAX_SIZE=parse_size("1K"))
    send = crawler.signals.send_catch_log
    send(signals.spider_opened, spider=None)
    raw = pages[0].raw
    wire = gzip.compress(raw)
    url = "http://127.0.0.1:9/news/0?x=1"
    request = Request(url, headers={"Accept-Encoding": "gzip", "User-Agent": "mediawatch-test"})
    response = Response(
        url,
        status=200,
        body=wire,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Encoding": "gzip",
            "Transfer-Encoding": "chunked",
            "X-Evil": "a\r\nWARC-Type: response",
        },
        request=request,
    )
    send(signals.response_downloaded, response=response, request=request, spider=None)
    send(signals.response_downloaded, response=response, request=request, spider=None)
    not_modified = Response(url, status=304, headers={"ETag": '"x"'}, request=request)
    send(signals.response_downloaded, response=not_modified, request=request, spider=None)
    send(signals.spider_closed, spider=None, reason="finished")
    files = sorted(p for p in tmp_path.iterdir() if p.name.endswith(".warc.gz"))
    assert [NAME.match(p.name) is not None for p in files] == [True] * 3  # 1K: one capture per file
    assert not list(tmp_path.glob("*" + OPEN_SUFFIX))
    assert crawler.stats.get_value("mediawatch/warc/files") == 3
    assert crawler.stats.get_value("mediawatch/warc/responses") == 1
    assert crawler.stats.get_value("mediawatch/warc/revisits") == 2
    recs = [r for p in files for r in records(p)]
    (resp,) = [r for r in recs if r["type"] == "response"]
    # warcio decodes Content-Encoding on read; the record holds the gzip bytes as sent.
    assert resp["body"] == raw and resp["digest"] == payload_digest(wire)
    assert resp["http"].get_header("Content-Encoding") == "gzip"
    assert resp["http"].get_header("Transfer-Encoding") is None
    assert resp["http"].get_header("Content-Length") == str(len(wire))
    assert "\n" not in resp["http"].get_header("X-Evil")
    revisits = [r for r in recs if r["type"] == "revisit"]
    assert [r["profile"] for r in revisits] == [IDENTICAL, NOT_MODIFIED]
    assert all(r["refers_to"] == resp["id"] for r in revisits)
    for path in files:
        assert warcio("check", str(path)).returncode == 0

    # A later run finds the earlier run's response through the index beside the files.
    crawler, ext = _extension(tmp_path, MEDIAWATCH_CRAWL_RUN_ID=43)
    crawler.signals.send_catch_log(signals.spider_opened, spider=None)
    crawler.signals.send_catch_log(
        signals.response_downloaded, response=response, request=request, spider=None
    )
    crawler.signals.send_catch_log(signals.spider_closed, spider=None, reason="finished")
    (later,) = [p for p in tmp_path.iterdir() if p.name.startswith("mediawatch-43-")]
    (rec,) = [r for r in records(later) if r["type"] in ("response", "revisit")]
    assert rec["type"] == "revisit" and rec["refers_to"] == resp["id"]


# A hostile server's answer: header values that try to start new header lines (or WARC records),
# names that are not HTTP tokens, control characters and an oversized value; and an address
# with a space, a tab and a line break in it.
HOSTILE_URL = "http://127.0.0.1:9/news/a b\tc\r\nWARC-Type: response"
HOSTILE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8\r\nWARC-Type: response"),
    ("X-Tab", "left\tright"),
    ("X-Controls", "a\x7fb\x00c\x1bd"),
    ("Bad Name", "dropped"),
    ("X-Colon:", "dropped"),
    ("X-Long", "v" * 20_000),
]


def _response_record(path: Path) -> dict[str, Any]:
    (rec,) = [r for r in records(path) if r["type"] == "response"]
    return rec


def test_capture_and_export_sanitise_a_hostile_header_and_uri_alike(
    archive: Archive, pages: list[CorpusPage], tmp_path: Path
) -> None:
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    # The crawl's WARC capture writes the download...
    captured_dir = tmp_path / "capture"
    captured_dir.mkdir()
    files = WarcFiles(captured_dir, run_id=7)
    download = Download(
        url=HOSTILE_URL,
        at=at,
        method="GET",
        request_headers=[("User-Agent", "mediawatch-test\r\nX-Injected: 1")],
        request_body=b"",
        status=200,
        protocol="HTTP/1.1",
        response_headers=HOSTILE_HEADERS,
        body=pages[0].raw,
        ip_address=None,
        truncated=False,
        meta={"mediawatch-source": "evil\r\nWARC-Type: response"},
    )
    files.write(download)
    files.close()
    (captured_file,) = captured_dir.glob("*.warc.gz")
    # ...and the archive's export writes the same response once it is recorded.
    record(
        archive.sessions,
        Capture(
            url=HOSTILE_URL, fetched_at=at, raw=pages[0].raw, http_headers=[list(p) for p in HOSTILE_HEADERS]
        ),
    )
    exported_file = tmp_path / "export.warc.gz"
    export_warc(archive, exported_file)

    captured, exported = _response_record(captured_file), _response_record(exported_file)
    assert (
        captured["uri"] == exported["uri"] == "http://127.0.0.1:9/news/a%20b%09c%0D%0AWARC-Type:%20response"
    )

    def pairs(rec: dict[str, Any]) -> list[tuple[str, str]]:
        return [(n, v) for n, v in rec["http"].headers if n.lower() != "content-length"]

    assert (
        pairs(captured)
        == pairs(exported)
        == [
            ("Content-Type", "text/html; charset=utf-8  WARC-Type: response"),
            ("X-Tab", "left\tright"),
            ("X-Controls", "a b c d"),
            ("X-Long", "v" * 8192),
        ]
    )
    assert captured["body"] == exported["body"] == pages[0].raw
    # No other record type was forged, in either file; the request and metadata stay one line each.
    for path in (captured_file, exported_file):
        assert {r["type"] for r in records(path)} <= {"warcinfo", "response", "request", "metadata"}
        assert warcio("check", str(path)).returncode == 0
    request = next(r for r in records(captured_file) if r["type"] == "request")
    assert request["http"].get_header("User-Agent") == "mediawatch-test  X-Injected: 1"
    assert request["http"].get_header("X-Injected") is None
    metadata = next(r for r in records(captured_file) if r["type"] == "metadata")
    assert metadata["body"].splitlines()[1] == b"mediawatch-source: evil  WARC-Type: response"


def test_open_file_until_complete(pages: list[CorpusPage], tmp_path: Path) -> None:
    crawler, ext = _extension(tmp_path)
    crawler.signals.send_catch_log(signals.spider_opened, spider=None)
    url = "http://127.0.0.1:9/a"
    request = Request(url)
    response = Response(url, status=200, body=pages[1].raw, headers={"Content-Type": "text/html"})
    crawler.signals.send_catch_log(
        signals.response_downloaded, response=response, request=request, spider=None
    )
    deadline = datetime.now(UTC).timestamp() + 30
    while not list(tmp_path.glob("*.warc.gz" + OPEN_SUFFIX)) and datetime.now(UTC).timestamp() < deadline:
        time.sleep(0.01)
    assert len(list(tmp_path.glob("*.warc.gz" + OPEN_SUFFIX))) == 1
    assert not list(tmp_path.glob("*.warc.gz"))
    crawler.signals.send_catch_log(signals.spider_closed, spider=None, reason="finished")
    assert not list(tmp_path.glob("*" + OPEN_SUFFIX)) and len(list(tmp_path.glob("*.warc.gz"))) == 1


def test_parse_size() -> None:
    assert parse_size("1G") == 10**9 and parse_size("20k") == 20_000 and parse_size("512") == 512
    for bad in ("", "x", "0", "-1", "1T"):
        with pytest.raises(ConfigError):
            parse_size(bad)


def test_sources_file_turns_capture_on_and_a_bad_directory_is_a_config_error(
    site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    for page in pages[:3]:
        site.set(page.path, page.raw)
    feed = rewrite_feed(corpus, site, [p.path for p in pages[:3]])
    site.set("/feed.xml", feed, content_type="application/rss+xml")
    db_url = f"sqlite:///{tmp_path / 'config.db'}"

    def sources(warc_dir: Path) -> Path:
        path = tmp_path / "sources.yaml"
        path.write_text(
            "version: 1\n"
            "defaults: {download_delay_seconds: 0, concurrent_per_domain: 8,"
            " contact_url: 'https://example.org/mediawatch-tests',"
            f" warc_dir: '{warc_dir}', warc_max_size: 1000}}\n"
            "sources: []\n"
        )
        return path

    warc_dir = tmp_path / "from-config"
    args = ["--topic", "none", "--feed", site.url("/feed.xml")]
    code, report, err = run_crawl_cli(db_url, "--sources", str(sources(warc_dir)), *args)
    assert code == 0, err
    files = warc_files(warc_dir, report["run_id"])
    assert len(files) >= 4  # 1000 bytes: one capture per file (feed, robots.txt, three pages)
    assert report["warc"]["files"] == len(files)

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, err = run_crawl_cli(db_url, "--sources", str(sources(blocker / "warc")), *args)
    assert code == 2 and "cannot write WARC files here" in err, err
    code, _, err = run_crawl_cli(db_url, "--sources", str(sources(warc_dir)), *args, "--warc-max-size", "1T")
    assert code == 2 and "not a size" in err, err
