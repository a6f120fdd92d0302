"""Shared fixtures: the corpus, a clock, and fresh databases on both backends.

PostgreSQL is a throwaway cluster that the test session starts itself from the binaries under
/usr/lib/postgresql/*/bin (run as the ``postgres`` user when we are root, since initdb refuses
root). ``MEDIAWATCH_TEST_POSTGRES_URL`` points the tests at an existing server instead.
With CI=true a missing PostgreSQL or corpus is a failure, never a skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text

from archive.db import Archive, make_engine, upgrade

if TYPE_CHECKING:
    from crawl_site import Site

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PROJECT = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: CI must run every backend and every corpus test."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must not be skipped)")
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------------
# Corpus


def crawl_command(sources: Path, feed: str, *args: str) -> list[str]:
    """``mediawatch crawl --json`` of a loopback site's feed, every page taken as on topic (the
    tests' and the benches' crawl in a process of its own)."""
    return [
        sys.executable,
        "-m",
        "mediawatch",
        "crawl",
        "--json",
        "--allow-private-networks",
        "--sources",
        str(sources),
        "--topic",
        "none",
        "--feed",
        feed,
        *args,
    ]


def corpus_root() -> Path | None:
    candidates = [os.environ.get("MEDIAWATCH_CORPUS"), str(PROJECT.parent / "shared" / "corpus")]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def corpus() -> Path:
    root = corpus_root()
    if root is None:
        unavailable("the shared corpus is absent (set MEDIAWATCH_CORPUS)")
    assert root is not None
    return root


@pytest.fixture(scope="module")
def guardian(corpus: Path) -> bytes:
    """The raw bytes of a real Guardian article of the corpus (trafilatura's evaluation data)."""
    from corpus_data import eval_pages

    return next(p for p in eval_pages(corpus) if p.path.name == "theguardian.com.academics.html.gz").raw()


# ---------------------------------------------------------------------------------------------
# Clock


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))


# ---------------------------------------------------------------------------------------------
# PostgreSQL


class PostgresCluster:
    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bindir = Path(binaries[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="mediawatch-pg-"))
        self.datadir = self.root / "data"
        self.socketdir = self.root / "sock"
        self.options = ""  # the server's settings (pg_ctl -o), chosen by ``start``
        self.socketdir.mkdir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socketdir, "postgres", "postgres")
            os.chmod(self.root, 0o755)

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self, *, durable: bool = False) -> None:
        """Start the cluster; ``durable`` keeps fsync and synchronous commit (crash tests)."""
        self._run(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        self.options = (
            f"-c listen_addresses='' -c unix_socket_directories={self.socketdir} -c max_connections=200"
        )
        if not durable:
            # Fast and throwaway: a crash of this server may lose recent commits.
            self.options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.resume()

    def resume(self) -> None:
        """Start the server (again, after ``stop``) with the options ``start`` chose."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-o",
            self.options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socketdir}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database, ending in /postgres."""
    existing = os.environ.get("MEDIAWATCH_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return
    try:
        cluster = PostgresCluster()
        cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        unavailable(f"cannot start a throwaway PostgreSQL: {exc} {detail.decode(errors='replace')}")
        return
    try:
        yield cluster.url()
    finally:
        cluster.stop()


def _pg_admin(server_url: str, statement: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _with_database(server_url: str, name: str) -> str:
    base, _, query = server_url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> str:
    """A database migrated to head once per session, copied for each test."""
    name = f"mw_template_{uuid.uuid4().hex[:8]}"
    _pg_admin(postgres_server, f'CREATE DATABASE "{name}"')
    engine = make_engine(_with_database(postgres_server, name))
    upgrade(engine)
    engine.dispose()
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


def fresh_postgres_url(server: str, template: str | None) -> str:
    name = f"mw_test_{uuid.uuid4().hex[:10]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    for attempt in range(20):
        try:
            _pg_admin(server, f'CREATE DATABASE "{name}"{clause}')
            break
        except Exception:  # the template is briefly busy while another copy is made
            if attempt == 19:
                raise
            time.sleep(0.1)
    return _with_database(server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database at schema head, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "archive.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    server = request.getfixturevalue("postgres_server")
    return fresh_postgres_url(server, request.getfixturevalue("postgres_template"))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database (no schema), on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return fresh_postgres_url(request.getfixturevalue("postgres_server"), None)


@pytest.fixture
def archive(db_url: str) -> Iterator[Archive]:
    with Archive(db_url) as opened:
        yield opened


@pytest.fixture
def site() -> Iterator[Site]:
    """A loopback (127.0.0.1, port 0) site of corpus pages that a test can change between crawls."""
    from crawl_site import Site

    running = Site().start()
    yield running
    running.stop()
