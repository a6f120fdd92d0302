"""``--cluster``: bulk imports and a crawl's extraction on a real Dask cluster (docs/cluster.md).

The fixture starts a ``dask scheduler`` and two single-threaded ``dask worker`` processes on
127.0.0.1 from this venv's binaries; the archive is the suite's real PostgreSQL. The WARC files
are built from real corpus text: Wikipedia revision histories (several real versions per
article) and trafilatura's real news pages.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import fresh_postgres_url, unavailable
from crawl_site import Site, healthy_pages, rewrite_feed, run_crawl_cli, sources_file, with_edit
from dask_cluster import DaskCluster, dask_command, start_dask_cluster, write_warc_files
from ops_helpers import version_history
from sqlalchemy import func, select

from archive.db import Archive
from archive.models import CrawlRun, Fetch, Version
from mediawatch.cli import cli

# Real scheduler and worker processes; imports of a few hundred pages on a shared 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

WARC_FILES = 20
REVISIONS = 3  # per article: real edits, few enough pages for a loaded 2-core machine


# ---------------------------------------------------------------------------------------------
# The cluster


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    if not dask_command().exists():
        unavailable("no dask command in the venv (uv sync installs the dev group)")
    with start_dask_cluster(tmp_path_factory.mktemp("dask"), workers=2) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def warc_files(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    files = write_warc_files(corpus, tmp_path_factory.mktemp("warcs"), WARC_FILES, revisions=REVISIONS)
    assert len(files) == WARC_FILES
    return files


# ---------------------------------------------------------------------------------------------
# What an archive holds


def history(url: str) -> list[tuple[Any, ...]]:
    with Archive(url) as archive:
        return version_history(archive)


def fetches(url: str) -> list[tuple[Any, ...]]:
    with Archive(url) as archive, archive.reading() as session:
        rows = session.execute(
            select(
                Fetch.warc_record_id, Fetch.url, Fetch.fetched_at, Fetch.outcome, Fetch.raw_sha256
            ).order_by(Fetch.warc_record_id)
        )
        return [tuple(r) for r in rows]


def duplicate_rows(url: str) -> tuple[int, int]:
    """(fetch rows sharing a record id, versions sharing an article and a seq) — both must be 0."""
    with Archive(url) as archive, archive.reading() as session:
        fetch_dupes = session.scalar(
            select(func.count()).select_from(
                select(Fetch.warc_record_id)
                .group_by(Fetch.warc_record_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
        version_dupes = session.scalar(
            select(func.count()).select_from(
                select(Version.article_id, Version.text_sha256, Version.first_seen)
                .group_by(Version.article_id, Version.text_sha256, Version.first_seen)
                .having(func.count() > 1)
                .subquery()
            )
        )
        return int(fetch_dupes or 0), int(version_dupes or 0)


def last_run(url: str) -> CrawlRun:
    with Archive(url) as archive, archive.reading() as session:
        run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
        assert run is not None
        return run


@pytest.fixture
def pg(postgres_server: str, postgres_template: str) -> Iterator[Any]:
    """A factory of fresh PostgreSQL archives."""
    yield lambda: fresh_postgres_url(postgres_server, postgres_template)


# The shared test machine can be loaded many times over: a page's first extraction in a fresh
# process may then take minutes of wall time, which must not count as a pathological page here.
PATIENT = {**os.environ, "MEDIAWATCH_EXTRACT_TIMEOUT": "1200"}


def mediawatch(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediawatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=PATIENT,
    )


# ---------------------------------------------------------------------------------------------
# Tests


def test_import_warc_through_the_cluster_equals_a_local_import(
    dask_cluster: DaskCluster, warc_files: list[Path], pg: Any
) -> None:
    local, clustered = pg(), pg()
    done = mediawatch("import-warc", "--json", "--db", local, *map(str, warc_files))
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout)

    done = mediawatch(
        "import-warc", "--json", "--db", clustered, "--cluster", dask_cluster.address, *map(str, warc_files)
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)

    assert expected["new_versions"] > expected["new_articles"] > WARC_FILES  # real histories
    for key in ("files", "records", "taken", "new_articles", "new_versions", "outcomes", "skipped"):
        assert summary[key] == expected[key], key
    assert history(clustered) == history(local)
    assert fetches(clustered) == fetches(local)
    run = last_run(clustered)
    assert run.status == "completed"
    assert run.counters["new_versions"] == expected["new_versions"]
    assert run.counters["files"] == WARC_FILES

    # Idempotent: the same files again through the cluster change nothing.
    done = mediawatch(
        "import-warc", "--json", "--db", clustered, "--cluster", dask_cluster.address, *map(str, warc_files)
    )
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout)
    assert again["taken"] == 0 and again["skipped"] == {"already imported": expected["taken"]}
    assert history(clustered) == history(local)


def test_a_worker_killed_mid_import_loses_and_doubles_nothing(
    dask_cluster: DaskCluster, warc_files: list[Path], pg: Any
) -> None:
    local, clustered = pg(), pg()
    assert CliRunner().invoke(cli, ["import-warc", "--db", local, *map(str, warc_files)]).exit_code == 0
    pids = dask_cluster.worker_pids()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediawatch", "import-warc", "--json", "--db", clustered]
        + ["--cluster", dask_cluster.address, *map(str, warc_files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=PATIENT,
    )
    # Kill one worker once the import is writing, while files remain to import.
    deadline = time.monotonic() + 300
    with Archive(clustered) as archive:
        while True:
            with archive.reading() as session:
                written = session.scalar(select(func.count()).select_from(Fetch)) or 0
            if written >= 5:
                break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    total = len(fetches(local))
    assert written < total, "the worker was killed after the import had finished"

    assert history(clustered) == history(local)
    assert fetches(clustered) == fetches(local)
    assert duplicate_rows(clustered) == (0, 0)
    run = last_run(clustered)
    assert run.status == "completed"
    assert summary["taken"] == total and run.counters["taken"] == total
    assert victim not in dask_cluster.worker_pids().values()  # it really died (its nanny replaced it)


def test_crawl_through_the_cluster_archives_the_same_as_a_local_crawl(
    dask_cluster: DaskCluster, corpus: Path, tmp_path: Path, pg: Any
) -> None:
    pages = healthy_pages(corpus, 5)
    site = Site().start()
    try:
        for page in pages:
            site.set(page.path, page.raw)
        site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
        site.set(
            "/feed.xml",
            rewrite_feed(corpus, site, [p.path for p in pages]),
            content_type="application/rss+xml",
        )
        common = [
            "--sources",
            str(sources_file(tmp_path)),
            "--topic",
            "none",
            "--feed",
            site.url("/feed.xml"),
        ]
        local, clustered = pg(), pg()
        for db, extra in ((local, []), (clustered, ["--cluster", dask_cluster.address])):
            code, report, err = run_crawl_cli(db, *common, *extra)
            assert code == 0, err
            assert report["counters"].get("new_articles") == len(pages), (extra, report["counters"], err)
            assert report["counters"].get("extracted") == len(pages), (extra, report["counters"])
        # An edit, seen by both: the second crawl of each extracts on its side again.
        site.set(pages[0].path, with_edit(pages[0], " (corrected)"))
        for db, extra in ((local, []), (clustered, ["--cluster", dask_cluster.address])):
            code, report, err = run_crawl_cli(db, *common, "--revisit", "all", *extra)
            assert code == 0, err
            edits = {k: v for k, v in report["counters"].items() if k.startswith("new_versions")}
            assert sum(edits.values()) == 1, edits
    finally:
        site.stop()

    def content(url: str) -> list[tuple[Any, ...]]:
        return [(u, seq, text, title, kind) for u, seq, _f, _l, text, title, kind, _b in history(url)]

    assert len(content(local)) == len(pages) + 1
    assert content(clustered) == content(local)


def test_rederive_and_jsonl_import_through_the_cluster(
    dask_cluster: DaskCluster, warc_files: list[Path], corpus: Path, tmp_path: Path, pg: Any
) -> None:
    db = pg()
    assert CliRunner().invoke(cli, ["import-warc", "--db", db, *map(str, warc_files[:6])]).exit_code == 0
    before = history(db)
    done = mediawatch("rederive", "--json", "--db", db, "--cluster", dask_cluster.address)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    # The extractor has not changed: every stored version re-derives to itself.
    assert summary["versions_checked"] == len(before)
    assert summary["recorded"] == 0 and summary["failed"] == 0
    assert history(db) == before

    # JSON Lines: two files of real pages, each its own task.
    lines = []
    for i, page in enumerate(healthy_pages(corpus, 4)):
        html = page.raw.decode("utf-8", "replace")
        lines.append(
            {"url": f"https://jsonl.example.org/{i}", "fetched_at": "2025-06-01T00:00:00Z", "html": html}
        )
    for n in range(2):
        with gzip.open(tmp_path / f"part{n}.jsonl.gz", "wt") as out:
            out.writelines(json.dumps(line) + "\n" for line in lines[n * 2 : n * 2 + 2])
    files = [str(tmp_path / f"part{n}.jsonl.gz") for n in range(2)]
    done = mediawatch("import", "--json", "--db", db, "--cluster", dask_cluster.address, *files)
    assert done.returncode == 0, done.stderr
    assert sum(json.loads(line)["new_articles"] for line in done.stdout.splitlines()) == 4
    assert last_run(db).counters["new_articles"] == 4


def test_cluster_with_sqlite_is_refused_in_one_line(tmp_path: Path, warc_files: list[Path]) -> None:
    db = tmp_path / "archive.db"
    for command in (["import-warc", str(warc_files[0])], ["rederive"], ["crawl"]):
        result = CliRunner().invoke(cli, [*command, "--db", str(db), "--cluster", "tcp://127.0.0.1:8786"])
        assert result.exit_code == 2, result.output
        assert result.output.splitlines() == [
            "Error: --cluster needs a PostgreSQL archive that every Dask worker can reach "
            "(--db postgresql+psycopg://USER@HOST/NAME); a SQLite file belongs to one machine"
        ]
    assert not db.exists()  # refused before anything was opened
    result = CliRunner().invoke(cli, ["rederive", "--db", str(db), "--cluster", "8786"])
    assert result.exit_code == 2 and "not a Dask scheduler address" in result.output


def test_an_unreachable_scheduler_fails_the_run_in_one_line(pg: Any, warc_files: list[Path]) -> None:
    db = pg()
    done = mediawatch(
        "import-warc", "--db", db, "--cluster", "tcp://127.0.0.1:9", str(warc_files[0]), timeout=120
    )
    assert done.returncode == 3
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9: ")
    run = last_run(db)
    assert run.status == "failed" and "cannot reach the Dask scheduler" in (run.message or "")


def test_a_local_import_never_imports_dask(warc_files: list[Path], tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from mediawatch.cli import cli\n"
        "try:\n"
        "    cli.main(args=sys.argv[1:], prog_name='mediawatch')\n"
        "except SystemExit as stop:\n"
        "    assert stop.code in (0, None), stop.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "import-warc", "--db", str(tmp_path / "a.db"), str(warc_files[0])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
