"""Fault injection against real crawls (docs/running.md, What a crawl survives).

Each crawl is a real ``mediawatch crawl`` process against the loopback site of tests/crawl_site.py;
faults are real: SIGKILL at random points, two crawls started at once, PostgreSQL stopped mid-run.
Assertions are on database rows only.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import PostgresCluster, crawl_command
from crawl_site import CorpusPage, Site, healthy_pages, rewrite_feed, run_crawl_cli, sources_file
from sqlalchemy import select

from archive.blobs import decompress
from archive.db import Archive
from archive.models import Article, Blob, CrawlRun, Fetch, Version

pytestmark = pytest.mark.slow  # real crawls killed and faulted

PAGES = 4
KILLS = 20


@pytest.fixture(scope="module")
def pages(corpus: Path) -> list[CorpusPage]:
    return healthy_pages(corpus, PAGES)


def _crawl_cmd(sources: Path, feed: str) -> list[str]:
    return crawl_command(sources, feed, "--workers", "1", "--revisit", "all")


def _editable_word(page: CorpusPage) -> str:
    html = page.raw.decode("utf-8", "replace")
    for word in re.findall(r"\b[a-z]{7,}\b", page.text[200:]):
        if html.count(word) == 1 and page.text.count(word) == 1:
            return word
    raise AssertionError(f"no editable word in {page.path}")


def _serve(
    site: Site, corpus: Path, pages: list[CorpusPage], edition: int, delays: dict[str, float] | None = None
) -> None:
    """Serve every page; edition > 0 changes one word of each article body (a real edit)."""
    for page in pages:
        raw = page.raw
        if edition:
            word = _editable_word(page)
            raw = raw.decode("utf-8", "replace").replace(word, f"{word}edition{edition}", 1).encode("utf-8")
        site.set(page.path, raw, delay=(delays or {}).get(page.path, 0.0))
    site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    feed = rewrite_feed(corpus, site, [p.path for p in pages])
    site.set("/feed.xml", feed, content_type="application/rss+xml")


def assert_archive_whole(archive: Archive) -> dict[str, int]:
    """No partial rows: contiguous seq, one version per distinct state, fetch + verified blob each."""
    counts: dict[str, int] = {}
    with archive.reading() as session:
        for article in session.scalars(select(Article)):
            versions = list(
                session.scalars(select(Version).where(Version.article_id == article.id).order_by(Version.seq))
            )
            counts[article.canonical_url] = len(versions)
            assert [v.seq for v in versions] == list(range(1, len(versions) + 1)), article.canonical_url
            digests = [v.text_sha256 for v in versions]
            assert len(set(digests)) == len(digests), f"duplicate version of {article.canonical_url}"
            for v in versions:
                fetches = list(session.scalars(select(Fetch).where(Fetch.version_id == v.id)))
                assert fetches, f"version {v.id} has no fetch row"
                if v.blob_sha256 is not None:
                    blob = session.get(Blob, v.blob_sha256)
                    assert blob is not None, v.blob_sha256
                    assert hashlib.sha256(decompress(blob.data)).hexdigest() == blob.sha256
    return counts


def _wait_for_running_row(archive: Archive, proc: subprocess.Popen[bytes]) -> None:
    """Until the crawl has its ``running`` row (so the kill lands mid-run), or the process ended."""
    for _ in range(400):
        if proc.poll() is not None:
            return
        with archive.reading() as session:
            if session.scalar(select(CrawlRun.id).where(CrawlRun.status == "running")) is not None:
                return
        time.sleep(0.05)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    db_url: str, site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    rng = random.Random(6)
    sources = sources_file(tmp_path)
    cmd = _crawl_cmd(sources, site.url("/feed.xml"))
    env = {**os.environ, "MEDIAWATCH_DATABASE_URL": db_url}
    archive = Archive(db_url)
    editions = [0, 1, 2, 3]
    # Pages answer at different speeds, so the kills land in different phases of the crawl.
    delays = {page.path: rng.uniform(0.0, 0.4) for page in pages}
    kills = 0
    for edition in editions:
        _serve(site, corpus, pages, edition, delays)
        for _ in range(KILLS // len(editions)):
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            _wait_for_running_row(archive, proc)
            time.sleep(rng.uniform(0.0, 0.8))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
        # The final uninterrupted crawl of this edition catches up.
        code, report, err = run_crawl_cli(db_url, *cmd[8:])
        assert code == 0, err
        assert report["status"] == "completed"
    assert kills >= KILLS
    counts = assert_archive_whole(archive)
    assert set(counts) == {site.url(p.path) for p in pages}
    # Every served edition was archived exactly once.
    assert all(n == len(editions) for n in counts.values()), counts
    with archive.reading() as session:
        statuses = list(session.scalars(select(CrawlRun.status)))
    assert "running" not in statuses
    assert statuses.count("abandoned") >= 1


def test_two_crawls_started_at_once_one_runs_the_other_exits_75(
    tmp_path: Path, site: Site, pages: list[CorpusPage], corpus: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'archive.db'}"
    Archive(db_url)
    _serve(site, corpus, pages, 0)
    for page in pages:
        site.set(page.path, page.raw, delay=0.5)  # long enough for the two starts to overlap
    cmd = _crawl_cmd(sources_file(tmp_path), site.url("/feed.xml"))
    env = {**os.environ, "MEDIAWATCH_DATABASE_URL": db_url}
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 75], results
    _, _, err = next(r for r in results if r[0] == 75)
    assert len(err.strip().splitlines()) == 1, err
    counts = assert_archive_whole(Archive(db_url))
    assert counts == {site.url(p.path): 1 for p in pages}
    with Archive(db_url).reading() as session:
        assert list(session.scalars(select(CrawlRun.status))) == ["completed"]


def test_postgresql_stopped_mid_run_fails_clearly_and_the_next_crawl_catches_up(
    site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    cluster = PostgresCluster()
    try:
        # Durable: an immediate stop must not lose the interrupted run's committed row.
        cluster.start(durable=True)
        db_url = cluster.url()
        archive = Archive(db_url)
        # Slow pages: the crawl is still fetching when the server goes away.
        _serve(site, corpus, pages, 0, {page.path: 1.5 + i for i, page in enumerate(pages)})
        cmd = _crawl_cmd(sources_file(tmp_path), site.url("/feed.xml"))
        env = {**os.environ, "MEDIAWATCH_DATABASE_URL": db_url}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        _wait_for_running_row(archive, proc)  # type: ignore[arg-type]
        archive.engine.dispose()
        cluster._run("pg_ctl", "-D", str(cluster.datadir), "-m", "immediate", "-w", "stop")
        out, err = proc.communicate(timeout=120)  # never hangs
        assert proc.returncode == 3, (out, err)
        assert "database" in err and "completed" not in out + err, err

        cluster.resume()
        archive = Archive(db_url)
        assert_archive_whole(archive)  # nothing partial from the interrupted run
        _serve(site, corpus, pages, 0)
        code, report, err = run_crawl_cli(db_url, *cmd[8:])
        assert code == 0, err
        counts = assert_archive_whole(archive)
        assert counts == {site.url(p.path): 1 for p in pages}
        with archive.reading() as session:
            statuses = [s for s in session.scalars(select(CrawlRun.status).order_by(CrawlRun.id))]
        assert statuses[0] in ("failed", "abandoned") and statuses[-1] == "completed", statuses
        archive.engine.dispose()
    finally:
        cluster.stop()


def _proc_stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a live process, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], fields[19]


def _descendants(root: int) -> dict[int, str]:
    """Every process below ``root`` (pid -> start time), read from /proc."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
            started[int(entry.name)] = stat[2]
    found: dict[int, str] = {}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found[child] = started[child]
            stack.append(child)
    return found


def _still_alive(processes: dict[int, str]) -> list[int]:
    alive = []
    for pid, start in processes.items():
        stat = _proc_stat(pid)
        if stat is not None and stat[2] == start and stat[1] != "Z":
            alive.append(pid)
    return alive


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigkill_of_a_crawl_leaves_no_extraction_process_behind(
    db_url: str, site: Site, pages: list[CorpusPage], tmp_path: Path, corpus: Path
) -> None:
    # Slow pages keep the crawl busy while it is killed.
    _serve(site, corpus, pages, 0, {page.path: 20.0 for page in pages})
    cmd = _crawl_cmd(sources_file(tmp_path), site.url("/feed.xml"))
    cmd[cmd.index("--workers") + 1] = "2"
    env = {**os.environ, "MEDIAWATCH_DATABASE_URL": db_url}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    children: dict[int, str] = {}
    try:
        # The forkserver, the resource tracker and two warmed extraction workers.
        for _ in range(600):
            children = _descendants(proc.pid)
            if len(children) >= 4 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the crawl ended before it could be killed"
        assert len(children) >= 4, f"extraction processes not started: {children}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(10)
        survivors = _still_alive(children)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _still_alive(children):
            os.kill(pid, signal.SIGKILL)  # do not leave them to the next test
    assert survivors == [], f"{len(survivors)} of {len(children)} child processes outlived the crawl"
