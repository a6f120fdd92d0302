"""The extraction wrapper against the human gold in trafilatura-evaldata (a quality gate)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_data import eval_pages, shift_jis_news_flashes

import archive.extract
from archive.extract import DATE_LANGUAGES, Extracted, decode_html, extract, normalize_date
from archive.normalize import comparable_text

# Measured on all 990 pages (docs/archivist.md, Extracting one page); the gate sits a little below.
# Every second page keeps the suite fast; bench/extract_gold.py measures all 990.
GOLD_STRIDE = 2
MIN_TITLE_ACCURACY = 0.62
MIN_AUTHOR_ACCURACY = 0.58
MIN_DATE_ACCURACY = 0.80
MIN_SNIPPET_RECALL = 0.92
MAX_BOILERPLATE_LEAK = 0.12


def _same(gold: str, found: str | None) -> bool:
    return comparable_text(gold).casefold() == comparable_text(found or "").casefold()


def _author_match(gold: str, found: str | None) -> bool:
    g, f = comparable_text(gold).casefold(), comparable_text(found or "").casefold()
    return bool(f) and (g in f or f in g)


def metadata_accuracy(corpus: Path) -> dict[str, tuple[int, int]]:
    scores = {
        "title": [0, 0],
        "author": [0, 0],
        "date": [0, 0],
        "with": [0, 0],
        "without": [0, 0],
        "text": [0, 0],
    }
    for index, page in enumerate(eval_pages(corpus)):
        if index % GOLD_STRIDE:
            continue
        found = extract(page.raw(), url=page.url)
        gold = page.gold
        checks = (
            ("title", gold.get("title"), found.title, _same),
            ("author", gold.get("author") or None, found.byline, _author_match),
            ("date", gold.get("date") or None, found.published, lambda g, f: (f or "")[:10] == g),
        )
        for name, value, found_value, matches in checks:
            if not isinstance(value, str):  # absent, or annotated as a list of variants
                continue
            scores[name][1] += 1
            scores[name][0] += bool(matches(value, found_value))
        text = comparable_text(found.text)
        scores["text"][1] += 1  # pages that gave any text at all
        scores["text"][0] += bool(text)
        for snippet in gold.get("with", []):
            scores["with"][1] += 1
            scores["with"][0] += comparable_text(snippet) in text
        for snippet in gold.get("without", []):
            scores["without"][1] += 1
            scores["without"][0] += comparable_text(snippet) in text
    return {k: (v[0], v[1]) for k, v in scores.items()}


@pytest.mark.slow  # extracts half of the 990-page gold corpus
def test_metadata_and_text_meet_the_gold_gate(corpus: Path) -> None:
    scores = metadata_accuracy(corpus)
    rate = {k: hit / total for k, (hit, total) in scores.items()}
    print("extraction accuracy:", {k: f"{hit}/{total} = {rate[k]:.3f}" for k, (hit, total) in scores.items()})
    assert scores["title"][1] > 800 // GOLD_STRIDE and scores["date"][1] > 700 // GOLD_STRIDE
    assert rate["title"] >= MIN_TITLE_ACCURACY
    assert rate["author"] >= MIN_AUTHOR_ACCURACY
    assert rate["date"] >= MIN_DATE_ACCURACY
    assert rate["with"] >= MIN_SNIPPET_RECALL
    assert rate["without"] <= MAX_BOILERPLATE_LEAK


def _every_twelfth_page(corpus: Path, start: int) -> list[tuple[bytes, str | None]]:
    """(bytes, URL) of a twelfth of the gold pages, each read once."""
    pages = [(page.raw(), page.url) for index, page in enumerate(eval_pages(corpus)) if index % 12 == start]
    assert len(pages) > 70
    return pages


def _extractions(pages: list[tuple[bytes, str | None]]) -> list[Extracted]:
    """Each page extracted with its URL and without one."""
    return [extract(raw, url=url) for raw, page_url in pages for url in (page_url, None)]


def test_skipped_metadata_steps_change_no_extraction(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # extract() runs trafilatura's metadata steps itself, without the ones it never reads
    # (categories, tags, licence; the date search when the page declares its date). Every field
    # must be what trafilatura's own metadata extraction gives, on pages with and without
    # declared dates, with and without a URL.
    pages = _every_twelfth_page(corpus, 0)
    shortcut = _extractions(pages)
    monkeypatch.setattr(archive.extract, "_page_metadata", lambda *args, **kwargs: None)
    reference = _extractions(pages)
    assert shortcut == reference
    # The comparison covers both paths of the date: declared, and found by htmldate.
    assert {found.dates_declared for found in reference if found.published} == {True, False}
    assert sum(bool(found.byline) for found in reference) > len(reference) // 3


def test_lxml_element_classes_chosen_by_lxml_change_no_extraction(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # extract() parses with lxml.html's element classes looked up by lxml itself, not by
    # lxml.html's Python lookup method: every node must get the class it got before (the form
    # classes on a page with a form too), and every field must be what it was.
    pages = _every_twelfth_page(corpus, 6)
    with_form = next(
        raw for raw in (page.raw() for page in eval_pages(corpus)) if b"<form" in raw and b"<input" in raw
    ).decode("utf-8", "replace")

    def classes() -> list[str]:
        tree, _ = archive.extract._parse(with_form)
        return [type(node).__name__ for node in tree.iter()]

    shortcut = _extractions(pages)
    shortcut_classes = classes()
    monkeypatch.setattr(archive.extract, "_ELEMENT_CLASSES", None)  # lxml.html's own lookup
    assert classes() == shortcut_classes
    assert {"FormElement", "InputElement", "HtmlElement"} <= set(shortcut_classes)
    reference = _extractions(pages)
    assert shortcut == reference
    assert sum(bool(found.text) for found in reference) > len(reference) * 3 // 4


@pytest.mark.parametrize("shortcut", [True, False], ids=["own-metadata-steps", "trafilatura-metadata"])
def test_a_failing_metadata_step_discards_the_page_as_trafilatura_does(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, shortcut: bool
) -> None:
    # A bug in one of trafilatura's metadata steps (a ValueError) makes trafilatura discard the
    # page; extract() running those steps itself must do the same, not raise.
    from trafilatura import metadata

    page = next(p for p in eval_pages(corpus) if p.path.name == "bbc.com.52241221.html.gz")
    assert extract(page.raw()).text
    if not shortcut:
        monkeypatch.setattr(archive.extract, "_page_metadata", lambda *args, **kwargs: None)

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug in a metadata step")

    monkeypatch.setattr(metadata, "examine_meta", broken)
    found = extract(page.raw(), url=page.url)
    assert (found.text, found.sitename) == ("", None)


@pytest.mark.slow  # extracts every non-UTF-8 corpus page
def test_non_utf8_pages_decode_without_loss(corpus: Path) -> None:
    legacy = []
    for page in eval_pages(corpus):
        raw = page.raw()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            legacy.append(page)
    assert len(legacy) >= 20, "the corpus holds 27 non-UTF-8 pages"
    found_snippets = total = 0
    for page in legacy:
        decoded = decode_html(page.raw())
        assert not decoded.lossy, (page.path.name, decoded.encoding)
        text = comparable_text(extract(page.raw(), url=page.url).text)
        for snippet in page.gold.get("with", []):
            total += 1
            found_snippets += comparable_text(snippet) in text
    assert found_snippets / total >= 0.8, (found_snippets, total)


def test_wrong_http_charset_is_detected_and_lossy_decoding_reported() -> None:
    body = "<html><body><p>caf\u00e9 \u2013 na\u00efve</p></body></html>".encode("cp1252")
    # The header lies (utf-8); the bytes are cp1252: detected, not silently replaced.
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert "caf\u00e9" in decoded.text and not decoded.lossy
    broken = b"<html><body><p>abc \xff\xfe\xfa def</p></body></html>" * 3
    assert decode_html(broken, "text/html; charset=utf-8").lossy or "\ufffd" not in decode_html(broken).text


@pytest.mark.parametrize("with_lang", [True, False], ids=["lang-ja", "no-lang"])
def test_shift_jis_page_labelled_utf8_is_read_as_japanese(corpus: Path, with_lang: bool) -> None:
    # Real Japanese articles as short items on their pages' markup, served as Shift_JIS while
    # the header and <meta> say UTF-8. A detector alone read them as cp775/cp1251/cp949 text.
    pages = shift_jis_news_flashes(corpus, with_lang=with_lang)
    assert len(pages) >= 10
    for page in pages:
        decoded = decode_html(page.shift_jis, "text/html; charset=utf-8")
        assert decoded.text == page.utf8.decode("utf-8"), (page.url, decoded.encoding)
        assert decoded.encoding == "cp932" and not decoded.lossy


def test_mislabelled_japanese_is_never_unflagged_mojibake(corpus: Path) -> None:
    # Every clause of the real articles alone on its page (no lang): some carry too little kana
    # to be sure they are Japanese. Each is read right, or its decoding is reported as lossy
    # (never stored as if it were the page's words).
    right = flagged = 0
    clauses: dict[str, str] = {}
    for page in shift_jis_news_flashes(corpus, with_lang=False):
        before, rest = page.utf8.decode().split("<article>")
        for clause in re.split("[、。]", re.sub("<[^>]+>", "", rest.split("</article>")[0])):
            if clause:
                clauses[clause] = before + f"<article><p>{clause}</p></article></body></html>"
    for clause, html in clauses.items():
        decoded = decode_html(html.encode("cp932", errors="xmlcharrefreplace"), "text/html; charset=utf-8")
        if decoded.text == html:
            right += 1
        else:
            assert decoded.lossy, (clause, decoded.encoding)
            flagged += 1
    assert right >= 3 * flagged, (right, flagged)


def test_bom_wins_over_header() -> None:
    body = "\ufeff<html><body><p>\u0627\u0644\u0633\u0644\u0627\u0645</p></body></html>".encode("utf-8")
    decoded = decode_html(body, "text/html; charset=iso-8859-1")
    assert "\u0627\u0644\u0633\u0644\u0627\u0645" in decoded.text and decoded.encoding == "utf-8"


def test_json_ld_wins_for_metadata() -> None:
    page = (
        b"""<html lang="en"><head><title>Site | Something else</title>
    <script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle",
    "headline":"TTP claims attack near Torkham crossing","author":[{"@type":"Person","name":"Aisha Khan"}],
    "datePublished":"2026-02-03T10:00:00+05:00","dateModified":"2026-02-04T08:30:00+05:00"}</script>
    </head><body><article><h1>TTP claims attack</h1>"""
        + b"<p>"
        + b"Militants attacked a checkpoint. " * 30
        + b"</p></article></body></html>"
    )
    found = extract(page)
    assert found.title == "TTP claims attack near Torkham crossing"
    assert found.byline == "Aisha Khan"
    assert found.published == "2026-02-03T05:00:00Z"
    assert found.modified == "2026-02-04T03:30:00Z"
    assert found.language == "en"


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2020-01-20", "2020-01-20"),
        ("2020-01-20T06:05:18+00:00", "2020-01-20T06:05:18Z"),
        ("not a date", None),
        ("1970-01-01", None),
        ("9999-01-01", None),
        ("", None),
    ],
)
def test_declared_dates_are_normalised_or_dropped(value: str, expected: str | None) -> None:
    assert normalize_date(value) == expected


@pytest.mark.parametrize(
    ("page", "published"),
    [
        # Each date is written in words only, in the page's language: htmldate's regular
        # expressions miss it and dateparser reads it (without dateparser: 2019-02-09,
        # 2022-05-03, 2019-01-01, 2022-02-01).
        ("assabah.com.tn.article.html.gz", "2020-02-19"),  # Arabic
        ("lacuarta.com-loretoaravena.html.gz", "2022-05-04"),  # Spanish
        ("football.ua.podolski.html.gz", "2016-08-15"),  # Russian, no language declared
        ("dtb-tennis.de-nominiert.html.gz", "2022-04-02"),  # German
    ],
)
def test_worded_dates_are_read_in_the_listed_languages(corpus: Path, page: str, published: str) -> None:
    from htmldate.extractors import get_external_parser

    # Only these languages' tables are built (docs/versions.md, Guessed dates).
    assert get_external_parser().languages == list(DATE_LANGUAGES)
    found = next(p for p in eval_pages(corpus) if p.path.name == page)
    extracted = extract(found.raw())
    assert (extracted.published, extracted.dates_declared) == (published, False)


def test_deeply_nested_page_is_flagged_truncated() -> None:
    deep = (
        b"<html><body>"
        + b"<div>" * 3000
        + b"<p>"
        + b"words " * 200
        + b"</p>"
        + b"</div>" * 3000
        + b"</body></html>"
    )
    assert extract(deep).truncated


def test_cli_extract_prints_json_per_file_and_reads_gzip(corpus: Path, tmp_path: Path) -> None:
    page = next(p for p in eval_pages(corpus) if p.path.name == "theguardian.com.academics.html.gz")
    plain = tmp_path / "page.html"
    plain.write_bytes(page.raw())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mediawatch",
            "extract",
            str(plain),
            str(page.path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "mediawatch", "extract", str(plain), str(tmp_path / "missing.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "missing.html" in missing.stderr and "Traceback" not in missing.stderr
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(objects) == 2
    assert (
        objects[0]["title"]
        == objects[1]["title"]
        == "Thousands of UK academics 'treated as second-class citizens'"
    )
    assert set(objects[0]) >= {
        "title",
        "byline",
        "published",
        "modified",
        "language",
        "sitename",
        "canonical_url",
        "text",
    }
    assert gzip.decompress(page.path.read_bytes()) == plain.read_bytes()
