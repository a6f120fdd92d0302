"""full-text search over every version's title, byline and text

SQLite: an external-content FTS5 table ``version_fts`` (rowid = version.id) kept in step by
three triggers on ``version``. PostgreSQL: a stored generated ``tsvector`` column
``version.search_vector`` with a GIN index. Both use no stemming (FTS5 ``unicode61`` with
diacritics folded; PostgreSQL's ``simple`` configuration), so
the archive's many languages are treated alike on both backends.

The viewer's bounded pages also need three plain indexes, on both backends (prefix ``ix_view_``):
article list order (first_seen, id), the language filter (language, article_id) and the feed of
recent edits (version.first_seen).

These objects are not in the ORM metadata (autogenerate cannot express them); env.py's
``include_object`` keeps them out of ``alembic check``. Written by hand.

Revision ID: 0003_search
Revises: 0005_warc
Create Date: 2026-11-26 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_search"
down_revision: str | None = "0005_warc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE version_fts USING fts5(
        title, byline, text,
        content='version', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER version_fts_ai AFTER INSERT ON version BEGIN
        INSERT INTO version_fts(rowid, title, byline, text)
        VALUES (new.id, new.title, new.byline, new.text);
    END""",
    """CREATE TRIGGER version_fts_ad AFTER DELETE ON version BEGIN
        INSERT INTO version_fts(version_fts, rowid, title, byline, text)
        VALUES ('delete', old.id, old.title, old.byline, old.text);
    END""",
    """CREATE TRIGGER version_fts_au AFTER UPDATE OF title, byline, text ON version BEGIN
        INSERT INTO version_fts(version_fts, rowid, title, byline, text)
        VALUES ('delete', old.id, old.title, old.byline, old.text);
        INSERT INTO version_fts(rowid, title, byline, text)
        VALUES (new.id, new.title, new.byline, new.text);
    END""",
    "INSERT INTO version_fts(version_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS version_fts_au",
    "DROP TRIGGER IF EXISTS version_fts_ad",
    "DROP TRIGGER IF EXISTS version_fts_ai",
    "DROP TABLE IF EXISTS version_fts",
]
VIEW_INDEXES_UP = [
    "CREATE INDEX ix_view_article_first_seen ON article (first_seen, id)",
    "CREATE INDEX ix_view_version_language ON version (language, article_id)",
    "CREATE INDEX ix_view_version_first_seen ON version (first_seen)",
]
VIEW_INDEXES_DOWN = [
    "DROP INDEX IF EXISTS ix_view_version_first_seen",
    "DROP INDEX IF EXISTS ix_view_version_language",
    "DROP INDEX IF EXISTS ix_view_article_first_seen",
]
POSTGRES_UP = [
    """ALTER TABLE version ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('simple'::regconfig, coalesce(byline, '')), 'B') ||
        setweight(to_tsvector('simple'::regconfig, left(text, 200000)), 'C')
    ) STORED""",
    "CREATE INDEX ix_version_search_vector ON version USING gin (search_vector)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_version_search_vector",
    "ALTER TABLE version DROP COLUMN IF EXISTS search_vector",
]


def upgrade() -> None:
    statements = SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP
    for statement in [*statements, *VIEW_INDEXES_UP]:
        op.execute(statement)


def downgrade() -> None:
    statements = SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN
    for statement in [*VIEW_INDEXES_DOWN, *statements]:
        op.execute(statement)
