"""The digest (``mediawatch report``): new articles, edits and runs since a moment, short enough for
a cron mail. Rendered as text, Markdown, HTML or JSON; every crawled string is escaped for the
format it lands in, and links are built only from ids and http(s) URLs.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from archive.diff import word_counts
from archive.models import Article, ChangeKind, CrawlRun, Version
from archive.runs import RunRow

FORMATS = ("text", "markdown", "html", "json")
MAX_TITLE = 200
OK_STATUSES = ("completed", "running")  # any other run status is trouble worth a line


@dataclass(frozen=True)
class NewArticle:
    id: int
    url: str
    title: str | None
    first_seen: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "first_seen": self.first_seen.isoformat(),
        }


@dataclass(frozen=True)
class Edit:
    article_id: int
    url: str
    title: str | None
    from_seq: int
    to_seq: int
    change_kind: str
    seen: datetime
    words_added: int
    words_removed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "url": self.url,
            "title": self.title,
            "from": self.from_seq,
            "to": self.to_seq,
            "change_kind": self.change_kind,
            "seen": self.seen.isoformat(),
            "words_added": self.words_added,
            "words_removed": self.words_removed,
        }


@dataclass(frozen=True)
class Digest:
    since: datetime
    until: datetime
    new_articles: list[NewArticle]
    new_articles_total: int
    edits: list[Edit]
    edits_total: int
    runs: dict[str, int] = field(default_factory=dict)  # status -> count
    failed_runs: list[tuple[int, str, str | None]] = field(default_factory=list)  # (id, status, message)

    @property
    def empty(self) -> bool:
        return not (self.new_articles_total or self.edits_total or self.failed_runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "runs": self.runs,
            "failed_runs": [{"id": i, "status": s, "message": m} for i, s, m in self.failed_runs],
            "new_articles_total": self.new_articles_total,
            "new_articles": [a.as_dict() for a in self.new_articles],
            "edits_total": self.edits_total,
            "edits": [e.as_dict() for e in self.edits],
        }


def digest(session: Session, *, since: datetime, until: datetime, limit: int = 50) -> Digest:
    """What happened in [since, until): new articles, new versions of older ones, runs."""
    limit = max(1, min(limit, 1000))
    latest = aliased(Version)
    new_q = (
        select(Article, latest.title)
        .outerjoin(latest, (latest.article_id == Article.id) & (latest.seq == Article.version_count))
        .where(Article.first_seen >= since, Article.first_seen < until)
    )
    new_total = session.scalar(select(func.count()).select_from(new_q.subquery())) or 0
    new_rows = session.execute(
        new_q.order_by(Article.first_seen.desc(), Article.id.desc()).limit(limit)
    ).all()

    edit_where = (Version.first_seen >= since, Version.first_seen < until, Version.seq > 1)
    edits_total = session.scalar(select(func.count()).select_from(Version).where(*edit_where)) or 0
    edit_rows = session.execute(
        select(Version, Article.canonical_url)
        .join(Article, Article.id == Version.article_id)
        .where(*edit_where)
        .order_by(Version.first_seen.desc(), Version.id.desc())
        .limit(limit)
    ).all()
    edits = []
    for version, url in edit_rows:
        previous = session.scalar(
            select(Version)
            .where(Version.article_id == version.article_id, Version.seq < version.seq, Version.text != "")
            .order_by(Version.seq.desc())
            .limit(1)
        )
        added, removed = word_counts(previous.text, version.text) if previous else (0, 0)
        edits.append(
            Edit(
                article_id=version.article_id,
                url=url,
                title=version.title or (previous.title if previous else None),
                from_seq=previous.seq if previous else version.seq - 1,
                to_seq=version.seq,
                change_kind=version.change_kind.value,
                seen=version.first_seen,
                words_added=added,
                words_removed=removed,
            )
        )

    run_where = (CrawlRun.started_at >= since, CrawlRun.started_at < until)
    runs = dict(
        session.execute(
            select(CrawlRun.status, func.count()).where(*run_where).group_by(CrawlRun.status)
        ).all()
    )
    failed = session.scalars(
        select(CrawlRun)
        .where(*run_where, CrawlRun.status.not_in(OK_STATUSES))
        .order_by(CrawlRun.id.desc())
        .limit(20)
    ).all()
    return Digest(
        since=since,
        until=until,
        new_articles=[NewArticle(a.id, a.canonical_url, t, a.first_seen) for a, t in new_rows],
        new_articles_total=int(new_total),
        edits=edits,
        edits_total=int(edits_total),
        runs={str(k): int(v) for k, v in runs.items()},
        failed_runs=[(run.id, run.status, _failure_line(run)) for run in failed],
    )


def _failure_line(run: CrawlRun) -> str | None:
    """A failed run's message, with its top failure causes when the message does not name them
    (runs recorded before the message carried them said only their status)."""
    row = RunRow.from_run(run)
    causes = row.top_failures
    if not causes or (row.message and causes in row.message):
        return row.message
    if row.message in (None, row.status):
        return causes
    return f"{row.message}: {causes}"


# ---------------------------------------------------------------------------------------------
# Rendering


def one_line(value: str | None, limit: int = MAX_TITLE) -> str:
    """A title on one line, at most ``limit`` characters ("(untitled)" when empty)."""
    value = " ".join((value or "").split()) or "(untitled)"
    return value if len(value) <= limit else value[: limit - 1] + "…"


def is_web_url(url: str) -> bool:
    try:
        return urlsplit(url).scheme in ("http", "https")
    except ValueError:
        return False


def diff_path(edit: Edit, base_url: str = "") -> str:
    query = urlencode({"a": edit.from_seq, "b": edit.to_seq})
    return f"{base_url.rstrip('/')}/articles/{edit.article_id}/diff?{query}"


def _change(edit: Edit) -> str:
    if edit.change_kind == ChangeKind.REMOVED.value:
        return "removed"
    if edit.change_kind == ChangeKind.RESTORED.value:
        return "restored"
    if edit.change_kind == ChangeKind.METADATA.value:
        return "metadata changed"
    return f"+{edit.words_added}/-{edit.words_removed} words"


def _window(d: Digest) -> str:
    return f"{d.since:%Y-%m-%d %H:%M} – {d.until:%Y-%m-%d %H:%M} UTC"


def _runs_line(d: Digest) -> str:
    if not d.runs:
        return "no runs"
    return ", ".join(f"{n} {status}" for status, n in sorted(d.runs.items()))


def _more(shown: int, total: int) -> int:
    return max(0, total - shown)


def render_text(d: Digest, *, safe: Any = lambda s: s) -> str:
    """Plain text; ``safe`` neutralises terminal control characters (the CLI passes its own)."""
    out = [f"mediawatch digest {_window(d)}", f"runs: {_runs_line(d)}"]
    for run_id, status, message in d.failed_runs:
        out.append(f"  run {run_id} {status}: {safe(message or '')}")
    out.append("")
    out.append(f"{d.edits_total} edits")
    for e in d.edits:
        out.append(f"- {safe(one_line(e.title))} ({_change(e)}, v{e.from_seq}->v{e.to_seq})")
        out.append(f"    mediawatch diff {safe(shlex.quote(e.url))} {e.from_seq} {e.to_seq}")
    if _more(len(d.edits), d.edits_total):
        out.append(f"  … and {_more(len(d.edits), d.edits_total)} more")
    out.append("")
    out.append(f"{d.new_articles_total} new articles")
    for a in d.new_articles:
        out.append(f"- {safe(one_line(a.title))}")
        out.append(f"    {safe(a.url)}")
    if _more(len(d.new_articles), d.new_articles_total):
        out.append(f"  … and {_more(len(d.new_articles), d.new_articles_total)} more")
    return "\n".join(out) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_escape(value: str) -> str:
    """Markdown-escape text and neutralise any inline HTML in it."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(value, quote=False))


def _md_url(url: str) -> str:
    # An autolink only for a web URL with nothing that could close it; else inert code.
    if is_web_url(url) and not re.search(r"[\s<>`]", url):
        return f"<{url}>"
    return "`" + url.replace("`", "'") + "`"


def render_markdown(d: Digest, *, base_url: str = "") -> str:
    out = [f"## mediawatch digest {_window(d)}", "", f"Runs: {_runs_line(d)}"]
    for run_id, status, message in d.failed_runs:
        out.append(f"- run {run_id} **{status}**: {md_escape(message or '')}")
    out += ["", f"### {d.edits_total} edits", ""]
    for e in d.edits:
        out.append(
            f"- [{md_escape(one_line(e.title))}]({diff_path(e, base_url)}) — {md_escape(_change(e))}, "
            f"v{e.from_seq}→v{e.to_seq} · {_md_url(e.url)}"
        )
    if _more(len(d.edits), d.edits_total):
        out.append(f"- … and {_more(len(d.edits), d.edits_total)} more")
    out += ["", f"### {d.new_articles_total} new articles", ""]
    for a in d.new_articles:
        out.append(f"- {md_escape(one_line(a.title))} · {_md_url(a.url)}")
    if _more(len(d.new_articles), d.new_articles_total):
        out.append(f"- … and {_more(len(d.new_articles), d.new_articles_total)} more")
    return "\n".join(out) + "\n"


def render_html(d: Digest, *, base_url: str = "") -> str:
    esc = html.escape

    def link(url: str) -> str:
        if is_web_url(url):
            return f'<a href="{esc(url)}" rel="nofollow noreferrer">{esc(url)}</a>'
        return f"<code>{esc(url)}</code>"

    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>mediawatch digest</title></head><body>',
        f"<h2>mediawatch digest {esc(_window(d))}</h2>",
        f"<p>Runs: {esc(_runs_line(d))}</p>",
    ]
    if d.failed_runs:
        out.append("<ul>")
        out += [f"<li>run {i} <strong>{esc(s)}</strong>: {esc(m or '')}</li>" for i, s, m in d.failed_runs]
        out.append("</ul>")
    out.append(f"<h3>{d.edits_total} edits</h3><ul>")
    for e in d.edits:
        out.append(
            f'<li><a href="{esc(diff_path(e, base_url))}">{esc(one_line(e.title))}</a> — '
            f"{esc(_change(e))}, v{e.from_seq}→v{e.to_seq} · {link(e.url)}</li>"
        )
    if _more(len(d.edits), d.edits_total):
        out.append(f"<li>… and {_more(len(d.edits), d.edits_total)} more</li>")
    out.append(f"</ul><h3>{d.new_articles_total} new articles</h3><ul>")
    for a in d.new_articles:
        out.append(f"<li>{esc(one_line(a.title))} · {link(a.url)}</li>")
    if _more(len(d.new_articles), d.new_articles_total):
        out.append(f"<li>… and {_more(len(d.new_articles), d.new_articles_total)} more</li>")
    out.append("</ul></body></html>")
    return "\n".join(out) + "\n"


def render(d: Digest, fmt: str, *, base_url: str = "", safe: Any = lambda s: s) -> str:
    if fmt == "json":
        return json.dumps(d.as_dict(), ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return render_markdown(d, base_url=base_url)
    if fmt == "html":
        return render_html(d, base_url=base_url)
    return render_text(d, safe=safe)
