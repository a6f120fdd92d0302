"""Alembic environment: migrations for both SQLite (batch mode) and PostgreSQL."""

from __future__ import annotations

import os

from alembic import context

from mediawatch.archive.db import make_engine
from mediawatch.archive.models import Base

config = context.config
target_metadata = Base.metadata


# Tables that live in the archive's database but are not mediawatch's to migrate: the
# scheduler's APScheduler job store creates and owns its own table.
FOREIGN_TABLES = {"apscheduler_jobs"}


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "table" and name in FOREIGN_TABLES)


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
