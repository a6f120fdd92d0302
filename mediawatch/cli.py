"""The ``mediawatch`` command: thin functions that call into crawler/ and archive/.

Each command parses its options, calls one function and renders the result. Errors a user
can act on are one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mediawatch.errors import InputError, MediawatchError

F = TypeVar("F", bound=Callable[..., Any])
# C0/C1 control characters (ESC, BEL, …) except newline and tab, and bidi overrides:
# archived text must not drive the terminal (RELIABILITY.md H7).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str | None) -> str:
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text or "")


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


class MediawatchGroup(click.Group):
    """Turns MediawatchError into one line on stderr with the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MediawatchError as exc:
            click.echo(f"Error: {terminal_safe(str(exc))}", err=True)
            ctx.exit(exc.exit_code)


def archive_options(func: F) -> F:
    """``--db URL``: the archive database (else MEDIAWATCH_DATABASE_URL, else ./mediawatch.db)."""

    @click.option(
        "--db",
        "db_url",
        envvar="MEDIAWATCH_DATABASE_URL",
        default=None,
        metavar="URL",
        help="Database URL [env: MEDIAWATCH_DATABASE_URL; default: sqlite:///mediawatch.db]",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def open_archive(db_url: str | None, *, readonly: bool = False) -> Any:
    from mediawatch.archive.db import Archive

    return Archive(db_url, readonly=readonly)


def parse_when(value: str) -> Any:
    from mediawatch.archive.importer import parse_timestamp

    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):
        raise InputError(f"not a date or time: {value!r} (use ISO 8601, e.g. 2012-06-18T03:00Z)") from None


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("trafilatura", "htmldate", "charset_normalizer", "courlan"):
        logging.getLogger(noisy).setLevel(max(level, logging.ERROR))


@click.group(cls=MediawatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
@click.version_option(package_name="mediawatch")
def cli(verbose: int) -> None:
    """Watch news and commentary on a topic and archive every version of every article.

    Example: mediawatch crawl
    """
    _configure_logging(verbose)


# ---------------------------------------------------------------------------------------------
# db


@cli.group()
def db() -> None:
    """Database schema management.

    Example: mediawatch db upgrade
    """


@db.command("upgrade")
@archive_options
def db_upgrade(db_url: str | None) -> None:
    """Bring the database to the newest schema (every command also does this by itself).

    Example: mediawatch db upgrade --db postgresql+psycopg://localhost/mediawatch
    """
    from mediawatch.archive.db import current_revision

    archive = open_archive(db_url)
    click.echo(f"database at schema revision {current_revision(archive.engine)}")


# ---------------------------------------------------------------------------------------------
# extract and import


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", default=None, help="The page's URL (helps metadata extraction).")
def extract(files: tuple[Path, ...], url: str | None) -> None:
    """Extract article text and metadata from saved HTML files; one JSON object per file.

    Example: mediawatch extract page.html other-page.html.gz
    """
    from mediawatch.archive.extract import ExtractionError
    from mediawatch.archive.extract import extract as extract_page

    failed = 0
    for path in files:
        try:
            raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
            result: dict[str, Any] = {"file": str(path), **extract_page(raw, url=url).as_dict()}
        except (OSError, EOFError, ExtractionError) as exc:
            failed += 1
            click.echo(f"Error: {path}: {exc}", err=True)
            continue
        click.echo(json.dumps(result, ensure_ascii=False))
    if failed:
        sys.exit(1)


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@archive_options
def import_(files: tuple[Path, ...], as_json: bool, db_url: str | None) -> None:
    """Import captures from JSON Lines files (url, fetched_at, html | title+text+authors).

    Records are applied in fetched_at order per article, so another tool's archive becomes a
    version history.

    Example: mediawatch import nyt-captures.jsonl
    """
    from mediawatch.archive.importer import import_jsonl

    archive = open_archive(db_url)
    for path in files:
        with _progress(f"importing {path.name}") as advance:
            summary = import_jsonl(archive, path, progress=advance)
        if as_json:
            click.echo(json.dumps({"file": str(path), **summary.as_dict()}))
            continue
        out = stdout()
        out.print(
            f"{terminal_safe(str(path))}: {summary.records} records, "
            f"{summary.new_articles} new articles, {summary.new_versions} new versions"
        )
        out.print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(summary.outcomes.items())))
        for number, reason in summary.rejected[:20]:
            stderr().print(f"  line {number} rejected: {terminal_safe(reason)}")
        if len(summary.rejected) > 20:
            stderr().print(f"  … and {len(summary.rejected) - 20} more rejected lines")


class _progress:
    """A rich progress bar on a terminal; silent otherwise (cron, pipes, tests)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[[int, int], None]:
        console = Console(stderr=True)
        if not console.is_terminal:
            return lambda done, total: None
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task(self.label, total=None)

        def advance(done: int, total: int) -> None:
            assert self.bar is not None
            self.bar.update(task, completed=done, total=total)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


# ---------------------------------------------------------------------------------------------
# archivist views


@cli.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per article.")
@archive_options
def articles(limit: int, offset: int, as_json: bool, db_url: str | None) -> None:
    """List archived articles, newest first.

    Example: mediawatch articles --limit 20
    """
    from mediawatch.archive.queries import list_articles

    archive = open_archive(db_url)
    with archive.reading() as session:
        rows = list_articles(session, limit=limit, offset=offset)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row.as_dict(), ensure_ascii=False))
        return
    table = Table("id", "versions", "status", "first seen", "title / url")
    for row in rows:
        table.add_row(
            str(row.id),
            str(row.versions),
            row.status,
            f"{row.first_seen:%Y-%m-%d %H:%M}",
            f"{terminal_safe(row.title or '')}\n[dim]{terminal_safe(row.url)}[/dim]",
        )
    stdout().print(table)


@cli.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
@archive_options
def versions(url: str, as_json: bool, db_url: str | None) -> None:
    """List every version of an article: when it appeared, what kind of change, how much.

    Example: mediawatch versions https://www.dawn.com/news/1234567
    """
    from mediawatch.archive.queries import require_article, version_rows

    archive = open_archive(db_url)
    with archive.reading() as session:
        article = require_article(session, url)
        rows = version_rows(session, article.id)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row.as_dict(), ensure_ascii=False))
        return
    table = Table("seq", "change", "first seen", "last seen", "chars", "+words", "-words", "title")
    for r in rows:
        table.add_row(
            str(r.seq),
            r.change_kind + ("*" if r.flags else ""),
            f"{r.first_seen:%Y-%m-%d %H:%M}",
            f"{r.last_seen:%Y-%m-%d %H:%M}",
            str(r.length),
            str(r.words_added),
            str(r.words_removed),
            terminal_safe(r.title or ""),
        )
    stdout().print(f"[bold]{terminal_safe(article.canonical_url)}[/bold]")
    stdout().print(table)


@cli.command()
@click.argument("url")
@click.option("--version", "seq", type=int, default=None, help="Version number (seq).")
@click.option("--at", "at", default=None, help="What the article said at this date/time.")
@click.option("--json", "as_json", is_flag=True)
@archive_options
def show(url: str, seq: int | None, at: str | None, as_json: bool, db_url: str | None) -> None:
    """Print one version of an article (the latest unless --version or --at).

    Example: mediawatch show https://www.dawn.com/news/1234567 --at 2026-03-03
    """
    from mediawatch.archive import queries

    archive = open_archive(db_url)
    with archive.reading() as session:
        article = queries.require_article(session, url)
        if seq is not None:
            v = queries.version_by_seq(session, article.id, seq)
        elif at is not None:
            v = queries.version_at(session, article.id, parse_when(at))
        else:
            all_versions = queries.versions_of(session, article.id)
            if not all_versions:
                raise InputError("the article has no versions")
            v = all_versions[-1]
    if as_json:
        click.echo(json.dumps(version_dict(article.canonical_url, v), ensure_ascii=False))
        return
    click.echo(f"# {terminal_safe(v.title)}")
    click.echo(f"{terminal_safe(article.canonical_url)}")
    click.echo(
        f"version {v.seq} ({v.change_kind.value}), first seen {v.first_seen.astimezone(UTC):%Y-%m-%d %H:%M}"
        f" UTC, last seen {v.last_seen.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )
    if v.byline:
        click.echo(f"by {terminal_safe(v.byline)}")
    click.echo("")
    click.echo(terminal_safe(v.text))


def version_dict(url: str, v: Any) -> dict[str, Any]:
    return {
        "url": url,
        "seq": v.seq,
        "change_kind": v.change_kind.value,
        "first_seen": v.first_seen.isoformat(),
        "last_seen": v.last_seen.isoformat(),
        "title": v.title,
        "byline": v.byline,
        "published": v.published,
        "modified": v.modified,
        "language": v.language,
        "text": v.text,
        "extractor": v.extractor,
        "flags": v.flags,
    }


@cli.command()
@click.argument("url")
@click.argument("a", type=int, required=False)
@click.argument("b", type=int, required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["words", "unified", "json"]),
    default="words",
    show_default=True,
)
@archive_options
def diff(url: str, a: int | None, b: int | None, fmt: str, db_url: str | None) -> None:
    """Show what changed between two versions (default: the last two).

    Example: mediawatch diff https://www.dawn.com/news/1234567 1 3 --format unified
    """
    from mediawatch.archive import queries
    from mediawatch.archive.diff import unified, word_ops

    archive = open_archive(db_url)
    with archive.reading() as session:
        article = queries.require_article(session, url)
        all_versions = queries.versions_of(session, article.id)
        if a is not None and b is not None:
            old, new = (queries.version_by_seq(session, article.id, s) for s in (a, b))
        elif a is not None:
            old = queries.version_by_seq(session, article.id, a)
            new = all_versions[-1]
        else:
            old, new = queries.default_diff_pair(all_versions)
    ops = word_ops(old.text, new.text)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "url": article.canonical_url,
                    "from": old.seq,
                    "to": new.seq,
                    "metadata": {
                        f: {"from": getattr(old, f), "to": getattr(new, f)}
                        for f in ("title", "byline", "published", "modified")
                        if getattr(old, f) != getattr(new, f)
                    },
                    "ops": [{"op": op.kind, "text": op.text} for op in ops],
                },
                ensure_ascii=False,
            )
        )
        return
    if fmt == "unified":
        click.echo(
            terminal_safe(
                unified(old.text, new.text, old_label=f"version {old.seq}", new_label=f"version {new.seq}")
            )
        )
        return
    colour = sys.stdout.isatty()
    click.echo(f"version {old.seq} -> version {new.seq}")
    for field_name in ("title", "byline", "published", "modified"):
        if getattr(old, field_name) != getattr(new, field_name):
            click.echo(
                f"{field_name}: {terminal_safe(getattr(old, field_name))!s} -> "
                f"{terminal_safe(getattr(new, field_name))!s}"
            )
    parts = []
    for op in ops:
        text = terminal_safe(op.text)
        if op.kind == "insert":
            parts.append(click.style(f"{{+{text}+}}", fg="green") if colour else f"{{+{text}+}}")
        elif op.kind == "delete":
            parts.append(click.style(f"[-{text}-]", fg="red") if colour else f"[-{text}-]")
        else:
            parts.append(text)
    click.echo(" ".join(parts).replace(" \n", "\n").replace("\n ", "\n"))


# ---------------------------------------------------------------------------------------------
# ---- dedup and versioning (issue 5) ----


@cli.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per linked copy.")
@archive_options
def duplicates(url: str, as_json: bool, db_url: str | None) -> None:
    """List other articles carrying the same story (republished, syndicated, near-identical).

    Example: mediawatch duplicates https://www.dawn.com/news/1234567
    """
    from mediawatch.archive.dedup import duplicates_for_url

    archive = open_archive(db_url)
    with archive.reading() as session:
        article, found = duplicates_for_url(session, url)
    if as_json:
        for duplicate in found:
            click.echo(json.dumps(duplicate.as_dict(), ensure_ascii=False))
        return
    stdout().print(f"[bold]{terminal_safe(article.canonical_url)}[/bold]")
    if not found:
        click.echo("no republished copies linked")
        return
    table = Table("kind", "similarity", "first seen", "seen first", "url", "title")
    for d in found:
        table.add_row(
            d.kind,
            f"{d.similarity:.2f}",
            f"{d.first_seen:%Y-%m-%d %H:%M}",
            "yes" if d.seen_first else "",
            terminal_safe(d.url),
            terminal_safe(d.title or ""),
        )
    stdout().print(table)


@cli.command()
@click.option("--url", default=None, help="Only this article (else every article).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@archive_options
def rederive(url: str | None, as_json: bool, db_url: str | None) -> None:
    """Re-extract stored raw HTML with the current extractor; differences become re-derivations.

    Example: mediawatch rederive --url https://www.dawn.com/news/1234567
    """
    from mediawatch.archive.rederive import rederive as run_rederive

    archive = open_archive(db_url)
    summary = run_rederive(archive.sessions, url=url)
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
        return
    click.echo(
        f"{summary.articles} article(s), {summary.versions_checked} version(s) re-extracted, "
        f"{summary.versions_differing} read differently, {summary.recorded} re-derivation(s) recorded, "
        f"{summary.without_raw} without raw HTML, {summary.failed} failed"
    )


def main() -> None:
    cli(prog_name="mediawatch")
