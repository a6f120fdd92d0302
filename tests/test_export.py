"""Export of full histories: JSON Lines and CSV, --since, --url, atomic output, the CLI."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus_data import nyt_captures
from sqlalchemy import func, select
from views_site import import_nyt

from archive.db import Archive
from archive.errors import InputError, NotFoundError
from archive.export import export
from archive.models import Fetch, Version
from mediawatch.cli import cli

SLUGS = ["mubarak-is-on", "activism-grows-as"]


@pytest.fixture
def nyt_archive(archive: Archive, corpus: Path, tmp_path: Path) -> Archive:
    import_nyt(archive, corpus, tmp_path, SLUGS)
    return archive


def counts(archive: Archive) -> tuple[int, int]:
    with archive.reading() as session:
        return (
            session.scalar(select(func.count()).select_from(Version)) or 0,
            session.scalar(select(func.count()).select_from(Fetch)) or 0,
        )


def test_jsonl_holds_every_version_and_fetch(nyt_archive: Archive, corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "histories.jsonl"
    summary = export(nyt_archive, "jsonl", out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    versions, fetches = counts(nyt_archive)
    assert (summary.articles, summary.versions, summary.fetches) == (2, versions, fetches)
    assert fetches == sum(len(nyt_captures(corpus, s)) for s in SLUGS)  # every capture is evidence
    mubarak = next(r for r in records if "mubarak" in r["url"])
    assert [v["seq"] for v in mubarak["versions"]] == [1, 2, 3, 4]
    assert "Liam Stack contributed reporting." in mubarak["versions"][2]["text"]
    assert {f["outcome"] for f in mubarak["fetches"]} == {"new-version", "unchanged"}
    new_version_fetches = [f for f in mubarak["fetches"] if f["outcome"] == "new-version"]
    assert [f["version_seq"] for f in new_version_fetches] == [1, 2, 3, 4]
    assert all(f["origin"] == "import" for f in mubarak["fetches"])
    assert not list(tmp_path.glob(".histories.jsonl.*"))  # no temporary file left behind


def test_csv_has_one_row_per_event_and_round_trips_text(nyt_archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "histories.csv"
    export(nyt_archive, "csv", out)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    versions, fetches = counts(nyt_archive)
    assert sum(r["record"] == "version" for r in rows) == versions
    assert sum(r["record"] == "fetch" for r in rows) == fetches
    with nyt_archive.reading() as session:
        texts = {v.text for v in session.scalars(select(Version))}
    assert {r["text"] for r in rows if r["record"] == "version"} == texts  # multi-line text survives CSV


def test_since_and_url_narrow_the_export(nyt_archive: Archive, corpus: Path, tmp_path: Path) -> None:
    captures = nyt_captures(corpus, "mubarak-is-on")
    url = captures[0].url
    out = tmp_path / "one.jsonl"
    export(nyt_archive, "jsonl", out, url=url)
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["url"] == url and len(record["fetches"]) == len(captures)
    since = datetime.fromisoformat(record["versions"][2]["first_seen"]).astimezone(UTC)
    export(nyt_archive, "jsonl", out, since=since)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    mubarak = next(r for r in records if r["url"] == url)
    assert [v["seq"] for v in mubarak["versions"]] == [3, 4]
    for r in records:
        assert r["versions"] or r["fetches"]  # only articles touched since then
        assert all(datetime.fromisoformat(f["fetched_at"]) >= since for f in r["fetches"])
        assert all(datetime.fromisoformat(v["first_seen"]) >= since for v in r["versions"])
    assert sum(len(r["fetches"]) for r in records) < counts(nyt_archive)[1]
    with pytest.raises(NotFoundError):
        export(nyt_archive, "jsonl", out, url="https://example.org/not-archived")


def test_bad_output_paths_are_clear_errors(nyt_archive: Archive, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        export(nyt_archive, "jsonl", tmp_path)
    with pytest.raises(InputError, match="no such directory"):
        export(nyt_archive, "jsonl", tmp_path / "missing" / "x.jsonl")
    with pytest.raises(InputError, match="unknown export format"):
        export(nyt_archive, "xml", tmp_path / "x.xml")


def test_cli_export(nyt_archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    runner = CliRunner()
    result = runner.invoke(cli, ["export", "--format", "csv", "--output", str(out), "--db", nyt_archive.url])
    assert result.exit_code == 0, result.output
    assert "wrote 2 articles" in result.output and out.exists()
    stdout = runner.invoke(cli, ["export", "--format", "jsonl", "--output", "-", "--db", nyt_archive.url])
    assert len(stdout.output.splitlines()) == 2
    bad = runner.invoke(
        cli,
        [
            "export",
            "--format",
            "jsonl",
            "--output",
            str(out),
            "--since",
            "yesterday-ish",
            "--db",
            nyt_archive.url,
        ],
    )
    assert bad.exit_code == 2 and "not a duration or a date" in bad.output


def test_export_since_takes_a_duration_as_report_does(db_url: str, corpus: Path, tmp_path: Path) -> None:
    """``export --since 24h`` is a window back from now, as for ``report`` and ``stats``: one
    article checked two hours ago is in it, one checked three days ago is not (it is in 7d)."""
    now = datetime.now(UTC)
    lines = tmp_path / "recent.jsonl"
    urls = []
    with lines.open("w") as out:
        for slug, age in zip(SLUGS, (timedelta(hours=2), timedelta(days=3)), strict=True):
            record = nyt_captures(corpus, slug)[0].as_record()
            record["fetched_at"] = (now - age).isoformat()
            urls.append(record["url"])
            out.write(json.dumps(record) + "\n")
    runner = CliRunner()
    imported = runner.invoke(cli, ["import", str(lines), "--db", db_url])
    assert imported.exit_code == 0, imported.output

    def exported(since: str) -> list[str]:
        result = runner.invoke(
            cli, ["export", "--format", "jsonl", "--output", "-", "--since", since, "--db", db_url]
        )
        assert result.exit_code == 0, result.output
        return sorted(json.loads(line)["url"] for line in result.output.splitlines())

    assert exported("24h") == [urls[0]]
    assert exported("7d") == sorted(urls)
    assert exported((now - timedelta(days=1)).date().isoformat()) == [urls[0]]
