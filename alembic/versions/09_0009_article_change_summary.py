"""article_change_summary: what each article's later versions add up to, kept for the statistics

One row per article with more than one version (its edits, substantive edits, corrections,
updates, removals, restorations, the article's first capture, the first edit's time and its
delay after that), recounted from ``version_change``
whenever a version of the article is written or found to flip-flop, so that the per-outlet
statistics read one row per changed article instead of grouping every version. Filled here for
existing archives by one INSERT … SELECT over ``version_change``. An index on the article's
source and first capture lets the statistics count each outlet's articles from the index alone;
the summary keeps a copy of the article's source (a trigger keeps it equal), so that an outlet's
edited articles are found in an index ordered by their delay to the first edit.

Revision ID: 0009_article_change_summary
Revises: 0008_version_change
Create Date: 2026-12-01 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import archive.models

revision: str = "0009_article_change_summary"
down_revision: str | None = "0008_version_change"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same sums as archive.stats.change_summary, written out here so that this migration keeps
# meaning what it meant when later code changes.
FILL = """
INSERT INTO article_change_summary
    (article_id, source_id, edits, substantive, corrections, updates, removals, restorations,
     article_first_seen, first_edit, first_edit_delay)
SELECT article_id, source_id, edits, substantive, corrections, updates, removals, restorations,
    article_first_seen, first_edit, {delay}
FROM (
    SELECT vc.article_id, a.source_id,
        SUM(CASE WHEN vc.edit THEN 1 ELSE 0 END) AS edits,
        SUM(CASE WHEN vc.edit AND vc.label = 'substantive' THEN 1 ELSE 0 END) AS substantive,
        SUM(CASE WHEN vc.edit AND vc.notice = 'correction' THEN 1 ELSE 0 END) AS corrections,
        SUM(CASE WHEN vc.edit AND vc.notice = 'update' THEN 1 ELSE 0 END) AS updates,
        SUM(CASE WHEN vc.change_kind = 'removed' THEN 1 ELSE 0 END) AS removals,
        SUM(CASE WHEN vc.change_kind = 'restored' THEN 1 ELSE 0 END) AS restorations,
        MIN(CASE WHEN vc.edit THEN vc.first_seen END) AS first_edit,
        a.first_seen AS article_first_seen
    FROM version_change vc JOIN article a ON a.id = vc.article_id
    WHERE vc.seq > 1
    GROUP BY vc.article_id, a.source_id, a.first_seen
) AS per_article
"""
DELAY = {
    "sqlite": "(julianday(first_edit) - julianday(article_first_seen)) * 86400.0",
    "postgresql": "EXTRACT(EPOCH FROM (first_edit - article_first_seen))",
}
# The summary's copy of the article's outlet follows the article (the database keeps it, so
# that no writer can forget to).
TRIGGERS_UP = {
    "sqlite": [
        """CREATE TRIGGER article_change_summary_source AFTER UPDATE OF source_id ON article
        BEGIN
            UPDATE article_change_summary SET source_id = new.source_id WHERE article_id = new.id;
        END"""
    ],
    "postgresql": [
        """CREATE FUNCTION article_change_summary_source() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE article_change_summary SET source_id = NEW.source_id WHERE article_id = NEW.id;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER article_change_summary_source AFTER UPDATE OF source_id ON article
        FOR EACH ROW WHEN (OLD.source_id IS DISTINCT FROM NEW.source_id)
        EXECUTE FUNCTION article_change_summary_source()""",
    ],
}
TRIGGERS_DOWN = {
    "sqlite": ["DROP TRIGGER IF EXISTS article_change_summary_source"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS article_change_summary_source ON article",
        "DROP FUNCTION IF EXISTS article_change_summary_source()",
    ],
}


def upgrade() -> None:
    op.create_table(
        "article_change_summary",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("edits", sa.Integer(), nullable=False),
        sa.Column("substantive", sa.Integer(), nullable=False),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("updates", sa.Integer(), nullable=False),
        sa.Column("removals", sa.Integer(), nullable=False),
        sa.Column("restorations", sa.Integer(), nullable=False),
        sa.Column("article_first_seen", archive.models.UTCDateTime(), nullable=False),
        sa.Column("first_edit", archive.models.UTCDateTime(), nullable=True),
        sa.Column("first_edit_delay", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_change_summary_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_article_change_summary_source_id_source"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_article_change_summary")),
    )
    with op.batch_alter_table("article_change_summary", schema=None) as batch_op:
        batch_op.create_index(
            "ix_article_change_summary_article_first_seen", ["article_first_seen"], unique=False
        )
        batch_op.create_index(
            "ix_article_change_summary_edited",
            ["source_id", "first_edit_delay", "article_first_seen", "edits"],
            unique=False,
            sqlite_where=sa.text("edits > 0"),
            postgresql_where=sa.text("edits > 0"),
        )
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.create_index("ix_article_source_id_first_seen", ["source_id", "first_seen"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in TRIGGERS_UP[dialect]:
        op.execute(statement)
    op.execute(FILL.format(delay=DELAY[dialect]))


def downgrade() -> None:
    for statement in TRIGGERS_DOWN[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.drop_index("ix_article_source_id_first_seen")
    with op.batch_alter_table("article_change_summary", schema=None) as batch_op:
        batch_op.drop_index("ix_article_change_summary_edited")
        batch_op.drop_index("ix_article_change_summary_article_first_seen")
    op.drop_table("article_change_summary")
