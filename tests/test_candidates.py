"""Candidates: pages a little under the topic threshold are kept as text and score, listed,
promoted to watched articles through the store, and re-scored without fetching (both backends)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from crawl_site import CorpusPage, Site, run_crawl_cli, sources_file
from sqlalchemy import func, select

from archive.candidates import OPEN, PROMOTED, Verdict, add_candidate, promote
from archive.db import Archive
from archive.errors import NotFoundError
from archive.extract import Extracted, extract
from archive.models import Article, Candidate, SkippedURL, Version
from archive.normalize import normalize_text
from archive.queries import list_candidates
from archive.store import normalize_url_or_none
from crawler.config import DEFAULT_TOPIC, load_topic
from crawler.relevance import Relevance
from mediawatch.cli import cli

DEV_SET = "topic-relevance-dev/items.jsonl"
AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def relevance() -> Relevance:
    return Relevance(load_topic(DEFAULT_TOPIC))


def near_items(corpus: Path, relevance: Relevance, count: int) -> list[tuple[dict[str, str], Extracted]]:
    """Real dev-set headlines + leads that the shipped topic scores as candidates."""
    out = []
    with (corpus / DEV_SET).open(encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            extracted = Extracted(text=normalize_text(item["text"]), title=item["title"])
            if relevance.score_extracted(extracted, None).candidate:
                out.append((item, extracted))
    assert len(out) >= count
    return out[:count]


def store_candidates(
    archive: Archive, relevance: Relevance, items: list[tuple[dict[str, str], Extracted]]
) -> list[str]:
    urls = []
    with archive.sessions.begin() as session:
        for n, (_, extracted) in enumerate(items):
            url = f"https://news.example.org/world/story-{n}"
            score = relevance.score_extracted(extracted, url)
            session.add(
                SkippedURL(
                    url=normalize_url_or_none(url), first_seen=AT, relevance=score.score, reason="candidate"
                )
            )
            add_candidate(
                session,
                url=normalize_url_or_none(url) or url,
                fetched_url=url,
                fetched_at=AT,
                extracted=extracted,
                verdict=Verdict(score.score, score.keep, score.candidate, score.groups),
            )
            urls.append(url)
    return urls


def write_topic(path: Path, threshold: float, margin: float) -> Path:
    text = DEFAULT_TOPIC.read_text("utf-8")
    text = text.replace("threshold: 4\n", f"threshold: {threshold}\n", 1)
    text = text.replace("candidate_margin: 2\n", f"candidate_margin: {margin}\n", 1)
    path.write_text(text, "utf-8")
    return path


def test_a_candidate_is_promoted_through_the_store(
    archive: Archive, corpus: Path, relevance: Relevance
) -> None:
    items = near_items(corpus, relevance, 2)
    urls = store_candidates(archive, relevance, items)
    with archive.reading() as session:
        listed = list_candidates(session)
    assert [c.fetched_url for c in listed] == sorted(
        urls, key=lambda u: -next(c.score for c in listed if c.fetched_url == u)
    )
    assert all(c.status == OPEN and c.groups for c in listed)

    # By URL in another form (tracking parameter): the stored text becomes version 1.
    result = promote(archive.sessions, urls[0] + "?utm_source=feed")
    assert result.promoted and result.outcome == "new-version"
    with archive.reading() as session:
        article = session.get(Article, result.article_id)
        assert article is not None and article.next_check is not None  # revisited like any other
        versions = list(session.scalars(select(Version).where(Version.article_id == article.id)))
        assert [v.seq for v in versions] == [1]
        assert versions[0].title == items[0][0]["title"]
        assert (
            session.scalar(
                select(func.count())
                .select_from(SkippedURL)
                .where(SkippedURL.url == normalize_url_or_none(urls[0]))
            )
            == 0
        )
        assert session.scalar(select(Candidate.status).where(Candidate.fetched_url == urls[0])) == PROMOTED
    # Promoting again changes nothing; an unknown candidate is a clear error.
    again = promote(archive.sessions, urls[0])
    assert again.outcome == "already promoted" and again.article_id == result.article_id
    with archive.reading() as session:
        assert session.scalar(select(func.count()).select_from(Version)) == 1
    with pytest.raises(NotFoundError):
        promote(archive.sessions, "https://news.example.org/nowhere")


def test_the_cli_lists_promotes_and_applies_a_new_threshold_without_fetching(
    db_url: str, corpus: Path, relevance: Relevance, tmp_path: Path
) -> None:
    archive = Archive(db_url)
    items = near_items(corpus, relevance, 3)
    urls = store_candidates(archive, relevance, items)
    runner = CliRunner()

    listed = runner.invoke(cli, ["candidates", "--json", "--db", db_url])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert {r["url"] for r in rows} == set(urls) and all(r["status"] == "open" for r in rows)
    table = runner.invoke(cli, ["candidates", "--db", db_url])
    assert table.exit_code == 0 and "news.example.org/world/story-0" in table.output

    with archive.reading() as session:
        first_id = session.scalar(select(Candidate.id).where(Candidate.fetched_url == urls[0]))
    promoted = runner.invoke(cli, ["candidates", "promote", str(first_id), "--db", db_url])
    assert promoted.exit_code == 0, promoted.output
    assert promoted.output.startswith(f"promoted candidate {first_id} as article ")
    versions = runner.invoke(cli, ["versions", urls[0], "--json", "--db", db_url])
    assert versions.exit_code == 0 and len(versions.output.splitlines()) == 1
    missing = runner.invoke(cli, ["candidates", "promote", "99999", "--db", db_url])
    assert missing.exit_code == 4 and missing.output.startswith("Error: no candidate")

    # A stricter topic: every remaining candidate falls under the margin (dropped, not lost).
    strict = runner.invoke(
        cli,
        [
            "candidates",
            "rescore",
            "--json",
            "--topic",
            str(write_topic(tmp_path / "s.yaml", 9, 1)),
            "--db",
            db_url,
        ],
    )
    assert strict.exit_code == 0, strict.output
    summary = json.loads(strict.output)
    assert summary["rescored"] == 2 and summary["dropped"] == 2 and summary["promoted"] == []
    assert runner.invoke(cli, ["candidates", "--json", "--db", db_url]).output == ""
    # A lower threshold: the dropped ones are kept now, and become watched articles.
    lower = runner.invoke(
        cli, ["candidates", "rescore", "--topic", str(write_topic(tmp_path / "l.yaml", 1, 1)), "--db", db_url]
    )
    assert lower.exit_code == 0, lower.output
    assert lower.output.startswith("2 candidates rescored: 2 promoted")
    with archive.reading() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 3
        statuses = set(session.scalars(select(Candidate.status)))
    assert statuses == {PROMOTED}
    all_rows = runner.invoke(cli, ["candidates", "--all", "--json", "--db", db_url])
    assert len(all_rows.output.splitlines()) == 3


def test_rescoring_brings_dropped_candidates_back(
    archive: Archive, corpus: Path, relevance: Relevance, tmp_path: Path
) -> None:
    from archive.candidates import rescore

    store_candidates(archive, relevance, near_items(corpus, relevance, 2))

    def with_topic(threshold: float, margin: float) -> Relevance:
        return Relevance(load_topic(write_topic(tmp_path / f"t{threshold}.yaml", threshold, margin)))

    def scorer_for(rel: Relevance):  # noqa: ANN202 - a small adapter
        def scorer(text: str, title: str | None, url: str | None) -> Verdict:
            s = rel.score(text, title=title, url=url)
            return Verdict(s.score, s.keep, s.candidate, s.groups)

        return scorer

    dropped = rescore(archive.sessions, scorer_for(with_topic(9, 1)))
    assert dropped.dropped == 2
    back = rescore(archive.sessions, scorer_for(relevance))
    assert back.still_candidates == 2 and back.revived == 2 and back.promoted == []
    with archive.reading() as session:
        assert set(session.scalars(select(Candidate.status))) == {OPEN}
        assert session.scalar(select(func.count()).select_from(Article)) == 0


# ---------------------------------------------------------------------------------------------
# A crawl stores candidates (real pages on a loopback site)

ON_PAGE = "newspaper4k-fixtures/current/tests/data/html/ap_meta_refresh.html.gz"
# A German op-ed that names Afghanistan once with violence in its lead: a candidate.
NEAR_PAGE = "trafilatura-evaldata/tests/eval/hpd.de-Homosexuellenhass.html.gz"
OFF_PAGE = "trafilatura-evaldata/tests/eval/lapresse.tn.parite.html.gz"


@pytest.mark.slow  # two real crawls
def test_a_crawl_keeps_candidates_as_text_and_does_not_refetch_them(
    db_url: str, site: Site, corpus: Path, relevance: Relevance, tmp_path: Path
) -> None:
    """Three real pages behind a feed: the AP page on the topic is archived, the candidates are
    stored with their text and score, the rest is skipped; none of those is fetched again."""
    import gzip

    from crawl_site import rewrite_feed

    def page(path: str, name: str) -> CorpusPage:
        raw = gzip.decompress((corpus / name).read_bytes())
        return CorpusPage(path, raw, extract(raw).text)

    pages = [page("/news/on", ON_PAGE)]
    near = [page("/news/near", NEAR_PAGE)]
    off = [page("/news/off", OFF_PAGE)]
    verdicts = [relevance.score(p.text, title=extract(p.raw).title).verdict for p in (*pages, *near, *off)]
    assert verdicts == ["keep", "candidate", "skip"]  # the pages still suit the shipped topic
    pages += near + off
    for page in pages:
        site.set(page.path, page.raw)
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    site.set(
        "/feed.xml", rewrite_feed(corpus, site, [p.path for p in pages]), content_type="application/rss+xml"
    )
    args = ["--sources", str(sources_file(tmp_path)), "--feed", site.url("/feed.xml"), "--no-discovery"]

    code, report, err = run_crawl_cli(db_url, *args)
    assert code == 0, err
    c = report["counters"]
    assert (c.get("new_articles"), c.get("candidates"), c.get("skipped_offtopic")) == (1, 1, 1)
    archive = Archive(db_url)
    with archive.reading() as session:
        stored = list(session.scalars(select(Candidate)))
        assert [s.fetched_url for s in stored] == [site.url("/news/near")]
        assert stored[0].text == near[0].text and stored[0].status == OPEN
        assert (
            session.scalar(
                select(SkippedURL.reason).where(
                    SkippedURL.url == normalize_url_or_none(site.url("/news/near"))
                )
            )
            == "candidate"
        )

    # Promote it: from then on it is revisited like any archived article.
    result = promote(archive.sessions, site.url("/news/near"))
    assert result.promoted
    code, report, err = run_crawl_cli(db_url, *args, "--revisit", "all")
    assert code == 0, err
    assert site.hits["/news/near"] >= 2 and site.hits["/news/off"] == 1  # revisited; off-topic is not
    assert report["counters"].get("candidates", 0) == 0
    with archive.reading() as session:  # the same page, the same text: still one version
        assert (
            session.scalar(
                select(func.count()).select_from(Version).where(Version.article_id == result.article_id)
            )
            == 1
        )
