"""Alembic environment: migrations for both SQLite (batch mode) and PostgreSQL."""

from __future__ import annotations

import os

from alembic import context

from archive.db import make_engine
from archive.models import Base, declare_partial_indexes

config = context.config
# The partial indexes are declared only where the schema is compared (archive.models says why).
declare_partial_indexes()
target_metadata = Base.metadata

# Objects written by hand in migration 0003_search: full-text search (FTS5 virtual table and its
# shadow tables on SQLite; a generated tsvector column and its GIN index on PostgreSQL) and the
# viewer's ix_view_* indexes. They are not in the ORM metadata, so autogenerate and
# `alembic check` must not see them (nor propose to drop them).
SEARCH_TABLE_PREFIX = "version_fts"
SEARCH_COLUMNS = {("version", "search_vector")}
SEARCH_INDEXES = {"ix_version_search_vector"}
VIEW_INDEX_PREFIX = "ix_view_"


# Tables that live in the archive's database but are not mediawatch's to migrate: the
# scheduler's APScheduler job store creates and owns its own table.
FOREIGN_TABLES = {"apscheduler_jobs"}


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    if type_ == "table" and name in FOREIGN_TABLES:
        return False
    if type_ == "table" and name and name.startswith(SEARCH_TABLE_PREFIX):
        return False
    if type_ == "column" and (getattr(getattr(obj, "table", None), "name", None), name) in SEARCH_COLUMNS:
        return False
    if type_ == "index" and name and (name in SEARCH_INDEXES or name.startswith(VIEW_INDEX_PREFIX)):
        return False
    return True


def _url() -> str:
    if "engine" not in config.attributes and os.environ.get("MEDIAWATCH_DATABASE_URL"):
        return os.environ["MEDIAWATCH_DATABASE_URL"]
    return config.get_main_option("sqlalchemy.url") or "sqlite:///mediawatch.db"


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    own_engine = engine is None
    if engine is None:
        engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=True,
                compare_type=True,
                include_object=include_object,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if own_engine:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
