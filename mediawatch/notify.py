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

from archive.db import Archive
from archive.models import ChangeKind
from archive.reports import Digest, Edit, digest, one_line, render
from archive.textsafe import control_safe
from crawler.config import NotifyTarget

logger = logging.getLogger(__name__)

MAX_TITLE = 250  # chat services cut long titles; ours name the run, not an article
DIGEST_ITEMS = 30  # per section of a posted digest; the totals still count everything
EDITS_SCANNED = 1000  # edits looked at per run for edit-by-edit messages


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
                ok = bool(
                    client.notify(title=message.title, body=message.body, body_format=formats[message.format])
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


def notify_run(
    archive: Archive, targets: list[NotifyTarget], run_id: int, since: datetime, until: datetime
) -> NotifyResult:
    """Post a finished run's digest or edits to the targets; a failure is counted (on the run row too)."""
    from sqlalchemy.exc import SQLAlchemyError

    from archive.models import CrawlRun

    if not targets:
        return NotifyResult()
    try:
        result = notify_window(archive, targets, since=since, until=until)
    except SQLAlchemyError as exc:
        return NotifyResult(failed=[f"cannot read the run's digest: {exc}"])
    try:
        with archive.transaction() as session:
            row = session.get(CrawlRun, run_id)
            if row is not None:
                row.counters = {**(row.counters or {}), "notifications": result.as_dict()}
    except SQLAlchemyError:
        pass  # the run itself is recorded; the count of messages is a nicety
    return result
