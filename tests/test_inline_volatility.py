"""Volatile text spliced INTO a body paragraph is not an edit; real edits still are (issue 11 §2).

Real ``mediawatch crawl`` processes over the loopback site of tests/crawl_site.py, serving 60 real
trafilatura-evaldata pages on each backend. After the first crawl, 21 pages splice text that
differs on every request ("Updated N minutes ago. Also read: <a link to a random story>, you may
have missed it.") in front of a real sentence inside an existing body paragraph; 8 pages get a
real one-word edit (4 of them also carry the splice) and 2 lose a body paragraph (with the
splice). Prints the false versions and the edits found (run with ``-s``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from crawl_site import RenderingSite, healthy_pages, rewrite_feed, run_crawl_cli, sources_file
from perturb import Anchor, delete_paragraph, edit_word, find_anchor, inline_volatile
from sqlalchemy import select

from archive.db import Archive
from archive.extract import extract
from archive.models import Article, ChangeKind, Version

PAGES = 60
FEED_ITEMS = 20  # items in the real feed the loopback feeds are made from
SPLICED_ONLY = 15
EDITED = 8  # one-word edits; the first half also carry the splice
DELETED = 2  # a body paragraph deleted, with the splice


@dataclass
class Plan:
    path: str
    raw: bytes
    anchor: Anchor
    spliced: bool = False
    edit: str | None = None  # "word" | "paragraph"
    gone: str = ""  # words of the deleted paragraph


@pytest.fixture(scope="module")
def plans(corpus: Path) -> list[Plan]:
    out: list[Plan] = []
    for page in healthy_pages(corpus, PAGES + 30):
        anchor = find_anchor(page.raw, page.text)
        if anchor is not None:
            out.append(Plan(f"/news/{len(out)}", page.raw, anchor))
        if len(out) == PAGES:
            break
    assert len(out) == PAGES, f"only {len(out)} usable corpus pages"
    for plan in out[:SPLICED_ONLY]:
        plan.spliced = True
    for number, plan in enumerate(out[SPLICED_ONLY : SPLICED_ONLY + EDITED]):
        plan.edit, plan.spliced = "word", number < EDITED // 2
    deletable = 0
    for plan in out[SPLICED_ONLY + EDITED :]:
        if deletable == DELETED:
            break
        try:
            delete_paragraph(plan.raw, _extracted(plan.raw), plan.anchor)
        except AssertionError:
            continue
        plan.edit, plan.spliced = "paragraph", True
        deletable += 1
    assert deletable == DELETED
    return out


def _extracted(raw: bytes) -> str:
    return extract(raw).text


@pytest.fixture
def site() -> Iterator[RenderingSite]:
    running = RenderingSite().start()
    yield running
    running.stop()


def _edited(plan: Plan) -> tuple[bytes, Anchor]:
    if plan.edit == "word":
        return edit_word(plan.raw, plan.anchor)
    if plan.edit == "paragraph":
        raw, anchor, plan.gone = delete_paragraph(plan.raw, _extracted(plan.raw), plan.anchor)
        return raw, anchor
    return plan.raw, plan.anchor


def _serve(site: RenderingSite, plan: Plan, seed: int) -> None:
    raw, anchor = _edited(plan)
    if not plan.spliced:
        site.set(plan.path, raw)
        return
    # Every request, the confirming re-fetch included, gets its own splice.
    site.renderers[plan.path] = lambda n: inline_volatile(raw, anchor, random.Random(seed * 1000 + n))


def _versions(archive: Archive, url: str) -> list[Version]:
    with archive.reading() as session:
        article = session.scalar(select(Article).where(Article.canonical_url == url))
        assert article is not None, url
        return list(
            session.scalars(select(Version).where(Version.article_id == article.id).order_by(Version.seq))
        )


@pytest.mark.slow
def test_text_spliced_into_a_paragraph_is_not_an_edit_and_real_edits_are_found(
    db_url: str, site: RenderingSite, plans: list[Plan], tmp_path: Path, corpus: Path
) -> None:
    for plan in plans:
        site.set(plan.path, plan.raw)
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    feeds = []
    for start in range(0, PAGES, FEED_ITEMS):
        path = f"/feed{start}.xml"
        chunk = [p.path for p in plans[start : start + FEED_ITEMS]]
        site.set(path, rewrite_feed(corpus, site, chunk), content_type="application/rss+xml")
        feeds += ["--feed", site.url(path)]
    common = ["--sources", str(sources_file(tmp_path)), "--topic", "none", *feeds]
    archive = Archive(db_url)

    # 1. The first capture of every page is clean (one fetch each).
    code, report, err = run_crawl_cli(db_url, *common)
    assert code == 0, err
    assert report["counters"]["new_articles"] == PAGES

    # 2. and 3. Two revisits of everything with the splice served (and the edits made).
    for number, plan in enumerate(plans):
        _serve(site, plan, number)
    spliced = sum(p.spliced for p in plans)
    for crawl in (2, 3):
        code, report, err = run_crawl_cli(db_url, *common, "--revisit", "all")
        assert code == 0, err
        assert report["counters"]["confirm_requests"] == spliced + (EDITED // 2 if crawl == 2 else 0)

    false_versions: list[str] = []
    found: list[str] = []
    missed: list[str] = []
    for plan in plans:
        versions = _versions(archive, site.url(plan.path))
        kinds = [v.change_kind for v in versions]
        if plan.edit is None:
            if kinds != [ChangeKind.FIRST]:
                false_versions.append(f"{plan.path} {kinds}")
            continue
        ok = kinds == [ChangeKind.FIRST, ChangeKind.TEXT]
        if ok and plan.edit == "word":
            ok = "Zanzibarian" in versions[1].text and "Zanzibarian" not in versions[0].text
        if ok and plan.edit == "paragraph":
            ok = plan.gone in versions[0].text and plan.gone not in versions[1].text
        (found if ok else missed).append(f"{plan.path} {plan.edit} {kinds}")
    unedited = sum(p.edit is None for p in plans)
    print(
        f"\n[inline volatility {archive.engine.dialect.name}] pages={PAGES} spliced={spliced} "
        f"false versions={len(false_versions)} of {unedited} unedited | "
        f"edits found={len(found)} of {EDITED + DELETED}"
    )
    assert not false_versions, false_versions
    assert not missed, missed
    assert unedited == 50 and len(found) == EDITED + DELETED
