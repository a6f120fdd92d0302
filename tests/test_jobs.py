"""One job model (docs/running.md, The run lock and Runs): every command that changes the archive
takes the run lock and leaves exactly one run row, with one of five statuses, whatever happens."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import fresh_postgres_url
from corpus_data import nyt_captures, nyt_slugs, write_nyt_jsonl
from crawl_site import Site, healthy_pages, rewrite_feed, run_crawl_cli, sources_file
from ops_helpers import hold_lock, mediawatch, run_mediawatch, runs, wait_for
from sqlalchemy import event, insert, select
from wayback_site import WaybackSite, nyt_mementos, serve

from archive.db import Archive, make_engine, upgrade
from archive.errors import InputError, Interrupted
from archive.models import CrawlRun, Fetch, FetchOrigin
from archive.runlock import stop_on_signals, stop_requested
from archive.runs import RunStatus, recorded_run
from mediawatch.cli import cli

slow = pytest.mark.slow  # each command runs in its own process, as cron starts it

WHIRLWIND = "warc-samples/commoncrawl-whirlwind/whirlwind.warc"  # one HTML response
BROKEN_WARC = "warc-samples/warcio/test/data/example-bad-non-chunked.warc.gz"  # unreadable after 1 record
STATUSES = {"running", "completed", "failed", "interrupted", "abandoned"}


@pytest.fixture
def wayback(corpus: Path) -> Iterator[WaybackSite]:
    slug = nyt_slugs(corpus)[0]
    with serve(WaybackSite(nyt_mementos(corpus, slug))) as running:
        yield running


@pytest.fixture
def nyt_file(corpus: Path, tmp_path: Path) -> Path:
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path)
    return path


def listed(db_url: str) -> list[dict[str, object]]:
    """`mediawatch runs --json`, oldest first."""
    result = CliRunner().invoke(cli, ["runs", "--json", "--limit", "100", "--db", db_url])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in reversed(result.stdout.splitlines())]


@slow
def test_every_writing_command_leaves_one_run_with_its_status(
    db_url: str, corpus: Path, tmp_path: Path, nyt_file: Path, wayback: WaybackSite, site: Site
) -> None:
    binary = tmp_path / "photo.jsonl"
    binary.write_bytes(bytes(range(256)) * 8)
    article_url = nyt_captures(corpus, nyt_slugs(corpus)[0])[0].url
    pages = healthy_pages(corpus, 2)
    for page in pages:
        site.set(page.path, page.raw)
    site.set(
        "/feed.xml", rewrite_feed(corpus, site, [p.path for p in pages]), content_type="application/rss+xml"
    )
    backfill = ["--cdx-endpoint", wayback.cdx_endpoint, "--delay", "0", "--allow-private-networks"]
    commands: list[tuple[list[str], int, str]] = [
        (["import", str(nyt_file)], 0, "completed"),
        (["import", str(binary)], 2, "failed"),
        (["import-warc", str(corpus / WHIRLWIND)], 0, "completed"),
        (["import-warc", str(corpus / BROKEN_WARC)], 1, "failed"),
        (["backfill", *backfill, article_url], 0, "completed"),
        (["rederive"], 0, "completed"),
        (["import", str(tmp_path / "missing.jsonl")], 2, "failed"),
    ]
    for args, code, status in commands:
        done = run_mediawatch(*args, "--db", db_url)
        assert done.returncode == code, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert [r.status for r in runs(db_url)][-1] == status, args
    code, report, err = run_crawl_cli(
        db_url, "--sources", str(sources_file(tmp_path)), "--topic", "none", "--feed", site.url("/feed.xml")
    )
    assert code == 0, err
    assert report["status"] == "completed" and report["message"] is None

    shown = listed(db_url)
    assert [(r["command"], r["status"]) for r in shown] == [
        ("import", "completed"),
        ("import", "failed"),
        ("import-warc", "completed"),
        ("import-warc", "failed"),
        ("backfill", "completed"),
        ("rederive", "completed"),
        ("import", "failed"),
        ("crawl", "completed"),
    ]
    assert all(r["finished_at"] is not None and r["trigger"] == "manual" for r in shown)
    # A run that did not complete says why in one line; one that did says nothing.
    messages = [r["message"] for r in shown]
    assert messages[1] == f"nothing imported from {binary}: every line was rejected"
    assert str(messages[3]).startswith(f"{corpus / BROKEN_WARC}: stopped reading after 1 records")
    assert messages[6] == f"{tmp_path / 'missing.jsonl'}: no such file"  # an exception: its one line
    assert [m for i, m in enumerate(messages) if i not in (1, 3, 6)] == [None] * 5
    # Counters a person can read: what each run added.
    assert [r["new_articles"] for r in shown] == [
        shown[0]["counts"]["new_articles"],  # type: ignore[index]
        0,
        1,
        0,
        0,
        0,
        0,
        2,
    ]
    assert shown[4]["counts"]["fetched"] > 0  # type: ignore[index]
    assert shown[5]["counts"]["versions_checked"] > 0  # type: ignore[index]
    # The fetches a run made point at it.
    with Archive(db_url) as archive, archive.reading() as session:
        warc_run, backfill_run = int(shown[2]["id"]), int(shown[4]["id"])  # type: ignore[call-overload]
        origins = dict(session.execute(select(Fetch.crawl_run_id, Fetch.origin).distinct()).all())
    assert origins[warc_run] == FetchOrigin.WARC and origins[backfill_run] == FetchOrigin.BACKFILL

    # The one-line listing shows each command and its status, and why the failed ones failed.
    lines = CliRunner().invoke(cli, ["runs", "--db", db_url]).stdout.splitlines()[1:]
    assert len(lines) == len(shown)
    assert lines[-2].split()[-1] == "rejected"  # run 2: "… every line was rejected"


@slow
def test_a_second_writer_of_any_kind_exits_75_and_touches_nothing(
    db_url: str, corpus: Path, tmp_path: Path, nyt_file: Path, wayback: WaybackSite
) -> None:
    target = tmp_path / "copy.db"
    writers = [
        ["import", str(nyt_file)],
        ["import-warc", str(corpus / WHIRLWIND)],
        [
            "backfill",
            "--cdx-endpoint",
            wayback.cdx_endpoint,
            "--allow-private-networks",
            "https://a.example/",
        ],
        ["rederive"],
        ["crawl", "--allow-private-networks", "--topic", "none", "--feed", "http://127.0.0.1:9/feed.xml"],
        ["db", "copy", "--to", f"sqlite:///{target}"],
    ]
    holder = hold_lock(db_url)
    try:
        starts = [mediawatch(*args, "--db", db_url) for args in writers]
        for args, proc in zip(writers, starts, strict=True):
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 75, (args, err)
            assert out == "" and err.count("\n") == 1, (args, err)
            assert err.startswith("Error: another mediawatch run is running"), (args, err)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert runs(db_url) == [], "a refused start records nothing"
    assert wayback.requests == [] and not target.exists()


@slow
def test_db_copy_into_a_locked_target_exits_75(db_url: str, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    holder = hold_lock(target)
    try:
        done = run_mediawatch("db", "copy", "--to", target, "--db", db_url)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert done.returncode == 75, done.stderr
    done = run_mediawatch("db", "copy", "--to", target, "--db", db_url)
    assert done.returncode == 0, done.stderr
    assert [(r["command"], r["status"]) for r in listed(target)] == [("db copy", "completed")]


@slow
def test_sigterm_interrupts_a_backfill_and_sigkill_leaves_it_abandoned(
    db_url: str, corpus: Path, wayback: WaybackSite
) -> None:
    url = nyt_captures(corpus, nyt_slugs(corpus)[0])[0].url
    # A long politeness delay: the backfill is waiting between two requests when it is stopped.
    args = ["backfill", "--cdx-endpoint", wayback.cdx_endpoint, "--allow-private-networks", "--delay", "600"]
    proc = mediawatch(*args, url, "--db", db_url)
    wait_for(lambda: wayback.requests, what="the backfill's first request")
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "Error: stopped by SIGTERM"

    proc = mediawatch(*args, url, "--db", db_url)
    wait_for(lambda: len(runs(db_url)) == 2, what="a second running backfill")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert runs(db_url)[-1].status == "running"
    # The next job of any kind closes the dead one.
    done = run_mediawatch("rederive", "--db", db_url)
    assert done.returncode == 0, done.stderr
    recorded = runs(db_url)
    assert [(r.counters["command"], r.status) for r in recorded] == [
        ("backfill", "interrupted"),
        ("backfill", "abandoned"),
        ("rederive", "completed"),
    ]
    assert recorded[0].message == "stopped by SIGTERM"
    assert recorded[1].message == "the process ended without closing its run"


def test_every_way_out_of_a_run_closes_its_row(archive: Archive) -> None:
    """A bug is ``failed`` with its type and one line, an error a user can act on with its own
    line, an end the command chose as it said; a run closed early stays as closed."""
    with pytest.raises(ZeroDivisionError), recorded_run(archive, command="rederive") as run:
        run.add({"articles": 2})
        print(1 / 0)
    with pytest.raises(InputError), recorded_run(archive, command="import") as run:
        raise InputError("captures.jsonl: no such\nfile")
    with recorded_run(archive, command="backfill") as run:
        run.end(RunStatus.FAILED, "https://a.example/: the archive answered HTTP 429 (rate limited)")
    with pytest.raises(Interrupted), recorded_run(archive, command="crawl") as run:
        run.close()  # the crawl's row is closed before its notifications go out
        raise Interrupted("stopped by SIGTERM")
    with pytest.raises(KeyboardInterrupt), recorded_run(archive, command="import-warc"):
        raise KeyboardInterrupt
    with archive.reading() as session:
        rows = [
            (r.status, r.message, r.counters) for r in session.scalars(select(CrawlRun).order_by(CrawlRun.id))
        ]
    assert rows == [
        ("failed", "ZeroDivisionError: division by zero", {"command": "rederive", "articles": 2}),
        ("failed", "captures.jsonl: no such file", {"command": "import"}),
        (
            "failed",
            "https://a.example/: the archive answered HTTP 429 (rate limited)",
            {"command": "backfill"},
        ),
        ("completed", None, {"command": "crawl"}),
        ("interrupted", "stopped by SIGINT", {"command": "import-warc"}),
    ]


def test_sigterm_while_a_finished_run_is_closed_leaves_the_row_closed(archive: Archive) -> None:
    """A SIGTERM that lands while the row of a finished run is being written (a scheduler
    stopping just as the job ends) waits for the write: the row says ``completed``, then the
    process stops as SIGTERM says. Cut short, the write rolled back and left the row
    ``running`` until the next run called it abandoned."""
    sent: list[bool] = []

    def sigterm_at_close(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE CRAWL_RUN") and not sent:
            sent.append(True)
            signal.raise_signal(signal.SIGTERM)

    try:
        with pytest.raises(Interrupted, match="stopped by SIGTERM"), stop_on_signals():
            with recorded_run(archive, command="import") as run:
                run.add({"records": 3})
                # The job's work is done; the next UPDATE of crawl_run is the one closing it.
                event.listen(archive.engine, "before_cursor_execute", sigterm_at_close)
    finally:
        event.remove(archive.engine, "before_cursor_execute", sigterm_at_close)
    assert sent
    with archive.reading() as session:
        row = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
    assert row is not None
    assert (row.status, row.finished_at is not None, row.counters) == (
        "completed",
        True,
        {"command": "import", "records": 3},
    )


SIGTERM_WHILE_THE_POOL_CLOSES_A_CONNECTION = """
import logging, signal, sqlite3
from sqlalchemy import create_engine, text
from archive.errors import Interrupted
from archive.runlock import stop_on_signals
from mediawatch.cli import _configure_logging

class SigtermOnClose(sqlite3.Connection):
    def close(self):
        signal.raise_signal(signal.SIGTERM)  # the signal lands inside the driver's close
        super().close()

_configure_logging(0)  # as every mediawatch command does
engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(":memory:", factory=SigtermOnClose))
try:
    with stop_on_signals():
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        try:
            raise ValueError("a fault of its own")
        except ValueError:
            logging.getLogger("sqlalchemy.pool").error("a real error", exc_info=True)
        engine.dispose()  # the pool closes its connection
except Interrupted as exc:
    print(exc)
"""


def test_sigterm_while_a_library_closes_a_connection_prints_no_traceback() -> None:
    """SIGTERM raises Interrupted wherever the process is; landing in SQLAlchemy's pool while it
    closes a connection, it was logged there with its traceback before the command said
    "stopped by SIGTERM" (a scheduler's log showed it). That record is dropped; the stop still
    ends the command, and a library's other errors are still shown."""
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_WHILE_THE_POOL_CLOSES_A_CONNECTION],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped by SIGTERM"
    assert "Interrupted" not in done.stderr and "closing connection" not in done.stderr, done.stderr
    assert "a real error" in done.stderr and "ValueError: a fault of its own" in done.stderr


def test_a_driver_error_raised_in_place_of_sigterm_ends_the_run_as_interrupted(archive: Archive) -> None:
    """psycopg stopped by SIGTERM in the middle of the pool's pre-ping raises its own error
    (ProgrammingError: can't change 'autocommit' now) instead of the signal's: the run is still
    recorded as interrupted and the command still stops with "stopped by SIGTERM" (exit 143),
    not a traceback."""
    with pytest.raises(Interrupted, match="stopped by SIGTERM") as raised, stop_on_signals():
        with recorded_run(archive, command="import"):
            try:
                signal.raise_signal(signal.SIGTERM)
            except Interrupted:
                raise RuntimeError(
                    "can't change 'autocommit' now: connection in transaction status ACTIVE"
                ) from None
    assert raised.value.exit_code == 143
    assert stop_requested() is None  # the next job in this process starts afresh
    with archive.reading() as session:
        row = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
    assert row is not None and (row.status, row.message) == ("interrupted", "stopped by SIGTERM")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_runs_recorded_with_the_old_crawl_statuses_read_as_failed(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Archives from before the one status list keep their crawl runs readable: the old
    ``all-sources-failed`` and ``stopped: …`` become ``failed`` with the reason as message."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = fresh_postgres_url(request.getfixturevalue("postgres_server"), None)
    engine = make_engine(url)
    upgrade(engine, "0004_dedup")
    old = [
        ("all-sources-failed", "every source failed: 89 robots.txt unreachable (dns)"),
        ("all-sources-failed", "all-sources-failed"),
        ("stopped: memusage_exceed", "stopped: memusage_exceed"),  # cut to the column's 24 characters
        ("completed", None),
        ("interrupted", "interrupted"),
    ]
    at = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    with engine.begin() as conn:  # the crawl_run table is the same at 0004 and at head
        for status, message in old:
            conn.execute(
                insert(CrawlRun).values(
                    started_at=at, finished_at=at, trigger="cron", status=status, counters={}, message=message
                )
            )
    engine.dispose()
    shown = listed(url)  # opening the archive migrates it
    assert [(r["status"], r["message"]) for r in shown] == [
        ("failed", "every source failed: 89 robots.txt unreachable (dns)"),
        ("failed", "every source failed"),
        ("failed", "the crawler stopped: memusage_exceed"),
        ("completed", None),
        ("interrupted", "interrupted"),
    ]
    assert {r["status"] for r in shown} <= STATUSES
    digest = CliRunner().invoke(cli, ["report", "--since", "2026-01-01", "--db", url]).stdout
    assert "  run 1 failed: every source failed: 89 robots.txt unreachable (dns)" in digest.splitlines()
