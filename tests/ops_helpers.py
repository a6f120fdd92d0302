"""Helpers for the operations tests: run the real `mediawatch` command, poll and read the database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select

from archive.db import Archive
from archive.models import Article, CrawlRun, Version

HOLDER = Path(__file__).parent / "lock_holder.py"
T = TypeVar("T")


def mediawatch(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``python -m mediawatch ARGS`` exactly as cron, systemd and the scheduler do."""
    return subprocess.Popen(
        [sys.executable, "-m", "mediawatch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def run_mediawatch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediawatch", *args], capture_output=True, text=True, timeout=timeout
    )


def hold_lock(db_url: str, name: str = "run") -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, str(HOLDER), db_url, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    line = holder.stdout.readline()
    assert line.strip() == "locked", holder.stderr.read() if holder.stderr else ""
    return holder


def wait_for(predicate: Callable[[], T | None], *, timeout: float = 120, what: str = "condition") -> T:
    """Poll until predicate returns something truthy (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def runs(db_url: str) -> list[CrawlRun]:
    with Archive(db_url) as archive, archive.reading() as s:
        return list(s.scalars(select(CrawlRun).order_by(CrawlRun.id)))


def version_history(archive: Archive) -> list[tuple[Any, ...]]:
    """Every version of every article (URL, seq, dates seen, text digest, title, change kind,
    blob), in order: two archives that hold the same history compare equal."""
    with archive.reading() as session:
        rows = session.execute(
            select(
                Article.canonical_url,
                Version.seq,
                Version.first_seen,
                Version.last_seen,
                Version.text_sha256,
                Version.title,
                Version.change_kind,
                Version.blob_sha256,
            )
            .join(Article, Article.id == Version.article_id)
            .order_by(Article.canonical_url, Version.seq)
        )
        return [tuple(r) for r in rows]
