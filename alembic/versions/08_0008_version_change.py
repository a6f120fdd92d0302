"""version_change: what each version changed, kept for the statistics; failed fetches per day

One small row per version (its change label, words added and removed, a correction or update
notice, whether it counts as an edit), so that the statistics count them in SQL without reading
article texts. Existing versions are compared once here, as the diff page compares them.

Revision ID: 0008_version_change
Revises: 0007_run_status
Create Date: 2026-12-01 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import archive.models

revision: str = "0008_version_change"
down_revision: str | None = "0007_run_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500  # articles whose versions are compared per round


def upgrade() -> None:
    op.create_table(
        "version_change",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("first_seen", archive.models.UTCDateTime(), nullable=False),
        sa.Column(
            "change_kind",
            sa.Enum(
                "first",
                "text",
                "metadata",
                "removed",
                "restored",
                "rederived",
                name="change_kind",
                native_enum=False,
                create_constraint=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("edit", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=True),
        sa.Column("words_added", sa.Integer(), nullable=False),
        sa.Column("words_removed", sa.Integer(), nullable=False),
        sa.Column("notice", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_version_change_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["version.id"],
            name=op.f("fk_version_change_version_id_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_version_change")),
    )
    with op.batch_alter_table("version_change", schema=None) as batch_op:
        batch_op.create_index(
            "ix_version_change_facts",
            ["article_id", "seq", "edit", "label", "notice", "change_kind", "first_seen"],
            unique=False,
        )
        batch_op.create_index(
            "ix_version_change_by_time", ["first_seen", "edit", "change_kind", "label"], unique=False
        )
    with op.batch_alter_table("fetch", schema=None) as batch_op:
        batch_op.create_index("ix_fetch_outcome_fetched_at", ["outcome", "fetched_at"], unique=False)
    backfill(op.get_bind())


def backfill(conn: sa.Connection) -> None:
    """Compare every archived version with the one before it (as ``archive.stats`` does for new ones)."""
    from archive.diff import TextVersion
    from archive.models import ChangeKind
    from archive.stats import change_facts, change_row

    version = sa.table(
        "version",
        *(
            sa.column(name)
            for name in (
                "id",
                "article_id",
                "seq",
                "text",
                "title",
                "byline",
                "published",
                "modified",
                "change_kind",
            )
        ),
        sa.column("first_seen", archive.models.UTCDateTime()),
        sa.column("flags", sa.JSON()),
    )
    target = sa.table(
        "version_change", *(sa.column(c.name, c.type) for c in archive.models.VersionChange.__table__.c)
    )
    article_ids = conn.execute(sa.select(version.c.article_id).distinct().order_by(version.c.article_id))
    ids = [row[0] for row in article_ids]
    for start in range(0, len(ids), BATCH):
        rows = conn.execute(
            sa.select(version)
            .where(version.c.article_id.in_(ids[start : start + BATCH]))
            .order_by(version.c.article_id, version.c.seq)
        ).mappings()
        out: list[dict[str, object]] = []
        previous: dict[int, TextVersion] = {}
        for row in rows:
            kind = ChangeKind(row["change_kind"])
            current = TextVersion(
                row["text"] or "", row["title"], row["byline"], row["published"], row["modified"]
            )
            facts = change_facts(previous.get(row["article_id"]), current, kind)
            out.append(
                change_row(
                    row["id"],
                    row["article_id"],
                    row["seq"],
                    row["first_seen"],
                    kind,
                    row["flags"] or [],
                    facts,
                )
            )
            if current.text:
                previous[row["article_id"]] = current
        if out:
            conn.execute(sa.insert(target), out)


def downgrade() -> None:
    with op.batch_alter_table("fetch", schema=None) as batch_op:
        batch_op.drop_index("ix_fetch_outcome_fetched_at")
    with op.batch_alter_table("version_change", schema=None) as batch_op:
        batch_op.drop_index("ix_version_change_by_time")
        batch_op.drop_index("ix_version_change_facts")
    op.drop_table("version_change")
