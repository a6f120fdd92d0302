"""Never two runs at once (docs/running.md, The run lock): the run lock, overlapping starts, stale locks."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from corpus_data import write_nyt_jsonl
from ops_helpers import hold_lock, mediawatch, run_mediawatch, runs, wait_for
from sqlalchemy import func, select

from archive.db import Archive
from archive.errors import AlreadyRunning
from archive.models import Fetch, Version
from archive.runlock import acquire_run_lock, lock_key, lock_path

pytestmark = pytest.mark.slow  # racing and signalled processes

STARTS = 20
# Racing starts each may run a whole import; ten keep the race real and the suite short.
RACERS = 10


@pytest.fixture
def nyt_file(corpus: Path, tmp_path: Path) -> Path:
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path)
    return path


def test_second_holder_is_refused_until_the_first_releases(db_url: str) -> None:
    with acquire_run_lock(db_url) as held:
        with pytest.raises(AlreadyRunning, match="another mediawatch run is running"):
            with acquire_run_lock(db_url):
                pass
        # A different lock name is a different lock (the scheduler's singleton vs. runs).
        with acquire_run_lock(db_url, "scheduler"):
            pass
        assert held.name == "run"
    with acquire_run_lock(db_url):
        pass


def test_lock_file_sits_next_to_the_database_or_in_the_lock_dir(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert lock_path(url) == tmp_path / "a.db.run.lock"
    elsewhere = lock_path(url, "scheduler", tmp_path / "locks")
    assert elsewhere.parent == tmp_path / "locks" and elsewhere.name.endswith(".scheduler.lock")
    assert lock_path(f"sqlite:///{tmp_path / 'b.db'}", lock_dir=tmp_path) != lock_path(url, lock_dir=tmp_path)
    assert -(2**63) <= lock_key("run") < 2**63 and lock_key("run") != lock_key("scheduler")


def test_overlapping_starts_while_a_run_holds_the_lock_all_exit_75(db_url: str, nyt_file: Path) -> None:
    holder = hold_lock(db_url)
    try:
        starts = [mediawatch("import", str(nyt_file), "--db", db_url) for _ in range(STARTS)]
        for proc in starts:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 75, err
            assert out == ""
            assert err.count("\n") == 1 and err.startswith("Error: another mediawatch run is running")
            assert "Traceback" not in err
        assert runs(db_url) == [], "a refused start touches nothing"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The SIGKILLed holder's lock is released by the OS: the next start runs.
    result = run_mediawatch("import", str(nyt_file), "--db", db_url, "--json")
    assert result.returncode == 0, result.stderr
    assert [r.status for r in runs(db_url)] == ["completed"]


def test_racing_starts_run_one_at_a_time_and_record_each_state_once(db_url: str, nyt_file: Path) -> None:
    starts = [mediawatch("import", str(nyt_file), "--db", db_url, "--json") for _ in range(RACERS)]
    codes = []
    for proc in starts:
        _out, err = proc.communicate(timeout=600)
        codes.append(proc.returncode)
        assert proc.returncode in (0, 75), err
    assert codes.count(0) >= 1
    recorded = runs(db_url)
    assert len(recorded) == codes.count(0)
    assert all(r.status == "completed" for r in recorded)
    spans = sorted((r.started_at, r.finished_at) for r in recorded)
    for (_s1, end), (start, _e2) in zip(spans, spans[1:], strict=False):
        assert end is not None and end <= start, "two runs overlapped"
    with Archive(db_url) as archive, archive.reading() as s:
        versions = s.scalar(select(func.count()).select_from(Version))
        pairs = s.execute(select(Version.article_id, Version.seq)).all()
        assert len(set(pairs)) == len(pairs)
        assert sum(r.counters["new_versions"] for r in recorded) == versions == 21
        # Every fetch of a run points at it.
        assert s.scalar(select(func.count()).where(Fetch.crawl_run_id.is_(None))) == 0


def test_sigterm_ends_a_run_as_interrupted_and_sigkill_leaves_it_for_the_next_run(
    db_url: str, nyt_file: Path
) -> None:
    proc = mediawatch("import", str(nyt_file), "--db", db_url)
    wait_for(lambda: any(r.status == "running" for r in runs(db_url)), what="a running import")
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "Error: stopped by SIGTERM"
    [run] = runs(db_url)
    assert run.status == "interrupted" and run.finished_at is not None

    proc = mediawatch("import", str(nyt_file), "--db", db_url)
    wait_for(lambda: len(runs(db_url)) == 2, what="a second running import")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert runs(db_url)[-1].status == "running"
    # The next run gets the lock (the dead process's lock is gone), closes the dead run and
    # catches up: the archive ends with every state exactly once.
    result = run_mediawatch("import", str(nyt_file), "--db", db_url)
    assert result.returncode == 0, result.stderr
    assert [r.status for r in runs(db_url)] == ["interrupted", "abandoned", "completed"]
    with Archive(db_url) as archive, archive.reading() as s:
        assert s.scalar(select(func.count()).select_from(Version)) == 21
