"""fetch http headers and warc record id

Revision ID: 0005_warc
Revises: 0002_crawler
Create Date: 2026-11-26 05:58:17.915162
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_warc"
down_revision: str | None = "0002_crawler"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fetch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("http_headers", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("warc_record_id", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_fetch_warc_record_id"), ["warc_record_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fetch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fetch_warc_record_id"))
        batch_op.drop_column("warc_record_id")
        batch_op.drop_column("http_headers")
