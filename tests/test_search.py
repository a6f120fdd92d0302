"""Full-text search on both backends: real NYT texts, hostile queries, the CLI."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import fresh_postgres_url
from corpus_data import nyt_captures, nyt_slugs
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from views_site import import_nyt

from archive.db import Archive
from archive.extract import Extracted
from archive.models import Article, Version
from archive.search import (
    MARK_CLOSE,
    MARK_OPEN,
    SearchError,
    Term,
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
    # FTS5 and tsquery operators and column filters: plain text, never syntax.
    "title:mubarak",
    "text:",
    "NEAR(mubarak egypt)",
    "mubarak NEAR egypt",
    "^mubarak",
    "mubarak*egypt",
    "mub*",
    "{title text}: mubarak",
    "OR",
    "OR OR",
    "mubarak OR OR egypt",
    "OR mubarak OR",
    "-mubarak",
    "-mubarak -egypt",
    "- -",
    '-"',
    '"mubarak',
    '"mubarak egypt',
    'mubarak "',
    '"" OR ""',
    "mubarak -",
    "AND OR NOT",
    "mubarak -(egypt)",
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
    assert set(refused) == {
        *("*", "(", ")", "^", '""', "-", "!", "<->", "& | !", ":*", "OR", "OR OR", "- -", '-"'),
        *("-mubarak", "-mubarak -egypt", '"" OR ""'),
    }
    assert search_total(nyt_archive, 'council"') == search_total(nyt_archive, "council") == 1
    assert search_total(nyt_archive, "NEAR(") == search_total(nyt_archive, "near")
    with nyt_archive.reading() as session:
        assert session.scalar(select(func.count()).select_from(Version)) == before  # nothing dropped


# Queries with OR, -exclusions and "phrases", on words the NYT articles really carry.
BOOLEAN_QUERIES = {
    "Mubarak OR Romney": {"mubarak-is-on", "behind-romneys-decision", "road-trip-helps"},
    "Taliban OR Mubarak": {"mubarak-is-on"},  # the first complaint: OR used to find nothing
    "Egypt -Mubarak": {"behind-romneys-decision"},
    "police OR rocket": {"rodney-king-whose", "yvonne-brill-rocket"},
    '"Los Angeles" police': {"rodney-king-whose"},
    '"White House"': {"behind-romneys-decision"},
    "president -Obama": {"activism-grows-as", "in-shift-china", "mubarak-is-on"},
    'Obama OR Romney -"White House"': None,  # per version: an article matches if one version does
    "Egypt OR China OR Singapore -president": None,
    "presiden* -Obam*": None,
    'rocket OR "Los Angeles" OR Mubarak': None,
    "Romney Obama OR Mubarak": None,  # OR binds its neighbours: Romney AND (Obama OR Mubarak)
    '-"White House" Egypt': None,
    "the -the": None,
}


def _words(value: str | None) -> list[str]:
    return re.findall(r"\w+", (value or "").lower())


def _term_matches(term: Term, columns: list[list[str]]) -> bool:
    wanted = term.text.lower().split()
    for words in columns:
        if term.prefix and any(w.startswith(wanted[0]) for w in words):
            return True
        if not term.prefix and any(
            words[i : i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1)
        ):
            return True
    return False


def _oracle(session: Session, raw: str) -> set[str]:
    """The articles a query should find, computed in Python from every version's text."""
    query = parse_query(raw)
    found = set()
    for version in session.scalars(select(Version)):
        columns = [_words(version.title), _words(version.byline), _words(version.text)]
        if all(any(_term_matches(t, columns) for t in group) for group in query.groups) and not any(
            _term_matches(t, columns) for t in query.excluded
        ):
            found.add(session.get(Article, version.article_id).canonical_url)
    return found


def _outcome(archive: Archive, raw: str) -> set[str] | str:
    """The URLs a query finds, or the message it is refused with."""
    with archive.reading() as session:
        try:
            return {hit.url for hit in search(session, raw, limit=100).hits}
        except SearchError as exc:
            return f"refused: {exc}"


@pytest.mark.slow  # every query on both backends over the NYT corpus
def test_or_not_and_phrases_mean_the_same_on_both_backends(
    request: pytest.FixtureRequest, corpus: Path, tmp_path: Path
) -> None:
    """The same queries over the same real articles give the same articles on SQLite (FTS5) and
    PostgreSQL (tsquery), and what a reader computes by hand from the texts."""
    sqlite_path = tmp_path / "search.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), sqlite_path)
    pg_url = fresh_postgres_url(
        request.getfixturevalue("postgres_server"), request.getfixturevalue("postgres_template")
    )
    with Archive(f"sqlite:///{sqlite_path}") as lite, Archive(pg_url) as pg:
        import_nyt(lite, corpus, tmp_path)
        import_nyt(pg, corpus, tmp_path)
        slug_of = {c.url: slug for slug in nyt_slugs(corpus) for c in nyt_captures(corpus, slug)}
        for raw, expected in BOOLEAN_QUERIES.items():
            on_sqlite, on_pg = _outcome(lite, raw), _outcome(pg, raw)
            assert on_sqlite == on_pg, raw
            with lite.reading() as session:
                assert on_sqlite == _oracle(session, raw), raw
            if expected is not None:
                assert {slug_of[url] for url in on_sqlite} == expected, raw
        for raw in HOSTILE_QUERIES:
            assert _outcome(lite, raw) == _outcome(pg, raw), raw
        assert _outcome(lite, "-Mubarak") == "refused: nothing to search for in '-Mubarak': " + (
            "-word only excludes; add a word to find"
        )


def test_query_syntax_is_read_the_web_search_way() -> None:
    query = parse_query('Pakistan Taliban OR TTP OR "Tehreek-e-Taliban" -cricket -"match report"')
    assert query.describe() == 'Pakistan (Taliban OR TTP OR "Tehreek e Taliban") -cricket -"match report"'
    assert fts5_expression(query) == (
        '("Pakistan" AND ("Taliban" OR "TTP" OR "Tehreek e Taliban")) NOT "cricket" NOT "match report"'
    )
    # Lower-case "or" is a word; a dangling OR is dropped; FTS5 operators are words.
    assert parse_query("this or that").describe() == "this or that"
    assert parse_query("OR Taliban OR").describe() == "Taliban"
    assert (
        fts5_expression(parse_query("a NEAR b AND NOT c"))
        == '"a" AND "NEAR" AND "b" AND "AND" AND "NOT" AND "c"'
    )
    assert fts5_expression(parse_query("title:Taliban ^x")) == '"title Taliban" AND "x"'


def search_total(archive: Archive, query: str) -> int:
    with archive.reading() as session:
        return search(session, query).total


def test_query_parsing_quotes_every_term() -> None:
    assert fts5_expression(parse_query('council" NEAR( taliban*')) == '"council" AND "NEAR" AND "taliban"*'
    assert fts5_expression(parse_query('"Doha agreement" covid-19')) == '"Doha agreement" AND "covid 19"'
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


def test_cli_search_marks_removed_articles_and_reads_or_and_exclusions(
    nyt_archive: Archive, corpus: Path
) -> None:
    from views_site import remove_and_restore

    gone, back = (nyt_captures(corpus, slug)[0].url for slug in ("mubarak-is-on", "road-trip-helps"))
    remove_and_restore(nyt_archive, gone, back, datetime(2030, 1, 1, tzinfo=UTC))
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "Mubarak OR Romney", "--db", nyt_archive.url])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("3 matching articles for Mubarak OR Romney")
    titled = [line for line in result.output.splitlines() if "  version " in line]
    assert [line for line in titled if line.startswith("[removed] ")] == [
        next(line for line in titled if "Mubarak Is on Life Support" in line)
    ]
    data = json.loads(
        runner.invoke(cli, ["search", "Egypt -Mubarak", "--json", "--db", nyt_archive.url]).output
    )
    assert [h["url"] for h in data["hits"]] == [nyt_captures(corpus, "behind-romneys-decision")[0].url]
    assert {h["status"] for h in data["hits"]} == {"live"}
