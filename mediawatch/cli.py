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


# ---- crawler ----


@cli.command()
@click.option("--sources", "sources_path", type=click.Path(path_type=Path), default=None,
              help="Sources file [default: config/sources.yaml].")
@click.option("--topic", "topic", default=None, metavar="FILE|none",
              help="Topic file [default: config/topic.yaml]; 'none' archives every page found.")
@click.option(
    "--feed", "feeds", multiple=True, metavar="URL", help="Crawl this feed instead of the sources file."
)
@click.option("--sitemap", "sitemaps", multiple=True, metavar="URL",
              help="Crawl this sitemap instead of the sources file.")
@click.option("--revisit", type=click.Choice(["due", "all", "none"]), default="due", show_default=True,
              help="Re-check known articles: those due, all of them now, or none.")
@click.option("--no-discovery", is_flag=True, help="Skip the Google News and GDELT search feeds.")
@click.option("--allow-private-networks", is_flag=True,
              help="Allow fetching from loopback, private and link-local addresses (tests, demos).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Extraction processes [default: one per core].")
@click.option("--warc", "warc_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also write what was fetched as WARC/1.1 files in this directory.")
@click.option("--warc-max-size", default=None, metavar="SIZE",
              help="Start a new WARC file at this size: bytes, or with K/M/G [default: 1G].")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@archive_options
def crawl(
    sources_path: Path | None,
    topic: str | None,
    feeds: tuple[str, ...],
    sitemaps: tuple[str, ...],
    revisit: str,
    no_discovery: bool,
    allow_private_networks: bool,
    workers: int | None,
    warc_dir: Path | None,
    warc_max_size: str | None,
    as_json: bool,
    db_url: str | None,
) -> None:
    """Find new articles on the topic and re-check known ones for edits.

    Exit codes: 0 the run completed (some fetches may have failed), 2 bad configuration,
    3 database unreachable, 5 every source failed, 6 the crawler stopped abnormally.

    Example: mediawatch crawl --revisit due --warc /srv/warc
    """
    from mediawatch.crawler.run import AllSourcesFailed, CrawlAborted, CrawlOptions, run_crawl
    from mediawatch.crawler.warccapture import parse_size

    topic_path: Path | str | None = None
    if topic is not None:
        topic_path = "none" if topic.lower() == "none" else Path(topic)
    with _progress("crawling") as advance:
        report = run_crawl(
            CrawlOptions(
                sources_path=sources_path,
                topic_path=topic_path,  # type: ignore[arg-type]
                feeds=list(feeds),
                sitemaps=list(sitemaps),
                revisit=revisit,  # type: ignore[arg-type]
                discovery=not no_discovery,
                allow_private_networks=allow_private_networks,
                db_url=db_url,
                extract_workers=workers,
                progress=advance,
                warc_dir=warc_dir,
                warc_max_size=parse_size(warc_max_size) if warc_max_size else None,
            )
        )
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        _render_crawl(report)
    if report.status == "all-sources-failed":
        raise AllSourcesFailed(f"every source failed (crawl run {report.run_id}); see the reasons above")
    if report.status != "completed":
        raise CrawlAborted(f"crawl run {report.run_id} did not complete: {report.status}")


def _render_crawl(report: Any) -> None:
    c = report.counters
    out = stdout()
    seconds = (report.finished_at - report.started_at).total_seconds()
    out.print(f"[bold]crawl run {report.run_id}[/bold]: {report.status} in {seconds:.0f} s")
    rows = [
        ("new articles", c.get("new_articles", 0)),
        ("new versions (text)", c.get("new_versions_text", 0) + c.get("new_versions_restored", 0)),
        ("new versions (metadata)", c.get("new_versions_metadata", 0)),
        ("unchanged", c.get("unchanged", 0)),
        ("not modified (304)", c.get("not_modified", 0)),
        ("removed (404/410)", c.get("removed", 0)),
        ("suspect (walls, error pages)", c.get("suspect", 0)),
        ("skipped off-topic", c.get("skipped_offtopic", 0)),
        ("failed", c.get("failed", 0)),
    ]
    for label, value in rows:
        out.print(f"  {label:<30} {value}")
    warc = report.as_dict()["warc"]
    if warc:
        out.print(
            f"  WARC: {warc.get('files', 0)} files, {warc.get('responses', 0)} responses, "
            f"{warc.get('revisits', 0)} revisits, {warc.get('write_errors', 0)} write errors"
        )
    for reason, count in sorted(report.failures.items(), key=lambda kv: -kv[1])[:10]:
        out.print(f"    {count:>5}  {terminal_safe(reason)}")
    table = Table("source", "docs ok", "failed", "new", "versions", "304/same", "off-topic", "suspect")
    for name, sc in sorted(report.sources.items()):
        table.add_row(
            terminal_safe(name)[:50],
            str(sc.get("feeds_ok", 0) + sc.get("sitemaps_ok", 0)),
            str(sc.get("failed", 0)),
            str(sc.get("new_articles", 0)),
            str(sum(v for k, v in sc.items() if k.startswith("new_versions_"))),
            str(sc.get("not_modified", 0) + sc.get("unchanged", 0)),
            str(sc.get("skipped_offtopic", 0)),
            str(sc.get("suspect", 0)),
        )
    if report.sources:
        out.print(table)


@cli.command()
@click.option(
    "--db-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("mediawatch-demo.db"),
    show_default=True,
    help="The demo's SQLite database (replaced on every run).",
)
def demo(db_file: Path) -> None:
    """Crawl a fictional outlet on 127.0.0.1 twice and show the versions and the diff it found.

    Example: mediawatch demo
    """
    from mediawatch.archive import queries
    from mediawatch.archive.diff import word_ops
    from mediawatch.crawler.demo import OUTLET, run_demo

    out = stdout()
    out.print(f"Serving the fictional outlet [bold]{OUTLET}[/bold] on 127.0.0.1 and crawling it ...")
    result = run_demo(db_file)
    crawls = (("first crawl", result.first), ("second crawl (after an edit and a removal)", result.second))
    for label, report in crawls:
        c = report["counters"]
        out.print(
            f"[bold]{label}[/bold]: {c.get('new_articles', 0)} new articles, "
            f"{c.get('new_versions_text', 0)} new text versions, {c.get('unchanged', 0)} unchanged, "
            f"{c.get('removed', 0)} removed, {c.get('skipped_offtopic', 0)} skipped off-topic"
        )
    archive = open_archive(result.db_url)
    with archive.reading() as session:
        article = queries.require_article(session, result.edited_url)
        rows = queries.version_rows(session, article.id)
        old, new = queries.default_diff_pair(queries.versions_of(session, article.id))
        removed = queries.version_rows(session, queries.require_article(session, result.removed_url).id)
    out.print(f"\n[bold]versions of {terminal_safe(result.edited_url)}[/bold]")
    for r in rows:
        counts = f"+{r.words_added} -{r.words_removed}"
        out.print(f"  {r.seq}  {r.change_kind:<8} {counts:<10} {terminal_safe(r.title)}")
    out.print(f"\n[bold]word diff, version {old.seq} -> {new.seq}[/bold]")
    for op in word_ops(old.text, new.text):
        if op.kind != "equal":
            sign = "+" if op.kind == "insert" else "-"
            out.print(f"  {{{sign}{terminal_safe(op.text)}{sign}}}", markup=False)
    out.print(f"\n[bold]versions of {terminal_safe(result.removed_url)}[/bold]")
    for r in removed:
        out.print(f"  {r.seq}  {r.change_kind}")
    out.print(f"\nThe cricket report ({terminal_safe(result.skipped_url)}) was skipped as off-topic.")
    out.print(
        f"Explore it: mediawatch articles --db {result.db_url}\n"
        f"            mediawatch diff {result.edited_url} --db {result.db_url}",
        markup=False,
    )

# ---- web archives (WARC import/export, Wayback backfill) ----


def _print_counts(label: str, counts: dict[str, int]) -> None:
    if counts:
        text = ", ".join(f"{terminal_safe(k)}: {v}" for k, v in sorted(counts.items()))
        stdout().print(f"  {label}: {text}")


@cli.command("import-warc")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@archive_options
def import_warc_command(files: tuple[Path, ...], as_json: bool, db_url: str | None) -> None:
    """Import HTML captures from WARC/ARC files (gzipped or not) as fetches at their WARC-Date.

    Revisit records are resolved against their originals; non-HTML, truncated and corrupt
    records are skipped with a counted reason. Importing the same file twice changes nothing.
    Exits 1 when a file could not be read to its end (what was read before is kept).

    Example: mediawatch import-warc crawl-2026-03-01.warc.gz old-collection.arc
    """
    from mediawatch.archive.warc import import_warc

    archive = open_archive(db_url)
    with _progress("importing WARC") as advance:
        summary = import_warc(archive, list(files), progress=advance)
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        stdout().print(
            f"{summary.files} files, {summary.records} records read, {summary.taken} HTML captures recorded: "
            f"{summary.new_articles} new articles, {summary.new_versions} new versions"
        )
        _print_counts("outcomes", dict(summary.outcomes))
        _print_counts("skipped", dict(summary.skipped))
        _print_counts("notes", dict(summary.notes))
    for path, error in summary.errors:
        stderr().print(f"Error: {terminal_safe(path)}: {terminal_safe(error)}")
    if summary.errors:
        sys.exit(1)


@cli.command("export-warc")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--since", default=None, help="Only fetches at or after this date/time (ISO 8601).")
@click.option("--url", default=None, help="Only this article's fetches.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@archive_options
def export_warc_command(
    output: Path, since: str | None, url: str | None, as_json: bool, db_url: str | None
) -> None:
    """Export fetches as WARC/1.1: responses with their raw bytes, unchanged re-fetches as revisits.

    Example: mediawatch export-warc --output evidence.warc.gz --url https://www.dawn.com/news/1234567
    """
    from mediawatch.archive.warc import export_warc

    archive = open_archive(db_url, readonly=True)
    with _progress("exporting WARC") as advance:
        summary = export_warc(
            archive, output, since=parse_when(since) if since else None, url=url, progress=advance
        )
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
        return
    stdout().print(
        f"{terminal_safe(str(output))}: {summary.responses} response and {summary.revisits} revisit "
        f"records, {summary.bytes_written} bytes"
    )
    _print_counts("not exported", dict(summary.skipped))


@cli.command("backfill")
@click.argument("urls", nargs=-1)
@click.option("--all", "all_articles", is_flag=True, help="Backfill every archived article.")
@click.option("--since", default=None, help="Only captures at or after this date/time (ISO 8601).")
@click.option(
    "--cdx-endpoint",
    default="https://web.archive.org/cdx/search/cdx",
    show_default=True,
    envvar="MEDIAWATCH_CDX_ENDPOINT",
    help="Wayback CDX API [env: MEDIAWATCH_CDX_ENDPOINT].",
)
@click.option(
    "--replay-endpoint",
    default=None,
    envvar="MEDIAWATCH_REPLAY_ENDPOINT",
    help="Replay prefix for {prefix}/{timestamp}id_/{url} [default: the CDX host's /web].",
)
@click.option(
    "--delay",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds between two requests to the archive (robots.txt Crawl-delay wins if longer).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@archive_options
def backfill_command(
    urls: tuple[str, ...],
    all_articles: bool,
    since: str | None,
    cdx_endpoint: str,
    replay_endpoint: str | None,
    delay: float,
    as_json: bool,
    db_url: str | None,
) -> None:
    """Record an article's earlier Wayback captures as backfilled fetches at their capture times.

    Example: mediawatch backfill https://www.nytimes.com/2012/06/20/world/middleeast/mubarak.html
    """
    from mediawatch.archive.wayback import backfill

    archive = open_archive(db_url)
    with _progress("backfilling") as advance:
        summary = backfill(
            archive,
            list(urls),
            all_articles=all_articles,
            since=parse_when(since) if since else None,
            cdx_endpoint=cdx_endpoint,
            replay_endpoint=replay_endpoint,
            delay=delay,
            progress=advance,
        )
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        stdout().print(
            f"{summary.articles} articles, {summary.listed} captures listed, {summary.already_recorded} "
            f"already recorded, {summary.fetched} fetched: {summary.new_articles} new articles, "
            f"{summary.new_versions} new versions"
        )
        _print_counts("outcomes", dict(summary.outcomes))
        _print_counts("skipped", dict(summary.skipped))
        _print_counts("notes", dict(summary.notes))
    for url, error in summary.errors:
        stderr().print(f"Error: {terminal_safe(url)}: {terminal_safe(error)}")
    if summary.errors:
        sys.exit(1)


def main() -> None:
    cli(prog_name="mediawatch")
