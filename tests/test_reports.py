"""`mediawatch runs`, `due` and `report`: real runs and captures in, escaped digests out."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus_data import write_nyt_jsonl

from archive.db import Archive
from archive.extract import Extracted
from archive.jobs import run_import
from archive.reports import Digest, Edit, NewArticle, render_html, render_markdown
from archive.store import Capture, record
from mediawatch.cli import cli

HOSTILE_TITLE = "<script>alert(1)</script> *bold* [x](javascript:alert(1)) \x1b[31m"
HOSTILE_URL = 'https://evil.example/a"><img src=x onerror=alert(1)>'


def capture(url: str, at: datetime, text: str, title: str) -> Capture:
    return Capture(url=url, fetched_at=at, extracted=Extracted(text=text, title=title, extractor="import"))


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_runs_lists_recorded_runs_with_counters(db_url: str, corpus: Path, tmp_path: Path) -> None:
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path)
    run_import(db_url, [path])
    [row] = [json.loads(line) for line in invoke("runs", "--json", "--db", db_url).splitlines()]
    assert row["status"] == "completed" and row["trigger"] == "manual" and row["command"] == "import"
    assert row["counts"] == {"files": 1, "records": 704, "new_articles": 7, "new_versions": 21, "rejected": 0}
    assert (row["new_articles"], row["edits"], row["failed"]) == (7, 14, 0)
    assert row["seconds"] is not None and row["seconds"] >= 0
    header, line = invoke("runs", "--db", db_url).splitlines()  # one line a run
    assert header.split()[:2] == ["id", "started"] and header.split()[-4:] == [
        "new",
        "edits",
        "removed",
        "failed",
    ]
    assert line.split()[0] == str(row["id"])
    assert line.split()[-7:] == ["manual", "import", "completed", "7", "14", "0", "0"]
    full = invoke("runs", str(row["id"]), "--db", db_url)
    assert "  7 new articles, 14 edits, 0 removed, 0 failed" in full.splitlines()

    # A digest of everything: 7 new articles, 14 edits, with diff commands that round-trip.
    text = invoke("report", "--since", "1990-01-01", "--db", db_url, "--limit", "1000")
    assert "14 edits" in text and "7 new articles" in text and "1 completed" in text
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("mediawatch diff ")]
    assert len(commands) == 14
    _, _, url, a, b = shlex.split(commands[0])
    invoke("diff", url, a, b, "--db", db_url)
    data = json.loads(invoke("report", "--since", "1990-01-01", "--format", "json", "--db", db_url))
    assert data["edits_total"] == 14 and data["new_articles_total"] == 7
    assert all(e["to"] > e["from"] for e in data["edits"])
    # The default window (24h) holds none of these 2012-2016 captures.
    recent = json.loads(invoke("report", "--format", "json", "--db", db_url))
    assert recent["edits_total"] == 0 and recent["new_articles_total"] == 0
    # Short enough for a cron mail: --limit bounds each section.
    short = invoke("report", "--since", "1990-01-01", "--limit", "2", "--db", db_url)
    assert "… and 12 more" in short and "… and 5 more" in short


def test_due_shows_the_revisit_queue(archive: Archive) -> None:
    now = datetime.now(UTC)
    record(archive.sessions, capture("https://news.example/fresh", now, "Fresh article text. " * 20, "Fresh"))
    old = now - timedelta(hours=2)
    record(archive.sessions, capture("https://news.example/older", old, "Older article text. " * 20, "Older"))
    data = json.loads(invoke("due", "--json", "--db", archive.url))
    assert data["queued"] == 2 and data["overdue"] == 1
    assert [a["url"] for a in data["articles"]] == [
        "https://news.example/older",
        "https://news.example/fresh",
    ]
    assert [a["overdue"] for a in data["articles"]] == [True, False]
    only = json.loads(invoke("due", "--json", "--overdue", "--db", archive.url))
    assert [a["title"] for a in only["articles"]] == ["Older"]
    assert "1 due now, 2 queued" in invoke("due", "--db", archive.url)


def test_report_escapes_hostile_titles_and_urls_in_every_format(archive: Archive) -> None:
    now = datetime.now(UTC)
    first = "The original text of the article. " * 20
    record(archive.sessions, capture(HOSTILE_URL, now - timedelta(hours=3), first, HOSTILE_TITLE))
    record(
        archive.sessions, capture(HOSTILE_URL, now - timedelta(hours=1), first + "An edit.", HOSTILE_TITLE)
    )
    db = ["--db", archive.url]

    page = invoke("report", "--format", "html", "--base-url", "https://archive.example.org/", *db)
    assert "<script" not in page and "<img" not in page and "javascript:alert" not in page.split('href="')[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<a href="https://archive.example.org/articles/1/diff?a=1&amp;b=2">' in page
    assert "https://evil.example/a%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E" in page  # normalised URL
    assert "1 edits" in page and "1 new articles" in page

    md = invoke("report", "--format", "markdown", "--base-url", "https://archive.example.org", *db)
    assert "<script" not in md and "<img" not in md
    assert "](https://archive.example.org/articles/1/diff?a=1&b=2)" in md
    assert "\\[x\\]\\(javascript:alert\\(1\\)\\)" in md and "\\*bold\\*" in md
    assert "<https://evil.example/a%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E>" in md

    text = invoke("report", *db)
    # The escape character never reaches the terminal: it was stored as a space (characters XML
    # cannot carry are cleaned on the way in), and the text renderer escapes any that remain.
    assert "\x1b" not in text and "[31m" in text
    [command] = [line.strip() for line in text.splitlines() if "mediawatch diff" in line]
    assert shlex.split(command)[2:] == [
        "https://evil.example/a%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E",
        "1",
        "2",
    ]
    relative = invoke("report", "--format", "html", *db)
    assert 'href="/articles/1/diff?a=1&amp;b=2"' in relative


def test_renderers_escape_raw_urls_and_link_only_web_urls() -> None:
    now = datetime.now(UTC)
    edit = Edit(1, 'https://x.example/"><img src=x>', "<b>t</b>", 1, 2, "text", now, 3, 1)
    odd = NewArticle(2, "javascript:alert(1)", "t", now)
    d = Digest(now - timedelta(days=1), now, [odd], 1, [edit], 1, {"completed": 1}, [(7, "failed", "<x>")])
    page = render_html(d)
    assert "<img" not in page and "<b>" not in page and "<x>" not in page
    assert 'href="https://x.example/&quot;&gt;&lt;img src=x&gt;"' in page
    assert 'href="javascript' not in page and "<code>javascript:alert(1)</code>" in page
    md = render_markdown(d)
    # Not a safe autolink: an inert code span (CommonMark renders its content as literal text).
    assert '`https://x.example/"><img src=x>`' in md and "`javascript:alert(1)`" in md
    assert "](javascript" not in md and "<javascript" not in md
    assert "run 7 **failed**: &lt;x&gt;" in md
