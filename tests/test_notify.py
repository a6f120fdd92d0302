"""Notifications: after a real crawl the digest and each substantive edit reach a loopback webhook
through Apprise; a dead target is reported (and cron mailed) without costing the run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from crawl_site import (
    QuietHandler,
    Site,
    healthy_pages,
    rewrite_feed,
    run_crawl_cli,
    serve_loopback,
    sources_file,
    stop_loopback,
    with_edit,
)

from archive.db import Archive
from archive.errors import ConfigError
from archive.reports import Digest, Edit
from crawler.config import load_sources
from mediawatch.notify import NotifyTarget, messages_for


class Webhook:
    """A loopback endpoint that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        hook = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.posts.append({"path": self.path, **json.loads(body)})
                self.reply(200)

        self.server = serve_loopback(Handler)

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["path"] == path]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    stop_loopback(hook.server)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_crawl_posts_digest_and_each_edit(tmp_path: Path, corpus: Path, site: Site, webhook: Webhook) -> None:
    pages = healthy_pages(corpus, 2)
    for page in pages:
        site.set(page.path, page.raw)
    site.set(
        "/feed.xml", rewrite_feed(corpus, site, [p.path for p in pages]), content_type="application/rss+xml"
    )
    dead = f"json://127.0.0.1:{closed_port()}/nobody"
    sources = sources_file(
        tmp_path,
        "sources: []\nnotify:\n"
        f"  - {{url: '{webhook.url('/digest')}', send: digest, format: markdown,"
        " viewer_url: 'https://archive.example.org'}\n"
        f"  - {{url: '{webhook.url('/edits')}', send: edits, min_words: 3}}\n"
        f"  - {{url: '{dead}'}}\n",
    )
    db = f"sqlite:///{tmp_path / 'a.db'}"
    args = ("--sources", str(sources), "--topic", "none", "--feed", site.url("/feed.xml"), "--no-discovery")

    code, report, stderr = run_crawl_cli(db, *args, "--revisit", "none")
    assert code == 0, stderr
    digests = webhook.at("/digest")
    assert len(digests) == 1
    assert digests[0]["title"].startswith("mediawatch: 0 edits, 2 new articles")
    assert site.url(pages[0].path) in digests[0]["message"]
    assert webhook.at("/edits") == []  # new articles are not edits
    # The dead target is counted and named without its URL, and the run still completed.
    assert report["notifications"] == {"sent": 1, "failed": 1}
    assert "notification failed: notify[2] (json)" in stderr

    # A real edit to one article: the edits target gets that one, with a link to its diff.
    marker = " The ministry later said that four more soldiers were wounded at the crossing."
    site.set(pages[0].path, with_edit(pages[0], marker))
    code, report, stderr = run_crawl_cli(db, *args, "--revisit", "all")
    assert code == 0, stderr
    edits = webhook.at("/edits")
    assert len(edits) == 1
    assert edits[0]["title"].startswith("mediawatch: edited: ")
    assert "v1->v2" in edits[0]["message"]
    second = webhook.at("/digest")[-1]
    assert second["title"].startswith("mediawatch: 1 edits, 0 new articles")
    assert "https://archive.example.org/articles/" in second["message"]
    assert "/diff?a=1&b=2" in second["message"]


def test_report_notify_exits_7_when_a_target_fails(tmp_path: Path, webhook: Webhook) -> None:
    hook_url = webhook.url("/daily")
    sources = sources_file(
        tmp_path,
        "sources: []\nnotify:\n"
        f"  - {{url: '{hook_url}', when: always}}\n"
        "  - {url_env: MEDIAWATCH_TEST_NOTIFY_URL}\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "MEDIAWATCH_TEST_NOTIFY_URL"}
    Archive(f"sqlite:///{tmp_path / 'a.db'}").close()  # an empty archive (report never creates one)
    cmd = [
        sys.executable,
        "-m",
        "mediawatch",
        "report",
        "--notify",
        "--sources",
        str(sources),
        "--db",
        f"sqlite:///{tmp_path / 'a.db'}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 7, proc.stderr
    assert "MEDIAWATCH_TEST_NOTIFY_URL is not set" in proc.stderr
    assert [p["title"] for p in webhook.at("/daily")] == ["mediawatch: 0 edits, 0 new articles"]

    # With the variable set: the `when: always` target gets the empty digest again, the other nothing.
    env["MEDIAWATCH_TEST_NOTIFY_URL"] = webhook.url("/secret")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(webhook.at("/daily")) == 2
    assert webhook.at("/secret") == []  # nothing happened, and that target only posts changes


def _edit(**kwargs: Any) -> Edit:
    base: dict[str, Any] = dict(
        article_id=7,
        url="https://example.org/a",
        title="Title",
        from_seq=1,
        to_seq=2,
        change_kind="text",
        seen=datetime(2026, 3, 1, tzinfo=UTC),
        words_added=1,
        words_removed=0,
    )
    return Edit(**{**base, **kwargs})


def _digest(edits: list[Edit]) -> Digest:
    when = datetime(2026, 3, 1, tzinfo=UTC)
    return Digest(
        since=when, until=when, new_articles=[], new_articles_total=0, edits=edits, edits_total=len(edits)
    )


def test_edit_messages_skip_trivial_and_escape_crawled_titles() -> None:
    hostile = "<img src=x onerror=alert(1)> [click](javascript:alert(2))"
    edits = [
        _edit(title=hostile, words_added=5),
        _edit(article_id=8, words_added=1),  # below min_words
        _edit(article_id=9, change_kind="metadata", words_added=0),
        _edit(article_id=10, change_kind="removed", words_added=0),
        _edit(article_id=11, change_kind="rederived", words_added=50),  # the extractor's change
    ]
    target = NotifyTarget(url="json://127.0.0.1/x", send="edits", format="markdown", min_words=3)
    messages = messages_for(_digest(edits), target)
    assert len(messages) == 2  # the 5-word edit and the removal
    body = messages[0].body
    assert "<img" not in body and "](javascript" not in body
    assert "&lt;img" in body
    with_metadata = messages_for(_digest(edits), target.model_copy(update={"include_metadata": True}))
    assert len(with_metadata) == 3
    # Plain text (mail): control characters in a crawled title cannot drive the reader's terminal.
    text_target = target.model_copy(update={"format": "text"})
    [message] = messages_for(_digest([_edit(title="Breaking\x1b[2J\u202e news", words_added=9)]), text_target)
    assert "\x1b" not in message.title + message.body and "\u202e" not in message.title + message.body
    assert "\\u001b[2J" in message.body
    capped = messages_for(
        _digest([_edit(article_id=i, words_added=9) for i in range(30)]),
        target.model_copy(update={"max_messages": 5}),
    )
    assert len(capped) == 6 and capped[-1].body == "… and 25 more edits in this run."


def test_bad_notify_config_is_one_clear_line(tmp_path: Path) -> None:
    sources = sources_file(tmp_path, "sources: []\nnotify:\n  - {send: digest}\n")
    with pytest.raises(ConfigError, match=r"sources.yaml:5: notify\[0\]: give exactly one of url or url_env"):
        load_sources(sources)
    sources.write_text(sources.read_text().replace("{send: digest}", "{url: 'json://h/x', send: sometimes}"))
    with pytest.raises(ConfigError, match=r"notify\[0\]\.send"):
        load_sources(sources)
