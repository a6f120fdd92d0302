"""Concurrent writers and SIGKILL crashes never produce duplicate or partial versions (D6, E1, E5)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from archive import blobs
from archive.db import Archive
from archive.models import Blob, Fetch, FetchOutcome, Version

pytestmark = pytest.mark.slow  # racing and SIGKILLed writer processes

WRITER = Path(__file__).parent / "writer_proc.py"


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_racing_processes_record_each_state_once(db_url: str, corpus: Path) -> None:
    racers = [spawn("race", db_url, str(corpus)) for _ in range(4)]
    for proc in racers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    with Archive(db_url) as archive, archive.reading() as s:
        seqs = list(s.scalars(select(Version.seq).order_by(Version.seq)))
        assert seqs == [1, 2, 3], "one version per distinct state, contiguous seq"
        outcomes = list(s.scalars(select(Fetch.outcome)))
        assert len(outcomes) == 12
        assert outcomes.count(FetchOutcome.NEW_VERSION) == 3
        assert set(outcomes) <= {FetchOutcome.NEW_VERSION, FetchOutcome.UNCHANGED}


def check_no_partial_versions(archive: Archive) -> int:
    with archive.reading() as s:
        if archive.is_sqlite:
            assert s.execute(text("PRAGMA quick_check")).scalar() == "ok"
        versions = list(s.scalars(select(Version).order_by(Version.seq)))
        assert [v.seq for v in versions] == list(range(1, len(versions) + 1))
        for v in versions:
            assert v.blob_sha256 is not None
            raw = blobs.get_blob(s, v.blob_sha256)  # verifies the digest
            assert raw is not None, f"version {v.seq} points at a missing blob"
            fetch = s.scalar(select(Fetch).where(Fetch.version_id == v.id))
            assert fetch is not None and fetch.outcome == FetchOutcome.NEW_VERSION
            assert fetch.raw_sha256 == v.blob_sha256
        orphans = s.scalar(
            select(func.count())
            .select_from(Fetch)
            .where(Fetch.outcome == FetchOutcome.NEW_VERSION, Fetch.version_id.is_(None))
        )
        assert orphans == 0
        assert s.scalar(select(func.count()).select_from(Blob)) == len(versions)
        return len(versions)


def test_sigkill_at_random_points_leaves_no_partial_version(db_url: str, corpus: Path) -> None:
    rng = random.Random(42)
    kills = int(os.environ.get("MEDIAWATCH_CRASH_KILLS", "8"))
    next_n = 0
    with Archive(db_url) as archive:
        for _ in range(kills):
            proc = spawn("churn", db_url, str(corpus), str(next_n))
            # Wait until it writes, then kill it at a random instant of the write loop.
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.strip(), proc.stderr.read() if proc.stderr else ""
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            count = check_no_partial_versions(archive)
            next_n = count + 1000  # new distinct states after every restart
        assert count >= kills
