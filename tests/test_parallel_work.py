"""Work moved off the one writer: derived data computed in workers, bulk commands on a process pool.

Whatever computes the key text, the MinHash signature and the compressed bytes (the store
itself, a crawl's extraction worker, a bulk command's executor), and however many processes
extract, the archive must end up exactly the same: the same versions, keys, signatures, LSH
buckets, republication links and fetch outcomes.
"""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from corpus_data import eval_pages, nyt_slugs, write_nyt_jsonl
from sqlalchemy import select

from archive.bulk import Ahead, pages_per_task_for, window_for
from archive.db import Archive
from archive.derive import prepare
from archive.extract import Extracted, extract
from archive.importer import import_jsonl
from archive.models import Article, DuplicateLink, Fetch, LshBucket, TextSignature, Version
from archive.rederive import rederive
from archive.store import Capture, record
from archive.warc import export_warc, import_warc
from crawler.extraction import local_executor
from mediawatch.cli import cli

PYWB = "warc-samples/pywb/sample_archive/warcs"
WARCS = ("iana.warc.gz", "example.warc.gz", "dupes.warc.gz", "example-extra.warc")
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def state(archive: Archive) -> dict[str, Any]:
    """Everything the store wrote that a reader could tell apart (ids aside)."""
    with archive.reading() as session:
        url = dict(session.execute(select(Article.id, Article.canonical_url)).all())
        versions = sorted(
            (url[a], seq, key, kind, tuple(flags), blob, text)
            for a, seq, key, kind, flags, blob, text in session.execute(
                select(
                    Version.article_id,
                    Version.seq,
                    Version.text_sha256,
                    Version.change_kind,
                    Version.flags,
                    Version.blob_sha256,
                    Version.text,
                )
            )
        )
        version_of = {
            vid: (url[a], seq)
            for vid, a, seq in session.execute(select(Version.id, Version.article_id, Version.seq))
        }
        signatures = sorted(
            (version_of[v], bytes(h))
            for v, h in session.execute(select(TextSignature.version_id, TextSignature.hashvalues))
        )
        buckets = sorted(
            (version_of[v], k) for v, k in session.execute(select(LshBucket.version_id, LshBucket.key))
        )
        links = sorted(
            (tuple(sorted((url[a], url[b]))), kind, round(sim, 3))
            for a, b, kind, sim in session.execute(
                select(
                    DuplicateLink.article_id,
                    DuplicateLink.other_id,
                    DuplicateLink.kind,
                    DuplicateLink.similarity,
                )
            )
        )
        fetches = sorted(
            (f.url, f.fetched_at, f.outcome, f.raw_sha256, f.http_status)
            for f in session.scalars(select(Fetch))
        )
    return {
        "versions": versions,
        "signatures": signatures,
        "buckets": buckets,
        "links": links,
        "fetches": fetches,
    }


def pages(corpus: Path, n: int) -> list[bytes]:
    out = []
    for page in eval_pages(corpus):
        raw = gzip.decompress(page.path.read_bytes())
        if 5_000 < len(raw) < 200_000:
            out.append(raw)
        if len(out) == n:
            break
    return out


def test_derived_data_from_a_worker_records_what_the_store_derives_itself(
    archive: Archive, tmp_path: Path, corpus: Path
) -> None:
    # Real pages, each at two URLs (a republication, linked), then an edit of each.
    raws = pages(corpus, 6)
    captures = []
    for i, raw in enumerate(raws):
        for host in ("a.example", "b.example"):
            captures.append(Capture(f"https://{host}/story/{i}", T0 + timedelta(minutes=i), raw=raw))
        edited = raw.replace(
            b"</body>", b"<p>Correction: an earlier version of this story misstated a date.</p></body>"
        )
        captures.append(
            Capture(f"https://a.example/story/{i}", T0 + timedelta(hours=1, minutes=i), raw=edited)
        )
    with Archive(f"sqlite:///{tmp_path / 'reference.db'}") as reference:
        for capture in captures:
            record(reference.sessions, capture)
        expected = state(reference)
    for capture in captures:
        assert capture.raw is not None
        ready = prepare(capture.raw, capture.url, None)
        record(archive.sessions, replace(capture, extracted=ready.extracted, derived=ready.derived))
    got = state(archive)
    assert got == expected
    assert len(got["links"]) >= len(raws)  # the copies were found as republications
    assert len(got["signatures"]) >= len(raws)


@pytest.mark.slow  # a WARC import twice, one on a process pool
def test_import_warc_on_a_process_pool_records_what_an_inline_import_does(
    db_url: str, tmp_path: Path, corpus: Path
) -> None:
    files = [corpus / PYWB / name for name in WARCS]
    with Archive(f"sqlite:///{tmp_path / 'reference.db'}") as reference:
        inline = import_warc(reference, files)
        expected = state(reference)
    result = CliRunner().invoke(
        cli,
        ["import-warc", "--workers", "2", "--json", "--db", db_url, *map(str, files)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    with Archive(db_url) as archive:
        assert state(archive) == expected
    assert inline.taken > 20 and inline.new_versions > 10
    # Importing again on the pool changes nothing.
    again = CliRunner().invoke(cli, ["import-warc", "--workers", "2", "--db", db_url, *map(str, files)])
    assert again.exit_code == 0, again.output
    with Archive(db_url) as archive:
        assert state(archive) == expected


def test_import_warc_in_batches_records_what_recording_capture_by_capture_does(
    archive: Archive, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Revisits of one URL, a record repeated in a file, a file imported twice, and the archive's
    # own export imported back (crawled fetches have no record id: known as the same fetches):
    # every answer of "already imported".
    files = [corpus / PYWB / name for name in WARCS] + [corpus / PYWB / "example.warc.gz"]
    crawled = [Capture(f"https://a.example/story/{i}", T0, raw=raw) for i, raw in enumerate(pages(corpus, 3))]

    def imports(target: Archive, out: Path) -> list[dict[str, Any]]:
        for capture in crawled:
            record(target.sessions, capture)
        summaries = [import_warc(target, files).as_dict()]
        export_warc(target, out)
        summaries.append(import_warc(target, [out]).as_dict())
        return summaries

    with monkeypatch.context() as one_by_one:
        one_by_one.setattr("archive.bulk.WRITE_BATCH", 1)  # each capture in its own transaction
        with Archive(f"sqlite:///{tmp_path / 'reference.db'}") as reference:
            expected = imports(reference, tmp_path / "reference.warc.gz")
            expected_state = state(reference)
    got = imports(archive, tmp_path / "export.warc.gz")
    assert got == expected
    assert state(archive) == expected_state
    first, again = got
    assert first["skipped"]["already imported"] > 1 and first["new_versions"] > 10
    assert again["taken"] == 0 and again["skipped"]["already imported"] == again["records"] - again[
        "skipped"
    ].get("not a capture (warcinfo record)", 0)


def upgraded(raw: bytes, *, url: str | None = None, content_type: str | None = None) -> Extracted:
    """An extractor upgrade that reads one more paragraph on every page (pickles by name)."""
    extracted = extract(raw, url=url, content_type=content_type)
    return replace(extracted, text=extracted.text + "\nRead more of this report in our weekly edition.")


def test_rederive_on_a_process_pool_records_what_an_inline_rederive_does(
    archive: Archive, tmp_path: Path, corpus: Path
) -> None:
    raws = pages(corpus, 5)
    captures = [Capture(f"https://news.example/{i}", T0, raw=raw) for i, raw in enumerate(raws)]
    at = T0 + timedelta(days=1)
    with Archive(f"sqlite:///{tmp_path / 'reference.db'}") as reference:
        for capture in captures:
            record(reference.sessions, capture)
        inline = rederive(reference.sessions, extractor=upgraded, at=at)
        expected = state(reference)
    for capture in captures:
        record(archive.sessions, capture)
    with local_executor(2) as executor:
        pooled = rederive(archive.sessions, extractor=upgraded, at=at, executor=executor)
    assert pooled == inline
    assert pooled.recorded == len(raws)  # every article re-derived once
    assert state(archive) == expected


def test_import_of_json_lines_on_a_process_pool_matches_inline(
    archive: Archive, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path, nyt_slugs(corpus)[:3])
    with Archive(f"sqlite:///{tmp_path / 'reference.db'}") as reference:
        inline = import_jsonl(reference, path)
        expected = state(reference)
    with local_executor(1) as executor:
        pooled = import_jsonl(archive, path, executor=executor)
    assert pooled.as_dict() == inline.as_dict()
    assert inline.new_versions > 3
    assert state(archive) == expected
    # Each capture in its own transaction (as after a failed batch): the same archive again.
    monkeypatch.setattr("archive.bulk.WRITE_BATCH", 1)
    with Archive(f"sqlite:///{tmp_path / 'one-by-one.db'}") as one_by_one:
        assert import_jsonl(one_by_one, path).as_dict() == inline.as_dict()
        assert state(one_by_one) == expected


def tenfold_unless_odd(n: int) -> int:
    """A task's work that fails for some items (module-level: it pickles by name)."""
    if n % 2:
        raise ValueError(f"odd {n}")
    return 10 * n


def doubled(n: int) -> int:
    return 2 * n


def test_bulk_pages_go_to_the_pool_four_a_task_each_with_its_own_result_or_error() -> None:
    # A task of a process pool costs the calling process the same CPU whatever it carries, so
    # imports send a worker four pages a task; every page still gets its own result, in input
    # order, and a page whose work fails fails alone.
    def outcomes(ahead: Ahead[int, int]) -> list[tuple[int, int | None] | str]:
        got: list[tuple[int, int | None] | str] = []
        while ahead.pending:
            try:
                got.append(next(ahead.drain()))
            except ValueError as exc:
                got.append(str(exc))
        return got

    with local_executor(2) as executor:
        assert pages_per_task_for(executor, window_for(executor)) == 4
        ahead: Ahead[int, int] = Ahead(executor, per_task=4)
        for n in range(10):
            ahead.put(n, tenfold_unless_odd, n)
        ahead.put(10)  # an item with nothing to do
        expected = [(n, 10 * n) if n % 2 == 0 else f"odd {n}" for n in range(10)]
        assert outcomes(ahead) == [*expected, (10, None)]

    class Counted(ThreadPoolExecutor):
        tasks = 0

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            self.tasks += 1
            return super().submit(fn, *args, **kwargs)

    with Counted(max_workers=2) as counted:
        ahead = Ahead(counted, per_task=pages_per_task_for(counted, window_for(counted)))
        for n in range(10):
            ahead.put(n, doubled, n)  # two tasks of four go at once; two pages wait for more
        assert counted.tasks == 2
        ahead.put(10, tenfold_unless_odd, 10)  # another function: the two waiting pages go now
        assert counted.tasks == 3
        assert outcomes(ahead) == [(n, 2 * n) for n in range(10)] + [(10, 100)]
        assert counted.tasks == 4  # the last page went when its turn came
        # A window of one page a worker (backfill: each capture is fetched after the last one
        # went out) keeps one page a task.
        assert pages_per_task_for(counted, 2) == 1
