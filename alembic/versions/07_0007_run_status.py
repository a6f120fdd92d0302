"""one run status: the crawl's own statuses become ``failed`` with their reason

Crawls used to close their runs with statuses of their own: ``all-sources-failed`` and
``stopped: <Scrapy's finish reason>``. Every command now closes its run with one of
``running``, ``completed``, ``failed``, ``interrupted``, ``abandoned`` and says why in the
message; old rows are rewritten to match, so `runs` and `report` read them like new ones.

Revision ID: 0007_run_status
Revises: 0006_candidates
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_run_status"
down_revision: str | None = "0006_candidates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("running", "completed", "failed", "interrupted", "abandoned")

crawl_run = sa.table(
    "crawl_run",
    sa.column("id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("message", sa.Text),
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(crawl_run.c.id, crawl_run.c.status, crawl_run.c.message).where(
            crawl_run.c.status.not_in(STATUSES)
        )
    ).all()
    for run_id, status, message in rows:
        conn.execute(
            sa.update(crawl_run)
            .where(crawl_run.c.id == run_id)
            .values(status="failed", message=reason(status, message))
        )


def reason(status: str, message: str | None) -> str:
    """The message an old status becomes (the old message kept when it already says why)."""
    if status == "all-sources-failed":
        if message and message.startswith("every source failed"):
            return message
        return "every source failed"
    if status.startswith("stopped: "):
        said = status.removeprefix("stopped: ")
        if message and message not in (status, said):
            return message
        return f"the crawler stopped: {said}"
    return message or status


def downgrade() -> None:
    # The old statuses, where the message still tells which it was.
    conn = op.get_bind()
    conn.execute(
        sa.update(crawl_run)
        .where(crawl_run.c.status == "failed", crawl_run.c.message.like("every source failed%"))
        .values(status="all-sources-failed")
    )
    rows = conn.execute(
        sa.select(crawl_run.c.id, crawl_run.c.message).where(
            crawl_run.c.status == "failed", crawl_run.c.message.like("the crawler stopped: %")
        )
    ).all()
    for run_id, message in rows:
        old = "stopped: " + message.removeprefix("the crawler stopped: ")
        conn.execute(sa.update(crawl_run).where(crawl_run.c.id == run_id).values(status=old[:24]))
