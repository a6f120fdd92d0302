"""The summaries behind the statistics (docs/statistics.md, How the figures stay fast), kept
in step with every way versions are written — edits, flip-flops found later, removals,
restorations, failed fetches, re-derivation, imports — and filled by the migration for an
existing archive, on both backends. Each check compares what ``mediawatch stats`` shows with the
figures counted afresh from the versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from corpus_data import nyt_slugs, write_nyt_jsonl
from sqlalchemy import inspect, select
from test_urls_and_duplicates import at
from test_versioning_rules import old_extractor

from archive.db import Archive, downgrade, make_engine
from archive.importer import import_jsonl
from archive.models import ArticleChangeSummary, ChangeKind, Version
from archive.rederive import rederive
from archive.stats import SUMMARY_COLUMNS, change_summary, refresh_change_summary
from archive.store import Capture, record
from archive.transfer import copy_archive
from mediawatch.cli import cli

URL = "https://www.theguardian.com/education/2020/jan/20/thousands-of-uk-academics-treated-as-second-class-citizens"
EPOCH = "2000-01-01"


def shown(url: str) -> dict[str, dict[str, Any]]:
    """What ``mediawatch stats --format json`` shows per outlet, all time."""
    result = CliRunner().invoke(cli, ["stats", "--since", EPOCH, "--format", "json", "--db", url])
    assert result.exit_code == 0, result.output
    return {row["outlet"]: row for row in json.loads(result.output)["rows"]}


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


def assert_fresh(archive: Archive) -> dict[str, dict[str, Any]]:
    """The kept summary is the recount of the versions, and the statistics shown do not change
    when every summary row is recounted from scratch."""
    kept = summary_rows(archive)
    assert kept == recounted(archive)
    before = shown(archive.url)
    with archive.transaction() as session:
        refresh_change_summary(session)
    assert summary_rows(archive) == kept
    assert shown(archive.url) == before
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
    """An archive written before the summary existed (its table dropped by a downgrade) gets it
    filled when it is opened: the statistics are the same as those of the imported archive, and
    so are those of a copy."""
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
        assert shown(reopened.url) == imported

    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    copy_archive(archive.url, copy)
    with Archive(copy) as copied:
        assert summary_rows(copied) == kept
        assert assert_fresh(copied) == imported
