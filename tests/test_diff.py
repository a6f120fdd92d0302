"""The diff engine on real revision histories (NYT) and real before/after pages (EDGI)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus_data import nyt_captures
from views_site import import_nyt

from archive.db import Archive
from archive.diff import (
    ChangeLabel,
    RowKind,
    TextVersion,
    align,
    compare,
    find_notices,
    word_counts,
    word_ops,
)
from archive.extract import extract
from archive.lookups import require_article
from archive.queries import versions_of
from mediawatch.cli import cli

EDGI = "edgi-web-monitoring-diff-fixtures/web_monitoring_diff"
MUBARAK = "mubarak-is-on"
ACTIVISM = "activism-grows-as"


def distinct_states(corpus: Path, slug: str) -> list[TextVersion]:
    """Consecutive distinct texts of one NYT article, as the corpus gives them."""
    states: list[TextVersion] = []
    for capture in nyt_captures(corpus, slug):
        if not states or " ".join(states[-1].text.split()) != " ".join(capture.text.split()):
            states.append(TextVersion(capture.text, capture.title, "; ".join(capture.authors) or None))
    return states


def inserted(ops: list) -> str:  # type: ignore[type-arg]
    return " ".join(op.text for op in ops if op.kind == "insert")


def changed_kinds(ops: list) -> set[str]:  # type: ignore[type-arg]
    return {op.kind for op in ops if op.kind != "equal"}


def test_stored_nyt_history_known_insertion_is_the_only_change(
    archive: Archive, corpus: Path, tmp_path: Path
) -> None:
    """Imported through the store: the credit line added to the Mubarak story is all that changed."""
    import_nyt(archive, corpus, tmp_path, [MUBARAK])
    with archive.reading() as session:
        article = require_article(session, nyt_captures(corpus, MUBARAK)[0].url)
        stored = versions_of(session, article.id)
    assert len(stored) == 4
    comparison = compare(stored[1], stored[2])
    assert (
        inserted(comparison.inline) == "Mayy El Sheikh, Dina Salah Amer and Liam Stack contributed reporting."
    )
    assert changed_kinds(comparison.inline) == {"insert"}
    assert [r.kind for r in comparison.rows if r.kind is not RowKind.EQUAL] == [RowKind.ADDED]
    s = comparison.summary
    assert (s.words_added, s.words_removed, s.paragraphs_added, s.paragraphs_changed) == (11, 0, 1, 0)
    assert not s.metadata_changed


def test_nyt_inserted_paragraphs_appear_as_insertions_and_nothing_else(corpus: Path) -> None:
    states = distinct_states(corpus, ACTIVISM)
    old, new = states[1], states[2]
    comparison = compare(old, new)
    added_rows = [r for r in comparison.rows if r.kind is not RowKind.EQUAL]
    assert added_rows and all(r.kind is RowKind.ADDED for r in added_rows)
    assert changed_kinds(comparison.inline) == {"insert"}
    # Exactly the new paragraphs, in order, starting with the known sentence.
    new_paragraphs = [p for p in new.text.split("\n") if p.strip()]
    old_set = {" ".join(p.split()) for p in old.text.split("\n")}
    expected = [" ".join(p.split()) for p in new_paragraphs if " ".join(p.split()) not in old_set]
    assert [r.ops[0].text for r in added_rows] == expected
    assert expected[0].startswith("Gay-rights advocates are embracing a bolder approach")
    # The word-level engine agrees (existing behaviour kept).
    assert word_counts(old.text, new.text)[1] == 0
    assert comparison.summary.label is ChangeLabel.SUBSTANTIVE


def test_nyt_rewritten_paragraph_lines_up_with_its_old_self(corpus: Path) -> None:
    states = distinct_states(corpus, ACTIVISM)
    comparison = compare(states[0], states[1])
    changed = [r for r in comparison.rows if r.kind is not RowKind.EQUAL]
    assert [r.kind for r in changed] == [RowKind.CHANGED, RowKind.CHANGED]
    assert all(r.old_index == r.new_index for r in changed)
    assert [(op.kind, op.text) for op in changed[0].ops if op.kind != "equal"] == [
        ("delete", "rule,"),
        ("insert", "dominance,"),
    ]
    assert comparison.summary.label is ChangeLabel.MINOR


def test_every_nyt_pair_reconstructs_both_versions(corpus: Path) -> None:
    """Inline ops are a faithful edit script: old = equal+delete, new = equal+insert, per paragraph."""
    for slug in (MUBARAK, ACTIVISM, "rodney-king-whose", "road-trip-helps"):
        states = distinct_states(corpus, slug)
        for old, new in zip(states, states[1:], strict=False):
            rows = align(old.text, new.text)
            old_paras = [" ".join(p.split()) for p in old.text.split("\n") if p.strip()]
            new_paras = [" ".join(p.split()) for p in new.text.split("\n") if p.strip()]
            rebuilt_new = [" ".join(o.text for o in r.new_ops) for r in rows if r.new_index is not None]
            assert rebuilt_new == new_paras, slug
            rebuilt_old = {
                r.old_index: " ".join(o.text for o in r.old_ops) for r in rows if r.old_index is not None
            }
            assert [rebuilt_old[i] for i in sorted(rebuilt_old)] == old_paras, slug


def test_moved_paragraph_is_aligned_with_its_old_self() -> None:
    alpha = "Alpha paragraph stays here and says nothing new."
    moving = "The moving paragraph has enough words to be recognised"
    a = f"{alpha}\n{moving}.\nOmega closes."
    b = f"{moving} again.\n{alpha}\nOmega closes."
    rows = align(a, b)
    moved = [r for r in rows if r.kind is RowKind.MOVED]
    assert len(moved) == 1 and moved[0].old_index == 1 and moved[0].new_index == 0
    assert [(o.kind, o.text) for o in moved[0].ops if o.kind != "equal"] == [
        ("delete", "recognised."),
        ("insert", "recognised again."),
    ]
    assert not [r for r in rows if r.kind in (RowKind.ADDED, RowKind.REMOVED)]


def _edgi_text(corpus: Path, name: str) -> TextVersion:
    raw = (corpus / EDGI / "tests" / "fixtures" / "versions" / f"{name}.html").read_bytes()
    e = extract(raw, content_type="text/html")
    return TextVersion(e.text, e.title, e.byline, e.published, e.modified)


def test_edgi_energy_gov_story_swap(corpus: Path) -> None:
    """energy.gov homepage: two news items added at the top, two dropped at the bottom, nothing else."""
    old = _edgi_text(corpus, "9d4de183-a186-456c-bffb-55d82989877d")
    new = _edgi_text(corpus, "775a8b04-9bac-4d0d-8db0-a8e133c4a964")
    comparison = compare(old, new)
    changed = [r for r in comparison.rows if r.kind is not RowKind.EQUAL]
    assert {r.kind for r in changed} == {RowKind.ADDED, RowKind.REMOVED}
    added = " ".join(r.ops[0].text for r in changed if r.kind is RowKind.ADDED)
    removed = " ".join(r.ops[0].text for r in changed if r.kind is RowKind.REMOVED)
    assert (
        "Secretary Perry Announces Conditional Commitment to Support Continued Construction of Vogtle"
        in added
    )
    assert "Energy Department Invests Up to $50 Million to Improve the Resilience" in removed
    # Paragraphs present in both pages are untouched.
    for r in comparison.rows:
        if r.kind is RowKind.EQUAL:
            assert changed_kinds(list(r.ops)) == set()


def test_edgi_fema_mojibake_is_flagged_and_cosmetic_but_real_edits_stay(corpus: Path) -> None:
    """FEMA page: the after capture is UTF-8 read as Latin-1; real figures also changed."""
    old = _edgi_text(corpus, "f2d5d701-707a-42e0-8881-653346d01e0a")
    new = _edgi_text(corpus, "fc74d750-c651-46b7-bf74-434ad8c62e04")
    comparison = compare(old, new)
    s = comparison.summary
    assert s.encoding_suspect
    assert s.cosmetic_tokens >= 30  # Mayagüez -> MayagÃ¼ez, curly quotes -> â…, "Â" from no-break spaces
    mayaguez = [r for r in comparison.rows if any("MayagÃ¼ez" in o.text for o in r.ops if o.kind == "insert")]
    assert mayaguez and all(r.kind is RowKind.CHANGED for r in mayaguez)
    hunks = [(o.kind, o.text) for r in comparison.rows for o in r.ops if o.kind != "equal"]
    assert ("delete", "12,300") in hunks and ("insert", "14,000") in hunks
    assert s.label is ChangeLabel.SUBSTANTIVE


@pytest.mark.parametrize(
    ("name", "expected_delete", "expected_insert"),
    [
        ("change-word-in-paragraph", "bite,", "byte,"),
        ("change-link-text", "Before", "After"),
        ("add-paragraph", None, "Two"),
        ("add-list", None, "Link c"),
        ("remove-list", "Link c", None),
    ],
)
def test_edgi_small_cases(
    corpus: Path, name: str, expected_delete: str | None, expected_insert: str | None
) -> None:
    def text_of(suffix: str) -> str:
        raw = (corpus / EDGI / "example_data" / f"{name}.{suffix}").read_text()
        return "\n".join(" ".join(t.split()) for t in re.sub(r"<[^>]+>", "\n", raw).split("\n") if t.strip())

    comparison = compare(TextVersion(text_of("before")), TextVersion(text_of("after")))
    deletes = [o.text for o in comparison.inline if o.kind == "delete"]
    inserts = [o.text for o in comparison.inline if o.kind == "insert"]
    assert deletes == ([expected_delete] if expected_delete else [])
    assert inserts == ([expected_insert] if expected_insert else [])


def test_labels_cosmetic_minor_substantive() -> None:
    base = "The minister said on Tuesday that the talks would resume. " * 10
    typographic = base.replace("said", "said,").replace("talks", "“talks”")
    assert compare(TextVersion(base), TextVersion(typographic)).summary.label is ChangeLabel.COSMETIC
    assert compare(TextVersion(base), TextVersion(base.replace("Tuesday", "Monday", 1))).summary.label is (
        ChangeLabel.MINOR
    )
    rewritten = base + "\nThe talks collapsed after the delegation walked out, officials said later."
    assert compare(TextVersion(base), TextVersion(rewritten)).summary.label is ChangeLabel.SUBSTANTIVE
    assert compare(TextVersion(base), TextVersion(base)).summary.label is ChangeLabel.NONE


def test_correction_and_update_notices_are_flagged() -> None:
    old = "Officials said 12 people died in the attack."
    new = (
        "Officials said 21 people died in the attack.\n"
        "Correction: An earlier version of this article misstated the number of dead."
    )
    s = compare(TextVersion(old), TextVersion(new)).summary
    assert [n.kind for n in s.notices] == ["correction"]
    assert s.label is ChangeLabel.SUBSTANTIVE
    assert [
        n.kind for n in find_notices(["This article has been updated with a statement from the ministry."])
    ] == ["update"]
    # An old notice that is still there is not reported again.
    again = compare(TextVersion(new), TextVersion(new + "\nMore detail.")).summary
    assert not again.notices


def test_metadata_changes_are_separate_from_body() -> None:
    old = TextVersion(
        "Same body.", title="Talks resume in Doha", byline="A. Reporter", published="2026-03-01"
    )
    new = TextVersion(
        "Same body.", title="Talks collapse in Doha", byline="A. Reporter", published="2026-03-02"
    )
    comparison = compare(old, new)
    assert [m.field for m in comparison.metadata] == ["title", "published"]
    title = comparison.metadata[0]
    assert [(o.kind, o.text) for o in title.ops if o.kind != "equal"] == [
        ("delete", "resume"),
        ("insert", "collapse"),
    ]
    assert comparison.summary.words_added == 0 and comparison.summary.label is ChangeLabel.SUBSTANTIVE


def test_word_ops_behaviour_is_kept() -> None:
    ops = word_ops("one two three\nfour", "one 2 three\nfour five")
    assert [(o.kind, o.text) for o in ops] == [
        ("equal", "one"),
        ("delete", "two"),
        ("insert", "2"),
        ("equal", "three\nfour"),
        ("insert", "five"),
    ]


@pytest.fixture
def nyt_db(tmp_path: Path, corpus: Path) -> str:
    url = f"sqlite:///{tmp_path / 'nyt.db'}"
    with Archive(url) as archive:
        import_nyt(archive, corpus, tmp_path, [MUBARAK])
    return url


def test_cli_side_by_side_marks_changes_without_a_tty(nyt_db: str, corpus: Path) -> None:
    url = nyt_captures(corpus, MUBARAK)[0].url
    result = CliRunner().invoke(
        cli,
        ["diff", url, "2", "3", "--format", "side-by-side", "--changed-only", "--db", nyt_db],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "{+Mayy El Sheikh, Dina Salah Amer and Liam Stack contributed reporting.+}" in " ".join(
        result.output.replace("│", " ").split()
    )
    assert "substantive change: +11/-0 words" in result.output
    assert "\x1b[" not in result.output  # no colour codes when not a terminal


def test_cli_html_is_a_self_contained_escaped_page(nyt_db: str, corpus: Path) -> None:
    url = nyt_captures(corpus, MUBARAK)[0].url
    result = CliRunner().invoke(cli, ["diff", url, "2", "3", "--format", "html", "--db", nyt_db])
    assert result.exit_code == 0, result.output
    page = result.output
    assert page.startswith("<!doctype html>") and "<style>" in page and 'href="/static' not in page
    assert "<ins>Mayy El Sheikh, Dina Salah Amer and Liam Stack contributed reporting.</ins>" in page
    assert "<script" not in page and "default-src 'none'" in page


def test_cli_json_carries_summary_and_rows(nyt_db: str, corpus: Path) -> None:
    url = nyt_captures(corpus, MUBARAK)[0].url
    result = CliRunner().invoke(cli, ["diff", url, "2", "3", "--format", "json", "--db", nyt_db])
    data = json.loads(result.output)
    assert data["summary"]["paragraphs_added"] == 1 and data["summary"]["label"] == "substantive"
    assert [r["kind"] for r in data["rows"]].count("added") == 1


ADDED_CREDIT = "Mayy El Sheikh, Dina Salah Amer and Liam Stack contributed reporting."


def _diff(nyt_db: str, url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["diff", url, *args, "--db", nyt_db], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_changed_only_leaves_out_unchanged_paragraphs_in_every_format(nyt_db: str, corpus: Path) -> None:
    """Versions 2 -> 3 add one paragraph: --changed-only prints it and marks the rest as skipped."""
    url = nyt_captures(corpus, MUBARAK)[0].url
    full = _diff(nyt_db, url, "2", "3")
    words = _diff(nyt_db, url, "2", "3", "--changed-only")
    assert ADDED_CREDIT in full and f"{{+{ADDED_CREDIT}+}}" in words
    assert len(words) < len(full) / 3
    assert re.search(r"… \d+ unchanged paragraphs …", words)
    assert words.splitlines()[0] == "version 2 -> version 3"

    unified_full = _diff(nyt_db, url, "2", "3", "--format", "unified")
    unified_changed = _diff(nyt_db, url, "2", "3", "--format", "unified", "--changed-only")
    assert f"+{ADDED_CREDIT}" in unified_changed
    # No context lines: every body line is the change itself (the hunk header marks the gap).
    body = [line for line in unified_changed.splitlines() if not line.startswith(("---", "+++", "@@"))]
    assert body and all(line.startswith(("+", "-")) for line in body)
    assert any(line.startswith(" ") for line in unified_full.splitlines())

    sbs = _diff(nyt_db, url, "2", "3", "--format", "side-by-side", "--changed-only")
    assert "unchanged paragraphs …" in sbs

    page = _diff(nyt_db, url, "2", "3", "--format", "html", "--changed-only")
    assert page.count('<tr class="row-') == 1 and '<tr class="row-added">' in page
    assert "unchanged paragraphs …" in page and f"<ins>{ADDED_CREDIT}</ins>" in page

    data = json.loads(_diff(nyt_db, url, "2", "3", "--format", "json", "--changed-only"))
    assert [r["kind"] for r in data["rows"]] == ["added"] and data["changed_only"] is True
    assert all(op["op"] != "equal" for op in data["ops"])
    assert [op["text"].strip() for op in data["ops"]] == [ADDED_CREDIT]
    assert data["from"]["seq"] == 2 and data["to"]["seq"] == 3


@pytest.mark.parametrize("fmt", ["words", "unified", "side-by-side", "html"])
def test_the_same_version_twice_says_no_differences(nyt_db: str, corpus: Path, fmt: str) -> None:
    url = nyt_captures(corpus, MUBARAK)[0].url
    assert _diff(nyt_db, url, "1", "1", "--format", fmt) == "no differences between version 1 and version 1\n"


def test_the_same_version_twice_as_json_has_an_empty_change_list(nyt_db: str, corpus: Path) -> None:
    url = nyt_captures(corpus, MUBARAK)[0].url
    data = json.loads(_diff(nyt_db, url, "2", "2", "--format", "json"))
    assert data["identical"] is True and data["rows"] == [] and data["ops"] == []
    assert data["summary"]["label"] == "none"
    changed = json.loads(_diff(nyt_db, url, "2", "3", "--format", "json"))
    changed_rows = [r for r in changed["rows"] if r["kind"] != "equal"]
    assert changed["identical"] is False and len(changed["rows"]) > len(changed_rows) == 1
