"""The summaries behind the statistics (docs/statistics.md, How the figures stay fast), kept
in step with every way versions are written — edits, flip-flops found later, removals,
restorations, failed fetches, re-derivation, imports, an article moved to another outlet, a
source deleted — and filled by the migration for an existing archive, on both backends. Each
check compares what ``mediawatch stats`` shows with the figures counted afresh from the
versions: before the day summaries are recounted (stale days counted from the rows), after, and
with every day counted from the rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import fresh_postgres_url
from corpus_data import nyt_slugs, write_nyt_jsonl
from sqlalchemy import func, insert, inspect, select
from test_urls_and_duplicates import at
from test_versioning_rules import old_extractor

from archive.db import Archive, downgrade, make_engine
from archive.importer import import_jsonl
from archive.jobs import run_import
from archive.models import (
    Article,
    ArticleChangeSummary,
    ChangeKind,
    DaySummary,
    Fetch,
    OutletDaySummary,
    Source,
    SourceKind,
    StaleSummaryDay,
    Version,
    VersionChange,
)
from archive.rederive import rederive
from archive.stats import (
    DAY_COUNTS,
    OUTLET_COUNTS,
    SUMMARY_COLUMNS,
    change_summary,
    day_counts,
    day_stats,
    outlet_day_counts,
    outlet_stats,
    recount_stale_days,
    refresh_change_summary,
)
from archive.store import Capture, record
from archive.transfer import copy_archive
from mediawatch.cli import cli

URL = "https://www.theguardian.com/education/2020/jan/20/thousands-of-uk-academics-treated-as-second-class-citizens"
EPOCH = "2000-01-01"


def shown(url: str, by: str = "outlet", since: str = EPOCH) -> dict[str, dict[str, Any]]:
    """What ``mediawatch stats --format json`` shows per outlet (or per day), all time."""
    result = CliRunner().invoke(cli, ["stats", "--since", since, "--by", by, "--format", "json", "--db", url])
    assert result.exit_code == 0, result.output
    return {row["outlet" if by == "outlet" else "day"]: row for row in json.loads(result.output)["rows"]}


def as_shown(rows: list[Any], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in json.loads(json.dumps([r.as_dict() for r in rows]))}


def from_rows(archive: Archive, since: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The statistics (per outlet, per day) with every day counted from the archive's rows, none
    read from a day summary: every day is marked stale in a transaction that is rolled back."""
    with archive.sessions() as session:
        moments = [
            *session.scalars(select(Article.first_seen)),
            *session.scalars(select(VersionChange.first_seen)),
            *session.scalars(select(Fetch.fetched_at)),
        ]
        days = sorted({moment.date() for moment in moments})
        if days:
            session.execute(insert(StaleSummaryDay), [{"day": day} for day in days])
        outlets = as_shown(outlet_stats(session, since), "outlet")
        per_day = as_shown(day_stats(session, since), "day")
        session.rollback()
    return outlets, per_day


def day_summaries(archive: Archive) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The stored day summaries, sorted."""
    outlet, daily = OutletDaySummary.__table__, DaySummary.__table__
    with archive.reading() as session:
        per_outlet = session.execute(
            select(outlet.c.source_id, outlet.c.day, *(outlet.c[n] for n in OUTLET_COUNTS))
        )
        per_day = session.execute(select(daily.c.day, *(daily.c[n] for n in DAY_COUNTS)))
        return sorted_rows(per_outlet), sorted_rows(per_day)


def day_recount(archive: Archive) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The day summaries counted afresh from the archive."""
    with archive.reading() as session:
        return sorted_rows(session.execute(outlet_day_counts())), sorted_rows(session.execute(day_counts()))


def sorted_rows(result: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (
            tuple(-1 if v is None else int(v) if isinstance(v, int | float | Decimal) else v for v in row)
            for row in result
        ),
        key=repr,
    )


def stale_days(archive: Archive) -> int:
    with archive.reading() as session:
        return int(session.scalar(select(func.count()).select_from(StaleSummaryDay)) or 0)


def rows(archive: Archive, statement: Any) -> list[tuple[Any, ...]]:
    # The delay to the first edit to the hundredth of a second: SQLite counts it in floating-point
    # days, and a copy from PostgreSQL keeps PostgreSQL's exact seconds.
    with archive.reading() as session:
        return [
            (*row[:-1], None if row[-1] is None else round(row[-1], 2)) for row in session.execute(statement)
        ]


def summary_rows(archive: Archive) -> list[tuple[Any, ...]]:
    table = ArticleChangeSummary.__table__
    return rows(archive, select(*(table.c[name] for name in SUMMARY_COLUMNS)).order_by(table.c.article_id))


def recounted(archive: Archive) -> list[tuple[Any, ...]]:
    return rows(archive, change_summary().order_by("article_id"))


def assert_fresh(
    archive: Archive, since: datetime = datetime(2000, 1, 1, tzinfo=UTC)
) -> dict[str, dict[str, Any]]:
    """The kept summaries are the recount of the versions, and the statistics shown are those
    counted from the rows alone: with days still stale, after the stale days are recounted (as
    a job does when it ends), and after every summary is recounted from scratch."""
    kept = summary_rows(archive)
    assert kept == recounted(archive)
    when = since.isoformat()
    before, days = shown(archive.url, since=when), shown(archive.url, "day", since=when)
    assert (before, days) == from_rows(archive, since)
    recount_stale_days(archive.engine)
    assert stale_days(archive) == 0
    assert day_summaries(archive) == day_recount(archive)
    assert (shown(archive.url, since=when), shown(archive.url, "day", since=when)) == (before, days)
    with archive.transaction() as session:
        refresh_change_summary(session)
    assert summary_rows(archive) == kept
    assert shown(archive.url, since=when) == before
    assert shown(archive.url, "day", since=when) == days
    return before


def edited(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw
    return raw.replace(old, new)


def test_summary_follows_edits_flip_flops_removals_and_restorations(
    archive: Archive, guardian: bytes
) -> None:
    a = guardian
    b = edited(a, b"pool of low-paid staff", b"pool of poorly paid staff")
    c = edited(a, b"pool of low-paid staff", b"pool of badly paid staff")

    record(archive.sessions, Capture(URL, at(0), raw=a))
    assert assert_fresh(archive)["(no source)"]["edits"] == 0
    record(archive.sessions, Capture(URL, at(1), raw=b))
    row = assert_fresh(archive)["(no source)"]
    assert (row["edited"], row["edits"], row["median_first_edit_s"]) == (1, 1, 3600)

    # A then B again: the page alternates, and both later versions turn out to flip-flop. They
    # stop counting as edits at once (the summary is recounted when the flip-flop is found).
    record(archive.sessions, Capture(URL, at(2), raw=a))
    assert assert_fresh(archive)["(no source)"]["edits"] == 2  # a single return still counts
    record(archive.sessions, Capture(URL, at(3), raw=b))
    with archive.reading() as session:
        flags = [v.flags for v in session.scalars(select(Version).order_by(Version.seq))]
    assert "flip-flop" in flags[1] and "flip-flop" in flags[2]
    row = assert_fresh(archive)["(no source)"]
    assert (row["edited"], row["edits"], row["median_first_edit_s"]) == (0, 0, None)

    # A genuinely new state is an edit, 30 hours after the first capture.
    record(archive.sessions, Capture(URL, at(30), raw=c))
    row = assert_fresh(archive)["(no source)"]
    assert (row["edited"], row["edits"], row["median_first_edit_s"]) == (1, 1, 30 * 3600)

    # Removed (confirmed by a second check), then back.
    record(archive.sessions, Capture(URL, at(31), status=410))
    record(archive.sessions, Capture(URL, at(32), status=404))
    row = assert_fresh(archive)["(no source)"]
    assert (row["removals"], row["restorations"], row["edits"]) == (1, 0, 1)
    restored = record(archive.sessions, Capture(URL, at(33), raw=c))
    assert restored.change_kind == ChangeKind.RESTORED
    row = assert_fresh(archive)["(no source)"]
    assert (row["removals"], row["restorations"], row["edits"]) == (1, 1, 1)

    # A failed fetch counts on its day; the per-day figures date each change by its capture.
    record(archive.sessions, Capture(URL, at(34), status=503))  # 2026-03-02 18:00
    assert_fresh(archive)
    days = shown(archive.url, "day")
    assert {
        day: (r["new_articles"], r["edits"], r["removals"], r["failed_fetches"]) for day, r in days.items()
    } == {
        "2026-03-01": (1, 0, 0, 0),  # the two flip-flopping versions are no edits
        "2026-03-02": (0, 1, 1, 1),  # the edit at 14:00, the removal confirmed at 16:00
    }
    # A window starting in the middle of a day: its first day counted from the rows.
    assert_fresh(archive, since=at(1.5))
    late = shown(archive.url, "day", since=at(31).isoformat())["2026-03-02"]  # from 15:00
    assert (late["new_articles"], late["edits"], late["removals"], late["failed_fetches"]) == (0, 0, 1, 1)


def test_summary_follows_a_rederivation(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian), extractor=old_extractor)
    b = edited(guardian, b"pool of low-paid staff", b"pool of poorly paid staff")
    record(archive.sessions, Capture(URL, at(2), raw=b), extractor=old_extractor)
    before = assert_fresh(archive)["(no source)"]
    assert before["edits"] == 1
    assert rederive(archive.sessions, at=at(5)).recorded == 1
    with archive.reading() as session:
        kinds = list(session.scalars(select(Version.change_kind).order_by(Version.seq)))
    assert kinds[-1] == ChangeKind.REDERIVED
    # A re-derivation is no edit: the figures stay, and the summary is the recount.
    assert assert_fresh(archive)["(no source)"] == before


@pytest.mark.slow
def test_migration_fills_the_summary_of_an_existing_archive(
    archive: Archive, corpus: Path, tmp_path: Path
) -> None:
    """An archive written before the summaries existed (their tables dropped by a downgrade) gets
    them filled when it is opened: the statistics are the same as those of the imported archive,
    and so are those of a copy (which copies the summaries as they are)."""
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path, nyt_slugs(corpus)[:12])
    assert not import_jsonl(archive, path).rejected
    imported = assert_fresh(archive)
    assert imported["(no source)"]["edits"] > 3
    kept = summary_rows(archive)

    engine = make_engine(archive.url)
    downgrade(engine, "0008_version_change")
    assert "article_change_summary" not in inspect(engine).get_table_names()
    engine.dispose()
    with Archive(archive.url) as reopened:  # opening migrates it
        assert summary_rows(reopened) == kept
        assert stale_days(reopened) == 0
        assert day_summaries(reopened) == day_recount(reopened)
        assert shown(reopened.url) == imported
        per_day = shown(reopened.url, "day")
        assert sum(row["edits"] for row in per_day.values()) == imported["(no source)"]["edits"]

    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    copy_archive(archive.url, copy)
    with Archive(copy) as copied:
        assert summary_rows(copied) == kept
        assert day_summaries(copied) == day_summaries(archive)
        assert stale_days(copied) == stale_days(archive) == 0
        assert assert_fresh(copied) == imported
        assert shown(copied.url, "day") == per_day


def test_day_summaries_after_a_job_a_moved_article_and_a_deleted_source(
    archive: Archive, corpus: Path, tmp_path: Path
) -> None:
    """A job recounts the days it wrote to when it ends; an article moved to another outlet and
    a deleted source move the article's figures at once, before any recount."""
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path, nyt_slugs(corpus)[:4])
    run_import(archive.url, [path])
    assert stale_days(archive) == 0
    assert day_summaries(archive) == day_recount(archive)
    imported = assert_fresh(archive)["(no source)"]
    assert imported["articles"] == 4 and imported["edits"] > 0

    with archive.transaction() as session:
        source = Source(name="The New York Times", kind=SourceKind.MANUAL, url="https://www.nytimes.com/")
        session.add(source)
        session.flush()
        moved = session.scalars(select(Article).order_by(Article.id).limit(2)).all()
        for article in moved:
            article.source_id = source.id
    outlets = {name: (row["articles"], row["edits"]) for name, row in assert_fresh(archive).items()}
    assert outlets["The New York Times"][0] == 2 and outlets["(no source)"][0] == 2
    assert sum(edits for _, edits in outlets.values()) == imported["edits"]

    with archive.transaction() as session:
        session.delete(session.get(Source, source.id))
    assert {name: row["articles"] for name, row in assert_fresh(archive).items()} == {"(no source)": 4}


def test_a_write_committed_during_a_recount_stays_marked(
    postgres_server: str, postgres_template: str, guardian: bytes
) -> None:
    """PostgreSQL: a page written while the day summaries are recounted, committed after the
    recount, keeps its day marked stale (the recount deletes only the marks it saw), so the
    statistics count it at once and the next recount sums it. (SQLite has one writer at a time:
    the recount waits for the writer.)"""
    with Archive(fresh_postgres_url(postgres_server, postgres_template)) as archive:
        writer_during_a_recount(archive, guardian)


def writer_during_a_recount(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian))
    recount_stale_days(archive.engine)
    with archive.sessions() as writer:
        writer.add(Article(canonical_url="https://example.org/late", first_seen=at(26), version_count=0))
        writer.flush()  # marked stale, not committed
        recount_stale_days(archive.engine)  # does not wait for the writer, and does not see it
        writer.commit()
    assert stale_days(archive) > 0
    assert shown(archive.url, "day")["2026-03-02"]["new_articles"] == 1
    assert shown(archive.url)["(no source)"]["articles"] == 2
    assert_fresh(archive)
    assert shown(archive.url)["(no source)"]["articles"] == 2
