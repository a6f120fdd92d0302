"""Notifications after a run: the digest, or each substantive edit, posted through Apprise.

Targets are declared in the sources file (``notify:``, docs/running.md, Notifications) as Apprise URLs
(webhooks, e-mail, chat services), or as the name of an environment variable that holds one so a
secret never sits in the file. A target that cannot be reached is reported and counted, never
fatal: the crawl has already been recorded, and the next run still notifies.

Everything crawled (titles, URLs) reaches the message through the digest renderers of
:mod:`archive.reports`, which escape it for the message's format.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from archive.db import Archive
from archive.models import ChangeKind
from archive.reports import Digest, Edit, digest, one_line, render
from archive.textsafe import control_safe

logger = logging.getLogger(__name__)

MAX_TITLE = 250  # chat services cut long titles; ours name the run, not an article
DIGEST_ITEMS = 30  # per section of a posted digest; the totals still count everything
EDITS_SCANNED = 1000  # edits looked at per run for edit-by-edit messages


class NotifyTarget(BaseModel):
    """One place to post to. ``url`` is an Apprise URL: https://github.com/caronc/apprise/wiki."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, min_length=3, max_length=4000)
    url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    send: Literal["digest", "edits"] = "digest"
    format: Literal["text", "markdown", "html"] = "text"
    # digest: "changes" posts only when the run found a new article or an edit, or a run failed.
    when: Literal["changes", "always"] = "changes"
    # edits: a text edit counts when it adds or removes at least this many words.
    min_words: int = Field(default=1, ge=0)
    include_metadata: bool = False  # edits: also post headline/byline-only changes
    max_messages: int = Field(default=20, ge=1, le=1000)  # edits: then one "and N more" message
    viewer_url: str | None = None  # the web viewer's address, for links to diffs

    @model_validator(mode="after")
    def _one_url(self) -> NotifyTarget:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        if self.viewer_url is not None and urlsplit(self.viewer_url).scheme not in ("http", "https"):
            raise ValueError("viewer_url must be an http(s) URL")
        return self

    def label(self, index: int) -> str:
        """How the target is named in messages: never the URL itself, which may hold a secret."""
        if self.url_env is not None:
            return f"notify[{index}] (${self.url_env})"
        scheme = (self.url or "").split("://", 1)[0][:20]
        return f"notify[{index}] ({scheme})"


@dataclass
class NotifyResult:
    sent: int = 0  # messages delivered
    failed: list[str] = field(default_factory=list)  # one line per target that failed

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": len(self.failed)}


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    format: str


def substantive(edit: Edit, target: NotifyTarget) -> bool:
    """Whether an edit is worth a message of its own for this target."""
    if edit.change_kind in (ChangeKind.REMOVED.value, ChangeKind.RESTORED.value):
        return True
    if edit.change_kind == ChangeKind.METADATA.value:
        return target.include_metadata
    if edit.change_kind == ChangeKind.TEXT.value:
        return edit.words_added + edit.words_removed >= max(target.min_words, 1)
    return False  # re-derivations are the extractor's changes, not the publisher's


def messages_for(result: Digest, target: NotifyTarget) -> list[Message]:
    """The messages one target gets for a digest (none when there is nothing to say)."""
    base_url = target.viewer_url or ""
    if target.send == "digest":
        if target.when == "changes" and result.empty:
            return []
        title = f"mediawatch: {result.edits_total} edits, {result.new_articles_total} new articles" + (
            f", {len(result.failed_runs)} failed runs" if result.failed_runs else ""
        )
        short = replace(
            result, edits=result.edits[:DIGEST_ITEMS], new_articles=result.new_articles[:DIGEST_ITEMS]
        )
        body = render(short, target.format, base_url=base_url, safe=control_safe)
        return [Message(title, body, target.format)]
    edits = [e for e in result.edits if substantive(e, target)]
    out = []
    for edit in edits[: target.max_messages]:
        single = replace(
            result, edits=[edit], edits_total=1, new_articles=[], new_articles_total=0, failed_runs=[]
        )
        title = f"mediawatch: edited: {one_line(control_safe(edit.title), 120)}"[:MAX_TITLE]
        body = render(single, target.format, base_url=base_url, safe=control_safe)
        out.append(Message(title, body, target.format))
    if len(edits) > target.max_messages:
        more = len(edits) - target.max_messages
        out.append(Message("mediawatch: more edits", f"… and {more} more edits in this run.", "text"))
    return out


def _resolve_url(target: NotifyTarget, index: int) -> str:
    if target.url is not None:
        return target.url
    assert target.url_env is not None
    value = os.environ.get(target.url_env, "").strip()
    if not value:
        raise ValueError(f"{target.label(index)}: environment variable {target.url_env} is not set")
    return value


def deliver(targets: list[NotifyTarget], result: Digest) -> NotifyResult:
    """Post to every target; one target's failure does not stop the others."""
    import apprise

    outcome = NotifyResult()
    formats = {
        "text": apprise.NotifyFormat.TEXT,
        "markdown": apprise.NotifyFormat.MARKDOWN,
        "html": apprise.NotifyFormat.HTML,
    }
    for index, target in enumerate(targets):
        label = target.label(index)
        try:  # first, so that a missing variable is reported on every run, not only eventful ones
            url = _resolve_url(target, index)
        except ValueError as exc:
            outcome.failed.append(str(exc))
            continue
        messages = messages_for(result, target)
        if not messages:
            continue
        client = apprise.Apprise()
        if not client.add(url):
            outcome.failed.append(f"{label}: not a URL Apprise understands")
            continue
        failures = 0
        for message in messages:
            try:
                ok = client.notify(
                    title=message.title, body=message.body, body_format=formats[message.format]
                )
            except Exception as exc:  # a plugin bug must not cost the run its other targets
                logger.warning("%s: %r", label, exc)
                ok = False
            if ok:
                outcome.sent += 1
            else:
                failures += 1
        if failures:
            outcome.failed.append(f"{label}: {failures} of {len(messages)} message(s) not delivered")
    return outcome


def notify_window(
    archive: Archive, targets: list[NotifyTarget], *, since: datetime, until: datetime
) -> NotifyResult:
    """Build the digest of [since, until) and post it to the targets."""
    if not targets:
        return NotifyResult()
    with archive.reading() as session:
        result = digest(session, since=since, until=until, limit=EDITS_SCANNED)
    outcome = deliver(targets, result)
    for line in outcome.failed:
        logger.warning("notification failed: %s", line)
    return outcome
