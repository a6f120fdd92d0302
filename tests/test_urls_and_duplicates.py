"""One article per story and republication links (docs/versions.md), on real corpus pages and both backends.

Prints the near-duplicate precision and recall (run with ``-s``).
"""

from __future__ import annotations

import html
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus_data import eval_pages
from sqlalchemy import func, select

from archive.db import Archive
from archive.dedup import containment, duplicates_of, same_story, shingles, signature
from archive.extract import ExtractionError, extract
from archive.lookups import find_article
from archive.models import Article, ArticleURL, DuplicateLink, FetchOutcome, LshBucket, Version
from archive.store import Capture, record
from archive.volatile import key_text
from mediawatch.cli import cli

U = "https://www.theguardian.com/education/2020/jan/20/thousands-of-uk-academics-treated-as-second-class-citizens"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
VARIANTS = [
    U + "?utm_source=twitter",
    U + "?utm_medium=social&utm_campaign=x",
    U + "?fbclid=IwAR0abc",
    U + "?gclid=abc",
    U + "#comments",
    U + "#img-1",
    "HTTPS://WWW.THEGUARDIAN.COM" + U[27:],
    U.replace(".com/", ".com:443/"),
    U + "/",
    U + "?CMP=share_btn_tw",
    U + "?CMP=Share_iOSApp_Other&utm_source=x",
    U + "/amp",
    U.replace("www.", "amp."),
    U + "?amp=1",
    U + "?outputType=amp",
    U + "?mc_cid=1&mc_eid=2",
    U + "?at_medium=RSS&at_campaign=x",
    U + "?ito=1",
    U + "?smid=tw-share",
    U + "?ref_src=twsrc",
    U + "?_ga=2.1",
    U + "?msclkid=1",
    U + "?igshid=1",
    U + "?utm_content=a#top",
    U + "?",
    U + "#",
    U.replace("/education/", "/education//"),
    U + "?utm_source=a&fbclid=b&gclid=c#x",
    "  " + U + "  ",
    U.replace("education", "%65ducation"),
    U + "?s_cid=1",
    U + "?xtor=RSS-1",
    U + "?pk_campaign=a",
    U.replace("https://", "http://"),
    U.replace("https://www.", "https://"),
]


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def count(archive: Archive, model: type) -> int:
    with archive.reading() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


# ---------------------------------------------------------------------------------------------
# D5 one article per story URL


def test_url_variants_map_to_one_article(archive: Archive, guardian: bytes) -> None:
    assert len(VARIANTS) >= 30
    first = record(archive.sessions, Capture(U + "?utm_source=rss#top", at(0), raw=guardian))
    ids = {first.article_id}
    for hour, variant in enumerate(VARIANTS, start=1):
        token = guardian.replace(b"</body>", f"<div>{hour}</div></body>".encode())
        result = record(archive.sessions, Capture(variant, at(hour), raw=token))
        assert result.outcome == FetchOutcome.UNCHANGED, (variant, result)
        ids.add(result.article_id)
    print(f"\n[D5 {archive.engine.dialect.name}] {len(VARIANTS)} URL variants -> {len(ids)} article(s)")
    assert ids == {first.article_id}
    assert count(archive, Article) == 1 and count(archive, Version) == 1
    with archive.reading() as s:
        for variant in VARIANTS:
            assert find_article(s, variant).id == first.article_id  # type: ignore[union-attr]


def test_move_to_a_new_slug_keeps_the_history(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(U, at(0), raw=guardian))
    moved = U.replace("second-class-citizens", "second-class-staff")
    edited = guardian.replace(b"pool of low-paid staff", b"pool of poorly paid staff")
    result = record(archive.sessions, Capture(U, at(1), raw=edited, final_url=moved))  # a 301
    assert result.outcome == FetchOutcome.NEW_VERSION and result.version_seq == 2
    # Later the crawler reaches the new slug directly (feeds now list it): same article.
    again = record(archive.sessions, Capture(moved, at(2), raw=edited))
    assert again.article_id == result.article_id and again.outcome == FetchOutcome.UNCHANGED
    assert count(archive, Article) == 1
    with archive.reading() as s:
        assert s.scalar(select(ArticleURL.kind).where(ArticleURL.url == moved)) == "redirect"


def hostile(canonical: str) -> bytes:
    return (
        f'<html><head><title>Cheap pills</title><link rel="canonical" href="{canonical}"></head>'
        "<body><article><h1>Cheap pills</h1>"
        + "".join(
            f"<p>Buy cheap pills online today, paragraph {i}, best prices guaranteed.</p>" for i in range(12)
        )
        + "</article></body></html>"
    ).encode()


def test_untrusted_cross_domain_canonical_cannot_hijack(archive: Archive, guardian: bytes) -> None:
    original = record(archive.sessions, Capture(U, at(0), raw=guardian))
    attack = record(archive.sessions, Capture("https://evil.example/pills", at(1), raw=hostile(U)))
    assert attack.outcome == FetchOutcome.NEW_VERSION and attack.article_id != original.article_id
    with archive.reading() as s:
        assert s.scalar(select(Article.canonical_url).where(Article.id == attack.article_id)) == (
            "https://evil.example/pills"
        )
        assert [
            v.seq for v in s.scalars(select(Version).where(Version.article_id == original.article_id))
        ] == [1]
    # A syndication partner the source trusts may name the original as canonical.
    partner = record(
        archive.sessions,
        Capture("https://partner.example/story", at(2), raw=guardian, trust_cross_domain_canonical=True),
    )
    assert partner.article_id == original.article_id


# ---------------------------------------------------------------------------------------------
# Republication links


def template(title: str, paragraphs: list[str], outlet: str) -> bytes:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)} | {outlet}</title></head><body>"
        f"<nav><a href='/'>{outlet}</a> <a href='/world'>World</a> <a href='/opinion'>Opinion</a></nav>"
        f"<main><article><h1>{html.escape(title)}</h1>{body}</article></main>"
        f"<footer>Copyright {outlet}. All rights reserved.</footer></body></html>"
    ).encode()


def small_edits(paragraphs: list[str], rng: random.Random) -> list[str]:
    """A copy editor's touch: one word in the first paragraph, then about one word in 150."""
    out = []
    for index, paragraph in enumerate(paragraphs):
        words = paragraph.split()
        for _ in range(len(words) // 150 if index else 1):
            words[rng.randrange(len(words))] = rng.choice(["indeed", "reportedly", "notably"])
        out.append(" ".join(words))
    return out


LEDE = (
    "This article was first published by our partner and is republished here with permission, "
    "with additional reporting from our own correspondents."
)


@pytest.fixture(scope="module")
def articles(corpus: Path) -> list[tuple[str, bytes, str, list[str]]]:
    """(url, raw, title, paragraphs) of 30 long real articles from different pages."""
    chosen = []
    for page in eval_pages(corpus):
        if len(chosen) == 30:
            break
        if not page.url:
            continue
        try:
            extracted = extract(page.raw(), url=page.url)
        except ExtractionError:
            continue
        paragraphs = extracted.text.split("\n")
        if len(extracted.text.split()) < 400 or len(paragraphs) < 4 or len(paragraphs[0].split()) > 60:
            continue
        chosen.append((page.url, page.raw(), extracted.title or "Untitled", paragraphs))
    assert len(chosen) == 30
    return chosen


@pytest.mark.slow
def test_republications_are_linked_precisely(archive: Archive, articles: list, db_url: str) -> None:  # type: ignore[type-arg]
    rng = random.Random(5)
    originals: dict[int, int] = {}
    for index, (url, raw, _title, _paragraphs) in enumerate(articles):
        result = record(archive.sessions, Capture(url, at(index), raw=raw))
        assert result.outcome == FetchOutcome.NEW_VERSION
        originals[index] = result.article_id  # type: ignore[assignment]
    expected: set[frozenset[int]] = set()
    kinds = ("same-text", "small-edits", "different-lede")
    for index, (_url, _raw, title, paragraphs) in enumerate(articles):
        copies = {
            "same-text": paragraphs,
            "small-edits": small_edits(paragraphs, rng),
            "different-lede": [LEDE, *paragraphs[1:]],
        }
        for number, kind in enumerate(kinds):
            page = template(title, copies[kind], f"Outlet{number}")
            # A second process, a later run: the index is read from the database.
            with Archive(db_url) as other:
                result = record(
                    other.sessions,
                    Capture(f"https://outlet{number}.example/{index}", at(100 + index), raw=page),
                )
            assert result.outcome == FetchOutcome.NEW_VERSION
            expected.add(frozenset((originals[index], result.article_id)))  # type: ignore[arg-type]
    with archive.reading() as s:
        links = {
            frozenset((link.article_id, link.other_id)): link for link in s.scalars(select(DuplicateLink))
        }
        assert s.scalar(select(func.count()).select_from(LshBucket)) > 0
    # Copies of the same original are also duplicates of each other: those links are right too.
    copies_of: dict[int, set[int]] = {}
    for pair in expected:
        low, high = sorted(pair)
        copies_of.setdefault(low, {low}).add(high)
    same_story = {frozenset((a, b)) for group in copies_of.values() for a in group for b in group if a != b}
    true_links = [pair for pair in links if pair in same_story]
    found_expected = [pair for pair in expected if pair in links]
    precision = len(true_links) / len(links) if links else 0.0
    recall = len(found_expected) / len(expected)
    print(
        f"\n[dedup {archive.engine.dialect.name}] originals={len(articles)} copies={len(expected)} "
        f"links={len(links)} precision={precision:.3f} recall={recall:.3f} "
        f"(unrelated real pages linked: {len(links) - len(true_links)})"
    )
    assert precision == 1.0 and recall == 1.0
    # Which copy was seen first: always the original.
    with archive.reading() as s:
        for index, article_id in originals.items():
            found = duplicates_of(s, article_id)
            assert len(found) >= 3 and not any(d.seen_first for d in found), index
            copy = next(d for d in found if d.url.startswith("https://outlet0.example/"))
            assert copy.kind in ("exact", "near") and copy.similarity >= 0.9
            back = duplicates_of(s, copy.article_id)
            assert any(d.article_id == article_id and d.seen_first for d in back)
    out = CliRunner().invoke(cli, ["duplicates", articles[0][0], "--json", "--db", db_url])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert {row["url"].split("/")[2] for row in rows} >= {
        "outlet0.example",
        "outlet1.example",
        "outlet2.example",
    }
    missing = CliRunner().invoke(cli, ["duplicates", "https://nowhere.example/x", "--db", db_url])
    assert missing.exit_code == 4


@pytest.mark.slow
def test_unrelated_real_pages_are_not_near_duplicates(corpus: Path) -> None:
    """Distinct real articles (same sites, same languages, overlapping topics) stay apart."""
    texts: list[tuple[str, str]] = []
    for page in eval_pages(corpus):
        if len(texts) == 60:
            break
        if not page.url:
            continue
        try:
            texts.append((page.url.split("/")[2], key_text(extract(page.raw(), url=page.url).text)))
        except ExtractionError:
            continue
    grams = [(host, shingles(text)) for host, text in texts if signature(text) is not None]
    pairs = above = same_site = 0
    worst = 0.0
    for i in range(len(grams)):
        for j in range(i + 1, len(grams)):
            pairs += 1
            same_site += grams[i][0] == grams[j][0]
            worst = max(worst, containment(grams[i][1], grams[j][1]))
            above += same_story(grams[i][1], grams[j][1]) is not None
    print(
        f"\n[dedup] unrelated pairs={pairs} (same site: {same_site}) linked={above} "
        f"max containment={worst:.2f}"
    )
    assert pairs >= 1000 and above == 0


def test_exact_copy_on_another_outlet_is_linked_not_dropped(archive: Archive, guardian: bytes) -> None:
    original = record(archive.sessions, Capture(U, at(0), raw=guardian))
    mirror = record(archive.sessions, Capture("https://mirror.example/academics", at(1), raw=guardian))
    assert mirror.outcome == FetchOutcome.NEW_VERSION and mirror.article_id != original.article_id
    with archive.reading() as s:
        [link] = duplicates_of(s, original.article_id)  # type: ignore[arg-type]
        assert (link.article_id, link.kind, link.similarity, link.seen_first) == (
            mirror.article_id,
            "exact",
            1.0,
            False,
        )
        [back] = duplicates_of(s, mirror.article_id)  # type: ignore[arg-type]
        assert back.article_id == original.article_id and back.seen_first
        assert s.scalar(select(func.count()).select_from(Version)) == 2
