"""WARC/ARC import and WARC export on the real sample files in the shared corpus.

The pywb sample crawl's CDX indexes are the oracle for which records exist; ``warcio check``
(run as a separate process) is the judge of exported files.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import fresh_postgres_url
from ops_helpers import version_history
from sqlalchemy import func, select
from warcio.archiveiterator import ArchiveIterator

from archive.blobs import get_blob
from archive.db import Archive
from archive.models import Article, Blob, Fetch, FetchOrigin, FetchOutcome, Version
from archive.store import Capture, record
from archive.warc import export_warc, import_warc
from archive.warcrecords import PROFILE_IDENTICAL, PROFILE_NOT_MODIFIED, safe_headers
from mediawatch.cli import cli

SAMPLES = "warc-samples"
PYWB = f"{SAMPLES}/pywb/sample_archive"
ARCHIVE_SUFFIXES = (".warc", ".arc", ".wat", ".wet", ".gz", ".bad", ".lz4", ".wacz")


def sample_files(corpus: Path) -> list[Path]:
    return sorted(
        p
        for p in (corpus / SAMPLES).rglob("*")
        if p.is_file()
        and p.name.endswith(ARCHIVE_SUFFIXES)
        and "/cdx" not in str(p)
        and "zipcdx" not in str(p)
    )


def warcio_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def ts14(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def counts(archive: Archive) -> dict[str, int]:
    with archive.reading() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Article, Version, Fetch, Blob)
        }


@pytest.fixture
def second_db_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> str:
    """Another fresh database on the same backend as ``db_url`` (round trips)."""
    if db_url.startswith("sqlite"):
        import shutil

        path = tmp_path / "second.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return fresh_postgres_url(
        request.getfixturevalue("postgres_server"), request.getfixturevalue("postgres_template")
    )


# ---------------------------------------------------------------------------------------------
# Import


@pytest.mark.slow
def test_import_every_sample_file_without_crashing(archive: Archive, corpus: Path) -> None:
    files = sample_files(corpus)
    assert len(files) >= 40
    results = {}
    for path in files:
        summary = import_warc(archive, [path])
        name = str(path.relative_to(corpus / SAMPLES))
        results[name] = summary
        # Every record read is accounted for: recorded or skipped with a reason.
        assert summary.records == summary.taken + sum(summary.skipped.values()), name

    errored = {name for name, s in results.items() if s.errors}
    assert errored == {
        "pywb/sample_archive/warcs/example-bad.warc.gz.bad",  # one gzip member for the whole file
        "warcio/test/data/example-bad.warc.gz.bad",
        "warcio/test/data/example-bad-non-chunked.warc.gz",
        "warcio/test/data/example-wrong-chunks.warc.gz",  # wrong chunk sizes: the record overruns
        "resiliparse/tests/data/warcfile.warc.lz4",  # LZ4 is not a WARC compression warcio reads
        "resiliparse/tests/data/block-sized-records.warc.lz4",
        "pywb/sample_archive/waczs/valid_example_1.wacz",  # a zip, not a WARC
        "pywb/sample_archive/waczs/invalid_example_1.wacz",
    }
    # What was read before the damage is kept and counted.
    assert results["warcio/test/data/example-bad-non-chunked.warc.gz"].records == 1
    # Broken records are counted, never recorded.
    assert results["resiliparse/tests/data/clipped.warc.gz"].skipped["truncated record"] == 1
    assert results["warcio/test/data/example-wrong-chunks.warc.gz"].skipped["truncated record"] == 1
    assert results["warcio/test/data/example-space-in-url.arc"].skipped["truncated record"] == 1
    assert results["warcio/test/data/example-trunc.warc"].skipped["digest mismatch"] == 1
    assert results["pywb/sample_archive/warcs/example-extra.warc"].skipped["no HTTP response headers"] == 1
    assert results["pywb/sample_archive/warcs/bad.arc"].skipped["no HTTP response headers"] == 3
    # Common Crawl's three formats: only the WARC holds an HTML response.
    cc = "commoncrawl-whirlwind/whirlwind.warc"
    assert (results[cc].taken, results[cc].new_versions) == (1, 1)
    for name in (f"{cc}.wat", f"{cc}.wat.gz", f"{cc}.wet", f"{cc}.wet.gz"):
        assert results[name].taken == 0 and not results[name].errors, name
    assert results[f"{cc}.gz"].skipped["already imported"] == 1  # same record, gzipped
    # ARC (converted by warcio), wget and wpull WARCs, chunked transfer encoding.
    for name in (
        "pywb/sample_archive/warcs/example.arc",
        "pywb/sample_archive/warcs/example-wget-1-14.warc.gz",
        "pywb/sample_archive/warcs/example-wpull.warc.gz",
        "warcio/test/data/example-iana.org-chunked.warc",
    ):
        assert results[name].taken == 1, name
    # Non-HTML captures (JSON, images, scripts) are skipped by type.
    assert results["pywb/sample_archive/warcs/post-test.warc.gz"].skipped["not HTML"] == 3
    assert results["pywb/sample_archive/warcs/httpbin-resource.warc.gz"].skipped["not HTML"] == 1
    # ClueWeb quirks: unparseable WARC-Date (HTTP Date used), payload digest over another form.
    clueweb = results["resiliparse/tests/data/clueweb-quirk.warc.gz"]
    assert clueweb.taken == 29 and clueweb.notes["WARC-Date unusable, HTTP Date used"] == 29

    with archive.reading() as session:
        fetched_urls = set(session.scalars(select(Fetch.url)))
        assert (
            session.scalar(select(func.count()).select_from(Fetch).where(Fetch.origin != FetchOrigin.WARC))
            == 0
        )
    # The truncated capture left nothing behind (it is the only record of its URL in the corpus).
    with (corpus / SAMPLES / "resiliparse/tests/data/clipped.warc.gz").open("rb") as handle:
        clipped_url = next(iter(ArchiveIterator(handle))).rec_headers.get_header("WARC-Target-URI")
    assert clipped_url and clipped_url not in fetched_urls


def cdx_rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    fields = lines[0].split()[1:]  # " CDX N b a m s k r M S V g"
    return [dict(zip(fields, line.split(" "), strict=True)) for line in lines[1:] if line.strip()]


@pytest.mark.parametrize(
    ("warcs", "cdxs"),
    [
        (["iana.warc.gz"], ["iana.cdx"]),
        (["example.warc.gz"], ["example.cdx"]),
        # The revisit of www.iana.org in dupes refers to a record in iana.warc.gz.
        (["iana.warc.gz", "dupes.warc.gz"], ["iana.cdx", "dupes.cdx"]),
    ],
)
@pytest.mark.slow
def test_import_matches_the_pywb_cdx_index(
    archive: Archive, corpus: Path, warcs: list[str], cdxs: list[str]
) -> None:
    rows = [row for name in cdxs for row in cdx_rows(corpus / PYWB / "cdx" / name)]
    html_digests = {r["k"] for r in rows if r["m"] == "text/html"}
    expected = {
        (r["a"], r["b"])
        for r in rows
        if r["m"] == "text/html" or (r["m"] == "warc/revisit" and r["k"] in html_digests)
    }
    others = len(rows) - len(expected)

    summary = import_warc(archive, [corpus / PYWB / "warcs" / name for name in warcs])

    assert not summary.errors
    assert summary.taken == len(expected)
    assert summary.skipped["not HTML"] == others
    captures = summary.records - sum(v for k, v in summary.skipped.items() if k.startswith("not a capture"))
    assert captures == len(rows)  # every response/revisit the index lists was read
    with archive.reading() as session:
        stored = {(url, ts14(at)) for url, at in session.execute(select(Fetch.url, Fetch.fetched_at))}
    assert stored == expected


def test_revisit_records_resolve_to_their_originals(archive: Archive, corpus: Path) -> None:
    summary = import_warc(archive, [corpus / PYWB / "warcs" / "example.warc.gz"])
    assert summary.outcomes == Counter({"new-version": 1, "unchanged": 1, "error": 1})  # 200, revisit, 302
    with archive.reading() as session:
        fetches = session.scalars(
            select(Fetch).where(Fetch.url == "http://example.com?example=1").order_by(Fetch.fetched_at)
        ).all()
        assert [f.outcome for f in fetches] == [FetchOutcome.NEW_VERSION, FetchOutcome.UNCHANGED]
        assert fetches[0].raw_sha256 == fetches[1].raw_sha256  # the revisit carried the original's bytes
        assert fetches[1].fetched_at == datetime(2014, 1, 3, 3, 3, 41, tzinfo=UTC)
        assert ["Content-Type", "text/html"] in (fetches[0].http_headers or [])
    # An original in another file, imported in an earlier run: found through its record id.
    orig = corpus / PYWB / "warcs" / "example-url-agnostic-orig.warc.gz"
    revisit = corpus / PYWB / "warcs" / "example-url-agnostic-revisit.warc.gz"
    assert import_warc(archive, [revisit]).skipped["revisit of an original not in the imported files"] == 1
    import_warc(archive, [orig])
    assert import_warc(archive, [revisit]).taken == 1


@pytest.mark.slow
def test_importing_twice_changes_nothing(archive: Archive, corpus: Path) -> None:
    files = [
        corpus / PYWB / "warcs" / name
        for name in ("iana.warc.gz", "dupes.warc.gz", "example.arc", "example-extra.warc")
    ] + [corpus / SAMPLES / "resiliparse/tests/data/clueweb-quirk.warc.gz"]
    first = import_warc(archive, files)
    assert first.taken > 40
    before = counts(archive)
    state = version_history(archive)
    second = import_warc(archive, files)
    assert second.taken == 0 and second.new_versions == 0
    # (one record of example-extra.warc is in the file twice: already imported the first time too)
    assert second.skipped["already imported"] == first.taken + first.skipped["already imported"]
    assert second.skipped["already recorded"] == first.skipped["already recorded"]
    assert counts(archive) == before
    assert version_history(archive) == state


# ---------------------------------------------------------------------------------------------
# Export


PAGE = (
    "<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
    "<p>{body}</p><p>Officials in Islamabad and Kabul said the border crossing at Torkham would reopen "
    "after talks on Tuesday, while traders waited with hundreds of lorries on both sides.</p>"
    "</article></body></html>"
)


def crafted_history(archive: Archive, *, unkept_bytes: bool = True) -> None:
    """One article checked seven times: new, same bytes, 304, edited, same text new bytes, gone, back.

    Without ``unkept_bytes`` the fifth check sees the edited bytes again instead of new bytes
    with the same text (whose raw bytes the store does not keep).
    """
    url = "https://news.example.org/2026/03/border-talks"
    t0 = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
    v1 = PAGE.format(title="Border talks resume", body="The first draft of the story.").encode()
    v2 = PAGE.format(title="Border talks resume", body="The story, updated with a quote.").encode()
    v2b = v2.replace(b"<html>", b"<html><!-- cache 2 -->") if unkept_bytes else v2
    steps: list[tuple[int, bytes | None, dict[str, Any]]] = [
        (
            200,
            v1,
            {
                "etag": '"a1"',
                "http_headers": [
                    ["Content-Type", "text/html; charset=utf-8"],
                    ["ETag", '"a1"'],
                    ["Server", "nginx"],
                ],
            },
        ),
        (200, v1, {}),
        (304, None, {"etag": '"a1"'}),
        (200, v2, {}),
        (200, v2b, {}),
        (404, None, {}),
        (200, v2, {}),
    ]
    for hours, (status, raw, extra) in enumerate(steps):
        record(
            archive.sessions,
            Capture(
                url=url,
                fetched_at=t0 + timedelta(hours=hours),
                status=status,
                raw=raw,
                content_type="text/html; charset=utf-8",
                **extra,
            ),
        )


def read_records(path: Path) -> list[Any]:
    out = []
    with path.open("rb") as handle:
        for rec in ArchiveIterator(handle):
            out.append((rec.rec_type, rec.rec_headers, rec.http_headers, rec.content_stream().read()))
    return out


@pytest.mark.slow
def test_export_passes_warcio_check_with_revisits(archive: Archive, corpus: Path, tmp_path: Path) -> None:
    crafted_history(archive)
    import_warc(archive, [corpus / PYWB / "warcs" / "iana.warc.gz"])
    out = tmp_path / "export.warc.gz"
    summary = export_warc(archive, out)

    check = warcio_check(out)
    assert check.returncode == 0, check.stdout[-2000:]
    assert "digest pass" in check.stdout and "fail" not in check.stdout
    # The checker is not a rubber stamp: it fails the corpus file with one bad digest.
    assert warcio_check(corpus / SAMPLES / "warcio/test/data/example-digest.warc").returncode == 1

    records = read_records(out)
    assert records[0][0] == "warcinfo"
    by_id = {h.get_header("WARC-Record-ID"): (t, h, p) for t, h, _, p in records}
    assert len(by_id) == len(records)
    revisits = [(h, http) for t, h, http, _ in records if t == "revisit"]
    identical = [h for h, _ in revisits if h.get_header("WARC-Profile") == PROFILE_IDENTICAL]
    not_modified = [h for h, _ in revisits if h.get_header("WARC-Profile") == PROFILE_NOT_MODIFIED]
    assert len(not_modified) == 1  # the 304
    assert (
        len([h for h in identical if "news.example.org" in h.get_header("WARC-Target-URI")]) == 2
    )  # v1 and v2 fetched again with the same bytes
    for h in identical + not_modified:
        original = by_id[h.get_header("WARC-Refers-To")]
        assert original[0] == "response"
        assert h.get_header("WARC-Refers-To-Date") == original[1].get_header("WARC-Date")
    for h in identical:
        assert h.get_header("WARC-Payload-Digest") == by_id[h.get_header("WARC-Refers-To")][1].get_header(
            "WARC-Payload-Digest"
        )
    # Records are dated at fetch time (microseconds kept) and carry the stored bytes and headers.
    crafted = [
        (t, h, http, p)
        for t, h, http, p in records
        if "news.example.org" in (h.get_header("WARC-Target-URI") or "")
    ]
    assert [t for t, *_ in crafted] == [
        "response",  # v1
        "revisit",  # v1 again, same bytes
        "revisit",  # 304 (server-not-modified)
        "response",  # v2 (then v2b: same text, new bytes, not kept)
        "response",  # 404
        "revisit",  # v2 again
    ]
    assert crafted[0][1].get_header("WARC-Date") == "2026-03-01T08:00:00.123456Z"
    assert crafted[0][2].get_header("Server") == "nginx" and crafted[0][2].get_header("ETag") == '"a1"'
    assert crafted[2][2].get_statuscode() == "304"
    assert crafted[4][2].get_statuscode() == "404" and crafted[4][3] == b""
    with archive.reading() as session:
        digest = session.scalar(
            select(Fetch.raw_sha256)
            .order_by(Fetch.fetched_at)
            .limit(1)
            .where(Fetch.url.like("%news.example.org%"))
        )
        assert crafted[0][3] == get_blob(session, digest)
    # The unchanged re-fetch with new bytes (v2b) kept no raw bytes: not exportable, counted.
    assert summary.skipped == Counter({"raw bytes not kept": 1})
    assert summary.responses + summary.revisits == len(records) - 1


def test_export_filters_by_url_and_since(archive: Archive, tmp_path: Path) -> None:
    crafted_history(archive)
    out = tmp_path / "one.warc.gz"
    summary = export_warc(
        archive,
        out,
        url="https://news.example.org/2026/03/border-talks?utm_source=x",
        since=datetime(2026, 3, 1, 11, 0, tzinfo=UTC),
    )
    dates = [h.get_header("WARC-Date") for t, h, _, _ in read_records(out) if t != "warcinfo"]
    assert dates == [
        "2026-03-01T11:00:00.123456Z",
        "2026-03-01T13:00:00.123456Z",
        "2026-03-01T14:00:00.123456Z",
    ]
    assert summary.skipped["raw bytes not kept"] == 1
    assert warcio_check(out).returncode == 0


@pytest.mark.slow
def test_export_then_import_reproduces_articles_and_versions(
    archive: Archive, corpus: Path, tmp_path: Path, second_db_url: str
) -> None:
    crafted_history(archive, unkept_bytes=False)
    import_warc(archive, [corpus / PYWB / "warcs" / "iana.warc.gz"])
    out = tmp_path / "roundtrip.warc.gz"
    export_warc(archive, out)
    with Archive(second_db_url) as fresh:
        summary = import_warc(fresh, [out])
        assert not summary.errors
        assert version_history(fresh) == version_history(archive)
        with fresh.reading() as session, archive.reading() as original:
            assert set(session.scalars(select(Article.canonical_url))) == set(
                original.scalars(select(Article.canonical_url))
            )
        # And importing the export into the archive it came from changes nothing.
        before = counts(archive)
        again = import_warc(archive, [out])
        assert again.taken == 0 and counts(archive) == before


def test_exported_headers_cannot_inject_records(archive: Archive, tmp_path: Path) -> None:
    evil = [["Content-Type", "text/html\r\nWARC-Type: response"], ["X-Ok", "fine"], ["Bad Name", "x"]]
    assert safe_headers(evil) == [["Content-Type", "text/html  WARC-Type: response"], ["X-Ok", "fine"]]
    raw = PAGE.format(title="Hostile headers", body="Body text of a page with hostile headers.").encode()
    record(
        archive.sessions,
        Capture(
            url="https://evil.example/a",
            fetched_at=datetime(2026, 3, 1, tzinfo=UTC),
            raw=raw,
            http_headers=evil,
            content_type="text/html",
        ),
    )
    raw2 = PAGE.format(title="Hostile URL", body="A page fetched from a URL with a space in it.").encode()
    record(
        archive.sessions,
        Capture(url="https://evil.example/b c", fetched_at=datetime(2026, 3, 2, tzinfo=UTC), raw=raw2),
    )
    out = tmp_path / "evil.warc.gz"
    export_warc(archive, out)
    records = read_records(out)
    assert [t for t, *_ in records] == ["warcinfo", "response", "response"]
    assert records[1][2].get_header("Content-Type") == "text/html  WARC-Type: response"
    assert records[1][1].get_header("WARC-Type") == "response"
    assert records[2][1].get_header("WARC-Target-URI") == "https://evil.example/b%20c"
    assert warcio_check(out).returncode == 0


def test_exported_uri_with_control_characters_stays_one_distinct_line(
    archive: Archive, tmp_path: Path
) -> None:
    # Two URLs that differ only by a control character must not be exported as the same URI.
    urls = ["https://evil.example/a\tb", "https://evil.example/ab", "https://evil.example/a\rWARC-Type: x"]
    for day, url in enumerate(urls, start=1):
        raw = PAGE.format(title=f"Page {day}", body=f"A page whose address is odd, number {day}.").encode()
        record(archive.sessions, Capture(url=url, fetched_at=datetime(2026, 3, day, tzinfo=UTC), raw=raw))
    out = tmp_path / "uris.warc.gz"
    export_warc(archive, out)
    uris = [h.get_header("WARC-Target-URI") for t, h, *_ in read_records(out) if t == "response"]
    assert sorted(uris) == sorted(
        ["https://evil.example/a%09b", "https://evil.example/ab", "https://evil.example/a%0DWARC-Type:%20x"]
    )
    assert all(h.get_header("WARC-Type") in ("warcinfo", "response") for _, h, *_ in read_records(out))
    assert warcio_check(out).returncode == 0


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_import_export_round_trip(db_url: str, corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    good = corpus / PYWB / "warcs" / "example.warc.gz"
    bad = corpus / PYWB / "warcs" / "example-bad.warc.gz.bad"
    result = runner.invoke(cli, ["import-warc", "--db", db_url, str(good), str(bad)])
    assert result.exit_code == 1, result.output
    assert "2 files, 7 records read, 3 HTML captures recorded" in result.stdout
    assert "non-chunked gzip" in result.stderr
    out = tmp_path / "cli.warc.gz"
    result = runner.invoke(cli, ["export", "--format", "warc", "--db", db_url, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 response and 1 revisit records" in result.stdout
    result = runner.invoke(cli, ["import-warc", "--db", db_url, "--json", str(out)])
    assert result.exit_code == 0 and '"already imported": 3' in result.stdout
    result = runner.invoke(
        cli,
        [
            "export",
            "--format",
            "warc",
            "--db",
            db_url,
            "--output",
            str(out),
            "--url",
            "https://nowhere.example/",
        ],
    )
    assert result.exit_code == 4 and "no archived article" in result.stderr
    result = runner.invoke(cli, ["import-warc", "--db", db_url, str(tmp_path / "missing.warc")])
    assert result.exit_code == 2 and "no such file" in result.stderr
