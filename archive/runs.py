"""Run bookkeeping: one ``crawl_run`` row per run of a command that changes the archive, and the
queue of due revisits.

A run row is committed as ``running`` before any work and closed at the end with one of the
:class:`RunStatus` values, a one-line message saying why when it did not complete, and its
counters. A run whose process died (SIGKILL, power loss) is found still ``running`` by the next
run and closed as ``abandoned``. That is only safe because every run holds the run lock
(archive.runlock) while its row is open: :func:`archive.jobs.job` takes both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from archive.db import Archive
from archive.errors import DatabaseError, Interrupted, MediawatchError, NotFoundError
from archive.models import Article, ArticleStatus, CrawlRun, Version
from archive.runlock import signals_held, stop_requested
from archive.serialize import json_field

logger = logging.getLogger(__name__)

TRIGGERS = ("manual", "cron", "schedule")
MAX_MESSAGE = 1000


class RunStatus(StrEnum):
    """The one set of run statuses, whatever the command (docs/running.md, Runs)."""

    RUNNING = "running"
    COMPLETED = "completed"  # ran to its end, even if some fetches or lines failed (counted)
    FAILED = "failed"  # stopped on an error, or found nothing it could use; the message says which
    INTERRUPTED = "interrupted"  # SIGTERM or SIGINT
    ABANDONED = "abandoned"  # the process died; closed by the next run


def utcnow() -> datetime:
    return datetime.now(UTC)


def one_line_message(text: str) -> str:
    return " ".join(text.split())[:MAX_MESSAGE]


def failure_message(exc: BaseException) -> str:
    """The one line a run that raised leaves for `runs` and `report`: an error a user can act on
    says itself; anything else (a bug) is named by its type too."""
    if isinstance(exc, MediawatchError | Interrupted):
        text = str(exc) or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}"
    return one_line_message(text)


@dataclass
class OpenRun:
    """A run in progress. ``counters`` are written to the row when the run ends; ``end`` sets how
    it ends if its ``with`` block exits normally (completed unless told otherwise)."""

    id: int
    started_at: datetime
    command: str
    counters: dict[str, Any] = field(default_factory=dict)
    status: RunStatus = RunStatus.COMPLETED
    message: str | None = None
    closed: bool = False
    _close: Callable[[OpenRun, RunStatus, str | None], None] | None = field(default=None, repr=False)

    def add(self, counts: dict[str, int]) -> None:
        for key, value in counts.items():
            self.counters[key] = int(self.counters.get(key, 0)) + int(value)

    def record(self, summary: dict[str, Any]) -> None:
        """Replace the counters with a whole summary (a crawl's)."""
        self.counters = {**summary, "command": self.command}

    def end(self, status: RunStatus, message: str | None = None) -> None:
        """How the run ends when its block exits without an exception."""
        self.status = status
        self.message = one_line_message(message) if message else None

    def close(self) -> None:
        """Write the end of the run now (before notifications that read the closed row); the end
        of the ``with`` block then leaves the row as it is."""
        if not self.closed and self._close is not None:
            self._close(self, self.status, self.message)
        self.closed = True


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
    archive: Archive, *, command: str, trigger: str = "manual", clock: Callable[[], datetime] = utcnow
) -> Iterator[OpenRun]:
    """Record the ``with`` block as one crawl_run row (call it while holding the run lock).

    Every exit closes the row: normally as the run's ``end`` says (completed by default), an
    exception as ``failed`` with its one-line message, SIGTERM/SIGINT as ``interrupted``.
    """
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
        run = OpenRun(
            id=row.id,
            started_at=started,
            command=command,
            counters={"command": command},
            _close=lambda r, status, message: _close_run(archive, r, status, message, clock(), quiet=False),
        )
    if abandoned:
        logger.warning("closed %d run(s) left open by a process that died", abandoned)
    raised = True
    try:
        yield run
        raised = False
    except (Interrupted, KeyboardInterrupt) as exc:
        if not run.closed:
            run.end(RunStatus.INTERRUPTED, str(exc) or "stopped by SIGINT")
        raise
    except BaseException as exc:
        stopped = stop_requested()
        if stopped is not None:
            # A signal cut a database call short and the driver raised its own error for it.
            if not run.closed:
                run.end(RunStatus.INTERRUPTED, str(stopped))
            raise stopped from exc
        if not run.closed:
            run.end(RunStatus.FAILED, failure_message(exc))
        raise
    finally:
        if not run.closed:
            run.closed = True
            _close_run(archive, run, run.status, run.message, clock(), quiet=raised)


def _close_run(
    archive: Archive, run: OpenRun, status: RunStatus, message: str | None, at: datetime, *, quiet: bool
) -> None:
    """Write the end of a run; ``quiet`` while the run's own exception is on its way out.

    A SIGTERM or Ctrl-C arriving meanwhile is held until the row is written: cut short, the
    write would roll back and leave a finished run ``running`` (then ``abandoned``)."""
    try:
        with signals_held(), archive.transaction() as session:
            session.execute(
                update(CrawlRun)
                .where(CrawlRun.id == run.id)
                .values(finished_at=at, status=status, counters=dict(run.counters), message=message)
            )
    except Exception as exc:
        # The database is gone (that may be why the run failed); the next run closes the row
        # as abandoned. Never mask the run's own exception with this one.
        why = one_line_message(f"{type(exc).__name__}: {exc}")
        if not quiet:
            raise DatabaseError(f"could not record the end of run {run.id}: {why}") from None
        logger.error("could not record the end of run %d: %s", run.id, why)


# ---------------------------------------------------------------------------------------------
# Read side: recent runs and the revisit queue


def top_causes(failures: dict[str, int], limit: int = 3) -> str:
    """The most frequent failure causes in one line: ``43 robots.txt unreachable (dns), 2 timeout``."""
    ranked = sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{count} {cause}" for cause, count in ranked[:limit])
    hidden = len(ranked) - limit
    return shown + (f" and {hidden} other causes" if hidden > 0 else "")


@dataclass(frozen=True)
class RunRow:
    """One recorded run, its counters flattened: a crawl stores its whole summary (counts,
    failure causes, per-source counts), the other commands a few counts; all read the same here."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    status: str
    message: str | None
    command: str  # "crawl", "import", "import-warc", "backfill", "rederive", "db copy"
    counts: dict[str, int]
    failures: dict[str, int]  # cause -> count
    sources: dict[str, dict[str, int]]  # per source: its counts (crawls)
    details: dict[str, Any]  # the rest a crawl recorded: sources_ok/failed, finish_reason, notifications

    @classmethod
    def from_run(cls, run: CrawlRun) -> RunRow:
        recorded = dict(run.counters or {})
        command = str(recorded.pop("command", "") or "crawl")
        nested = recorded.pop("counters", None)
        if isinstance(nested, dict):  # a crawl's summary
            counts = {k: int(v) for k, v in nested.items() if isinstance(v, int)}
        else:
            counts = {k: int(v) for k, v in recorded.items() if isinstance(v, int)}
            recorded = {k: v for k, v in recorded.items() if not isinstance(v, int)}
        failures = recorded.pop("failures", None) or {}
        sources = recorded.pop("sources", None) or {}
        return cls(
            id=run.id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            trigger=run.trigger,
            status=run.status,
            message=run.message,
            command=command,
            counts=counts,
            failures={str(k): int(v) for k, v in failures.items()},
            sources={str(k): dict(v) for k, v in sources.items()},
            details=recorded,
        )

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def new_articles(self) -> int:
        return self.counts.get("new_articles", 0)

    @property
    def edits(self) -> int:
        """New versions of articles already archived."""
        if "new_versions" in self.counts:  # imports and backfills count every version, first ones too
            return max(0, self.counts.get("new_versions", 0) - self.new_articles)
        return sum(self.counts.get(f"new_versions_{kind}", 0) for kind in ("text", "metadata", "restored"))

    @property
    def removed(self) -> int:
        return self.counts.get("removed", 0)

    @property
    def failed(self) -> int:
        """Failed fetches (a crawl), rejected lines (an import), files or URLs that stopped with
        an error (import-warc, backfill), versions that failed to re-extract (rederive)."""
        return sum(self.counts.get(key, 0) for key in ("failed", "rejected", "errors"))

    @property
    def top_failures(self) -> str:
        return top_causes(self.failures)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "command": self.command,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "seconds": self.seconds,
            "trigger": self.trigger,
            "status": self.status,
            "message": self.message,
            "new_articles": self.new_articles,
            "edits": self.edits,
            "removed": self.removed,
            "failed": self.failed,
            "top_failures": self.top_failures,
            "counts": self.counts,
            "failures": self.failures,
            "sources": self.sources,
            **self.details,
        }


def recent_runs(session: Session, *, limit: int = 20) -> list[RunRow]:
    rows = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(max(1, min(limit, 1000))))
    return [RunRow.from_run(r) for r in rows]


def run_by_id(session: Session, run_id: int) -> RunRow:
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id} in this archive (see `mediawatch runs`)")
    return RunRow.from_run(run)


@dataclass(frozen=True)
class DueRow:
    id: int
    url: str
    title: str | None
    next_check: datetime
    last_checked: datetime | None
    versions: int
    overdue: bool


@dataclass(frozen=True)
class DueQueue:
    now: datetime
    overdue: int  # articles whose next_check has passed
    queued: int  # every article with a next_check at all
    rows: list[DueRow] = json_field(name="articles")  # serialised by archive.serialize.to_json


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
