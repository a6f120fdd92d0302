"""Helpers for the archivist-view tests: archives built from the corpus, a hostile archive, a live viewer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corpus_data import write_nyt_jsonl
from sqlalchemy import insert

from archive.candidates import Verdict, add_candidate
from archive.db import Archive
from archive.extract import Extracted
from archive.importer import import_jsonl
from archive.models import FetchOrigin, Source, SourceKind
from archive.store import Capture, record

# XSS vectors for titles, bylines, bodies and raw HTML (docs/archivist.md, The web viewer). Each sets the
# sentinel window.__pwned or opens a dialog if it ever runs. URLs only point at loopback.
PAYLOADS = [
    "<script>window.__pwned='script'</script>",
    "<img src=x onerror=\"window.__pwned='img'\">",
    "<a href=\"javascript:window.__pwned='js-link'\">click me</a>",
    '<base href="http://127.0.0.1:9/">',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__pwned=\'meta\'">',
    "<svg onload=\"window.__pwned='svg'\"><script>window.__pwned='svg-script'</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__pwned='mxss'\">",
    "<noscript><p title=\"</noscript><img src=x onerror=window.__pwned='noscript'>\">",
    "\"><script>window.__pwned='attr'</script>",
    "'><img src=x onerror=alert('quote')>",
    "<iframe srcdoc=\"<script>parent.__pwned='iframe'</script>\"></iframe>",
    "\u2028</title><script>window.__pwned='u2028'</script>",
    "<form action=\"javascript:window.__pwned='form'\"><button>go</button></form>",
    "{{ 7*7 }}{% raw %}",
]
HOSTILE_URL = "https://hostile.example/news/xss-test"


def import_nyt(archive: Archive, corpus: Path, tmp_path: Path, slugs: list[str] | None = None) -> None:
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path, slugs)
    summary = import_jsonl(archive, path)
    assert summary.new_versions > 0 and not summary.rejected


def hostile_archive(archive: Archive) -> None:
    """An article whose every field carries the payloads, in two versions, with raw HTML."""
    with archive.transaction() as session:
        session.execute(
            insert(Source).values(
                name="<script>window.__pwned='source'</script>",
                kind=SourceKind.MANUAL,
                url="javascript:window.__pwned='source-url'",
                language="en",
                tags=[],
                enabled=True,
            )
        )
    body = "\n".join(f"Paragraph {i}: {p}" for i, p in enumerate(PAYLOADS))
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for index, text in enumerate(
        [body, body + "\nCorrection: an earlier version <script>window.__pwned='added'</script> was wrong."]
    ):
        raw = f"<html><head><title>{PAYLOADS[0]}</title>{PAYLOADS[3]}</head><body>{body}</body></html>"
        extracted = Extracted(
            text=text,
            title=f"Title {index} {PAYLOADS[0]} {PAYLOADS[1]}",
            byline=f"{PAYLOADS[2]} {PAYLOADS[5]}",
            published="2026-03-01",
            language="en",
            extractor="test",
        )
        result = record(
            archive.sessions,
            Capture(
                url=HOSTILE_URL,
                fetched_at=start + timedelta(hours=index),
                raw=(raw + f"<!-- {index} -->").encode(),
                content_type="text/html; charset=utf-8",
                extracted=extracted,
                origin=FetchOrigin.IMPORT,
            ),
        )
        assert result.version_seq == index + 1, result
    # A page just under the topic threshold, kept as a candidate with the payloads in its fields.
    with archive.transaction() as session:
        add_candidate(
            session,
            url="https://evil.example/candidate",
            fetched_url="https://evil.example/candidate?" + PAYLOADS[1],
            fetched_at=start,
            extracted=Extracted(text=body, title=f"Candidate {PAYLOADS[0]} {PAYLOADS[1]}", language="en"),
            verdict=Verdict(score=3.5, keep=False, candidate=True, groups=(PAYLOADS[2],)),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_viewer(db_url: str) -> Iterator[str]:
    """The viewer served by uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    import uvicorn

    from mediawatch.web.app import create_app

    app = create_app(Archive(db_url, readonly=True))
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the viewer did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def remove_and_restore(archive: Archive, removed_url: str, restored_url: str, at: datetime) -> None:
    """Two archived articles go away (404 on two checks an hour apart, which confirms a removal);
    the second comes back with its last text an hour later (a restoration)."""
    from sqlalchemy import select

    from archive.models import Article, Version

    for url in (removed_url, restored_url):
        for hours in (0, 1):
            record(archive.sessions, Capture(url=url, fetched_at=at + timedelta(hours=hours), status=404))
    with archive.reading() as session:
        last_text = session.scalars(
            select(Version)
            .join(Article, Article.id == Version.article_id)
            .where(Article.canonical_url == restored_url, Version.text != "")
            .order_by(Version.seq.desc())
        ).first()
        assert last_text is not None
        extracted = Extracted(
            text=last_text.text, title=last_text.title, byline=last_text.byline, extractor="test"
        )
    result = record(
        archive.sessions, Capture(url=restored_url, fetched_at=at + timedelta(hours=2), extracted=extracted)
    )
    assert result.change_kind is not None and result.change_kind.value == "restored", result
