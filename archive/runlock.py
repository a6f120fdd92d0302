"""Never two runs at once: an exclusive lock per archive that the OS releases if the holder dies.

* SQLite: ``flock`` on a lock file next to the database (``<db file>.<name>.lock``), or in
  ``MEDIAWATCH_LOCK_DIR`` when that is set (for a read-only database directory).
* PostgreSQL: a session-level advisory lock on a dedicated connection; the server releases it
  when the connection closes, which the kernel does when the process dies (even on SIGKILL).

A second holder gets :class:`~archive.errors.AlreadyRunning` (exit code 75) at once and
touches nothing. Lock files are never deleted: deleting a lock file that another process is
about to open is the classic race that lets two holders in (docs/running.md, The run lock).

Usage::

    with acquire_run_lock(db_url):            # crawl, import: the "run" lock
        ...
    with acquire_run_lock(db_url, "scheduler"):  # the scheduler's singleton lock
        ...
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.exc import DatabaseError as SADatabaseError
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from archive.db import database_url, make_engine, parse_database_url
from archive.errors import AlreadyRunning, DatabaseError, InputError, Interrupted

logger = logging.getLogger(__name__)

LOCK_DIR_ENV = "MEDIAWATCH_LOCK_DIR"
RUN_LOCK = "run"
SCHEDULER_LOCK = "scheduler"


@dataclass(frozen=True)
class RunLock:
    """A held lock: where it lives (a file path or ``pg_advisory_lock(key)``)."""

    name: str
    where: str


def lock_key(name: str) -> int:
    """The signed 64-bit PostgreSQL advisory-lock key for a lock name."""
    digest = hashlib.sha256(f"mediawatch:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_path(db_url: str, name: str = RUN_LOCK, lock_dir: str | Path | None = None) -> Path:
    """The lock file for a SQLite archive."""
    if not name.isidentifier():
        raise InputError(f"invalid lock name {name!r}")
    directory = lock_dir or os.environ.get(LOCK_DIR_ENV)
    database = parse_database_url(db_url).database or ""
    if directory or database in ("", ":memory:"):
        # One file per database, wherever the operator wants lock files.
        tag = hashlib.sha256(str(Path(database).resolve() if database else db_url).encode()).hexdigest()
        return Path(directory or tempfile.gettempdir()) / f"mediawatch-{tag[:16]}.{name}.lock"
    return Path(database).resolve().with_name(Path(database).name + f".{name}.lock")


@contextmanager
def acquire_run_lock(
    db_url: str | None = None, name: str = RUN_LOCK, *, lock_dir: str | Path | None = None
) -> Iterator[RunLock]:
    """Hold the archive's exclusive ``name`` lock for the ``with`` block, or raise AlreadyRunning."""
    url = database_url(db_url)
    if parse_database_url(url).get_backend_name() == "postgresql":
        with _advisory_lock(url, name) as held:
            yield held
    else:
        with _file_lock(lock_path(url, name, lock_dir), name) as held:
            yield held


@contextmanager
def _file_lock(path: Path, name: str) -> Iterator[RunLock]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DatabaseError(
            f"cannot open lock file {path}: {exc.strerror} (set {LOCK_DIR_ENV} to a writable directory)"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown process"
            raise AlreadyRunning(f"another mediawatch {name} is running ({holder}; lock {path})") from None
        # Who holds it, for the next process's error message; informational only.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n".encode(), 0)
        logger.debug("acquired %s lock %s", name, path)
        try:
            yield RunLock(name=name, where=str(path))
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _advisory_lock(url: str, name: str) -> Iterator[RunLock]:
    key = lock_key(name)
    engine = make_engine(
        url,
        poolclass=NullPool,
        connect_args={"application_name": f"mediawatch {name} lock (pid {os.getpid()})"},
    )
    try:
        try:
            conn = engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            holder = None if got else _advisory_holder(conn, key)
            conn.commit()  # the lock is session-level: it outlives this transaction
        except (OperationalError, SADatabaseError) as exc:
            raise DatabaseError(f"cannot take the {name} lock: {exc.orig}") from None
        try:
            if not got:
                raise AlreadyRunning(
                    f"another mediawatch {name} is running ({holder or 'unknown process'}; "
                    f"pg_advisory_lock({key}))"
                )
            logger.debug("acquired %s advisory lock %s", name, key)
            yield RunLock(name=name, where=f"pg_advisory_lock({key})")
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            except (OperationalError, SADatabaseError):
                pass  # the connection is gone, and with it the lock
        finally:
            conn.close()
    finally:
        engine.dispose()


def _advisory_holder(conn: Connection, key: int) -> str | None:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(
        text(
            "SELECT a.application_name, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = :hi AND l.objid::bigint = :lo"
        ),
        {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
    ).first()
    if row is None:
        return None
    return f"{row[0] or 'a client'} since {row[1].astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


# The Interrupted a signal raised inside stop_on_signals (at most one: a second SIGTERM kills).
_stopped: list[Interrupted] = []


def stop_requested() -> Interrupted | None:
    """The Interrupted that SIGTERM or SIGINT raised in the current :func:`stop_on_signals`
    block, if one did.

    Raised inside a database driver's call, it may come out as the driver's own error instead:
    psycopg, stopped in the middle of the pool's pre-ping, fails to restore its connection and
    raises ProgrammingError. A job that fails after a stop was asked for was stopped."""
    return _stopped[0] if _stopped else None


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM (systemd, the scheduler, a cron timeout) into :class:`Interrupted`.

    The exception unwinds like KeyboardInterrupt does for SIGINT: the current transaction rolls
    back, the run is recorded as interrupted, the lock is released, the exit code is 143.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM stops at once
        stopped = Interrupted(f"stopped by {signal.Signals(signum).name}")
        _stopped.append(stopped)
        raise stopped

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted("stopped by SIGINT") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stopped.clear()


_HELD_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT are noted, not acted on, inside the block, then delivered after it
    (to whatever handler was in place: under :func:`stop_on_signals`, as Interrupted).

    For the few steps a signal must not cut in two: a process pool's start, the write that
    closes a run's row."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: pending.append(signum)) for s in _HELD_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)
