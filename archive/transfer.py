"""Moving and backing up archives: ``db copy`` between backends, ``db backup`` of a live SQLite file.

``copy_archive`` copies every mediawatch table row for row (ids, timestamps, JSON and blob bytes
unchanged) in one target transaction, so a failed copy leaves the target as it was; on
PostgreSQL the id sequences are moved past the copied ids. The scheduler's job table is not
copied: the scheduler re-declares its jobs from its config file at start. Like every command
that writes, the copy holds the run lock (of both archives) and is recorded as a run: one
``db copy`` row added to the target in the copy's own transaction, after the copied runs (a
``running`` row written first would be replaced by the copy).

``backup_sqlite`` uses SQLite's online backup API: a consistent snapshot while crawls write,
delivered to the path by :func:`archive.files.staged_output` (renamed over a new or regular
file, copied into standard output, a device or a pipe, through symlinks).
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Table, func, insert, select, text

from archive.db import Archive, database_url, parse_database_url
from archive.errors import ConfigError, DatabaseError, InputError
from archive.files import output_target, staged_output
from archive.models import Base, CrawlRun, StaleSummaryDay
from archive.runs import RunStatus, utcnow

logger = logging.getLogger(__name__)

BATCH_ROWS = 500


@dataclass(frozen=True)
class CopyResult:
    target: str
    rows: dict[str, int]


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _counts(conn: Connection) -> dict[str, int]:
    return {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in _tables()}


def copy_archive(source_url: str | None, target_url: str, *, force: bool = False) -> CopyResult:
    """Copy the whole archive at ``source_url`` into ``target_url`` (created or migrated to head)."""
    from archive.runlock import acquire_run_lock

    source_url = database_url(source_url)
    if _same_database(source_url, target_url):
        raise InputError("the source and the target are the same database")
    with ExitStack() as stack:
        # No crawl or import may change either archive while it is copied.
        stack.enter_context(acquire_run_lock(source_url))
        stack.enter_context(acquire_run_lock(target_url))
        source = stack.enter_context(Archive(source_url))
        target = stack.enter_context(Archive(target_url))
        started = utcnow()
        with source.engine.connect() as src, target.engine.begin() as dst:
            existing = {name: n for name, n in _counts(dst).items() if n}
            if existing and not force:
                raise InputError(
                    f"the target is not empty ({', '.join(f'{k}: {v}' for k, v in existing.items())}); "
                    "use --force to replace its contents"
                )
            for table in reversed(_tables()):
                dst.execute(table.delete())
            stale = Base.metadata.tables[StaleSummaryDay.__tablename__]
            for table in _tables():
                if table is not stale:
                    _copy_table(src, dst, table)
            # The target's triggers marked every copied day stale; the copy keeps the source's
            # own marks instead, with the day summaries copied as they were.
            dst.execute(stale.delete())
            _copy_table(src, dst, stale)
            if dst.dialect.name == "postgresql":
                _reset_sequences(dst)
            copied, expected = _counts(dst), _counts(src)
            if copied != expected:  # pragma: no cover - a guard, not an expected outcome
                raise DatabaseError(f"copy incomplete: source {expected}, target {copied}")
            dst.execute(
                insert(CrawlRun).values(
                    started_at=started,
                    finished_at=utcnow(),
                    trigger="manual",
                    status=RunStatus.COMPLETED,
                    counters={
                        "command": "db copy",
                        "copied_from": source.engine.url.render_as_string(hide_password=True),
                        **copied,
                    },
                )
            )
        safe_target = target.engine.url.render_as_string(hide_password=True)
    logger.info("copied archive to %s: %s", safe_target, copied)
    return CopyResult(target=safe_target, rows=copied)


def _copy_table(src: Connection, dst: Connection, table: Table) -> None:
    order = list(table.primary_key.columns)
    result = src.execution_options(yield_per=BATCH_ROWS).execute(select(table).order_by(*order))
    for batch in result.partitions():
        dst.execute(table.insert(), [dict(row._mapping) for row in batch])


def _reset_sequences(dst: Connection) -> None:
    for table in _tables():
        if "id" not in table.c or not table.c.id.primary_key:
            continue
        sequence = dst.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
        if sequence is None:
            continue
        quoted = dst.dialect.identifier_preparer.quote(table.name)  # "fetch" is a reserved word
        dst.execute(
            text(f"SELECT setval(:s, COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {quoted}"),
            {"s": sequence},
        )


def _same_database(a: str, b: str) -> bool:
    ua, ub = parse_database_url(a), parse_database_url(b)
    if ua.get_backend_name() != ub.get_backend_name():
        return False
    if ua.get_backend_name() == "sqlite":
        return bool(ua.database) and Path(ua.database or "").resolve() == Path(ub.database or "").resolve()
    return ua.set(drivername="x", password=None) == ub.set(drivername="x", password=None)


# ---------------------------------------------------------------------------------------------
# Online backup of a SQLite archive


@dataclass(frozen=True)
class BackupResult:
    path: Path
    pages: int
    bytes: int


def backup_sqlite(db_url: str | None, path: Path) -> BackupResult:
    """A consistent single-file copy of a live SQLite archive (readers and writers keep going)."""
    url = parse_database_url(database_url(db_url))
    if url.get_backend_name() != "sqlite":
        raise ConfigError("db backup is for SQLite archives; back up PostgreSQL with pg_dump --format=custom")
    source = Path(url.database or "")
    if not url.database or not source.is_file():
        raise InputError(f"no SQLite archive at {source}")
    target = output_target(path)
    if target.path is not None and target.path == source.resolve():
        raise InputError("the backup cannot overwrite the archive itself")
    try:
        with staged_output(path) as staged:
            src = sqlite3.connect(source, timeout=30)
            dst = sqlite3.connect(staged)
            try:
                src.backup(dst)  # all pages in one step: one consistent snapshot
                dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
                pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
            finally:
                dst.close()
                src.close()
            if check != "ok":  # pragma: no cover - a guard, not an expected outcome
                raise DatabaseError(f"the backup failed its integrity check: {check}")
            size = staged.stat().st_size
    except sqlite3.Error as exc:
        raise DatabaseError(f"backup of {source} failed: {exc}") from None
    return BackupResult(path=target.path or Path("-"), pages=pages, bytes=size)
