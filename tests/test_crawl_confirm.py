"""Issue 5 in the crawler: the confirming re-fetch of possible edits, and per-source ``archive:`` policy.

Real ``mediawatch crawl`` processes against the loopback site of tests/crawl_site.py, serving real
trafilatura-evaldata pages. A page can be rendered per request (tests/perturb.py's per-request
lines, including one that matches no furniture pattern), so every fetch of it, the confirming
re-fetch included, carries different text.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from crawl_site import CorpusPage, RenderingSite, healthy_pages, rewrite_feed, run_crawl_cli, sources_file
from perturb import Anchor, edit_sentence, find_anchor, volatile_lines
from sqlalchemy import select

from archive.blobs import sha256_hex
from archive.db import Archive
from archive.errors import ConfigError
from archive.models import Article, ChangeKind, FetchOutcome, Version
from archive.store import Capture, record
from archive.volatile import confirmed_key_text, key_text, only_rotated_since
from crawler.config import capture_options, load_sources
from crawler.confirm import confirmed, needs_confirmation, outcome_key
from crawler.state import Revisit

pytestmark = pytest.mark.slow  # real crawls with confirming re-fetches


@pytest.fixture
def site() -> Iterator[RenderingSite]:
    s = RenderingSite().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def anchored(corpus: Path) -> list[tuple[CorpusPage, Anchor]]:
    out = []
    for page in healthy_pages(corpus, 8):
        anchor = find_anchor(page.raw, page.text)
        if anchor is not None:
            out.append((page, anchor))
        if len(out) == 2:
            return out
    raise AssertionError("no anchorable corpus pages")


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite for the crawl processes (the file stays fast); the store path runs on both backends below."""
    path = tmp_path / "policy.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def _versions(archive: Archive, url: str) -> list[Version]:
    with archive.reading() as session:
        article = session.scalar(select(Article).where(Article.canonical_url == url))
        assert article is not None, url
        return list(
            session.scalars(select(Version).where(Version.article_id == article.id).order_by(Version.seq))
        )


def test_per_request_text_is_confirmed_away_and_a_real_edit_survives(
    sqlite_url: str,
    site: RenderingSite,
    anchored: list[tuple[CorpusPage, Anchor]],
    tmp_path: Path,
    corpus: Path,
) -> None:
    (rotating, anchor), (static, _) = anchored
    served = {"raw": rotating.raw, "anchor": anchor}
    # Every request (the confirming re-fetch too) gets its own "Updated N minutes ago",
    # "Also read: …", reader count and a "Today's pick …" line that matches no pattern.
    site.renderers[rotating.path] = lambda n: volatile_lines(
        served["raw"], served["anchor"], random.Random(n)
    )
    site.set(static.path, static.raw)
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    site.set(
        "/feed.xml",
        rewrite_feed(corpus, site, [rotating.path, static.path]),
        content_type="application/rss+xml",
    )
    common = ["--sources", str(sources_file(tmp_path)), "--topic", "none", "--feed", site.url("/feed.xml")]
    archive = Archive(sqlite_url)
    url = site.url(rotating.path)

    # New articles are recorded from one fetch: no confirmation.
    code, report, err = run_crawl_cli(sqlite_url, *common)
    assert code == 0, err
    assert report["counters"]["new_articles"] == 2
    assert "confirm_requests" not in report["counters"]
    assert site.hits[rotating.path] == 1 and site.hits[static.path] == 1

    # Two more crawls: the rotating page's bytes differ each time, so it is fetched twice;
    # the static page answers 304 and is never re-fetched. Still exactly one version.
    for crawl in (2, 3):
        code, report, err = run_crawl_cli(sqlite_url, *common, "--revisit", "all")
        assert code == 0, err
        c = report["counters"]
        assert c["confirm_requests"] == 1, c
        assert c["confirm_differs"] == 1, c
        assert c.get("new_versions_text", 0) == 0, c
        assert c["unchanged"] == 1 and c["not_modified"] == 1, c
        assert site.hits[rotating.path] == 1 + 2 * (crawl - 1)
        assert site.hits[static.path] == crawl
        assert len(_versions(archive, url)) == 1
    assert len(_versions(archive, site.url(static.path))) == 1

    # A real one-sentence edit, still with per-request lines: exactly one new TEXT version.
    served["raw"], served["anchor"] = edit_sentence(rotating.raw, anchor)
    code, report, err = run_crawl_cli(sqlite_url, *common, "--revisit", "all")
    assert code == 0, err
    assert report["counters"]["confirm_requests"] == 1
    assert report["counters"]["new_versions_text"] == 1
    versions = _versions(archive, url)
    assert [v.change_kind for v in versions] == [ChangeKind.FIRST, ChangeKind.TEXT]
    assert "A spokesperson later disputed this account" in versions[1].text
    assert "A spokesperson later disputed this account" not in versions[0].text


def _with_line(raw: bytes, anchor: Anchor, line: str) -> bytes:
    return raw[: anchor.insert_at] + f"<p>{line}</p>".encode() + raw[anchor.insert_at :]


def test_source_ignore_lines_keep_a_changing_line_from_making_versions(
    sqlite_url: str,
    site: RenderingSite,
    anchored: list[tuple[CorpusPage, Anchor]],
    tmp_path: Path,
    corpus: Path,
) -> None:
    (page, anchor), _ = anchored
    # The same page under two sources; a line that changes between crawls but not between the
    # two fetches of one crawl (so confirmation cannot mask it), and matches no default pattern.
    for path in ("/a/story", "/b/story"):
        site.set(path, _with_line(page.raw, anchor, "Karachi weather now 31 C, humid"))
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    for name in ("a", "b"):
        site.set(
            f"/{name}/feed.xml",
            rewrite_feed(corpus, site, [f"/{name}/story"]),
            content_type="application/rss+xml",
        )
    feed_a, feed_b = site.url("/a/feed.xml"), site.url("/b/feed.xml")
    body = (
        "sources:\n"
        f"- {{id: with_policy, name: With policy, country: PK, lang: en, feeds: [{{url: '{feed_a}'}}],\n"
        "   archive: {ignore_lines: ['Karachi weather now .*'], trust_cross_domain_canonical: false,\n"
        "             revisit: [{until: 30d, every: 10m}]}}\n"
        f"- {{id: without, name: Without policy, country: PK, lang: en, feeds: [{{url: '{feed_b}'}}]}}\n"
    )
    # Every source's articles are revisited every 2 h, except the one with its own ladder.
    sources = sources_file(tmp_path, body, defaults="revisit: [{until: 30d, every: 2h}]")
    common = ["--sources", str(sources), "--topic", "none", "--no-discovery"]
    archive = Archive(sqlite_url)

    code, report, err = run_crawl_cli(sqlite_url, *common)
    assert code == 0, err
    assert report["counters"]["new_articles"] == 2
    for path, every in (("/a/story", timedelta(minutes=10)), ("/b/story", timedelta(hours=2))):
        with archive.reading() as session:
            article = session.scalar(select(Article).where(Article.canonical_url == site.url(path)))
        assert article is not None and article.next_check is not None and article.last_checked is not None
        assert article.next_check - article.last_checked == every

    for path in ("/a/story", "/b/story"):
        site.set(path, _with_line(page.raw, anchor, "Karachi weather now 24 C, light rain"))
    code, report, err = run_crawl_cli(sqlite_url, *common, "--revisit", "all")
    assert code == 0, err
    assert report["counters"]["confirm_requests"] == 2  # both changed bytes; both fetches agree
    assert report["sources"]["(revisit)"]["new_versions_text"] == 1
    assert len(_versions(archive, site.url("/a/story"))) == 1
    changed = _versions(archive, site.url("/b/story"))
    assert [v.change_kind for v in changed] == [ChangeKind.FIRST, ChangeKind.TEXT]
    assert "light rain" in changed[1].text


def test_archive_block_is_validated_and_becomes_capture_options(tmp_path: Path) -> None:
    good = sources_file(
        tmp_path,
        "sources:\n- {id: x, name: X, country: PK, lang: en, trust_cross_domain_canonical: true,\n"
        "   archive: {ignore_lines: ['Listen to this article']}}\n",
    )
    options = capture_options(load_sources(good).sources[0])
    assert options == {
        "ignore_patterns": ("Listen to this article",),
        "trust_cross_domain_canonical": True,
        "revisit_ladder": None,
    }
    for ladder, message in [
        ("[{until: 2d, every: 1h}, {until: 1d, every: 1h}]", "`until` ages must increase"),
        ("[{until: 1h, every: 2h}]", "longer than the rung"),
        ("[{until: soon, every: 1h}]", "not a duration"),
        ("[]", "1 to 20 rungs"),
    ]:
        bad_ladder = sources_file(
            tmp_path,
            f"sources:\n- {{id: x, name: X, country: PK, lang: en,\n   archive: {{revisit: {ladder}}}}}\n",
        )
        with pytest.raises(ConfigError, match=message):
            load_sources(bad_ladder)
        bad_default = sources_file(tmp_path, "sources: []\n", defaults=f"revisit: {ladder}")
        with pytest.raises(ConfigError, match=r"defaults\.revisit"):
            load_sources(bad_default)
    bad = sources_file(
        tmp_path, "sources:\n- {id: x, name: X, country: PK, lang: en,\n   archive: {ignore_lines: ['(']}}\n"
    )
    with pytest.raises(ConfigError, match=r"sources\[0\]\.archive\.ignore_lines"):
        load_sources(bad)
    bad.write_text(bad.read_text().replace("ignore_lines: ['(']", "ignore: []"))
    with pytest.raises(ConfigError, match="archive"):
        load_sources(bad)


def _item(body: bytes | None, raw_sha256: str | None, status: int = 200, **extra: Any) -> dict[str, Any]:
    revisit = Revisit(1, "http://127.0.0.1/x", None, None, None, raw_sha256)
    return {
        "mw": "page",
        "url": "http://127.0.0.1/x",
        "final_url": None,
        "status": status,
        "body": body,
        "source": "(revisit)",
        "revisit": revisit,
        **extra,
    }


def test_only_changed_bytes_of_known_articles_are_confirmed() -> None:
    body = b"<html>page</html>"
    assert needs_confirmation(_item(body, "0" * 64))
    assert needs_confirmation(_item(body, None))  # imported text, no raw digest yet
    assert not needs_confirmation(_item(body, sha256_hex(body)))  # byte-identical
    assert not needs_confirmation({**_item(body, "0" * 64), "revisit": None})  # a new article
    assert not needs_confirmation(_item(None, "0" * 64, status=304))
    assert not needs_confirmation(_item(None, "0" * 64, status=404))
    assert not needs_confirmation(_item(body, "0" * 64, confirm=b"second"))  # never twice

    first = _item(body, "0" * 64)
    assert confirmed(first, 200, b"second", "http://127.0.0.1/x")["confirm"] == b"second"
    assert outcome_key(confirmed(first, 200, b"second", None)) == "differs"
    assert outcome_key(confirmed(first, 200, body, None)) == "identical"
    for status, second, final in ((500, b"x", None), (None, None, None), (200, b"x", "http://127.0.0.1/y")):
        item = confirmed(first, status, second, final)
        assert item["confirm"] is None and outcome_key(item) == "unusable"
        assert item["body"] == body


def test_a_stored_per_request_line_is_furniture_but_a_deletion_is_an_edit(
    anchored: list[tuple[CorpusPage, Anchor]],
) -> None:
    (page, _), _ = anchored
    paragraphs = [p for p in page.text.split("\n") if len(p) > 80][:4]
    assert len(paragraphs) == 4
    body = "\n".join(paragraphs)

    def with_pick(n: int) -> str:
        return body.replace(paragraphs[1], f"{paragraphs[1]}\nToday's pick number {n}: the river story", 1)

    assert only_rotated_since(with_pick(1), with_pick(2), with_pick(3))
    # The pick line gone from both later fetches, or a body paragraph deleted: an edit.
    assert not only_rotated_since(with_pick(1), body, body)
    shorter = with_pick(2).replace(paragraphs[2] + "\n", "")
    assert not only_rotated_since(with_pick(1), shorter, shorter.replace("number 2", "number 3"))
    # A real sentence added to a paragraph in both fetches: an edit.
    added = paragraphs[0] + " A spokesperson disputed it."
    edited = [with_pick(n).replace(paragraphs[0], added) for n in (2, 3)]
    assert not only_rotated_since(with_pick(1), *edited)


def test_store_masks_the_stored_per_request_line_on_the_first_confirmed_check(
    db_url: str, anchored: list[tuple[CorpusPage, Anchor]]
) -> None:
    """What the crawler records, on each backend: a new article from one fetch, then confirmed checks."""
    (page, anchor), _ = anchored
    archive = Archive(db_url)
    url, t0 = "http://127.0.0.1/news/story", datetime(2026, 3, 1, 8, tzinfo=UTC)

    def fetch(n: int, raw: bytes = page.raw, at: Anchor = anchor) -> bytes:
        return volatile_lines(raw, at, random.Random(n))

    first = record(archive.sessions, Capture(url, t0, raw=fetch(1)))
    assert first.outcome == FetchOutcome.NEW_VERSION
    for check in (1, 2):
        at = t0 + timedelta(hours=check)
        capture = Capture(url, at, raw=fetch(2 * check), confirm=fetch(2 * check + 1))
        result = record(archive.sessions, capture)
        assert result.outcome == FetchOutcome.UNCHANGED, result.message
    edited, edited_anchor = edit_sentence(page.raw, anchor)
    at = t0 + timedelta(hours=3)
    capture = Capture(url, at, raw=fetch(8, edited, edited_anchor), confirm=fetch(9, edited, edited_anchor))
    result = record(archive.sessions, capture)
    assert result.outcome == FetchOutcome.NEW_VERSION and result.change_kind == ChangeKind.TEXT
    # Without a confirming fetch the stored per-request line would have made a false version.
    other = "http://127.0.0.1/news/other"
    record(archive.sessions, Capture(other, t0, raw=fetch(11)))
    assert record(archive.sessions, Capture(other, t0 + timedelta(hours=1), raw=fetch(12))).outcome == (
        FetchOutcome.NEW_VERSION
    )
    archive.close()


def test_a_sentence_spliced_into_a_paragraph_is_furniture_but_a_deleted_sentence_is_an_edit(
    anchored: list[tuple[CorpusPage, Anchor]],
) -> None:
    """Sentence-level volatility on a real article's paragraphs (the rules the crawl test exercises)."""
    (page, _), _ = anchored
    paragraphs = [p for p in page.text.split("\n") if len(p) > 80][:4]
    body = "\n".join(paragraphs)
    target = paragraphs[1]

    def spliced(n: int, text: str = body) -> str:
        splice = f"Updated {n} minutes ago. Also read: Story number {n * 7919}, you may have missed it. "
        return text.replace(target, splice + target, 1)

    # The spliced sentences differ between the two fetches: masked whole, nothing left behind.
    assert confirmed_key_text(spliced(3), spliced(4)) == key_text(body)
    # A version recorded from one fetch that carried a splice: that slot rotates, not an edit.
    assert only_rotated_since(spliced(2), spliced(3), spliced(4))
    # A sentence deleted from the paragraph, or one word changed in it, in both fetches: an edit.
    first_sentence = target.split(". ")[0] + ". "
    assert first_sentence in target and first_sentence != target
    without = body.replace(first_sentence, "", 1)
    assert not only_rotated_since(spliced(2), spliced(3, without), spliced(4, without))
    assert confirmed_key_text(spliced(3, without), spliced(4, without)) != key_text(body)
    word = max(target.split(), key=len)
    edited = body.replace(word, "Zanzibarian", 1)
    assert "Zanzibarian" in confirmed_key_text(spliced(3, edited), spliced(4, edited))
    assert not only_rotated_since(spliced(2), spliced(3, edited), spliced(4, edited))
