"""Characters XML cannot carry (C0 controls, U+FFFE, U+FFFF, lone surrogates) in crawled pages.

One of them in a paragraph used to make trafilatura discard the whole page: the fetch was
recorded as suspect and the edit it carried was lost. One in a JSON-LD headline reached the
stored title and made the Atom feed ill-formed. Real pages from the corpus, both backends.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select

from archive.db import Archive
from archive.extract import Extracted, extract
from archive.models import ChangeKind, FetchOutcome, Version
from archive.normalize import has_non_xml
from archive.store import Capture, record
from mediawatch.web.app import create_app

# Every character XML 1.0 cannot carry that UTF-8 bytes can spell (surrogates cannot).
NOT_XML = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]
CAREELITE = "trafilatura-evaldata/tests/eval/careelite.de-flaechenverbrauch.html.gz"
BBC = "trafilatura-evaldata/tests/eval/bbc.com.52241221.html.gz"
BBC_URL = "https://www.bbc.com/news/world-us-canada-52241221"
CAREELITE_URL = "https://careelite.de/flaechenverbrauch-fleisch-milch-eier/"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _raw(corpus: Path, name: str) -> bytes:
    return gzip.decompress((corpus / name).read_bytes())


def _versions(archive: Archive) -> list[Version]:
    with archive.reading() as session:
        return list(session.scalars(select(Version).order_by(Version.seq)))


def _assert_clean(extracted: Extracted) -> None:
    for name, value in extracted.as_dict().items():
        assert not (isinstance(value, str) and has_non_xml(value)), (name, value)


def test_real_page_with_bel_characters_is_extracted(corpus: Path) -> None:
    # The page separates words with BEL (U+0007) in its reference list.
    raw = _raw(corpus, CAREELITE)
    assert raw.count(b"\x07") >= 3
    found = extract(raw)
    assert found.title and found.title.startswith("Flächenverbrauch für Fleisch")
    assert len(found.text) > 11_000
    assert "Eine bemerkenswerte Statistik macht besonders" in found.text
    assert "Intergovernmental Panel on Climate Change" in found.text  # BEL between words is a space
    _assert_clean(found)


@pytest.mark.parametrize("code", NOT_XML, ids=lambda c: f"U+{c:04X}")
def test_every_character_xml_cannot_carry_keeps_the_page(corpus: Path, code: int) -> None:
    char = chr(code).encode("utf-8")
    # In the careelite page's own spots, and once inside a paragraph of another real page.
    careelite = extract(_raw(corpus, CAREELITE).replace(b"\x07", char))
    assert len(careelite.text) > 11_000 and careelite.title, f"U+{code:04X} lost the page"
    bbc = _raw(corpus, BBC).replace(b"eerily deserted streets", b"eerily" + char + b"deserted streets")
    found = extract(bbc, url=BBC_URL)
    assert found.title == "New York ramps up mass burials amid virus outbreak"
    assert "ambulances constantly blaring down eerily deserted streets" in found.text
    _assert_clean(careelite)
    _assert_clean(found)


def test_lone_surrogates_and_noncharacters_in_decoded_text(corpus: Path) -> None:
    page = _raw(corpus, BBC).decode("utf-8")
    for bad in ("\ud800", "\udfff", "\ufffe", "\uffff"):
        found = extract(page.replace("eerily deserted", f"eerily{bad}deserted"), url=BBC_URL)
        assert "eerily deserted streets" in found.text, repr(bad)
        _assert_clean(found)


def test_edit_carrying_a_control_character_is_a_new_version(archive: Archive, corpus: Path) -> None:
    # The careelite page with its BEL characters as spaces (a clean real page); the next capture
    # changes a figure and carries one vertical tab in the page's reference list, the spot
    # where the page's own BEL characters were.
    real = _raw(corpus, CAREELITE)
    first = real.replace(b"\x07", b" ")
    assert first.count(b"etwa 18,2 Millionen Hektar") == 1
    figure = first.replace(b"etwa 18,2 Millionen Hektar", b"mehr als 20 Millionen Hektar")
    edited = figure.replace(b"Panel on", b"Panel\x0bon", 1)
    assert edited.count(b"\x0b") == 1
    assert record(archive.sessions, Capture(CAREELITE_URL, T0, raw=first)).outcome == FetchOutcome.NEW_VERSION

    result = record(archive.sessions, Capture(CAREELITE_URL, T0 + timedelta(hours=1), raw=edited))
    assert result.outcome == FetchOutcome.NEW_VERSION, result.message
    assert result.change_kind == ChangeKind.TEXT
    v1, v2 = _versions(archive)
    assert "etwa 18,2 Millionen Hektar Landfläche" in v1.text
    assert "mehr als 20 Millionen Hektar Landfläche" in v2.text
    assert "Intergovernmental Panel on Climate Change" in v2.text
    assert "\x0b" not in v2.text and v2.flags == []

    # The same words with a space where the vertical tab was: not an edit.
    result = record(archive.sessions, Capture(CAREELITE_URL, T0 + timedelta(hours=2), raw=figure))
    assert result.outcome == FetchOutcome.UNCHANGED
    assert len(_versions(archive)) == 2


@pytest.mark.parametrize(
    "spelling",
    ["\\uffff", "\\u0001", "\x01", "\\ud800", "\\ufffe\\u001b"],
    ids=["U+FFFF", "U+0001-escaped", "U+0001-raw", "lone-surrogate", "U+FFFE-ESC"],
)
def test_atom_feed_stays_well_formed_with_a_hostile_headline(
    archive: Archive, corpus: Path, spelling: str
) -> None:
    real = _raw(corpus, BBC)
    record(archive.sessions, Capture(BBC_URL, T0, raw=real))
    # The page's own JSON-LD, its headline, author and language spiked; and one edit in the text.
    edited = (
        real.replace(
            b'"headline":"New York ramps up mass burials amid',
            f'"headline":"New York ramps up mass burials{spelling} amid'.encode(),
        )
        .replace(
            b'"author":{"@type":"NewsMediaOrganization","name":"BBC News"',
            b'"author":{"name":"BBC\\u0007 News"',
        )
        .replace(
            b'"@type":"ReportageNewsArticle",', b'"@type":"ReportageNewsArticle","inLanguage":"en\\u0002",'
        )
        .replace(b"into refrigerated trucks", b"into trucks")
    )
    assert edited.count(spelling.encode()) == 1 and edited.count(b"\\u0007") == 1
    result = record(archive.sessions, Capture(BBC_URL, T0 + timedelta(hours=1), raw=edited))
    assert result.outcome == FetchOutcome.NEW_VERSION, result.message
    v1, v2 = _versions(archive)
    assert v2.title == v1.title == "New York ramps up mass burials amid virus outbreak"
    assert v2.byline == "BBC News" and v2.language == "en"

    with TestClient(create_app(Archive(archive.url, readonly=True))) as client:
        body = client.get("/feeds/edits.atom").content
    etree.fromstring(body, etree.XMLParser(recover=False))  # strict: raises on ill-formed XML
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    [entry] = feed.entries
    assert entry.title.endswith("edit: New York ramps up mass burials amid virus outbreak")
