"""CLI behaviour a user notices: clear one-line errors and exit codes, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from click.testing import CliRunner
from corpus_data import nyt_captures
from sqlalchemy import select, update
from views_site import import_nyt

from archive.db import Archive
from archive.models import Article, DuplicateLink, Version
from mediawatch.cli import cli, terminal_safe


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediawatch", *args], capture_output=True, text=True, timeout=120
    )


def test_unreachable_database_is_one_line_and_exit_3(tmp_path: Path) -> None:
    done = run("articles", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert done.returncode == 3
    assert done.stderr.startswith("Error: cannot open database") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = run("articles", "--db", "mysql://x/y")
    assert done.returncode == 3 and "unsupported database" in done.stderr
    done = run("articles", "--db", f"sqlite:///{tmp_path}/no/such/dir/x.db")
    assert done.returncode == 3 and "Traceback" not in done.stderr


def test_unknown_url_and_version_are_exit_4(db_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["versions", "https://example.com/nothing", "--db", db_url])
    assert result.exit_code == 4 and "no archived article" in result.output


def test_import_rejects_bad_lines_with_line_numbers(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = {
        "url": "https://example.com/a",
        "fetched_at": "2026-03-01T08:00:00Z",
        "title": "A",
        "text": "Pakistan and Afghanistan held talks on the border crossing at Torkham. " * 5,
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"url": "file:///etc/passwd", "fetched_at": "2026-01-01", "text": "x"}),
        json.dumps({"url": "https://example.com/b", "fetched_at": "yesterday", "text": "x"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["import", str(path), "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.splitlines()[0])
    assert summary["records"] == 1 and summary["new_versions"] == 1 and summary["rejected"] == 3
    assert [r["line"] for r in summary["rejected_lines"]] == [2, 3, 4]
    result = CliRunner().invoke(cli, ["import", str(tmp_path / "missing.jsonl"), "--db", db_url])
    assert result.exit_code == 2 and "no such file" in result.output


def test_terminal_escapes_in_archived_text_are_neutralised() -> None:
    hostile = "title\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202eevil"
    cleaned = terminal_safe(hostile)
    assert "\x1b" not in cleaned and "\x07" not in cleaned and "\u202e" not in cleaned
    assert cleaned.startswith("title")


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_since_takes_what_report_since_takes() -> None:
    """One parser for every ``--since``: a duration back from now (24h, 7d) or a date."""
    now = datetime.now(UTC)
    checked = []
    for name, command in _commands(cli):
        for param in command.params:
            if "--since" not in getattr(param, "opts", ()):
                continue
            checked.append(name)
            window = param.type.convert("24h", param, None)
            assert timedelta(hours=23) < now - window < timedelta(hours=25), name
            assert param.type.convert("2026-03-01", param, None) == datetime(2026, 3, 1, tzinfo=UTC), name
    assert {"report", "stats", "articles", "export", "backfill"} <= set(checked)


MARKUP_TITLE = "Taliban [/] talks [bold]stall[/bold] at [link=https://evil.example/]Torkham[/link]"


def test_a_title_with_brackets_is_printed_as_it_is(archive: Archive, corpus: Path, tmp_path: Path) -> None:
    """A crawled title is text, never terminal markup: "[/]" in it fails no command, and
    "[bold]" or "[link=…]" are shown as written, not applied (or silently dropped)."""
    import_nyt(archive, corpus, tmp_path, ["mubarak-is-on", "activism-grows-as"])
    with archive.transaction() as session:
        session.execute(update(Version).values(title=MARKUP_TITLE))
        session.execute(update(Article).values(next_check=datetime.now(UTC) - timedelta(hours=1)))
        first, second = session.scalars(select(Article.id).order_by(Article.id)).all()
        session.add(
            DuplicateLink(
                article_id=first,
                other_id=second,
                kind="near",
                similarity=0.9,
                first_article_id=first,
                found_at=datetime.now(UTC),
            )
        )
    runner = CliRunner()
    for command in (["articles"], ["versions", "1"], ["due"], ["duplicates", "1"], ["search", "Singapore"]):
        result = runner.invoke(cli, [*command, "--db", archive.url])
        assert result.exit_code == 0, (command, result.output)
        assert MARKUP_TITLE in result.output, (command, result.output)


def test_versions_a_minute_apart_read_apart(db_url: str, corpus: Path, tmp_path: Path) -> None:
    """Two versions seen within one minute: `versions`, `show` and the `diff` labels give their
    times to the second, so they never read alike."""
    captures = [c for c in nyt_captures(corpus, "mubarak-is-on") if c.text]
    texts = list(dict.fromkeys(c.text for c in captures))[:2]
    first = next(c for c in captures if c.text == texts[0]).as_record()
    second = next(c for c in captures if c.text == texts[1]).as_record()
    first["fetched_at"], second["fetched_at"] = "2026-03-01T08:00:05Z", "2026-03-01T08:00:40Z"
    lines = tmp_path / "two.jsonl"
    lines.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(lines), "--db", db_url]).exit_code == 0
    listed = runner.invoke(cli, ["versions", "1", "--db", db_url]).output
    assert "2026-03-01 08:00:05" in listed and "2026-03-01 08:00:40" in listed
    table = [line for line in listed.splitlines()[1:] if not line.startswith(" " * 6)]  # (URL, titles)
    assert len(table) == 3 and all(len(line) <= 80 for line in table)
    shown = runner.invoke(cli, ["show", "1", "--version", "1", "--db", db_url]).output
    assert "first seen 2026-03-01 08:00:05 UTC" in shown
    wide = {"COLUMNS": "200"}  # (the column headers are not wrapped)
    diff = runner.invoke(cli, ["diff", "1", "--format", "side-by-side", "--db", db_url], env=wide).output
    assert "version 1 (2026-03-01 08:00:05 UTC)" in diff and "version 2 (2026-03-01 08:00:40 UTC)" in diff
