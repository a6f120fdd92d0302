"""candidates: pages scored a little under the topic threshold (text and score, no versions)

Revision ID: 0006_candidates
Revises: 0004_dedup
Create Date: 2026-12-01 11:19:12.551165
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import archive.models

revision: str = "0006_candidates"
down_revision: str | None = "0004_dedup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "candidate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("fetched_url", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("crawl_run_id", sa.Integer(), nullable=True),
        sa.Column("fetched_at", archive.models.UTCDateTime(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("extracted", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("scored_at", archive.models.UTCDateTime(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"], ["article.id"], name=op.f("fk_candidate_article_id_article"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["crawl_run_id"],
            ["crawl_run.id"],
            name=op.f("fk_candidate_crawl_run_id_crawl_run"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_candidate_source_id_source"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidate")),
        sa.UniqueConstraint("url", name=op.f("uq_candidate_url")),
    )
    with op.batch_alter_table("candidate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_candidate_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("candidate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candidate_status"))

    op.drop_table("candidate")
