"""One read model: the CLI's ``--json`` and the viewer's JSON API give the same JSON for the same
question (article list, versions, one version, a diff, search), on both backends; `articles`
takes the web list's filters through the same query and shows ids and whole URLs; every command
that takes an article's URL also takes the id `articles` shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from corpus_data import nyt_captures, write_nyt_jsonl
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from archive.db import Archive
from archive.importer import import_jsonl
from archive.models import Article, Source, SourceKind
from archive.store import Capture, record
from mediawatch.cli import cli
from mediawatch.web.app import create_app

MUBARAK = "mubarak-is-on"
SLUGS = [MUBARAK, "activism-grows-as", "in-shift-china"]


@pytest.fixture
def nyt(archive: Archive, corpus: Path, tmp_path: Path) -> Iterator[tuple[str, TestClient]]:
    """Three NYT histories; the Mubarak article is then removed (404) and restored, and the
    China one belongs to a source named "Times"."""
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path, SLUGS)
    mubarak = nyt_captures(corpus, MUBARAK)[-1]
    last = datetime.fromisoformat(mubarak.fetched_at.replace("Z", "+00:00"))
    with path.open("a") as out:
        for hours, record in ((1, {"status": 404}), (2, {"status": 404}), (3, mubarak.as_record())):
            when = (last + timedelta(hours=hours)).astimezone(UTC).isoformat()
            out.write(json.dumps({**mubarak.as_record(), **record, "fetched_at": when}) + "\n")
    # the 404 records carry no text: they mean "gone"
    lines = path.read_text().splitlines()
    for index in (-3, -2):
        record = json.loads(lines[index])
        lines[index] = json.dumps({k: record[k] for k in ("url", "fetched_at", "status")})
    path.write_text("\n".join(lines) + "\n")
    summary = import_jsonl(archive, path)
    assert summary.new_versions > 0 and not summary.rejected
    china = nyt_captures(corpus, "in-shift-china")[0].url
    with archive.transaction() as session:
        source_id = session.execute(
            insert(Source)
            .values(name="Times", kind=SourceKind.MANUAL, url="https://example.org/", language="en", tags=[])
            .returning(Source.id)
        ).scalar_one()
        session.execute(update(Article).where(Article.canonical_url == china).values(source_id=source_id))
    with TestClient(create_app(Archive(archive.url, readonly=True))) as client:
        yield archive.url, client


def run(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--db", db_url], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


def ids_of(db_url: str, *args: str) -> list[int]:
    return [row["id"] for row in lines(run(db_url, "articles", "--json", *args))]


def test_cli_json_equals_api_json(nyt: tuple[str, TestClient], corpus: Path) -> None:
    db_url, client = nyt
    listed = client.get("/api/articles").json()
    assert lines(run(db_url, "articles", "--json")) == listed["articles"] and len(listed["articles"]) == 3
    mubarak = next(a for a in listed["articles"] if a["url"] == nyt_captures(corpus, MUBARAK)[0].url)
    aid = str(mubarak["id"])
    article = client.get(f"/api/articles/{aid}").json()
    versions = lines(run(db_url, "versions", aid, "--json"))
    assert versions == article["versions"] and len(versions) >= 4
    assert [v["change_kind"] for v in versions][-2:] == ["removed", "restored"]
    shown = json.loads(run(db_url, "show", aid, "--version", "2", "--json"))
    from_api = client.get(f"/api/articles/{aid}/versions/2").json()
    # The API adds the citation, whose permalink is the viewer's own address.
    assert from_api.pop("cite")["seq"] == 2
    assert shown == from_api and shown["text"]
    pairs = (([], ""), (["2", "3"], "?a=2&b=3"), (["1", "3", "--changed-only"], "?a=1&b=3&changed=1"))
    for cli_args, query in pairs:
        from_cli = json.loads(run(db_url, "diff", aid, *cli_args, "--format", "json"))
        assert from_cli == client.get(f"/api/articles/{aid}/diff{query}").json(), cli_args
        assert from_cli["summary"]["words_added"] > 0 or not cli_args  # the default pair: restored = before
    # The default pair is the same for both faces: the last two versions with text.
    default = json.loads(run(db_url, "diff", aid, "--format", "json"))
    assert (default["from"]["seq"], default["to"]["seq"]) == (versions[-3]["seq"], versions[-1]["seq"])
    found = json.loads(run(db_url, "search", "Mubarak", "--json"))
    assert found == client.get("/api/search?q=Mubarak").json() and found["hits"]


def test_articles_filters_are_the_web_lists(nyt: tuple[str, TestClient], corpus: Path) -> None:
    db_url, client = nyt

    def api_ids(query: str) -> list[int]:
        return [a["id"] for a in client.get(f"/api/articles?{query}").json()["articles"]]

    everything = ids_of(db_url)
    mubarak = ids_of(db_url, "--search", "Mubarak")
    assert len(everything) == 3 and len(mubarak) >= 1
    assert mubarak == api_ids("q=Mubarak")
    removed_then_back = ids_of(db_url, "--status", "restored")
    assert len(removed_then_back) == 1 and removed_then_back == api_ids("status=restored")
    assert ids_of(db_url, "--status", "removed") == api_ids("status=removed") == []
    live = ids_of(db_url, "--status", "live")
    assert sorted(live) == sorted(everything) and live == api_ids("status=live")
    times = ids_of(db_url, "--source", "Times")
    with Archive(db_url, readonly=True).reading() as session:
        source_id = session.scalar(select(Source.id).where(Source.name == "Times"))
    assert len(times) == 1 and times == api_ids(f"source={source_id}")
    assert ids_of(db_url, "--source", str(source_id)) == times
    assert ids_of(db_url, "--source", "times") == times  # names are matched case-insensitively
    assert ids_of(db_url, "--edited") == api_ids("edited=1") and ids_of(db_url, "--edited")
    assert ids_of(db_url, "--since", "1d") == []  # every capture is years old
    assert sorted(ids_of(db_url, "--since", "2000-01-01")) == sorted(everything)

    # The China article goes away (a 404 on two checks an hour apart confirms it): removed in the
    # CLI's list as in the web's, and no longer live.
    china = nyt_captures(corpus, "in-shift-china")[-1]
    gone = datetime.fromisoformat(china.fetched_at.replace("Z", "+00:00")) + timedelta(days=1)
    with Archive(db_url) as archive:
        for hours in (0, 1):
            record(
                archive.sessions, Capture(url=china.url, fetched_at=gone + timedelta(hours=hours), status=404)
            )
    removed = ids_of(db_url, "--status", "removed")
    assert removed == api_ids("status=removed") == times
    assert sorted(ids_of(db_url, "--status", "live")) == sorted(set(everything) - set(times))


def test_articles_status_choices_are_the_web_lists() -> None:
    """`articles --status` offers exactly the statuses the web list filters by: the CLI keeps a
    copy of the read model's tuple (so that it starts without importing it)."""
    from archive.queries import ARTICLE_STATUS_FILTERS
    from mediawatch.cli import ARTICLE_STATUSES

    assert ARTICLE_STATUSES == ARTICLE_STATUS_FILTERS
    result = CliRunner().invoke(cli, ["articles", "--status", "gone"])
    assert result.exit_code == 2
    assert all(f"'{status}'" in result.output for status in ARTICLE_STATUS_FILTERS)


def test_articles_shows_the_id_first_and_the_whole_url(nyt: tuple[str, TestClient], corpus: Path) -> None:
    db_url, _client = nyt
    out = run(db_url, "articles")  # an 80-column terminal
    rows = lines(run(db_url, "articles", "--json"))
    assert out.splitlines()[0] == "1-3 of 3 articles"
    for row in rows:
        assert len(row["url"]) > 60
        assert f"        {row['url']}" in out.splitlines()  # whole, on its own line
        assert any(line.lstrip().startswith(f"{row['id']}  ") for line in out.splitlines())


def test_an_article_id_works_wherever_a_url_does(nyt: tuple[str, TestClient], corpus: Path) -> None:
    db_url, _client = nyt
    url = nyt_captures(corpus, MUBARAK)[0].url
    aid = str(next(r["id"] for r in lines(run(db_url, "articles", "--json")) if r["url"] == url))
    for command in (["versions"], ["show"], ["diff"], ["duplicates"]):
        by_id = run(db_url, *command, aid, "--json" if command != ["diff"] else "--format=json")
        by_url = run(db_url, *command, url, "--json" if command != ["diff"] else "--format=json")
        assert by_id == by_url, command
    exported = run(db_url, "export", "--format", "jsonl", "--output", "-", "--url", aid)
    assert [json.loads(line)["url"] for line in exported.splitlines()] == [url]
    missing = CliRunner().invoke(cli, ["versions", "999999", "--db", db_url])
    assert missing.exit_code != 0 and "no archived article with id 999999" in missing.output
    assert "Traceback" not in missing.output


def test_to_json_writes_a_record_by_its_declared_rules() -> None:
    """Renamed and skipped fields, computed members, enums as values, times as ISO 8601; a value
    that is no record is refused (the serialiser reads each record type's fields once)."""
    from archive.models import ChangeKind
    from archive.serialize import json_field, to_json

    @dataclass(frozen=True)
    class Side:
        seq: int
        kind: ChangeKind

    @dataclass(frozen=True)
    class Page:
        old: Side = json_field(name="from")
        kept_for_a_template: object = json_field(skip=True)
        when: datetime = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        seqs: tuple[int, ...] = (1, 2)

        # ClassVar is imported at module level: dataclasses recognise it only there.
        json_extra: ClassVar[dict[str, Any]] = {"count": lambda page: len(page.seqs)}

    expected = {
        "from": {"seq": 2, "kind": "restored"},
        "when": "2026-03-01T12:00:00+00:00",
        "seqs": [1, 2],
        "count": 2,
    }
    for _ in range(2):  # the second time from the type's cached plan
        assert to_json(Page(Side(2, ChangeKind.RESTORED), object())) == expected
    with pytest.raises(TypeError, match="object is not a read-model record"):
        to_json({"x": object()})
