"""Commands that change the archive run as *jobs*: under the run lock, recorded as a crawl_run.

``mediawatch crawl`` and ``mediawatch import`` both go through :func:`locked_run`, so cron, the
scheduler and a person at a terminal can never run two at once against one archive.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from archive.db import Archive
from archive.runlock import acquire_run_lock, stop_on_signals
from archive.runs import OpenRun, recorded_run

if TYPE_CHECKING:
    from archive.importer import ImportSummary

logger = logging.getLogger(__name__)

TRIGGER_ENV = "MEDIAWATCH_RUN_TRIGGER"  # set by the scheduler ("schedule") or a crontab ("cron")


@contextmanager
def locked_run(
    db_url: str | None, *, command: str, trigger: str = "manual", preload: Sequence[str] = ()
) -> Iterator[tuple[Archive, OpenRun]]:
    """Take the run lock, open the archive and record a run; SIGTERM ends it as interrupted.

    The lock comes first: a second run exits with AlreadyRunning before touching the database,
    and before importing the ``preload`` modules the run needs (a refused start stays quick).
    They are imported before SIGTERM is turned into an exception: raised while a C extension
    initialises (lxml's does), that exception is swallowed and the run would carry on.
    """
    with acquire_run_lock(db_url):
        for module in preload:
            importlib.import_module(module)
        with stop_on_signals(), Archive(db_url) as archive:
            with recorded_run(archive, command=command, trigger=trigger) as run:
                yield archive, run


def run_import(
    db_url: str | None,
    paths: Sequence[Path],
    *,
    trigger: str = "manual",
    progress: Callable[[Path], Callable[[int, int], None]] | None = None,
    on_file: Callable[[Path, ImportSummary], None] | None = None,
) -> list[tuple[Path, ImportSummary]]:
    """Import JSON Lines files as one recorded run under the run lock."""
    results: list[tuple[Path, ImportSummary]] = []
    preload = ("archive.importer",)
    with locked_run(db_url, command="import", trigger=trigger, preload=preload) as (archive, run):
        from archive.importer import import_jsonl  # preloaded under the lock

        for path in paths:
            summary = import_jsonl(
                archive, path, progress=progress(path) if progress else None, crawl_run_id=run.id
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
