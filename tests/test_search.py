"""Full-text search on both backends: real NYT texts, hostile queries, the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, update
from views_site import import_nyt

from archive.db import Archive
from archive.extract import Extracted
from archive.models import Version
from archive.search import (
    MARK_CLOSE,
    MARK_OPEN,
    SearchError,
    fts5_expression,
    parse_query,
    search,
)
from archive.store import Capture, record
from mediawatch.cli import cli

SLUGS = ["mubarak-is-on", "activism-grows-as", "behind-romneys-decision", "road-trip-helps"]
HOSTILE_QUERIES = [
    'council"',
    "AND",
    "*",
    "NEAR(",
    "council OR",
    "body:",
    "text:mubarak",
    "(",
    ")",
    "^",
    '""',
    "-",
    "NOT",
    "mubarak AND",
    "'; DROP TABLE version; --",
    "1' OR '1'='1",
    '" OR 1=1 --',
    "mubarak'); DELETE FROM article; --",
    "%' UNION SELECT sqlite_version() --",
    "\\x00",
    "\x00mubarak",
    "a" * 400,
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃",
    ":*",
    "mubarak:*",
    "!",
    "<->",
    "& | !",
    "council & !egypt",
]


@pytest.fixture
def nyt_archive(archive: Archive, corpus: Path, tmp_path: Path) -> Archive:
    import_nyt(archive, corpus, tmp_path, SLUGS)
    return archive


def test_words_phrases_and_prefixes_find_the_right_articles(nyt_archive: Archive) -> None:
    with nyt_archive.reading() as session:
        page = search(session, "Mubarak life support")
        assert [h.title for h in page.hits][:1] == [
            "Mubarak Is on Life Support, Egypt Security Officials Say"
        ]
        hit = page.hits[0]
        assert hit.seq == 4 and hit.matching_versions == 4  # every version mentions him; newest shown
        assert (
            MARK_OPEN + "Mubarak" + MARK_CLOSE in hit.snippet or MARK_OPEN + "mubarak" in hit.snippet.lower()
        )
        assert any(p.highlighted for p in hit.parts)
        # A phrase that only the later versions carry: matched versions are counted, newest shown.
        credit = search(session, '"Liam Stack contributed reporting"')
        carrying = [
            v.seq
            for v in session.scalars(select(Version).order_by(Version.seq))
            # title, byline and text are indexed (here the corpus's author list carries the credit)
            if "liam stack contributed reporting"
            in " ".join(f"{v.title} {v.byline} {v.text}".lower().split())
        ]
        assert credit.total == 1 and credit.hits[0].matching_versions == len(carrying) >= 1
        assert credit.hits[0].seq == max(carrying)
        singapore = search(session, "Singapore gay rights")
        assert singapore.total == 1 and singapore.hits[0].title.startswith("Activism Grows as Singapore")
        assert search(session, "Singap*").hits[0].article_id == singapore.hits[0].article_id
        assert search(session, "zzzyzzx").total == 0


def test_hostile_queries_never_error_and_never_touch_sql(nyt_archive: Archive) -> None:
    with nyt_archive.reading() as session:
        before = session.scalar(select(func.count()).select_from(Version))
    refused = []
    for query in HOSTILE_QUERIES:
        with nyt_archive.reading() as session:
            try:
                page = search(session, query)
            except SearchError as exc:
                # A clear message, never the database's own error.
                assert "index rejected" not in str(exc) and "syntax" not in str(exc).lower(), query
                refused.append(query)
            else:
                assert page.total <= len(SLUGS), query
    assert set(refused) == {"*", "(", ")", "^", '""', "-", "!", "<->", "& | !", ":*", "\\x00"} - {"\\x00"}
    assert search_total(nyt_archive, 'council"') == search_total(nyt_archive, "council") == 1
    assert search_total(nyt_archive, "NEAR(") == search_total(nyt_archive, "near")
    with nyt_archive.reading() as session:
        assert session.scalar(select(func.count()).select_from(Version)) == before  # nothing dropped


def search_total(archive: Archive, query: str) -> int:
    with archive.reading() as session:
        return search(session, query).total


def test_query_parsing_quotes_every_term() -> None:
    assert fts5_expression(parse_query('council" NEAR( taliban*')) == '"council" "NEAR" "taliban"*'
    assert fts5_expression(parse_query('"Doha agreement" covid-19')) == '"Doha agreement" "covid 19"'
    for bad in ["", "   ", "*", "()", '"', "a" * 501]:
        with pytest.raises(SearchError):
            parse_query(bad)


def test_index_follows_inserts_updates_and_deletes(archive: Archive) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    text = "The Doha agreement was signed by Zalmay Khalilzad in February 2020 after long talks. " * 3
    result = record(
        archive.sessions,
        Capture(
            url="https://example.org/doha",
            fetched_at=at,
            extracted=Extracted(text=text, title="Doha deal", extractor="test"),
        ),
    )
    assert result.version_seq == 1
    with archive.reading() as session:
        assert search(session, "Khalilzad").total == 1
    with archive.transaction() as session:
        session.execute(update(Version).values(text=text.replace("Khalilzad", "the envoy")))
    with archive.reading() as session:
        assert search(session, "Khalilzad").total == 0
        assert search(session, "envoy").total == 1
    record(
        archive.sessions,
        Capture(
            url="https://example.org/doha",
            fetched_at=at + timedelta(hours=2),
            extracted=Extracted(text=text + " Correction: date fixed.", title="Doha deal", extractor="test"),
        ),
    )
    with archive.reading() as session:
        page = search(session, "envoy")
        assert page.total == 1 and page.hits[0].matching_versions == 1
        assert search(session, "Khalilzad").hits[0].seq == 2
    with archive.transaction() as session:
        session.execute(delete(Version).where(Version.seq == 2))
    with archive.reading() as session:
        assert search(session, "Khalilzad").total == 0


def test_pagination_is_bounded(nyt_archive: Archive) -> None:
    with nyt_archive.reading() as session:
        everything = search(session, "the", limit=100)
        assert everything.total == len(SLUGS) and len(everything.hits) == len(SLUGS)
        first, second = search(session, "the", limit=2), search(session, "the", limit=2, offset=2)
        assert {h.article_id for h in first.hits}.isdisjoint({h.article_id for h in second.hits})
        assert len(search(session, "the", limit=10_000).hits) <= 100


def test_cli_search_json_and_clear_error(nyt_archive: Archive) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "Mubarak", "--json", "--db", nyt_archive.url])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == 1 and data["hits"][0]["seq"] == 4
    assert MARK_OPEN not in data["hits"][0]["snippet"]
    assert any(p["highlight"] for p in data["hits"][0]["snippet_parts"])
    text_result = runner.invoke(cli, ["search", 'council"', "--db", nyt_archive.url])
    assert text_result.exit_code == 0 and "Mubarak Is on Life Support" in text_result.output
    failed = runner.invoke(cli, ["search", "*", "--db", nyt_archive.url])
    assert failed.exit_code == 2
    assert failed.output.startswith("Error: nothing to search for") and "Traceback" not in failed.output
