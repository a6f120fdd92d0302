"""feed_memory: each feed's validators, body hash and the links of its last successful parse

A crawl sends the validators with its next request for the feed; a 304, or a body with the same
SHA-256, is an unchanged feed whose links are read back from here instead of parsing it again.
Empty for existing archives: each feed is parsed once more on the next crawl, which fills it.

Revision ID: 0011_feed_memory
Revises: 0010_day_summaries
Create Date: 2026-12-02 00:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import archive.models

revision: str = "0011_feed_memory"
down_revision: str | None = "0010_day_summaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_memory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("links", sa.Text(), nullable=False),
        sa.Column("dropped", sa.Integer(), nullable=False),
        sa.Column("stored_at", archive.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_memory")),
        sa.UniqueConstraint("url", name=op.f("uq_feed_memory_url")),
    )


def downgrade() -> None:
    op.drop_table("feed_memory")
