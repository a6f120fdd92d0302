"""Real revision histories: every Wayback capture of 7 NYT articles collapses to its versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus_data import fold, nyt_captures, nyt_slugs, nyt_version_index, write_nyt_jsonl

from archive.db import Archive
from archive.diff import word_ops
from archive.importer import import_jsonl, parse_timestamp
from archive.lookups import require_article
from archive.queries import versions_of
from mediawatch.cli import cli


def expected_versions(corpus: Path, slug: str) -> list[tuple[int, int]]:
    """(first capture index, last capture index) of each distinct consecutive state."""
    spans: list[tuple[int, int]] = []
    previous = None
    for capture in nyt_captures(corpus, slug):
        state = capture.folded_state()
        if state != previous:
            spans.append((capture.index, capture.index))
        else:
            spans[-1] = (spans[-1][0], capture.index)
        previous = state
    return spans


@pytest.fixture
def nyt_jsonl(corpus: Path, tmp_path: Path) -> Path:
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path)
    return path


@pytest.mark.slow  # imports all 704 NYT captures
def test_import_collapses_captures_into_real_versions(
    archive: Archive, corpus: Path, nyt_jsonl: Path
) -> None:
    summary = import_jsonl(archive, nyt_jsonl)
    assert summary.records == 704 and not summary.rejected
    assert summary.new_articles == 7
    index = nyt_version_index(corpus)
    total = 0
    for slug in nyt_slugs(corpus):
        captures = nyt_captures(corpus, slug)
        spans = expected_versions(corpus, slug)
        # Every text change the corpus marks (after normalisation) starts a version.
        text_changes = {
            int(row["index"])
            for row in index[slug]
            if row["changed_vs_previous"] == "1"
            and (
                int(row["index"]) == 0
                or fold(captures[int(row["index"])].text) != fold(captures[int(row["index"]) - 1].text)
            )
        }
        starts = {first for first, _ in spans}
        assert text_changes <= starts, slug
        with archive.reading() as session:
            article = require_article(session, captures[0].url)
            stored = versions_of(session, article.id)
        assert [v.seq for v in stored] == list(range(1, len(spans) + 1)), slug
        for version, (first, last) in zip(stored, spans, strict=True):
            assert version.first_seen == parse_timestamp(captures[first].fetched_at)
            assert version.last_seen == parse_timestamp(captures[last].fetched_at)
            assert fold(version.text) == fold(captures[first].text)
        total += len(spans)
    assert summary.new_versions == total
    # The corpus' own count of distinct texts, less the whitespace-only "changes" it counts.
    assert total >= 21


@pytest.mark.slow
def test_reimport_is_idempotent(archive: Archive, nyt_jsonl: Path) -> None:
    first = import_jsonl(archive, nyt_jsonl)
    again = import_jsonl(archive, nyt_jsonl)
    assert first.new_versions > 0
    assert again.new_versions == 0 and again.new_articles == 0


@pytest.mark.slow
def test_diff_of_known_versions_shows_the_real_edit(archive: Archive, corpus: Path, nyt_jsonl: Path) -> None:
    import_jsonl(archive, nyt_jsonl)
    slug = "mubarak-is-on"
    captures = nyt_captures(corpus, slug)
    with archive.reading() as session:
        stored = versions_of(session, require_article(session, captures[0].url).id)
    old, new = stored[0], stored[1]
    ops = word_ops(old.text, new.text)
    inserted = " ".join(op.text for op in ops if op.kind == "insert")
    deleted = " ".join(op.text for op in ops if op.kind == "delete")
    assert inserted or deleted
    # Sentences only in the new version appear among the insertions, never as unchanged text.
    old_sentences = {s.strip() for s in old.text.replace("\n", " ").split(". ")}
    new_only = [
        s.strip()
        for s in new.text.replace("\n", " ").split(". ")
        if s.strip() not in old_sentences and len(s.split()) >= 4  # not "Mr." fragments
    ]
    assert new_only
    for sentence in new_only:
        words = sentence.split()
        assert any(w in inserted.split() for w in words), sentence
    # Reassembling the equal and inserted parts gives back the new text (same words).
    rebuilt = " ".join(op.text for op in ops if op.kind != "delete").split()
    assert rebuilt == new.text.split()


@pytest.mark.slow
def test_cli_import_versions_and_diff(db_url: str, corpus: Path, nyt_jsonl: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(nyt_jsonl), "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["records"] == 704 and summary["new_articles"] == 7
    url = nyt_captures(corpus, "mubarak-is-on")[0].url
    result = runner.invoke(cli, ["versions", url + "?utm_source=x", "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["seq"] for r in rows] == list(range(1, len(expected_versions(corpus, "mubarak-is-on")) + 1))
    assert rows[1]["words_added"] > 0
    result = runner.invoke(cli, ["diff", url, "1", "2", "--db", db_url, "--format", "json"])
    assert result.exit_code == 0, result.output
    ops = json.loads(result.output)["ops"]
    assert any(op["op"] == "insert" for op in ops)
    result = runner.invoke(cli, ["diff", url, "--db", db_url])
    assert result.exit_code == 0 and "{+" in result.output
    result = runner.invoke(cli, ["show", url, "--at", "2012-06-20T12:00:00Z", "--db", db_url])
    assert result.exit_code == 0 and "Mubarak" in result.output
    result = runner.invoke(cli, ["show", url, "--at", "2001-01-01", "--db", db_url])
    assert result.exit_code == 4 and "not yet archived" in result.output
