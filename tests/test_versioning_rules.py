"""docs/versions.md: flip-flops, confirmed suspects and removals, lossy decoding,
per-source furniture, and re-derivation, on a real page and both backends."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus_data import EvalPage, eval_pages, shift_jis_news_flashes
from pydantic import ValidationError
from sqlalchemy import select, update

from archive.db import Archive
from archive.extract import Extracted, extract
from archive.models import Article, ArticleStatus, ChangeKind, Fetch, FetchOutcome, Version
from archive.normalize import comparable_text, normalize_text
from archive.policy import SourcePolicy
from archive.rederive import rederive
from archive.store import Capture, record
from archive.volatile import (
    DEFAULT_INLINE_PATTERNS,
    DEFAULT_LINE_PATTERNS,
    MAX_FURNITURE_LINE,
    _compiled,
    confirmed_key_text,
    key_text,
    lossy_matches,
)
from mediawatch.cli import cli

GUARDIAN = "theguardian.com.academics.html.gz"
URL = "https://www.theguardian.com/education/2020/jan/20/thousands-of-uk-academics-treated-as-second-class-citizens"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
HTML_UTF8 = "text/html; charset=utf-8"
TITLE_A = b"second-class citizens'"
CONSENT_WALL = b"""<html><head><title>Before you continue</title></head><body><main>
<h1>We value your privacy</h1><p>We use cookies and similar technologies to deliver our
services. Accept all cookies or manage your consent in the cookie settings.</p>
<button>Accept all cookies</button></main></body></html>"""
NOT_FOUND = b"""<html><head><title>Page not found | The Guardian</title></head>
<body><main>
<h1>Sorry - the page you have requested does not exist</h1><p>Page not found. You may have followed
an outdated link or have mistyped a URL. Go to the home page to find the latest news.</p></main>
</body></html>"""


@pytest.fixture(scope="module")
def guardian(corpus: Path) -> bytes:
    page: EvalPage = next(p for p in eval_pages(corpus) if p.path.name == GUARDIAN)
    return page.raw()


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def versions(archive: Archive) -> list[Version]:
    with archive.reading() as s:
        return list(s.scalars(select(Version).order_by(Version.seq)))


def retitled(raw: bytes) -> bytes:
    return raw.replace(TITLE_A, b"second-class staff'").replace(
        b"second-class citizens&#x27;", b"second-class staff&#x27;"
    )


# ---------------------------------------------------------------------------------------------
# D2 flip-flops


def test_ab_headline_flip_flop_is_not_a_chain_of_versions(archive: Archive, guardian: bytes) -> None:
    a, b = guardian, retitled(guardian)
    results = [record(archive.sessions, Capture(URL, at(i), raw=a if i % 2 == 0 else b)) for i in range(20)]
    kept = versions(archive)
    print(f"\n[D2 {archive.engine.dialect.name}] 20 alternating fetches -> {len(kept)} versions")
    assert len(kept) == 3, [(v.seq, v.title, v.flags) for v in kept]
    v1, v2, v3 = kept
    assert v3.flags == ["revert-to:1", "flip-flop"] and "flip-flop" in v2.flags
    assert v3.title == v1.title != v2.title
    assert [r.outcome for r in results[3:]] == [FetchOutcome.UNCHANGED] * 17
    assert all("flip-flop" in r.flags for r in results[3:])
    # The fetch log says which version the page showed; the last fetch (B) points at v2.
    assert results[-1].version_seq == 2
    with archive.reading() as s:
        assert s.scalar(select(Article.current_seq)) == 2
    # A genuinely new state ends the flip-flop.
    edited = a.replace(b"pool of low-paid staff", b"pool of poorly paid staff")
    result = record(archive.sessions, Capture(URL, at(30), raw=edited))
    assert result.outcome == FetchOutcome.NEW_VERSION and result.version_seq == 4
    with archive.reading() as s:
        assert s.scalar(select(Article.current_seq)) is None


def test_single_revert_is_a_flagged_version(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian))
    record(archive.sessions, Capture(URL, at(1), raw=retitled(guardian)))
    result = record(archive.sessions, Capture(URL, at(2), raw=guardian))
    assert result.outcome == FetchOutcome.NEW_VERSION and result.flags == ("revert-to:1",)
    assert record(archive.sessions, Capture(URL, at(3), raw=guardian)).outcome == FetchOutcome.UNCHANGED


# ---------------------------------------------------------------------------------------------
# D3 suspect states confirmed on the next check


def test_wall_confirmed_on_next_check_becomes_a_labelled_version(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian))
    first = record(archive.sessions, Capture(URL, at(1), raw=CONSENT_WALL))
    assert first.outcome == FetchOutcome.SUSPECT and len(versions(archive)) == 1
    with archive.reading() as s:
        article = s.scalars(select(Article)).one()
        assert article.pending_label == "wall" and article.next_check == at(2)
    second = record(archive.sessions, Capture(URL, at(2), raw=CONSENT_WALL))
    assert second.outcome == FetchOutcome.NEW_VERSION and "wall" in second.flags
    assert record(archive.sessions, Capture(URL, at(3), raw=CONSENT_WALL)).outcome == FetchOutcome.UNCHANGED
    # The article comes back: a return to version 1.
    back = record(archive.sessions, Capture(URL, at(4), raw=guardian))
    assert back.outcome == FetchOutcome.NEW_VERSION and back.flags == ("revert-to:1",)


def test_wall_interrupted_by_a_healthy_fetch_is_not_confirmed(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian))
    for hour in range(1, 10):
        raw = CONSENT_WALL if hour % 2 else guardian
        assert record(archive.sessions, Capture(URL, at(hour), raw=raw)).outcome != FetchOutcome.NEW_VERSION
    assert len(versions(archive)) == 1


def test_collapse_confirmed_is_labelled_shrunk(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian))
    head, _, _ = guardian.partition(b"claims institutions have created")
    stub = head + b"</p></div></body></html>"
    assert record(archive.sessions, Capture(URL, at(1), raw=stub)).outcome == FetchOutcome.SUSPECT
    result = record(archive.sessions, Capture(URL, at(2), raw=stub))
    assert result.outcome == FetchOutcome.NEW_VERSION and result.flags == ("shrunk",)


def test_confirmed_collapse_back_to_the_latest_version_is_a_flip_flop_not_a_copy(
    archive: Archive, guardian: bytes
) -> None:
    # Found by the kill soak (bench/kill_soak.py) on a real revision history: the page flip-flops
    # back to a long version while the latest version is a short one; when the short state
    # returns and is confirmed as a collapse, it is the latest version again, not a copy of it.
    head, _, _ = guardian.partition(b"claims institutions have created")
    short = head + b"</p></div></body></html>"
    other_short = retitled(short)
    for hour, raw in enumerate([guardian, short, short, other_short, short, guardian, short, short]):
        record(archive.sessions, Capture(URL, at(hour), raw=raw))
    kept = versions(archive)
    states = [(v.text_sha256, v.title) for v in kept]
    assert all(a != b for a, b in zip(states, states[1:], strict=False)), [(v.seq, v.flags) for v in kept]
    assert len(kept) == 4  # the page, its collapse, the other title, the revert to the collapse
    with archive.reading() as s:
        assert s.scalar(select(Article.current_seq)) is None  # it shows the latest version


# ---------------------------------------------------------------------------------------------
# D4 removals


SEQUENCES = [
    # (checks, expected change kinds) — "ok" is the page, "ok2" the page after an edit
    (["ok", 404, "ok"], ["first"]),
    (["ok", 404, 404], ["first", "removed"]),
    (["ok", 410, 503, 410], ["first", "removed"]),
    (["ok", 404, "ok", 404], ["first"]),
    (["ok", 503, 502, None, 500], ["first"]),
    (["ok", None, None, None], ["first"]),
    (["ok", "soft", "soft"], ["first", "removed"]),
    (["ok", "home", "home"], ["first", "removed"]),
    (["ok", "soft", "ok"], ["first"]),
    (["ok", 404, 404, "ok"], ["first", "removed", "restored"]),
    (["ok", 404, 404, 404, 404], ["first", "removed"]),
    (["ok", 404, 304, 404], ["first"]),
    (["ok", "ok2", 404, 404], ["first", "text", "removed"]),
    (["ok", 404, "home"], ["first", "removed"]),
    (["ok", 429, 404, 503, 404], ["first", "removed"]),
    (["ok", 404, 404, "ok", 404, "ok"], ["first", "removed", "restored"]),
    (["ok", "soft", 404], ["first", "removed"]),
    (["ok", 500, "ok2"], ["first", "text"]),
    ([404, 404, "ok"], ["first"]),
    (["ok", 404, 404, 503, "ok2"], ["first", "removed", "restored"]),
]


@pytest.mark.parametrize("checks,expected", SEQUENCES, ids=[str(i) for i in range(len(SEQUENCES))])
def test_removal_needs_two_consecutive_checks(
    archive: Archive, guardian: bytes, checks: list[object], expected: list[str]
) -> None:
    edited = guardian.replace(b"pool of low-paid staff", b"pool of poorly paid staff")
    for hour, check in enumerate(checks):
        if check == "ok":
            capture = Capture(URL, at(hour), raw=guardian)
        elif check == "ok2":
            capture = Capture(URL, at(hour), raw=edited)
        elif check == "soft":
            capture = Capture(URL, at(hour), raw=NOT_FOUND)
        elif check == "home":
            capture = Capture(URL, at(hour), raw=guardian, final_url="https://www.theguardian.com/")
        elif check is None:
            capture = Capture(URL, at(hour), status=None, error="timeout")
        else:
            capture = Capture(URL, at(hour), status=int(check))  # type: ignore[call-overload]
        record(archive.sessions, capture)
    kinds = [v.change_kind.value for v in versions(archive)]
    assert kinds == expected, checks
    with archive.reading() as s:
        status = s.scalar(select(Article.status))
    if kinds:
        assert (status == ArticleStatus.REMOVED) == (kinds[-1] == "removed")


def test_two_404s_moments_apart_do_not_confirm(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian))
    record(archive.sessions, Capture(URL, at(1), status=404))
    record(archive.sessions, Capture(URL, at(1) + timedelta(minutes=5), status=404))
    assert [v.change_kind for v in versions(archive)] == [ChangeKind.FIRST]
    record(archive.sessions, Capture(URL, at(2), status=404))
    assert [v.change_kind for v in versions(archive)] == [ChangeKind.FIRST, ChangeKind.REMOVED]


def test_soft_404_removal_is_flagged(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian))
    record(archive.sessions, Capture(URL, at(1), raw=NOT_FOUND))
    result = record(archive.sessions, Capture(URL, at(2), raw=NOT_FOUND))
    assert result.change_kind == ChangeKind.REMOVED and result.flags == ("soft-404",)


# ---------------------------------------------------------------------------------------------
# D1 details: lossy decoding, per-source furniture, confirmation


def test_lossy_decoding_is_never_an_edit(archive: Archive, guardian: bytes) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian))
    # A broken byte inside a word of the body (as a truncated multi-byte sequence would leave).
    damaged = guardian.replace(b"pool of low-paid staff", b"pool of low-p\xffid staff")
    result = record(archive.sessions, Capture(URL, at(1), raw=damaged))
    assert result.outcome == FetchOutcome.UNCHANGED and "decod" in (result.message or "")
    # Lossy *and* different: suspect, never a version.
    damaged_edit = damaged.replace(
        b"second-class citizens on precarious", b"second-class staff on precarious"
    )
    assert record(archive.sessions, Capture(URL, at(2), raw=damaged_edit)).outcome == FetchOutcome.SUSPECT
    assert len(versions(archive)) == 1
    assert lossy_matches("low-p\ufffdid staff", "low-paid staff")
    assert not lossy_matches("low-p\ufffdid staff", "well-paid staff")


def test_shift_jis_labelled_utf8_is_archived_as_its_words(archive: Archive, corpus: Path) -> None:
    # Short real Japanese items served as Shift_JIS under a UTF-8 label: the first version holds
    # the Japanese text (or is flagged lossy-decoding), and the same page served correctly later
    # is not an edit.
    for page in shift_jis_news_flashes(corpus, with_lang=False):
        result = record(
            archive.sessions, Capture(page.url, at(0), raw=page.shift_jis, content_type=HTML_UTF8)
        )
        assert result.outcome == FetchOutcome.NEW_VERSION, (page.url, result.message)
        right = extract(page.utf8, content_type=HTML_UTF8).text
        with archive.reading() as session:
            stored = session.scalars(
                select(Version).where(Version.article_id == result.article_id, Version.seq == 1)
            ).one()
        assert stored.text == right or "lossy-decoding" in stored.flags, (page.url, stored.text[:80])
        fixed = record(archive.sessions, Capture(page.url, at(1), raw=page.utf8, content_type=HTML_UTF8))
        assert fixed.outcome == FetchOutcome.UNCHANGED, (page.url, fixed.message)


def test_source_ignore_patterns_mask_site_furniture(archive: Archive, guardian: bytes) -> None:
    policy = SourcePolicy(ignore_lines=[r"Weather in London: .*"])
    anchor = b"claims institutions have created"

    def with_weather(temp: int) -> bytes:
        return guardian.replace(anchor, f"Weather in London: {temp} degrees and sunny. ".encode() + anchor, 1)

    record(archive.sessions, Capture(URL, at(0), raw=with_weather(11), **policy.capture_options()))
    same = record(archive.sessions, Capture(URL, at(1), raw=with_weather(14), **policy.capture_options()))
    assert same.outcome == FetchOutcome.UNCHANGED
    # Without the source's pattern the changed line is an edit.
    assert (
        record(archive.sessions, Capture(URL, at(2), raw=with_weather(17))).outcome
        == FetchOutcome.NEW_VERSION
    )
    with pytest.raises(ValidationError):
        SourcePolicy(ignore_lines=["(unclosed"])
    with pytest.raises(ValidationError):
        SourcePolicy(trust_cross_domain_canonical=True, unknown=1)  # type: ignore[call-arg]


def test_default_patterns_and_confirmation_mask_volatile_text() -> None:
    text = (
        "The council voted on Tuesday to close the library.\nUpdated 12 minutes ago\n"
        "Also read: Storm warning issued for the coast\n"
        "Sign up to our daily newsletter for the top stories.\nThe decision was criticised. 1,234 comments"
    )
    assert key_text(text) == "The council voted on Tuesday to close the library. The decision was criticised."
    first = "Intro paragraph of the story.\nPick of the day 8812: Markets rally\nClosing line of the story."
    second = (
        "Intro paragraph of the story.\nPick of the day 1290: Court blocks merger\nClosing line of the story."
    )
    assert confirmed_key_text(first, second) == "Intro paragraph of the story. Closing line of the story."
    related_a = (
        "Intro paragraph.\nRelated\n- Markets rally\n- Storm warning\n- Court blocks merger\nLast paragraph."
    )
    related_b = (
        "Intro paragraph.\nRelated\n- Inflation eases\n- Storm warning\n- Museum returns\nLast paragraph."
    )
    assert confirmed_key_text(related_a, related_b) == "Intro paragraph. Related Last paragraph."
    edited = first.replace("Closing", "Final")
    assert "Final line" in confirmed_key_text(edited, second.replace("Closing", "Final"))


def test_the_version_key_of_a_text_is_what_it_was_before(corpus: Path) -> None:
    """The key text is worked out line by line with shortcuts (the inline patterns looked for
    only where one can start; a line in which nothing was masked left as normalize_text gave
    it; a line still in NFC only has its spaces collapsed). Every archived version is compared
    by its key, so the shortcuts must give exactly what the plain patterns and the full
    normalisation of each line give, or the next check of every unchanged page would be an
    edit: real pages, and lines where a masked fragment leaves a combining mark, a zero-width
    joiner, no-break spaces or other line separators behind."""
    lines_re, _ = _compiled(DEFAULT_LINE_PATTERNS, DEFAULT_INLINE_PATTERNS)
    assert lines_re is not None
    inline_re = re.compile("|".join(f"(?:{p})" for p in DEFAULT_INLINE_PATTERNS), re.IGNORECASE)

    def key_text_before(text: str) -> str:
        kept = []
        for line in normalize_text(text).split("\n"):
            if len(line) <= MAX_FURNITURE_LINE and lines_re.match(line):
                continue
            kept.append(comparable_text(inline_re.sub(" ", line)))
        return " ".join(line for line in kept if line)

    texts = [extract(page.raw()).text for page in list(eval_pages(corpus))[:40]]
    texts += [
        "Caf\u00e9 owners met 5 min read\u0301 the mayor.\nA 1,234 comments\u0308 B",
        "Zero\u200bwidth 3 hours ago\u200d joiner\u00a0and\u00a0no-break\u2028line\x85next",
        "Hangul \u1100 12 shares\u1161 syllable, e\u0301 decomposed, \uff21 full width",
        "\ufeffStarts with a BOM.\r\nCarriage\rreturns  and\ttabs.",
        # Each default inline pattern, at the start of a line and after a word, any case.
        "Updated 5 minutes ago: talks resume\nTalks resume, POSTED: one hour ago, in Doha",
        "12 comments\nthe 3.4K Views of it\nREAD TIME: 4 min, then 7 Mins Read\nlast updated just ago",
    ]
    for text in texts:
        assert key_text(text) == key_text_before(text), text[:80]


def test_confirming_refetch_masks_a_per_request_line(archive: Archive, guardian: bytes) -> None:
    anchor = b"claims institutions have created"

    def served(token: int) -> bytes:
        return guardian.replace(anchor, f"</p><p>Reader pick #{token} for you</p><p>".encode() + anchor, 1)

    record(archive.sessions, Capture(URL, at(0), raw=served(1), confirm=served(2)))
    assert record(archive.sessions, Capture(URL, at(1), raw=served(3), confirm=served(4))).outcome == (
        FetchOutcome.UNCHANGED
    )
    edited = {t: served(t).replace(b"pool of low-paid staff", b"pool of poorly paid staff") for t in (5, 6)}
    result = record(archive.sessions, Capture(URL, at(2), raw=edited[5], confirm=edited[6]))
    assert result.outcome == FetchOutcome.NEW_VERSION and result.change_kind == ChangeKind.TEXT


# ---------------------------------------------------------------------------------------------
# Re-derivation


def old_extractor(raw: bytes, **kwargs: object) -> Extracted:
    extracted = extract(raw, **kwargs)  # type: ignore[arg-type]
    return Extracted(
        text=extracted.text + "\nHome World Business Culture Opinion Sport Weather",
        title=extracted.title,
        byline=extracted.byline,
        published=extracted.published,
        modified=extracted.modified,
        extractor="old-extractor 0.1",
    )


def test_rederive_records_a_rederivation_not_an_edit(archive: Archive, guardian: bytes, db_url: str) -> None:
    record(archive.sessions, Capture(URL, at(0), raw=guardian), extractor=old_extractor)
    summary = rederive(archive.sessions, at=at(5))
    assert (summary.articles, summary.versions_checked, summary.versions_differing, summary.recorded) == (
        1,
        1,
        1,
        1,
    )
    v1, v2 = versions(archive)
    assert v2.change_kind == ChangeKind.REDERIVED and v2.flags[0] == "rederived-from:1"
    assert "Business Culture Opinion" not in v2.text and v2.blob_sha256 == v1.blob_sha256
    with archive.reading() as s:
        assert s.scalar(select(Article.last_changed)) == at(0)  # not an edit
    # Later checks compare with the re-derived text: the same article is unchanged.
    token = guardian.replace(b"</body>", b"<div>token 1</div></body>")
    assert record(archive.sessions, Capture(URL, at(6), raw=token)).outcome == FetchOutcome.UNCHANGED
    # Running it again finds nothing new; the CLI prints the same summary.
    out = CliRunner().invoke(cli, ["rederive", "--json", "--db", db_url])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["recorded"] == 0
    # One article, by the id `articles` shows; an unknown id is exit 4.
    out = CliRunner().invoke(cli, ["rederive", "--url", "1", "--json", "--db", db_url])
    assert out.exit_code == 0, out.output
    assert (json.loads(out.output)["articles"], json.loads(out.output)["versions_checked"]) == (1, 2)
    out = CliRunner().invoke(cli, ["rederive", "--url", "7", "--db", db_url])
    assert out.exit_code == 4 and "no archived article with id 7" in out.output


def test_rederive_refuses_an_archive_that_is_not_there(tmp_path: Path) -> None:
    """Nothing to re-derive: a mistyped --db is one line and exit 3, no empty archive created."""
    missing = tmp_path / "typo.db"
    out = CliRunner().invoke(cli, ["rederive", "--db", str(missing)])
    assert out.exit_code == 3 and f"no archive at {missing}" in out.output
    assert list(tmp_path.iterdir()) == []  # no database, no run lock


MINISUV = "auto-presse.de-minisuv.html.gz"  # declares windows-1252; its dates are guessed from its text


def _eval_page(corpus: Path, name: str) -> bytes:
    return next(page for page in eval_pages(corpus) if page.path.name == name).raw()


def test_rederive_reads_the_bytes_with_the_charset_they_came_with(archive: Archive, corpus: Path) -> None:
    """A server that says UTF-8 for a page declaring windows-1252 (a CMS moved to UTF-8, its
    templates not): the crawl reads it by the HTTP charset, and so must rederive. Read by the
    page's declaration instead, "Fahrzeuge" stays, but every umlaut turns to mojibake: a false
    re-derivation, then a false edit at the next check."""
    page = _eval_page(corpus, MINISUV)
    assert b"windows-1252" in page.lower() or b"iso-8859-1" in page.lower()
    served = page.decode("cp1252").encode("utf-8")
    record(archive.sessions, Capture(URL, at(0), raw=served, content_type=HTML_UTF8))
    [first] = versions(archive)
    assert "ü" in first.text and "Ã¼" not in first.text
    summary = rederive(archive.sessions, at=at(5))
    assert (summary.versions_checked, summary.versions_differing, summary.recorded) == (1, 0, 0)
    # The next check of the same page (one byte more in a script) is no edit either.
    again = served.replace(b"</body>", b"<script>1</script></body>")
    assert record(archive.sessions, Capture(URL, at(6), raw=again, content_type=HTML_UTF8)).outcome == (
        FetchOutcome.UNCHANGED
    )
    assert len(versions(archive)) == 1


def test_a_rederived_version_keeps_the_dates_guessed_flag(archive: Archive, corpus: Path) -> None:
    """A page whose date is guessed from its text: its re-derivation is flagged as such, like any
    version of it, so a second rederive finds the version equal to its page and records nothing
    (without the flag, every rederive appended another version)."""
    page = _eval_page(corpus, MINISUV)
    record(archive.sessions, Capture(URL, at(0), raw=page), extractor=old_extractor)
    assert rederive(archive.sessions, at=at(5)).recorded == 1
    rederived = versions(archive)[-1]
    assert rederived.change_kind == ChangeKind.REDERIVED and rederived.published
    assert "dates-guessed" in rederived.flags
    summary = rederive(archive.sessions, at=at(6))
    assert (summary.versions_differing, summary.recorded) == (1, 0)  # (version 1, by the old extractor)
    assert len(versions(archive)) == 2


def test_rederive_takes_the_charset_from_a_later_fetch_of_the_same_bytes(
    archive: Archive, corpus: Path
) -> None:
    """A page first archived without its Content-Type (as fetches were before it was kept), then
    checked again with it: rederive reads the bytes by the charset that later check recorded."""
    served = _eval_page(corpus, MINISUV).decode("cp1252").encode("utf-8")
    record(archive.sessions, Capture(URL, at(0), raw=served, content_type=HTML_UTF8))
    with archive.transaction() as session:  # the first fetch as an older mediawatch stored it
        session.execute(update(Fetch).values(http_headers=None))
    record(archive.sessions, Capture(URL, at(1), raw=served, content_type=HTML_UTF8))
    summary = rederive(archive.sessions, at=at(5))
    assert (summary.versions_checked, summary.versions_differing, summary.recorded) == (1, 0, 0)
