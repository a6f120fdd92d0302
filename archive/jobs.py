"""Every command that changes the archive runs as a *job*: under the run lock, recorded as a run.

``crawl``, ``import``, ``import-warc``, ``backfill`` and ``rederive`` all go through :func:`job`,
so cron, the scheduler and a person at a terminal can never run two at once against one archive
(a second start exits 75 and touches nothing), and each leaves exactly one ``crawl_run`` row
whatever happens: ``completed``, ``failed`` with its one-line reason, ``interrupted``, or — if
the process dies — ``abandoned`` when the next job starts (docs/running.md, Runs). A job that
completes ends by recounting the statistics' day summaries of the days it wrote to.
``db copy`` takes the same lock on both archives and records itself in the target with the
copied rows (archive/transfer.py): a running row there would be replaced by the copy.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.db import Archive, database_url, require_existing
from archive.runlock import acquire_run_lock, stop_on_signals
from archive.runs import OpenRun, RunStatus, recorded_run

if TYPE_CHECKING:
    from archive.importer import ImportSummary

logger = logging.getLogger(__name__)

TRIGGER_ENV = "MEDIAWATCH_RUN_TRIGGER"  # set by the scheduler ("schedule") or a crontab ("cron")

__all__ = ["TRIGGER_ENV", "OpenRun", "RunStatus", "import_files", "job", "run_import"]


@contextmanager
def job(
    db_url: str | None,
    *,
    command: str,
    trigger: str = "manual",
    preload: Sequence[str] = (),
    existing: bool = False,
) -> Iterator[tuple[Archive, OpenRun]]:
    """Take the run lock, open the archive and record the block as one run of ``command``.

    ``existing``: the command only reworks what an archive holds (``rederive``), so a SQLite file
    that is not there is refused (exit 3, "no archive at PATH") instead of created empty.

    The lock comes first: a second job exits with AlreadyRunning (75) before touching the
    database, and before importing the ``preload`` modules the job needs (a refused start stays
    quick). They are imported before SIGTERM is turned into an exception: raised while a C
    extension initialises (lxml's does), that exception is swallowed and the job would carry on.

    The row is closed on every way out: as ``run.end`` says when the block returns (completed by
    default), ``failed`` with the exception's one line, ``interrupted`` on SIGTERM/SIGINT.
    """
    if existing:
        require_existing(database_url(db_url))
    with acquire_run_lock(db_url):
        for module in preload:
            importlib.import_module(module)
        with stop_on_signals(), Archive(db_url) as archive:
            with recorded_run(archive, command=command, trigger=trigger) as run:
                yield archive, run
                from archive.stats import recount_stale_days

                # Once per job, not per written page: the day summaries of the days the job
                # wrote to are recounted (docs/statistics.md, How the figures stay fast).
                recount_stale_days(archive.engine)


def import_files(
    archive: Archive,
    run: OpenRun,
    paths: Sequence[Path],
    *,
    progress: Callable[[Path], Callable[[int, int], None]] | None = None,
    on_file: Callable[[Path, ImportSummary], None] | None = None,
    executor: Any = None,
) -> list[tuple[Path, ImportSummary]]:
    """Import JSON Lines files into a job's archive, counting on its run (``executor``: where
    pages are extracted, see archive/bulk.py)."""
    from archive.importer import import_jsonl

    results: list[tuple[Path, ImportSummary]] = []
    for path in paths:
        summary = import_jsonl(
            archive,
            path,
            progress=progress(path) if progress else None,
            crawl_run_id=run.id,
            executor=executor,
        )
        run.add(
            {
                "files": 1,
                "records": summary.records,
                "new_articles": summary.new_articles,
                "new_versions": summary.new_versions,
                "rejected": len(summary.rejected),
            }
        )
        results.append((path, summary))
        if on_file is not None:
            on_file(path, summary)
    return results


def run_import(
    db_url: str | None,
    paths: Sequence[Path],
    *,
    trigger: str = "manual",
    progress: Callable[[Path], Callable[[int, int], None]] | None = None,
    on_file: Callable[[Path, ImportSummary], None] | None = None,
) -> list[tuple[Path, ImportSummary]]:
    """Import JSON Lines files as one job (what ``mediawatch import`` does, for scripts and tests)."""
    with job(db_url, command="import", trigger=trigger, preload=("archive.importer",)) as (archive, run):
        return import_files(archive, run, paths, progress=progress, on_file=on_file)
