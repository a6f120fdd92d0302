"""`mediawatch db copy` (SQLite -> PostgreSQL, lossless) and `db backup` (online SQLite backup)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import fresh_postgres_url
from corpus_data import eval_pages, write_nyt_jsonl
from sqlalchemy import func, select

from archive.db import Archive
from archive.jobs import run_import
from archive.models import Article, Base, Blob, CrawlRun, Fetch, Version
from archive.store import Capture, record
from mediawatch.cli import cli


@pytest.fixture
def sqlite_archive(tmp_path: Path, corpus: Path) -> str:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path)
    run_import(url, [path])
    with Archive(url) as archive:
        at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        pages = [p for p in eval_pages(corpus) if p.url][:4]  # raw pages: blobs
        for n, page in enumerate(pages):
            assert page.url is not None
            record(
                archive.sessions,
                Capture(
                    url=page.url,
                    fetched_at=at + timedelta(minutes=n),
                    raw=page.raw(),
                    content_type="text/html",
                ),
            )
    return url


def dump(url: str) -> dict[str, list[Any]]:
    with Archive(url) as archive, archive.engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.slow
def test_copy_sqlite_to_postgresql_is_lossless(sqlite_archive: str, postgres_server: str) -> None:
    target = fresh_postgres_url(postgres_server, None)
    result = invoke("db", "copy", "--to", target, "--db", sqlite_archive)
    assert result.exit_code == 0, result.output
    assert "version: 2" in result.output and "copied to postgresql" in result.output
    before, after = dump(sqlite_archive), dump(target)
    # Every row as it was, and the copy recorded as one more run of the target.
    copy_run = dict(zip(CrawlRun.__table__.columns.keys(), after["crawl_run"].pop(), strict=True))
    assert after == before
    assert copy_run["status"] == "completed" and copy_run["counters"]["command"] == "db copy"
    assert copy_run["counters"]["version"] == len(before["version"])
    assert len(after["article"]) >= 11 and len(after["blob"]) >= 4
    with Archive(target) as archive, archive.reading() as s:
        for blob in s.scalars(select(Blob)):
            raw = blob.data
            assert isinstance(raw, bytes) and len(raw) > 0
        # Every fetch and version kept its id and links.
        assert s.scalar(select(func.count()).select_from(Fetch)) == len(before["fetch"])
        max_article = s.scalar(select(func.max(Article.id)))
        max_version = s.scalar(select(func.max(Version.id)))
    # Sequences were moved past the copied ids: new rows get fresh ids.
    with Archive(target) as archive:
        new = record(
            archive.sessions,
            Capture(
                url="https://new.example/after-copy",
                fetched_at=datetime.now(UTC),
                raw=b"<html><body><p>" + b"A new article after the copy. " * 30 + b"</p></body></html>",
                content_type="text/html",
            ),
        )
        assert new.article_id == max_article + 1
        with archive.reading() as s:
            assert s.scalar(select(func.max(Version.id))) == max_version + 1

    # A non-empty target is refused; --force replaces its contents.
    refused = invoke("db", "copy", "--to", target, "--db", sqlite_archive)
    assert refused.exit_code == 2 and "not empty" in refused.output
    forced = invoke("db", "copy", "--to", target, "--from", sqlite_archive, "--force")
    assert forced.exit_code == 0, forced.output
    after = dump(target)
    assert after["crawl_run"].pop()[-2]["command"] == "db copy"  # (…, counters, message)
    assert after == before
    same = invoke("db", "copy", "--to", sqlite_archive, "--db", sqlite_archive)
    assert same.exit_code == 2 and "same database" in same.output


@pytest.mark.slow
def test_online_backup_of_a_live_sqlite_archive(sqlite_archive: str, tmp_path: Path) -> None:
    source = sqlite_archive.removeprefix("sqlite:///")
    writer = sqlite3.connect(source, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a crawl in the middle of a write transaction
    writer.execute("UPDATE article SET relevance = 0.5")
    try:
        backup = tmp_path / "backups" / "archive.db"
        backup.parent.mkdir()
        result = invoke("db", "backup", str(backup), "--db", sqlite_archive)
        assert result.exit_code == 0, result.output
        assert "integrity ok" in result.output
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert not Path(str(backup) + "-wal").exists()
    copy = f"sqlite:///{backup}"
    assert dump(copy) == dump(sqlite_archive)
    assert sorted(p.name for p in backup.parent.iterdir()) == ["archive.db"]

    pg = invoke("db", "backup", str(tmp_path / "x.db"), "--db", "postgresql+psycopg://localhost/x")
    assert pg.exit_code == 2 and "pg_dump" in pg.output
    itself = invoke("db", "backup", source, "--db", sqlite_archive)
    assert itself.exit_code == 2 and "archive itself" in itself.output
