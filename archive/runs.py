"""Run bookkeeping: one ``crawl_run`` row per crawl or import, and the queue of due revisits.

A run row is committed as ``running`` before any work and closed as ``finished``, ``failed``
or ``interrupted`` at the end; a run whose process died (SIGKILL, power loss) is found still
``running`` by the next run and closed as ``abandoned``. That is only safe because every run
holds the run lock (archive.runlock) while its row is open.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from archive.db import Archive
from archive.errors import Interrupted
from archive.models import Article, ArticleStatus, CrawlRun, Version

logger = logging.getLogger(__name__)

TRIGGERS = ("manual", "cron", "schedule")


class RunStatus:
    RUNNING = "running"
    FINISHED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class OpenRun:
    """A run in progress; ``counters`` are written to the row when the run ends."""

    id: int
    started_at: datetime
    counters: dict[str, Any] = field(default_factory=dict)

    def add(self, counts: dict[str, int]) -> None:
        for key, value in counts.items():
            self.counters[key] = int(self.counters.get(key, 0)) + int(value)


def close_abandoned_runs(session: Session, now: datetime) -> int:
    """Close rows left ``running`` by a process that died; call only while holding the run lock."""
    result = session.execute(
        update(CrawlRun)
        .where(CrawlRun.status == RunStatus.RUNNING)
        .values(status=RunStatus.ABANDONED, message="the process ended without closing its run")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # Result of an UPDATE is a CursorResult


@contextmanager
def recorded_run(
    archive: Archive, *, command: str, trigger: str = "manual", clock: Any = utcnow
) -> Iterator[OpenRun]:
    """Record the ``with`` block as one crawl_run row (call it while holding the run lock)."""
    started = clock()
    with archive.transaction() as session:
        abandoned = close_abandoned_runs(session, started)
        row = CrawlRun(
            started_at=started,
            trigger=trigger if trigger in TRIGGERS else "manual",
            status=RunStatus.RUNNING,
            counters={"command": command},
        )
        session.add(row)
        session.flush()
        run = OpenRun(id=row.id, started_at=started, counters={"command": command})
    if abandoned:
        logger.warning("closed %d run(s) left open by a process that died", abandoned)
    status, message = RunStatus.FINISHED, None
    try:
        yield run
    except (Interrupted, KeyboardInterrupt) as exc:
        status, message = RunStatus.INTERRUPTED, str(exc) or "interrupted"
        raise
    except BaseException as exc:
        status, message = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:1000]
        raise
    finally:
        _close_run(archive, run, status, message, clock())


def _close_run(archive: Archive, run: OpenRun, status: str, message: str | None, at: datetime) -> None:
    try:
        with archive.transaction() as session:
            session.execute(
                update(CrawlRun)
                .where(CrawlRun.id == run.id)
                .values(finished_at=at, status=status, counters=dict(run.counters), message=message)
            )
    except Exception:
        # The database is gone (that may be why the run failed); the next run closes the row
        # as abandoned. Never mask the run's own exception with this one.
        logger.exception("could not record the end of run %d", run.id)
        if status == RunStatus.FINISHED:
            raise


# ---------------------------------------------------------------------------------------------
# Read side: recent runs and the revisit queue


@dataclass(frozen=True)
class RunRow:
    id: int
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    status: str
    counters: dict[str, Any]
    message: str | None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "seconds": self.seconds,
            "trigger": self.trigger,
            "status": self.status,
            "counters": self.counters,
            "message": self.message,
        }


def recent_runs(session: Session, *, limit: int = 20) -> list[RunRow]:
    rows = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(max(1, min(limit, 1000))))
    return [
        RunRow(
            id=r.id,
            started_at=r.started_at,
            finished_at=r.finished_at,
            trigger=r.trigger,
            status=r.status,
            counters=dict(r.counters or {}),
            message=r.message,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class DueRow:
    id: int
    url: str
    title: str | None
    next_check: datetime
    last_checked: datetime | None
    versions: int
    overdue: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "next_check": self.next_check.isoformat(),
            "last_checked": self.last_checked.isoformat() if self.last_checked else None,
            "versions": self.versions,
            "overdue": self.overdue,
        }


@dataclass(frozen=True)
class DueQueue:
    now: datetime
    overdue: int  # articles whose next_check has passed
    queued: int  # every article with a next_check at all
    rows: list[DueRow]

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "overdue": self.overdue,
            "queued": self.queued,
            "articles": [r.as_dict() for r in self.rows],
        }


def due_queue(session: Session, *, now: datetime, limit: int = 50, overdue_only: bool = False) -> DueQueue:
    """Articles queued for a revisit, soonest first (the overdue ones are due now)."""
    queued = Article.next_check.is_not(None) & (Article.status != ArticleStatus.REDIRECTED)
    overdue_count = session.scalar(select(func.count()).where(queued, Article.next_check <= now)) or 0
    total = session.scalar(select(func.count()).where(queued)) or 0
    query = select(Article, Version.title).outerjoin(
        Version, and_(Version.article_id == Article.id, Version.seq == Article.version_count)
    )
    query = query.where(queued, Article.next_check <= now) if overdue_only else query.where(queued)
    rows = session.execute(
        query.order_by(Article.next_check, Article.id).limit(max(1, min(limit, 1000)))
    ).all()
    return DueQueue(
        now=now,
        overdue=int(overdue_count),
        queued=int(total),
        rows=[
            DueRow(
                id=a.id,
                url=a.canonical_url,
                title=title,
                next_check=_queued_at(a),
                last_checked=a.last_checked,
                versions=a.version_count,
                overdue=_queued_at(a) <= now,
            )
            for a, title in rows
        ],
    )


def _queued_at(article: Article) -> datetime:
    # Only queued articles (next_check set) reach the due list.
    assert article.next_check is not None
    return article.next_check
