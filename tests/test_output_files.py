"""Where a command writes the file it was asked to: exports, WARC exports, backups, the demo database.

A new path or a regular file is written beside and renamed when complete; a symlink is followed
(the link stays); a device or a named pipe is written into and stays what it was; ``-`` is stdout.
"""

from __future__ import annotations

import csv
import json
import os
import select
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from corpus_data import eval_pages
from sqlalchemy import update
from views_site import import_nyt

from archive.db import Archive
from archive.models import Version
from archive.store import Capture, record
from mediawatch.cli import cli

SLUGS = ["mubarak-is-on"]


@pytest.fixture
def small_archive(archive: Archive, corpus: Path, tmp_path: Path) -> Archive:
    """NYT histories (text) and three corpus pages with their raw bytes (for WARC)."""
    import_nyt(archive, corpus, tmp_path, SLUGS)
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for n, page in enumerate([p for p in eval_pages(corpus) if p.url][:3]):
        assert page.url is not None
        record(
            archive.sessions,
            Capture(
                url=page.url, fetched_at=at + timedelta(minutes=n), raw=page.raw(), content_type="text/html"
            ),
        )
    return archive


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def char_device(tmp_path: Path) -> Path:
    """A character device that discards what is written (a /dev/null of our own as root; the real
    /dev/null otherwise, which an unprivileged process cannot replace anyway)."""
    if os.geteuid() != 0:
        return Path("/dev/null")
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return node


class FifoReader:
    """Reads all that is written into a named pipe, in a thread (opening a pipe waits for both ends)."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.data = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as handle:
            self.data = handle.read()

    def wait(self) -> bytes:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "nothing was written into the pipe"
        return self.data


def test_export_writes_through_symlinks_into_devices_and_pipes(
    small_archive: Archive, tmp_path: Path
) -> None:
    db = small_archive.url
    regular = tmp_path / "histories.jsonl"
    regular.write_text("an older export\n")
    os.chmod(regular, 0o640)
    result = invoke("export", "--format", "jsonl", "--output", str(regular), "--db", db)
    assert result.exit_code == 0, result.output
    exported = regular.read_text()
    assert len(exported.splitlines()) == 4 and "an older export" not in exported

    # A symlink: the file it points to gets the export, the link stays a link.
    target = tmp_path / "real.jsonl"
    link = tmp_path / "latest.jsonl"
    link.symlink_to(target)
    result = invoke("export", "--format", "jsonl", "--output", str(link), "--db", db)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and target.read_text() == exported

    # A character device (/dev/null-like) is written into and stays a device.
    device = char_device(tmp_path)
    result = invoke("export", "--format", "csv", "--output", str(device), "--db", db)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(device.stat().st_mode)
    assert not list(device.parent.glob(f".{device.name}.*"))  # no temporary file left beside it

    # A named pipe gets the whole export and stays a pipe.
    pipe = FifoReader(tmp_path / "pipe")
    result = invoke("export", "--format", "jsonl", "--output", str(pipe.path), "--db", db)
    assert result.exit_code == 0, result.output
    assert pipe.wait().decode() == exported
    assert stat.S_ISFIFO(pipe.path.stat().st_mode)

    # - is standard output; what cannot be written is one line and exit 2.
    result = invoke("export", "--format", "jsonl", "--output", "-", "--db", db)
    assert result.exit_code == 0 and result.stdout == exported
    for bad, message in (
        (tmp_path, "is a directory"),
        (tmp_path / "no" / "such" / "x.jsonl", "no such directory"),
    ):
        result = invoke("export", "--format", "jsonl", "--output", str(bad), "--db", db)
        assert result.exit_code == 2 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    result = invoke("export", "--format", "jsonl", "--output", str(loop), "--db", db)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert loop.is_symlink()
    assert stat.S_IMODE(regular.stat().st_mode) == 0o640  # a replaced file kept its permissions


def test_warc_export_into_a_pipe_a_symlink_and_stdout(small_archive: Archive, tmp_path: Path) -> None:
    from warcio.archiveiterator import ArchiveIterator

    def records(data: bytes) -> list[str]:
        import io

        return [r.rec_type for r in ArchiveIterator(io.BytesIO(data))]

    db = small_archive.url
    target = tmp_path / "real.warc.gz"
    link = tmp_path / "export.warc.gz"
    link.symlink_to(target)
    result = invoke("export", "--format", "warc", "--output", str(link), "--db", db, "--json")
    assert result.exit_code == 0, result.output
    responses = json.loads(result.stdout)["responses"]
    assert responses >= 3  # at least the three raw corpus pages
    assert link.is_symlink() and records(target.read_bytes()).count("response") == responses

    pipe = FifoReader(tmp_path / "pipe")
    result = invoke("export", "--format", "warc", "--output", str(pipe.path), "--db", db, "--json")
    assert result.exit_code == 0, result.output
    data = pipe.wait()
    assert records(data).count("response") == responses and stat.S_ISFIFO(pipe.path.stat().st_mode)
    assert json.loads(result.stdout)["bytes"] == len(data)

    result = CliRunner().invoke(cli, ["export", "--format", "warc", "--output", "-", "--db", db])
    assert result.exit_code == 0, result.output
    assert records(result.stdout_bytes).count("response") == responses  # the summary went to stderr
    assert f"{responses} response and" in result.stderr

    device = char_device(tmp_path)
    result = invoke("export", "--format", "warc", "--output", str(device), "--db", db)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(device.stat().st_mode)


def test_backup_writes_through_symlinks_into_devices_and_pipes(corpus: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    with Archive(db) as archive:
        import_nyt(archive, corpus, tmp_path, SLUGS)

    def articles(path: Path) -> int:
        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT count(*) FROM article").fetchone()[0])

    target = tmp_path / "backups" / "real.db"
    target.parent.mkdir()
    link = tmp_path / "latest-backup.db"
    link.symlink_to(target)
    result = invoke("db", "backup", str(link), "--db", db)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and articles(target) == 1

    pipe = FifoReader(tmp_path / "pipe")
    result = invoke("db", "backup", str(pipe.path), "--db", db)
    assert result.exit_code == 0, result.output
    streamed = pipe.wait()
    assert streamed.startswith(b"SQLite format 3\x00") and streamed == target.read_bytes()
    assert stat.S_ISFIFO(pipe.path.stat().st_mode)

    device = char_device(tmp_path)
    result = invoke("db", "backup", str(device), "--db", db)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(device.stat().st_mode)

    result = CliRunner().invoke(cli, ["db", "backup", "-", "--db", db])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == target.read_bytes() and "integrity ok" in result.stderr
    result = invoke("db", "backup", str(tmp_path / "missing" / "x.db"), "--db", db)
    assert result.exit_code == 2 and "no such directory" in result.output


def test_demo_refuses_a_device_instead_of_deleting_it(tmp_path: Path) -> None:
    device = char_device(tmp_path)
    result = invoke("demo", "--db-file", str(device))
    assert result.exit_code == 2 and "not a regular file" in result.output, result.output
    assert stat.S_ISCHR(device.stat().st_mode)


HOSTILE_TITLE = "Title\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil"


def through_a_terminal(*args: str) -> bytes:
    """Run ``mediawatch ARGS`` with its standard output on a pseudo-terminal; return what it showed."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediawatch", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    _, errors = proc.communicate(timeout=60)
    assert proc.returncode == 0, errors.decode(errors="replace")
    return shown


@pytest.mark.slow
def test_csv_export_to_a_terminal_escapes_control_characters(
    archive: Archive, corpus: Path, tmp_path: Path
) -> None:
    import_nyt(archive, corpus, tmp_path, SLUGS)
    with archive.transaction() as session:  # titles as an archive written before they were cleaned holds them
        session.execute(update(Version).values(title=HOSTILE_TITLE))

    shown = through_a_terminal("export", "--format", "csv", "--output", "-", "--db", archive.url)
    for raw in (b"\x1b", b"\x07", "\x9b".encode(), "\u202e".encode()):
        assert raw not in shown, raw
    assert b"Title\\u001b]0;owned\\u0007\\u001b[2J\\u009b31m\\u202eevil" in shown
    assert shown.count(b"\\u001b]0;owned") == 4  # every version's row, escaped

    # JSON Lines on a terminal: the escapes are JSON escapes, so each line still reads back exactly.
    shown = through_a_terminal("export", "--format", "jsonl", "--output", "-", "--db", archive.url)
    assert b"\x1b" not in shown and "\x9b".encode() not in shown and "\u202e".encode() not in shown
    (line,) = [line for line in shown.decode().splitlines() if line.strip()]
    assert {v["title"] for v in json.loads(line)["versions"]} == {HOSTILE_TITLE}

    # A file (or a pipe) gets the exact characters: the export is evidence.
    out = tmp_path / "histories.csv"
    result = invoke("export", "--format", "csv", "--output", str(out), "--db", archive.url)
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as handle:
        titles = {row["title"] for row in csv.DictReader(handle) if row["record"] == "version"}
    assert titles == {HOSTILE_TITLE}
