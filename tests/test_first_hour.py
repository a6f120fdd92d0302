"""What a new user and an archivist run into in the first hour: `--db` mistakes, garbage input,
a taken port, slow read-only commands, failure causes that tell the truth, readable runs."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediawatch.cli import cli

READ_ONLY = [
    ["articles"],
    ["versions", "https://example.com/a"],
    ["show", "https://example.com/a"],
    ["diff", "https://example.com/a"],
    ["search", "Torkham"],
    ["runs"],
    ["due"],
    ["report"],
    ["duplicates", "https://example.com/a"],
    ["export", "--format", "jsonl", "--output", "out.jsonl"],
    ["export", "--format", "warc", "--output", "out.warc.gz"],
]

GOOD_RECORD = {
    "url": "https://example.com/a",
    "fetched_at": "2026-03-01T08:00:00Z",
    "title": "Talks at Torkham",
    "text": "Pakistan and Afghanistan held talks on the border crossing at Torkham. " * 5,
}


def mediawatch(
    *args: str, cwd: Path | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediawatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if k != "MEDIAWATCH_DATABASE_URL"}, **(env or {})},
    )


def write_jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


# ---------------------------------------------------------------------------------------------
# 13.2 --db mistakes


def test_db_takes_a_plain_file_path_as_sqlite(tmp_path: Path) -> None:
    """`--db mediawatch-demo.db` (no sqlite:///) is a SQLite file, relative to the working directory."""
    source = write_jsonl(tmp_path / "one.jsonl", GOOD_RECORD)
    done = mediawatch("import", str(source), "--db", "plain.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plain.db").is_file()
    listed = mediawatch("articles", "--db", "plain.db", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["url"] == "https://example.com/a"
    absolute = mediawatch("articles", "--db", str(tmp_path / "plain.db"), "--json")
    assert json.loads(absolute.stdout)["url"] == "https://example.com/a"
    helped = CliRunner().invoke(cli, ["articles", "--help"])
    assert "SQLite file path" in " ".join(helped.output.split())


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://me@localhost:notaport/archive", "://nowhere", "sqlite:mediawatch.db"]
)
def test_malformed_database_url_is_one_line_exit_2(url: str) -> None:
    result = CliRunner().invoke(cli, ["articles", "--db", url])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: invalid database URL") and len(result.output.splitlines()) == 1


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: "-".join(a[:3]))
def test_read_only_command_never_creates_a_missing_archive(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "mistyped.db"
    result = CliRunner().invoke(cli, [*args, "--db", str(missing)])
    assert result.exit_code == 3, result.output
    assert result.output.splitlines() == [
        f"Error: no archive at {missing} (check --db or MEDIAWATCH_DATABASE_URL)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no lock, no output file


def test_serve_refuses_a_missing_archive_before_announcing(tmp_path: Path) -> None:
    done = mediawatch("serve", "--port", "0", "--db", str(tmp_path / "nothing.db"))
    assert done.returncode == 3
    assert done.stderr.startswith("Error: no archive at") and "http://" not in done.stderr
    assert not (tmp_path / "nothing.db").exists()


# ---------------------------------------------------------------------------------------------
# 13.4 serve on a port in use


def test_serve_on_a_taken_port_says_so_and_exits_2(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "one.jsonl", GOOD_RECORD)
    db = tmp_path / "archive.db"
    assert mediawatch("import", str(source), "--db", str(db)).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = mediawatch("serve", "--port", str(port), "--db", str(db))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use: stop the other server or pass --port"
    ]
    assert done.stdout == ""  # no URL was announced


def test_serve_announces_the_port_it_bound(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "one.jsonl", GOOD_RECORD)
    db = tmp_path / "archive.db"
    assert mediawatch("import", str(source), "--db", str(db)).returncode == 0
    viewer = subprocess.Popen(
        [sys.executable, "-m", "mediawatch", "serve", "--port", "0", "--db", str(db)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert viewer.stderr is not None
        line = viewer.stderr.readline()
        assert line.startswith("mediawatch viewer on http://127.0.0.1:"), line
        url = line.split()[3]
        assert not url.endswith(":0/")
        with urllib.request.urlopen(url, timeout=30) as page:
            assert "Talks at Torkham" in page.read().decode()
    finally:
        viewer.terminate()
        viewer.wait(timeout=30)


# ---------------------------------------------------------------------------------------------
# 13.3 garbage input


def test_import_of_a_binary_file_imports_nothing_and_exits_2(db_url: str, corpus: Path) -> None:
    binary = corpus / "warc-samples/pywb/sample_archive/waczs/valid_example_1.wacz"  # a zip archive
    result = CliRunner().invoke(cli, ["import", str(binary), "--db", db_url])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{binary}: 0 records imported, 0 new articles, 0 new versions, 1 line rejected"
    assert f"{binary} line 1: not a JSON Lines file: binary data, not UTF-8 text" in lines
    assert lines[-1] == f"Error: nothing imported from {binary}: every line was rejected"
    assert len(lines) == 3  # one reason for the file, not one per "line" of binary data


def test_import_summary_counts_rejected_lines_and_names_each_once(db_url: str, tmp_path: Path) -> None:
    broken = '{"url": "https://example.com/b", "fetched_at": "2026-03-01", "text": "x" oops}'
    source = write_jsonl(tmp_path / "mixed.jsonl", GOOD_RECORD, {"url": "https://example.com/c"}, broken)
    result = CliRunner().invoke(cli, ["import", str(source), "--db", db_url])
    assert result.exit_code == 0, result.output  # partial: imported, and says what it rejected
    lines = result.output.splitlines()
    assert lines[0] == f"{source}: 1 records imported, 1 new articles, 1 new versions, 2 lines rejected"
    assert f"{source} line 2: fetched_at must be an ISO 8601 string" in lines
    assert f"{source} line 3: not JSON: Expecting ',' delimiter at column 74" in lines
    assert "line 1 column" not in result.output


def test_import_of_gzip_data_without_gz_suffix_says_so(db_url: str, tmp_path: Path, corpus: Path) -> None:
    page = next((corpus / "trafilatura-evaldata").rglob("*.html.gz"))
    renamed = tmp_path / "captures.jsonl"
    renamed.write_bytes(page.read_bytes())
    result = CliRunner().invoke(cli, ["import", str(renamed), "--db", db_url])
    assert result.exit_code == 2
    assert f"{renamed} line 1: not a JSON Lines file: gzip-compressed data (name it .gz)" in result.output


@pytest.mark.slow  # an import-warc process per sample file
@pytest.mark.parametrize(
    "name",
    [
        "warc-samples/pywb/sample_archive/waczs/valid_example_1.wacz",
        "warc-samples/resiliparse/tests/data/warcfile.warc.lz4",
    ],
)
def test_import_warc_of_a_non_warc_file_is_one_printable_line(name: str, db_url: str, corpus: Path) -> None:
    path = corpus / name
    done = mediawatch("import-warc", str(path), "--db", db_url)
    assert done.returncode == 1
    reason = "not a WARC or ARC file (unknown format at its start)"
    assert done.stderr.splitlines() == [f"Error: {path}: {reason}"]
    assert done.stdout.startswith("1 files, 0 records read")


def test_extract_of_a_missing_file_exits_2(tmp_path: Path, corpus: Path) -> None:
    page = next((corpus / "trafilatura-evaldata").rglob("*.html.gz"))
    result = CliRunner().invoke(cli, ["extract", str(page), str(tmp_path / "missing.html")])
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"Error: {tmp_path / 'missing.html'}: no such file"]


# ---------------------------------------------------------------------------------------------
# 13.6 read-only commands start without the crawler's and the extractor's libraries

HEAVY = ("trafilatura", "scrapy", "twisted", "numpy", "datasketch", "dask", "distributed")
# Lighter, but still tens of milliseconds of every start: only the commands that need them (a
# diff, a URL to normalise, a date to parse, a bar to draw, a PostgreSQL archive) import them.
LISTING_ONLY = (*HEAVY, "rapidfuzz", "w3lib", "dateutil", "rich.progress")

PROBE = """
import json, sys
from mediawatch.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="mediawatch")
except SystemExit as stop:
    code = stop.code
heavy = sorted(
    name for name in sys.modules if any(name == top or name.startswith(top + ".") for top in {heavy!r})
)
print(json.dumps({{"exit": code, "heavy": heavy}}), file=sys.stderr)
"""


def nyt_history_file(corpus: Path, path: Path) -> str:
    """A JSON Lines file of one NYT article's captures (several text versions); returns its URL."""
    from corpus_data import nyt_captures, nyt_slugs

    for slug in nyt_slugs(corpus):
        captures = nyt_captures(corpus, slug)
        if len({c.text for c in captures if c.text}) >= 2:
            write_jsonl(path, *(c.as_record() for c in captures))
            return captures[0].url
    raise AssertionError("no NYT history with two texts in the corpus")


@pytest.mark.slow  # starts every read-only command in its own process
def test_read_only_commands_do_not_import_the_crawler_or_extractor(
    db_url: str, tmp_path: Path, corpus: Path
) -> None:
    url = nyt_history_file(corpus, tmp_path / "nyt.jsonl")
    assert CliRunner().invoke(cli, ["import", str(tmp_path / "nyt.jsonl"), "--db", db_url]).exit_code == 0
    commands = [
        ["articles"],
        ["versions", url],
        ["show", url],
        ["diff", url],
        ["diff", url, "--format", "json"],
        ["search", "China"],
        ["runs"],
        ["due"],
    ]
    listings = (["articles"], ["runs"], ["due"])
    on_sqlite = db_url.startswith("sqlite")
    for command in commands:
        unwanted = set(LISTING_ONLY if command in listings else HEAVY)
        if on_sqlite:
            unwanted.add("sqlalchemy.dialects.postgresql")
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(heavy=unwanted), *command, "--db", db_url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        outcome = json.loads(done.stderr.strip().splitlines()[-1])
        assert outcome["exit"] in (0, None), (command, done.stderr)
        assert done.stdout.strip(), command  # it did show something
        assert outcome["heavy"] == [], (command, outcome["heavy"])


# ---------------------------------------------------------------------------------------------
# 13.1, 13.8, 13.9 failures that tell their cause; runs one line each; a summary that fits a screen

DEFAULT_CONTACT = "https://github.com/mediawatch/mediawatch#crawler"  # as config/sources.yaml ships it
UNRESOLVABLE = "news.mediawatch-test.invalid"  # .invalid never resolves (RFC 6761)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def outlets_file(tmp: Path, feeds: dict[str, str], *, robots: bool = True) -> Path:
    """A sources file with one outlet per (name, feed URL)."""
    lines = [
        "version: 1",
        "defaults: {download_delay_seconds: 0, concurrent_per_domain: 8, sitemap_window_days: 30,"
        f" contact_url: 'https://example.org/mediawatch-tests', respect_robots: {str(robots).lower()}}}",
        "sources:",
    ]
    for i, (name, url) in enumerate(feeds.items()):
        lines.append(f"- {{id: s{i}, name: '{name}', country: PK, lang: en, feeds: [{{url: '{url}'}}]}}")
    path = tmp / "sources.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def crawl(db_url: str, sources: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return mediawatch(
        "crawl",
        "--sources",
        str(sources),
        "--topic",
        "none",
        "--no-discovery",
        "--allow-private-networks",
        "--workers",
        "1",
        "--db",
        db_url,
        *extra,
        timeout=300,
    )


@pytest.mark.slow
def test_crawl_with_the_shipped_contact_url_warns_once(db_url: str, tmp_path: Path) -> None:
    """An unchanged User-Agent contact URL is one WARNING line per crawl, however many requests."""
    sources = outlets_file(
        tmp_path, {f"Closed {n}": f"http://127.0.0.1:{closed_port()}/feed.xml" for n in range(3)}
    )
    sources.write_text(sources.read_text().replace("https://example.org/mediawatch-tests", DEFAULT_CONTACT))
    done = crawl(db_url, sources)
    warnings = [line for line in done.stderr.splitlines() if "contact URL" in line]
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith("WARNING") and "defaults.contact_url" in warnings[0]


@pytest.mark.slow
def test_offline_crawl_reports_the_root_cause_not_robots(db_url: str, tmp_path: Path) -> None:
    """Robots.txt that cannot be fetched (no DNS, port closed, no answer) is reported as such."""
    with socket.socket() as silent:  # accepts connections (kernel backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        feeds = {
            "Gone Outlet": f"http://{UNRESOLVABLE}/feed.xml",
            "Closed Outlet": f"http://127.0.0.1:{closed_port()}/feed.xml",
            "Silent Outlet": f"http://127.0.0.1:{silent.getsockname()[1]}/feed.xml",
        }
        done = crawl(db_url, outlets_file(tmp_path, feeds))
    causes = (
        "1 robots.txt unreachable (connection refused), 1 robots.txt unreachable (dns), "
        "1 robots.txt unreachable (timeout)"
    )
    assert done.returncode == 5, done.stderr
    assert "forbidden by robots.txt" not in done.stdout + done.stderr
    assert f"  failure causes: {causes}" in done.stdout.splitlines()
    assert done.stderr.splitlines()[-1] == f"Error: every source failed (crawl run 1): {causes}"
    assert "WARNING" not in done.stderr  # the cause is counted, not logged once per site

    listed = CliRunner().invoke(cli, ["runs", "--db", db_url])
    header, line = listed.output.splitlines()  # one line a run
    assert header.split()[0] == "id" and line.split()[0] == "1"
    words = line.split()
    assert words[words.index("crawl") + 1] == "failed" and line.endswith(causes)
    full = json.loads(CliRunner().invoke(cli, ["runs", "1", "--json", "--db", db_url]).output)
    assert full["failures"] == {
        "robots.txt unreachable (dns)": 1,
        "robots.txt unreachable (connection refused)": 1,
        "robots.txt unreachable (timeout)": 1,
    }
    assert full["command"] == "crawl" and full["failed"] == 3 and "counters" not in full
    assert full["counts"]["feed_requests"] == 3 and full["top_failures"] == causes
    digest = CliRunner().invoke(cli, ["report", "--db", db_url]).output
    assert f"  run 1 failed: every source failed: {causes}" in digest.splitlines()


@pytest.mark.slow
def test_crawl_summary_fits_one_screen(tmp_path: Path, corpus: Path) -> None:
    """Forty failing outlets and two readable ones: totals, causes, and the notable sources only."""
    from crawl_site import Site, healthy_pages, rewrite_feed

    site = Site().start()
    try:
        pages = healthy_pages(corpus, 2)
        for page in pages:
            site.set(page.path, page.raw)
        site.set("/feed.xml", rewrite_feed(corpus, site, [p.path for p in pages]))
        site.set("/same.xml", rewrite_feed(corpus, site, []))  # the real feed, no items today
        port = closed_port()
        feeds = {"Working Outlet": site.url("/feed.xml"), "Quiet Outlet": site.url("/same.xml")}
        feeds |= {f"Unresolvable Outlet {i:02d}": f"http://{UNRESOLVABLE}/{i}.xml" for i in range(20)}
        feeds |= {
            f"Closed Outlet {i:02d} with a long name": f"http://127.0.0.1:{port}/{i}.xml" for i in range(20)
        }
        db = str(tmp_path / "archive.db")
        done = crawl(db, outlets_file(tmp_path, feeds, robots=False))
    finally:
        site.stop()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) <= 25, done.stdout
    assert lines[0].startswith("crawl run 1: completed in")
    assert lines[1].startswith("  2 new articles,") and lines[1].endswith("40 failed")
    assert "  failure causes: 20 connection refused, 20 dns" in lines
    assert "  sources: 2 of 42 read, 41 with new items or failures" in lines
    assert lines[-1] == "    … and 26 more: mediawatch runs 1"
    assert not any("Quiet Outlet" in line for line in lines)  # nothing new, nothing failed
    working = next(line for line in lines if "Working Outlet" in line)
    assert working.split()[2:4] == ["2", "new"]
    assert all(len(line) <= 100 for line in lines)  # no wrapped names


# ---------------------------------------------------------------------------------------------
# 13.18 one configuration directory for every command


@pytest.mark.slow  # three commands in their own processes, the demo with its loopback outlet
def test_crawl_demo_and_schedule_read_the_configuration_directory(tmp_path: Path) -> None:
    """MEDIAWATCH_CONFIG_DIR takes the place of the shipped files for crawl, demo and schedule
    alike: a mistake in the directory's copy is reported as one line naming that copy, exit 2."""
    for name, broken, command in [
        ("sources.yaml", "sources: [", ["crawl", "--db", str(tmp_path / "crawl.db")]),
        ("topic.yaml", "groups: 3\n", ["demo", "--db-file", str(tmp_path / "demo.db")]),
        ("schedule.yaml", "jobs: [", ["schedule", "--db", str(tmp_path / "schedule.db")]),
    ]:
        directory = tmp_path / name.removesuffix(".yaml")
        assert mediawatch("config", "init", str(directory)).returncode == 0
        (directory / name).write_text(broken)
        done = mediawatch(*command, cwd=tmp_path, env={"MEDIAWATCH_CONFIG_DIR": str(directory)})
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.startswith("Error: ") and f"{directory / name}:1: " in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# ---------------------------------------------------------------------------------------------
# 13.21 what the demo and the run lock leave behind is not offered for a commit


def test_demo_database_and_run_locks_are_ignored_by_git() -> None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    paths = ["mediawatch-demo.db", "mediawatch-demo.db-wal", "docs/mediawatch-demo.db", "archive.db.run.lock"]
    done = subprocess.run(["git", "check-ignore", *paths], cwd=root, capture_output=True, text=True)
    assert done.stdout.split() == paths


def test_readme_command_table_is_one_table_of_every_command() -> None:
    """The README's command table is one table (a blank line inside it would show the rows after
    it as raw pipes) and names every command the CLI has."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0].splitlines()
    rows = [i for i, line in enumerate(section) if line.startswith("|")]
    assert rows == list(range(rows[0], rows[-1] + 1)), "the table is broken by a line that is not a row"
    header, rule, *body = (section[i] for i in rows)
    assert header.startswith("| command |") and set(rule) <= set("|-: ")
    assert all(row.count("|") - row.count("\\|") == 3 for row in body)  # two cells, pipes escaped
    named = {name for row in body for name in re.findall(r"`([a-z][a-z-]*)", row.split(" | ")[0])}
    assert set(cli.commands) <= named, set(cli.commands) - named
