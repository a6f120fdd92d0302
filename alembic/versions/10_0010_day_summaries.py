"""outlet_day_summary, day_summary, stale_summary_day: the statistics summed per UTC day

``outlet_day_summary`` holds, per outlet and UTC day of first capture, what that day's articles
add up to (their count, and the sums of their ``article_change_summary`` rows);
``day_summary`` the per-day figures (new articles, edits by label, removals, failed fetches).
Both are recounted, never incremented, for the days listed in ``stale_summary_day`` — once at
the end of each job, not per written page — and the statistics count a stale day from the rows
themselves until then. The database lists stale days itself: triggers on ``article``,
``article_change_summary``, ``version_change``, ``fetch`` and ``source`` append one row per
written row that changes a day's figures (a plain insert: concurrent writers never wait on a
shared row). Filled here for existing archives by two INSERT … SELECT.

Revision ID: 0010_day_summaries
Revises: 0009_article_change_summary
Create Date: 2026-12-02 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_day_summaries"
down_revision: str | None = "0009_article_change_summary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "articles",
    "edited",
    "edits",
    "substantive",
    "corrections",
    "updates",
    "removals",
    "restorations",
    "first_edit_under_1h",
    "first_edit_under_6h",
    "first_edit_under_24h",
    "first_edit_under_3d",
    "first_edit_under_7d",
)
DAY_COUNTS = (
    "new_articles",
    "edits_substantive",
    "edits_minor",
    "edits_cosmetic",
    "edits_none",
    "edits_unlabelled",
    "removals",
    "failed_fetches",
)
# The UTC day of a stored timestamp (naive UTC on both backends; SQLite keeps it as text).
DAY = {"sqlite": "substr({}, 1, 10)", "postgresql": "CAST({} AS DATE)"}

# The same counts as archive.stats.outlet_day_counts and day_counts, written out here so that
# this migration keeps meaning what it meant when later code changes.
FILL_OUTLET_DAY = """
INSERT INTO outlet_day_summary (source_id, day, {counts})
SELECT source_id, day, {sums} FROM (
    SELECT source_id, {day_first_seen} AS day, COUNT(*) AS articles,
        0 AS edited, 0 AS edits, 0 AS substantive, 0 AS corrections, 0 AS updates,
        0 AS removals, 0 AS restorations, 0 AS first_edit_under_1h, 0 AS first_edit_under_6h,
        0 AS first_edit_under_24h, 0 AS first_edit_under_3d, 0 AS first_edit_under_7d
    FROM article GROUP BY source_id, {day_first_seen}
    UNION ALL
    SELECT source_id, {day_article_first_seen}, 0,
        SUM(CASE WHEN edits > 0 THEN 1 ELSE 0 END), SUM(edits), SUM(substantive),
        SUM(corrections), SUM(updates), SUM(removals), SUM(restorations),
        SUM(CASE WHEN edits > 0 AND first_edit_delay < 3600 THEN 1 ELSE 0 END),
        SUM(CASE WHEN edits > 0 AND first_edit_delay < 21600 THEN 1 ELSE 0 END),
        SUM(CASE WHEN edits > 0 AND first_edit_delay < 86400 THEN 1 ELSE 0 END),
        SUM(CASE WHEN edits > 0 AND first_edit_delay < 259200 THEN 1 ELSE 0 END),
        SUM(CASE WHEN edits > 0 AND first_edit_delay < 604800 THEN 1 ELSE 0 END)
    FROM article_change_summary GROUP BY source_id, {day_article_first_seen}
) AS parts
GROUP BY source_id, day
"""
FILL_DAY = """
INSERT INTO day_summary (day, {counts})
SELECT day, {sums} FROM (
    SELECT {day_first_seen} AS day, COUNT(*) AS new_articles, 0 AS edits_substantive,
        0 AS edits_minor, 0 AS edits_cosmetic, 0 AS edits_none, 0 AS edits_unlabelled,
        0 AS removals, 0 AS failed_fetches
    FROM article GROUP BY {day_first_seen}
    UNION ALL
    SELECT {day_first_seen}, 0,
        SUM(CASE WHEN edit AND label = 'substantive' THEN 1 ELSE 0 END),
        SUM(CASE WHEN edit AND label = 'minor' THEN 1 ELSE 0 END),
        SUM(CASE WHEN edit AND label = 'cosmetic' THEN 1 ELSE 0 END),
        SUM(CASE WHEN edit AND label = 'none' THEN 1 ELSE 0 END),
        SUM(CASE WHEN edit AND label IS NULL THEN 1 ELSE 0 END),
        SUM(CASE WHEN change_kind = 'removed' THEN 1 ELSE 0 END), 0
    FROM version_change WHERE edit OR change_kind = 'removed' GROUP BY {day_first_seen}
    UNION ALL
    SELECT {day_fetched_at}, 0, 0, 0, 0, 0, 0, 0, COUNT(*)
    FROM "fetch" WHERE outcome = 'error' GROUP BY {day_fetched_at}
) AS parts
GROUP BY day
"""

# The tables whose rows count towards a day: (table, the timestamp that dates a row, the
# condition for a row to count at all, None for every row).
WATCHED = (
    ("article", "first_seen", None),
    ("article_change_summary", "article_first_seen", None),
    ("version_change", "first_seen", "{row}.edit OR {row}.change_kind = 'removed'"),
    ("fetch", "fetched_at", "{row}.outcome = 'error'"),
)


def _sqlite_triggers() -> list[str]:
    out = []
    for table, column, counts in WATCHED:
        for event, rows in (("INSERT", ("NEW",)), ("DELETE", ("OLD",)), ("UPDATE", ("OLD", "NEW"))):
            when = ""
            if counts is not None:
                when = "WHEN " + " OR ".join(f"({counts.format(row=row)})" for row in rows)
            of = " OF source_id, first_seen" if table == "article" and event == "UPDATE" else ""
            marks = " ".join(
                f"INSERT INTO stale_summary_day (day) VALUES (substr({row}.{column}, 1, 10));" for row in rows
            )
            out.append(
                f'CREATE TRIGGER stale_summary_day_{table}_{event.lower()} AFTER {event}{of} ON "{table}" '
                f"{when} BEGIN {marks} END"
            )
    out.append(
        """CREATE TRIGGER stale_summary_day_source_delete BEFORE DELETE ON source
        BEGIN
            INSERT INTO stale_summary_day (day)
            SELECT DISTINCT day FROM outlet_day_summary WHERE source_id = OLD.id;
        END"""
    )
    return out


def _postgresql_triggers() -> list[str]:
    out = []
    for table, column, counts in WATCHED:
        old = f"({counts.format(row='OLD')})" if counts else "TRUE"
        new = f"({counts.format(row='NEW')})" if counts else "TRUE"
        out.append(
            f"""CREATE FUNCTION stale_summary_day_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP <> 'INSERT' THEN
                    IF {old} THEN
                        INSERT INTO stale_summary_day (day) VALUES (CAST(OLD.{column} AS DATE));
                    END IF;
                END IF;
                IF TG_OP <> 'DELETE' THEN
                    IF {new} THEN
                        INSERT INTO stale_summary_day (day) VALUES (CAST(NEW.{column} AS DATE));
                    END IF;
                END IF;
                RETURN NULL;
            END $$"""
        )
        of = " OF source_id, first_seen" if table == "article" else ""
        out.append(
            f'CREATE TRIGGER stale_summary_day_{table} AFTER INSERT OR DELETE OR UPDATE{of} ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION stale_summary_day_{table}()"
        )
    out += [
        """CREATE FUNCTION stale_summary_day_source() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO stale_summary_day (day)
            SELECT DISTINCT day FROM outlet_day_summary WHERE source_id = OLD.id;
            RETURN OLD;
        END $$""",
        """CREATE TRIGGER stale_summary_day_source BEFORE DELETE ON source
        FOR EACH ROW EXECUTE FUNCTION stale_summary_day_source()""",
    ]
    return out


def _drop_triggers(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS stale_summary_day_{table}_{event}"
            for table, _, _ in WATCHED
            for event in ("insert", "delete", "update")
        ] + ["DROP TRIGGER IF EXISTS stale_summary_day_source_delete"]
    return [
        statement
        for table in (*(t for t, _, _ in WATCHED), "source")
        for statement in (
            f'DROP TRIGGER IF EXISTS stale_summary_day_{table} ON "{table}"',
            f"DROP FUNCTION IF EXISTS stale_summary_day_{table}()",
        )
    ]


def upgrade() -> None:
    # A development build of 0009 kept a day_summary table of its own (counts derived from the
    # archive, nothing else): replaced by the one below.
    op.execute("DROP TABLE IF EXISTS day_summary")
    op.create_table(
        "outlet_day_summary",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outlet_day_summary")),
    )
    with op.batch_alter_table("outlet_day_summary", schema=None) as batch_op:
        batch_op.create_index("ix_outlet_day_summary_day_source_id", ["day", "source_id"], unique=False)
    op.create_table(
        "day_summary",
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in DAY_COUNTS),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_day_summary")),
    )
    op.create_table(
        "stale_summary_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stale_summary_day")),
    )
    with op.batch_alter_table("stale_summary_day", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stale_summary_day_day"), ["day"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in _sqlite_triggers() if dialect == "sqlite" else _postgresql_triggers():
        op.execute(statement)
    day = DAY[dialect]
    columns = {
        "day_first_seen": day.format("first_seen"),
        "day_article_first_seen": day.format("article_first_seen"),
        "day_fetched_at": day.format("fetched_at"),
    }
    op.execute(
        FILL_OUTLET_DAY.format(
            counts=", ".join(COUNTS), sums=", ".join(f"SUM({c})" for c in COUNTS), **columns
        )
    )
    op.execute(
        FILL_DAY.format(
            counts=", ".join(DAY_COUNTS), sums=", ".join(f"SUM({c})" for c in DAY_COUNTS), **columns
        )
    )


def downgrade() -> None:
    for statement in _drop_triggers(op.get_bind().dialect.name):
        op.execute(statement)
    with op.batch_alter_table("stale_summary_day", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stale_summary_day_day"))
    op.drop_table("stale_summary_day")
    op.drop_table("day_summary")
    with op.batch_alter_table("outlet_day_summary", schema=None) as batch_op:
        batch_op.drop_index("ix_outlet_day_summary_day_source_id")
    op.drop_table("outlet_day_summary")
