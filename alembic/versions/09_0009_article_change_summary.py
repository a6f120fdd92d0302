"""article_change_summary: what each article's later versions add up to, kept for the statistics

One row per article with more than one version (its edits, substantive edits, corrections,
updates, removals, restorations and the first edit's time), recounted from ``version_change``
whenever a version of the article is written or found to flip-flop, so that the per-outlet
statistics read one row per changed article instead of grouping every version. Filled here for
existing archives by one INSERT … SELECT over ``version_change``.

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
    (article_id, edits, substantive, corrections, updates, removals, restorations, first_edit)
SELECT article_id,
    SUM(CASE WHEN edit THEN 1 ELSE 0 END),
    SUM(CASE WHEN edit AND label = 'substantive' THEN 1 ELSE 0 END),
    SUM(CASE WHEN edit AND notice = 'correction' THEN 1 ELSE 0 END),
    SUM(CASE WHEN edit AND notice = 'update' THEN 1 ELSE 0 END),
    SUM(CASE WHEN change_kind = 'removed' THEN 1 ELSE 0 END),
    SUM(CASE WHEN change_kind = 'restored' THEN 1 ELSE 0 END),
    MIN(CASE WHEN edit THEN first_seen END)
FROM version_change
WHERE seq > 1
GROUP BY article_id
"""


def upgrade() -> None:
    op.create_table(
        "article_change_summary",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("edits", sa.Integer(), nullable=False),
        sa.Column("substantive", sa.Integer(), nullable=False),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("updates", sa.Integer(), nullable=False),
        sa.Column("removals", sa.Integer(), nullable=False),
        sa.Column("restorations", sa.Integer(), nullable=False),
        sa.Column("first_edit", archive.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_change_summary_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_article_change_summary")),
    )
    op.execute(FILL)


def downgrade() -> None:
    op.drop_table("article_change_summary")
