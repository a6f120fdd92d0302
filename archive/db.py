"""Engines, sessions and schema migrations for both backends.

SQLite is the embedded default; PostgreSQL is selected with a ``postgresql+psycopg://`` URL.
On SQLite every write transaction starts with ``BEGIN IMMEDIATE``: a deferred transaction
that reads and then writes cannot be saved by ``busy_timeout`` and fails with "database is
locked" under concurrent writers (docs/versions.md, One transaction per fetch). Read-only
engines use plain ``BEGIN``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.exc import DatabaseError as SADatabaseError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from archive.errors import ConfigError, DatabaseError, SchemaTooNewError

M = TypeVar("M")

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///mediawatch.db"
DATABASE_URL_ENV = "MEDIAWATCH_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_S = 30.0


# "postgresql:", "sqlite:" … without "//": a URL typed wrong, not a file name.
_SCHEME_WITHOUT_SLASHES = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!//)")


def database_url(explicit: str | None = None) -> str:
    """The database URL: ``--db``, else ``MEDIAWATCH_DATABASE_URL``, else ./mediawatch.db.

    A plain file path (no ``scheme://``) means a SQLite file, so ``--db mediawatch-demo.db``
    works. A malformed URL is a ConfigError (exit 2).
    """
    value = explicit or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL
    if "://" not in value and not _SCHEME_WITHOUT_SLASHES.match(value):
        value = f"sqlite:///{value}"
    parse_database_url(value)
    return value


def parse_database_url(url: str) -> URL:
    """The database URL, parsed: ConfigError (exit 2) if it is not a URL, DatabaseError (exit 3) if
    it names a database mediawatch does not run on."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError(
            f"invalid database URL {url!r}: give a file path, sqlite:///PATH "
            "or postgresql+psycopg://USER@HOST/NAME"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"unsupported database {parsed.get_backend_name()!r}: use a file path, sqlite:///PATH "
            "or postgresql+psycopg://USER@HOST/NAME"
        )
    return parsed


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(url: str, *, readonly: bool = False, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas and transaction behaviour mediawatch relies on."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "isolation_level": None},
            **kwargs,
        )
        _configure_sqlite(engine, readonly=readonly)
    else:
        engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
    return engine


def _configure_sqlite(engine: Engine, *, readonly: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if not readonly:
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed version survives power loss, not only a process crash.
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # pysqlite's own transaction handling is off (isolation_level=None); we emit BEGIN.
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def insert_ignore(session: Session, model: Any, *, returning: bool | str = False) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the session's backend (``RETURNING`` the
    inserted row as a ``model`` with ``returning=True``, or the column ``returning`` names)."""
    return _insert_ignore(session.get_bind().dialect.name, model, returning)


@lru_cache(maxsize=64)
def _insert_ignore(dialect: str, model: Any, returning: bool | str = False) -> Any:
    # Statements are immutable (each method returns a new one): one per backend and table is
    # built once and shared, its values passed as parameters or added with ``.values()``.
    statement: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(model).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(model).on_conflict_do_nothing()
    if isinstance(returning, str):
        return statement.returning(getattr(model, returning))
    return statement.returning(model) if returning else statement


def attach_inserted(session: Session, model: type[M], values: dict[str, Any]) -> M:
    """The object of a row just inserted with Core, in the session as if a query had loaded it.

    The writer inserts its rows on the connection: the ORM's unit of work costs more than the
    insert. ``values`` are the inserted row's (its primary key included); a column left out
    takes its scalar default or None, as the insert gave it. The object is then tracked like a
    loaded one: a change to it is flushed as an UPDATE.
    """
    row = dict(values)
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        if column.key in row:
            continue
        default = column.default
        if default is not None and getattr(default, "is_scalar", False):
            row[column.key] = default.arg
        elif column.nullable and default is None and column.server_default is None:
            row[column.key] = None
        else:
            raise ValueError(f"attach_inserted: no value for {model.__name__}.{column.key}")
    instance = model(**row)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


R = TypeVar("R")
# PostgreSQL serialization failure and deadlock: the transaction is safe to run again as a whole.
_RETRYABLE_SQLSTATES = ("40001", "40P01")


def write_retrying(sessions: sessionmaker[Session], write: Callable[[Session], R], *, attempts: int = 5) -> R:
    """``write(session)`` in its own transaction; a transaction that lost a race with another
    writer (a unique key taken meanwhile, a deadlock, a serialization failure) is run again, and
    then reads what the winner wrote."""
    for attempt in range(1, attempts + 1):
        try:
            with sessions.begin() as session:
                return write(session)
        except IntegrityError:
            if attempt == attempts:
                raise
            logger.debug("a write lost a race (attempt %d); retrying", attempt)
        except OperationalError as exc:
            code = getattr(getattr(exc, "orig", None), "sqlstate", None)
            if code not in _RETRYABLE_SQLSTATES or attempt == attempts:
                raise
        time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# Migrations


def migrations_dir() -> Path:
    """The migration scripts: ``archive/migrations`` inside an installed wheel (a name that cannot
    shadow the ``alembic`` library), ``alembic/`` at the root of a checkout."""
    packaged = Path(str(files("archive").joinpath("migrations")))
    if (packaged / "env.py").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "alembic"


def alembic_config(engine_or_url: Engine | str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    cfg.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    if isinstance(engine_or_url, Engine):
        cfg.attributes["engine"] = engine_or_url
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(DEFAULT_DATABASE_URL))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


# The newest migration. Checked against Alembic's scripts by the tests, so that a database already
# at head is recognised with one query, without importing Alembic (most of a command's start-up).
SCHEMA_HEAD = "0011_feed_memory"


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        return versions == [SCHEMA_HEAD]
    except (OperationalError, SADatabaseError):
        return False  # no table yet, or unreachable: the full check below says which


def ensure_schema(engine: Engine) -> None:
    """Bring an empty or old database to head; refuse one newer than this code."""
    if _at_head(engine):
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine))
    try:
        current = current_revision(engine)
    except (OperationalError, SADatabaseError) as exc:
        raise DatabaseError(f"cannot open database {_safe_url(engine)}: {_one_line(exc.orig)}") from None
    head = script.get_current_head()
    if current == head:
        return
    if current is not None:
        known = {rev.revision for rev in script.walk_revisions()}
        if current not in known:
            raise SchemaTooNewError(
                f"database {_safe_url(engine)} is at schema revision {current}, which this "
                f"mediawatch does not know (its newest is {head}); upgrade mediawatch"
            )
    elif inspect(engine).get_table_names() and "article" in inspect(engine).get_table_names():
        raise DatabaseError(
            f"database {_safe_url(engine)} has mediawatch tables but no alembic_version; "
            "it was not created by mediawatch migrations"
        )
    logger.info("migrating database from %s to %s", current or "empty", head)
    try:
        upgrade(engine)
    except (OperationalError, SADatabaseError) as exc:
        raise DatabaseError(f"cannot migrate database {_safe_url(engine)}: {_one_line(exc.orig)}") from None


def _one_line(error: object) -> str:
    return " ".join(str(error).split())


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def require_existing(url: str) -> None:
    """Refuse a SQLite file that does not exist: opening it would create an empty archive, and a
    read-only command pointed at a mistyped path must say so instead of showing nothing."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if parsed.query.get("uri") or parsed.database.startswith("file:"):
        return  # a SQLite URI (mode=ro, shared memory …): SQLite resolves it itself
    if not Path(parsed.database).is_file():
        raise DatabaseError(f"no archive at {parsed.database} (check --db or {DATABASE_URL_ENV})")


class Archive:
    """An open archive: an engine at schema head and a session factory."""

    def __init__(self, url: str | None = None, *, readonly: bool = False, migrate: bool = True):
        self.url = database_url(url)
        if readonly:
            require_existing(self.url)
        self.engine = make_engine(self.url, readonly=readonly)
        if migrate:
            ensure_schema(self.engine)
        self.sessions = make_sessionmaker(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
