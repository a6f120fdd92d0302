"""The ``mediawatch`` command: thin functions that call into crawler/ and archive/.

Each command parses its options, calls one function and renders the result. Errors a user
can act on are one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import logging
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from archive.errors import InputError, Interrupted, MediawatchError
from archive.serialize import json_text
from archive.textsafe import control_safe as terminal_safe
from mediawatch.progress import logs_above_the_bar

if TYPE_CHECKING:
    from rich.progress import Progress

F = TypeVar("F", bound=Callable[..., Any])


# Markup off: what is printed carries titles, URLs, paths and error messages from crawled pages
# and users, and rich would read "[/]" in a title as a tag (and fail) or "[link=…]" as a
# hyperlink. Styles are given as ``Text`` styles instead.
def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True, markup=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


class UsageLine(click.ClickException):
    """A usage error (bad option value, missing argument) as one line on stderr, exit code 2."""

    exit_code = 2

    def __init__(self, error: click.UsageError) -> None:
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
        super().__init__(terminal_safe(error.format_message()) + hint)


class MediawatchCommand(click.Command):
    """A command whose usage errors are one line (exit 2), and whose text arguments must be text:
    bytes that are not UTF-8 (which Python hands over as lone surrogates) are a usage error
    wherever they appear, except in file names, which may be any bytes."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise UsageLine(exc) from None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        for param in self.params:
            if isinstance(param.type, click.Path) or param.name is None:
                continue
            value = ctx.params.get(param.name)
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, str) and not _is_text(item):
                    raise click.BadParameter("not valid UTF-8 text", ctx=ctx, param=param)
        return rest


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class MediawatchGroup(click.Group):
    """Turns MediawatchError into one line on stderr with the error's exit code."""

    command_class = MediawatchCommand
    group_class = type  # subgroups (db) are MediawatchGroups too

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (MediawatchError, Interrupted) as exc:
            click.echo(f"Error: {terminal_safe(str(exc))}", err=True)
            ctx.exit(exc.exit_code)


# ---- argument types: every user value is validated here, once, so a bad one is a usage error
# (exit 2) and never reaches a query or date arithmetic.

MAX_INT = 2**31 - 1  # the largest id or version number a column holds on both backends
VERSION_NUMBER = click.IntRange(1, MAX_INT)


class HttpURLType(click.ParamType):
    """An http(s) URL with a host (what can name an article: see archive.normalize.normalize_url)."""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from archive.normalize import URLError, normalize_url

        try:
            normalize_url(value)
        except URLError as exc:
            self.fail(terminal_safe(str(exc)), param, ctx)
        return str(value)


class ArticleRefType(HttpURLType):
    """An article: the id `mediawatch articles` shows, or an http(s) URL (canonical or an alias)."""

    name = "id|url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if text.isascii() and text.isdigit():
            if not 0 < int(text) <= MAX_INT:
                self.fail(f"{text}: not an article id (ids go from 1 to {MAX_INT})", param, ctx)
            return text
        return super().convert(value, param, ctx)


class MomentType(click.ParamType):
    """An ISO 8601 date or date-time (UTC when no zone is given)."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from archive.timeparse import parse_moment

        if not isinstance(value, str):
            return value
        try:
            return parse_moment(value)
        except ValueError as exc:
            self.fail(terminal_safe(str(exc)), param, ctx)


class SinceType(click.ParamType):
    """A window start: a duration back from now (24h, 7d) or an ISO 8601 date/time."""

    name = "duration|date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from archive.runs import utcnow
        from archive.timeparse import parse_since

        if not isinstance(value, str):
            return value
        try:
            return parse_since(value, utcnow())
        except ValueError as exc:
            self.fail(terminal_safe(str(exc)), param, ctx)


class SecondsType(click.FloatRange):
    """A number of seconds from 0 to an hour (not NaN, which every comparison lets through)."""

    def __init__(self) -> None:
        super().__init__(0, 3600)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail("not a number", param, ctx)
        return seconds


HTTP_URL = HttpURLType()
ARTICLE = ArticleRefType()
MOMENT = MomentType()
SINCE = SinceType()


def _second(moment: datetime) -> str:
    """A moment as the CLI prints it: UTC, to the second (checks a minute apart must not read alike)."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def archive_options(func: F) -> F:
    """``--db URL|FILE``: the archive database (else MEDIAWATCH_DATABASE_URL, else ./mediawatch.db)."""

    @click.option(
        "--db",
        "db_url",
        envvar="MEDIAWATCH_DATABASE_URL",
        default=None,
        metavar="URL|FILE",
        help="The archive: a SQLite file path, sqlite:///PATH or postgresql+psycopg://USER@HOST/NAME "
        "[env: MEDIAWATCH_DATABASE_URL; default: mediawatch.db]",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]  # wraps keeps the signature F at run time


# ``--sources FILE``: the sources file (feeds, policies, notify targets) for crawl and report.
sources_option = click.option(
    "--sources",
    "sources_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Sources file [default: sources.yaml in $MEDIAWATCH_CONFIG_DIR, else the one shipped "
    "with mediawatch].",
)


def trigger_option(func: F) -> F:
    """``--trigger``: who started a run, recorded on its crawl_run row (hidden; set by the scheduler)."""
    return click.option(
        "--trigger",
        envvar="MEDIAWATCH_RUN_TRIGGER",
        type=click.Choice(["manual", "cron", "schedule"]),
        default="manual",
        hidden=True,
    )(func)


def bulk_workers_option(func: F) -> F:
    """``--workers``: extraction processes of a bulk command (import, import-warc, rederive, backfill)."""
    return click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=None,
        help="Extraction processes [default: one per core].",
    )(func)


@contextlib.contextmanager
def _bulk_executor(workers: int | None) -> Iterator[Any]:
    """Where a bulk command extracts its pages: the crawl's local process pool (archive/bulk.py
    takes any ``concurrent.futures.Executor``)."""
    from crawler.extraction import local_executor

    with local_executor(workers) as executor:
        yield executor


class ClusterAddressType(click.ParamType):
    """A Dask scheduler address, tcp://HOST:PORT."""

    name = "tcp://HOST:PORT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as exc:
            self.fail(terminal_safe(str(exc)), param, ctx)
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
            self.fail(
                f"{terminal_safe(value)!r} is not a Dask scheduler address (tcp://HOST:PORT)", param, ctx
            )
        return value


def cluster_option(func: F) -> F:
    """``--cluster tcp://HOST:PORT``: run the CPU work on this Dask scheduler's workers
    (docs/cluster.md); needs a PostgreSQL archive."""
    return click.option(
        "--cluster",
        envvar="MEDIAWATCH_CLUSTER",
        type=ClusterAddressType(),
        default=None,
        metavar="tcp://HOST:PORT",
        help="Run the extraction on this Dask cluster's workers (PostgreSQL archive only) "
        "[env: MEDIAWATCH_CLUSTER].",
    )(func)


def refuse_sqlite_cluster(cluster: str | None, db_url: str | None) -> None:
    """``--cluster`` with a SQLite archive: one line, exit 2, before the lock or any import of Dask."""
    if cluster is None:
        return
    from archive.db import database_url, is_sqlite

    if is_sqlite(database_url(db_url)):
        raise InputError(
            "--cluster needs a PostgreSQL archive that every Dask worker can reach "
            "(--db postgresql+psycopg://USER@HOST/NAME); a SQLite file belongs to one machine"
        )


def open_archive(db_url: str | None, *, readonly: bool = False) -> Any:
    """The archive; ``readonly`` for commands that only read: they never create a missing SQLite
    file (exit 3, "no archive at PATH")."""
    from archive.db import Archive

    return Archive(db_url, readonly=readonly)


def article_urls(db_url: str | None, refs: Sequence[str]) -> list[str]:
    """The articles given by id (the number `articles` shows) as their canonical URLs, for the
    commands that work on URLs; URLs stay as they are (an unknown id: exit 4)."""
    if not any(ref.isdigit() for ref in refs):
        return list(refs)
    from archive.lookups import require_article

    with open_archive(db_url, readonly=True).reading() as session:
        return [require_article(session, ref).canonical_url if ref.isdigit() else ref for ref in refs]


class _NoStopTracebacks(logging.Filter):
    """Drops a library's log record of the stop itself: SIGTERM raises Interrupted wherever the
    process is, and a library that catches everything to log it (SQLAlchemy's pool, closing a
    connection) would print its traceback. The command reports the stop once, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        raised = record.exc_info[1] if record.exc_info else None
        return not isinstance(raised, Interrupted | KeyboardInterrupt)


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NoStopTracebacks) for f in handler.filters):
            handler.addFilter(_NoStopTracebacks())
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
    from archive.db import current_revision

    archive = open_archive(db_url)
    click.echo(f"database at schema revision {current_revision(archive.engine)}")


@cli.group("config")
def config_group() -> None:
    """The configuration files: sources, topic and schedule.

    Without --sources/--topic/--config, commands read them from $MEDIAWATCH_CONFIG_DIR, else the
    defaults shipped with mediawatch.

    Example: mediawatch config init /etc/mediawatch
    """


@config_group.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that are already there.")
def config_init(directory: Path, force: bool) -> None:
    """Write editable copies of the default sources.yaml, topic.yaml and schedule.yaml to DIRECTORY.

    Point commands at them with MEDIAWATCH_CONFIG_DIR=DIRECTORY (or --sources/--topic/--config).

    Example: mediawatch config init ./my-config && MEDIAWATCH_CONFIG_DIR=./my-config mediawatch crawl
    """
    from crawler.config import CONFIG_DIR, CONFIG_FILES

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{directory}: cannot create the directory: {exc.strerror}") from None
    existing = [name for name in CONFIG_FILES if (directory / name).exists()]
    if existing and not force:
        raise InputError(f"{directory}: {', '.join(existing)} already there; --force overwrites")
    for name in CONFIG_FILES:
        try:
            (directory / name).write_bytes((CONFIG_DIR / name).read_bytes())
        except OSError as exc:
            raise InputError(f"{directory / name}: cannot write: {exc.strerror}") from None
        click.echo(f"wrote {terminal_safe(str(directory / name))}")


# ---------------------------------------------------------------------------------------------
# extract and import


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", default=None, type=HTTP_URL, help="The page's URL (helps metadata extraction).")
def extract(files: tuple[Path, ...], url: str | None) -> None:
    """Extract article text and metadata from saved HTML files; one JSON object per file.

    Exit codes: 2 a file does not exist (nothing is extracted), 1 a file could not be extracted.

    Example: mediawatch extract page.html other-page.html.gz
    """
    from archive.extract import ExtractionError
    from archive.extract import extract as extract_page

    for path in files:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory")
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
@bulk_workers_option
@cluster_option
@trigger_option
@archive_options
def import_(
    files: tuple[Path, ...],
    as_json: bool,
    workers: int | None,
    cluster: str | None,
    trigger: str,
    db_url: str | None,
) -> None:
    """Import captures from JSON Lines files (url, fetched_at, html | title+text+authors).

    Records are applied in fetched_at order per article, so another tool's archive becomes a
    version history. Unusable lines are rejected and counted, each named on stderr
    ("FILE line 3: not JSON: …"); exit 2 when a file had no usable line at all (a binary
    file, the wrong file).

    Example: mediawatch import nyt-captures.jsonl
    """
    from archive.jobs import RunStatus, import_files, job

    def render(path: Path, summary: Any) -> None:
        name = terminal_safe(str(path))
        if as_json:
            click.echo(json.dumps({"file": str(path), **summary.as_dict()}))
        else:
            rejected = len(summary.rejected)
            click.echo(
                f"{name}: {summary.records} records imported, {summary.new_articles} new articles, "
                f"{summary.new_versions} new versions, {rejected} {plural(rejected, 'line')} rejected"
            )
            if summary.outcomes:
                click.echo("  " + ", ".join(f"{k}: {v}" for k, v in sorted(summary.outcomes.items())))
        for number, reason in summary.rejected[:SHOWN_REJECTIONS]:
            click.echo(f"{name} line {number}: {terminal_safe(reason)}", err=True)
        if len(summary.rejected) > SHOWN_REJECTIONS:
            more = len(summary.rejected) - SHOWN_REJECTIONS
            click.echo(f"{name}: … and {more} more rejected lines", err=True)

    refuse_sqlite_cluster(cluster, db_url)
    preload = ("archive.importer",)
    with job(db_url, command="import", trigger=trigger, preload=preload) as (archive, run):
        with _progress("importing") as advance:
            if cluster is not None:
                from crawler.cluster import import_jsonl_on_cluster

                results = import_jsonl_on_cluster(archive, run, files, cluster, progress=advance)
                for path, summary in results:
                    render(path, summary)
            else:
                with _bulk_executor(workers) as executor:
                    results = import_files(
                        archive, run, files, progress=lambda _path: advance, on_file=render, executor=executor
                    )
        unusable = [path for path, summary in results if summary.records == 0 and summary.rejected]
        if unusable:
            names = ", ".join(str(path) for path in unusable)
            run.end(RunStatus.FAILED, f"nothing imported from {names}: every line was rejected")
    if unusable:
        raise InputError(run.message or "nothing imported")


SHOWN_REJECTIONS = 10


def plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


class _progress:
    """A rich progress bar on a terminal; silent otherwise (cron, pipes, tests)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Progress | None = None
        self._logs: Any = None

    def __enter__(self) -> Callable[[int, int], None]:
        console = Console(stderr=True)
        if not console.is_terminal:
            return lambda done, total: None
        # Imported only when a bar is drawn: the read-only commands never draw one.
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.bar.start()
        self._logs = logs_above_the_bar()
        self._logs.__enter__()
        task = self.bar.add_task(self.label, total=None)

        def advance(done: int, total: int) -> None:
            assert self.bar is not None
            self.bar.update(task, completed=done, total=total)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self._logs.__exit__(None, None, None)
            self.bar.stop()


# ---------------------------------------------------------------------------------------------
# archivist views


# archive.queries.ARTICLE_STATUS_FILTERS, copied: importing the read model here would load
# SQLAlchemy and the diff code for every command, --help included (about twice the start-up
# time). tests/test_read_model.py checks the two stay equal.
ARTICLE_STATUSES = ("live", "removed", "redirected", "restored")


@cli.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, type=click.IntRange(0, MAX_INT))
@click.option("--source", default=None, metavar="NAME|ID", help="Only articles of this source.")
@click.option("--since", type=SINCE, default=None, help="Only articles first seen since (24h, 7d or a date).")
@click.option("--until", type=MOMENT, default=None, help="Only articles first seen on or before this day.")
@click.option("--language", default=None, help="Only articles with a version in this language (en, pt-BR).")
@click.option("--edited", is_flag=True, help="Only articles with more than one version.")
@click.option(
    "--status",
    type=click.Choice(ARTICLE_STATUSES),
    default=None,
    help="Only live, removed or redirected articles, or restored ones (removed, then back).",
)
@click.option("--search", "query", default=None, help="Only articles whose text matches (like `search`).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per article.")
@archive_options
def articles(
    limit: int,
    offset: int,
    source: str | None,
    since: datetime | None,
    until: datetime | None,
    language: str | None,
    edited: bool,
    status: str | None,
    query: str | None,
    as_json: bool,
    db_url: str | None,
) -> None:
    """List archived articles, newest first: the id (what `versions`, `show` and `diff` also
    take), then the URL whole on its own line. The filters are the viewer's.

    Example: mediawatch articles --status removed --since 7d
    """
    from archive.queries import ListFilters, list_articles, source_id
    from archive.search import parse_query

    if query is not None:
        parse_query(query)  # a bad query is one clear line before the archive is opened
    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        filters = ListFilters(
            source=source_id(session, source) if source is not None else None,
            since=since,
            until=until.date() if until is not None else None,
            language=language,
            edited=edited,
            q=query,
            status=status,
        )
        page = list_articles(session, filters, limit=limit, offset=offset)
    if as_json:
        for row in page.articles:
            click.echo(json_text(row))
        return
    out = stdout()
    shown = f"{offset + 1}-{offset + len(page.articles)} of " if page.articles else ""
    click.echo(f"{shown}{page.total}{'+' if page.total_capped else ''} articles")
    for row in page.articles:
        line = Text(f"{row.id:>6}  ")
        line.append(f"{_second(row.first_seen)}  {row.status:<10} {row.versions:>3} v  ")
        line.append(terminal_safe(row.title or "(no title)"), style="bold")
        out.print(line, soft_wrap=True)
        # The URL whole on its own line: never cut to the terminal's width (soft_wrap).
        out.print(Text("        " + terminal_safe(row.url), style="dim"), soft_wrap=True)


@cli.command()
@click.argument("url", metavar="ID|URL", type=ARTICLE)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
@archive_options
def versions(url: str, as_json: bool, db_url: str | None) -> None:
    """List every version of an article: when it appeared, what kind of change, how much.

    Example: mediawatch versions https://www.dawn.com/news/1234567
    """
    from archive.lookups import require_article
    from archive.queries import version_entries

    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        article = require_article(session, url)
        rows = version_entries(session, article.id)
    if as_json:
        for row in rows:
            click.echo(json_text(row))
        return
    # One line a version, fitting 80 columns; the title and the flags on their own line, whole,
    # when they differ from the version before (a title column would be cut to a few letters).
    out = stdout()
    out.print(Text(terminal_safe(article.canonical_url), style="bold"), soft_wrap=True)
    heading = (
        f"{'seq':>4}  {'change':<10} {'first seen (UTC)':<19}  {'last seen (UTC)':<19} "
        f"{'chars':>6} {'+words':>6} {'-words':>6}"
    )
    out.print(Text(heading, style="dim"))
    title: str | None = None
    for r in rows:
        out.print(
            f"{r.seq:>4}  {r.change_kind:<10} {_second(r.first_seen)}  {_second(r.last_seen)} "
            f"{r.length:>6} {r.words_added:>6} {r.words_removed:>6}"
        )
        if r.title and r.title != title:
            out.print(Text(f"{'':6}title: {terminal_safe(r.title)}"), soft_wrap=True)
        title = r.title or title
        if r.flags:
            out.print(Text(f"{'':6}flags: {terminal_safe(', '.join(r.flags))}", style="dim"), soft_wrap=True)


@cli.command()
@click.argument("url", metavar="ID|URL", type=ARTICLE)
@click.option("--version", "seq", type=VERSION_NUMBER, default=None, help="Version number (seq).")
@click.option("--at", "at", type=MOMENT, default=None, help="What the article said at this date/time.")
@click.option("--json", "as_json", is_flag=True)
@archive_options
def show(url: str, seq: int | None, at: datetime | None, as_json: bool, db_url: str | None) -> None:
    """Print one version of an article (the latest unless --version or --at).

    Example: mediawatch show https://www.dawn.com/news/1234567 --at 2026-03-03
    """
    from archive.lookups import require_article
    from archive.queries import article_version

    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        v = article_version(session, require_article(session, url).id, seq=seq, at=at)
    if as_json:
        click.echo(json_text(v))
        return
    click.echo(f"# {terminal_safe(v.title)}")
    click.echo(f"{terminal_safe(v.url)}")
    click.echo(
        f"version {v.seq} ({v.change_kind.value}), first seen {_second(v.first_seen)}"
        f" UTC, last seen {_second(v.last_seen)} UTC"
    )
    if v.byline:
        click.echo(f"by {terminal_safe(v.byline)}")
    click.echo("")
    click.echo(terminal_safe(v.text))


@cli.command()
@click.argument("url", metavar="ID|URL", type=ARTICLE)
@click.argument("a", type=VERSION_NUMBER, required=False)
@click.argument("b", type=VERSION_NUMBER, required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["words", "unified", "json", "side-by-side", "html"]),
    default="words",
    show_default=True,
    help="words: inline word diff; side-by-side: paragraphs aligned (colour on a terminal); "
    "html: a self-contained page on stdout; json: ops, metadata and summary.",
)
@click.option(
    "--changed-only",
    is_flag=True,
    help="Every format: only the changed paragraphs; a run of unchanged ones is left out "
    "(marked where the format allows).",
)
@archive_options
def diff(url: str, a: int | None, b: int | None, fmt: str, changed_only: bool, db_url: str | None) -> None:
    """Show what changed between two versions (default: the last two).

    Example: mediawatch diff https://www.dawn.com/news/1234567 1 3 --format side-by-side
    """
    from archive.diff import unified
    from archive.lookups import require_article
    from archive.queries import diff_page

    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        article = require_article(session, url)
        page = diff_page(session, article.id, a, b, changed_only=changed_only)
    old, new, identical = page.old, page.new, page.identical
    if fmt == "json":
        click.echo(json_text(page))
        return
    if identical:
        from mediawatch.diff_terminal import NO_DIFFERENCES

        click.echo(f"{NO_DIFFERENCES} between version {old.seq} and version {new.seq}")
        return
    if fmt in ("side-by-side", "html"):
        render_comparison(page, fmt)
        return
    if fmt == "unified":
        click.echo(
            terminal_safe(
                unified(
                    old.text,
                    new.text,
                    old_label=f"version {old.seq}",
                    new_label=f"version {new.seq}",
                    context=0 if changed_only else 3,
                )
            )
        )
        return
    from mediawatch.diff_terminal import words

    click.echo(words(old, new, colour=sys.stdout.isatty(), safe=terminal_safe, changed_only=changed_only))


# ---- crawler ----


@cli.command()
@sources_option
@click.option(
    "--topic",
    "topic",
    default=None,
    metavar="FILE|none",
    help="Topic file [default: topic.yaml in $MEDIAWATCH_CONFIG_DIR, else the one shipped with "
    "mediawatch]; 'none' archives every page found.",
)
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    type=HTTP_URL,
    metavar="URL",
    help="Crawl this feed instead of the sources file.",
)
@click.option(
    "--sitemap",
    "sitemaps",
    multiple=True,
    type=HTTP_URL,
    metavar="URL",
    help="Crawl this sitemap instead of the sources file.",
)
@click.option(
    "--revisit",
    type=click.Choice(["due", "all", "none"]),
    default="due",
    show_default=True,
    help="Re-check known articles: those due, all of them now, or none.",
)
@click.option("--no-discovery", is_flag=True, help="Skip the Google News and GDELT search feeds.")
@click.option(
    "--allow-private-networks",
    is_flag=True,
    help="Allow fetching from loopback, private and link-local addresses (tests, demos).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Extraction processes [default: one per core].",
)
@click.option(
    "--warc",
    "warc_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also write what was fetched as WARC/1.1 files in this directory.",
)
@click.option(
    "--warc-max-size",
    default=None,
    metavar="SIZE",
    help="Start a new WARC file at this size: bytes, or with K/M/G [default: 1G].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when the run completes (for cron).")
@cluster_option
@trigger_option
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
    quiet: bool,
    cluster: str | None,
    trigger: str,
    db_url: str | None,
) -> None:
    """Find new articles on the topic and re-check known ones for edits.

    Exit codes: 0 the run completed (some fetches may have failed), 2 bad configuration,
    3 database unreachable, 5 every source failed, 6 the crawler stopped abnormally,
    75 another crawl or import is running, 143 stopped by SIGTERM/SIGINT (recorded as interrupted).

    Example: mediawatch crawl --revisit due --warc /srv/warc
    """
    from archive.jobs import job

    topic_path: Path | str | None = None
    if topic is not None:
        topic_path = "none" if topic.lower() == "none" else Path(topic)
    # Never two crawls (or a crawl and an import) at once: a second one exits 75 untouched, and
    # quickly: Scrapy and the extractor are imported only once the lock is held.
    refuse_sqlite_cluster(cluster, db_url)
    preload = (*CRAWL_MODULES, "mediawatch.notify")
    with job(db_url, command="crawl", trigger=trigger, preload=preload) as (archive, run):
        from crawler.config import DEFAULT_SOURCES, load_sources
        from crawler.run import CrawlOptions, run_crawl
        from crawler.warccapture import parse_size
        from mediawatch.notify import notify_run
        from mediawatch.progress import CrawlProgressBar

        # The bar (requests and pages so far) on a terminal; --quiet and cron get none.
        with CrawlProgressBar(enabled=not quiet) as advance:
            report = run_crawl(
                archive,
                run,
                CrawlOptions(
                    sources_path=sources_path,
                    topic_path=topic_path,  # type: ignore[arg-type]  # "none" is the literal CrawlOptions takes
                    feeds=list(feeds),
                    sitemaps=list(sitemaps),
                    revisit=revisit,  # type: ignore[arg-type]  # click.Choice gives one of the Literal values
                    discovery=not no_discovery,
                    allow_private_networks=allow_private_networks,
                    extract_workers=workers,
                    progress=advance,
                    warc_dir=warc_dir,
                    warc_max_size=parse_size(warc_max_size) if warc_max_size else None,
                    cluster=cluster,
                ),
            )
        # The crawl returns its report; posting it is the caller's job, once the run's row is
        # closed (the digest reads it) and still under the lock (so the next run cannot start
        # before this one's messages are out).
        run.close()
        targets = load_sources(sources_path or DEFAULT_SOURCES).notify
        notifications = notify_run(archive, targets, report.run_id, report.started_at, report.finished_at)
    for line in notifications.failed:  # printed even with --quiet: cron mails it
        click.echo(f"Warning: notification failed: {terminal_safe(line)}", err=True)
    if quiet and report.status == "completed":
        return
    if as_json:
        document = {**report.as_dict(), "notifications": notifications.as_dict()}
        click.echo(json.dumps(document, ensure_ascii=False))
    else:
        _render_crawl(report, notifications)
    if report.error is not None:
        raise report.error


# Imported once the crawl holds the run lock (see archive.jobs.job).
CRAWL_MODULES = ("crawler.run", "crawler.spiders", "crawler.warccapture", "scrapy.crawler")


SUMMARY_SOURCES = 15  # source lines in a crawl summary: with the totals it fits one screen


def _render_crawl(report: Any, notifications: Any) -> None:
    """The crawl summary cron mails: totals, the top failure causes, then one line for each source
    with new items or failures (the first SUMMARY_SOURCES; `mediawatch runs RUN` has them all)."""
    from archive.runs import top_causes

    c = report.counters
    seconds = (report.finished_at - report.started_at).total_seconds()
    edits = sum(c.get(f"new_versions_{kind}", 0) for kind in ("text", "restored"))
    click.echo(f"crawl run {report.run_id}: {report.status} in {_took(seconds)}")
    click.echo(
        f"  {c.get('new_articles', 0)} new articles, {edits} edited (text), "
        f"{c.get('new_versions_metadata', 0)} metadata changes, {c.get('removed', 0)} removed, "
        f"{c.get('failed', 0)} failed"
    )
    click.echo(
        f"  {c.get('unchanged', 0)} unchanged, {c.get('not_modified', 0)} not modified (304), "
        f"{c.get('suspect', 0)} suspect, {c.get('skipped_offtopic', 0)} off-topic "
        f"({c.get('candidates', 0)} kept as candidates)"
    )
    if report.failures:
        click.echo(f"  failure causes: {one_line(top_causes(report.failures, limit=5))}")
    warc = report.as_dict()["warc"]
    if warc:
        click.echo(
            f"  WARC: {warc.get('files', 0)} files, {warc.get('responses', 0)} responses, "
            f"{warc.get('revisits', 0)} revisits, {warc.get('write_errors', 0)} write errors"
        )
    sent, failed = notifications.sent, len(notifications.failed)
    if sent or failed:
        click.echo(f"  notifications: {sent} sent, {failed} targets failed")
    if not report.sources:
        return
    ok, tried = len(report.sources_ok), len(report.sources_ok) + len(report.sources_failed)
    notable = []
    for name, sc in report.sources.items():
        new = sc.get("new_articles", 0)
        versions = sum(sc.get(f"new_versions_{kind}", 0) for kind in ("text", "metadata", "restored"))
        failures = sc.get("failed", 0)
        if new or versions or failures:
            notable.append((-new, -versions, -failures, name, new, versions, failures))
    click.echo(f"  sources: {ok} of {tried} read, {len(notable)} with new items or failures")
    for _a, _b, _c, name, new, versions, failures in sorted(notable)[:SUMMARY_SOURCES]:
        shown = one_line(name)
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        unread = "  (feeds unreadable)" if name in report.sources_failed else ""
        click.echo(f"    {shown:<40} {new:>4} new {versions:>4} versions {failures:>5} failed{unread}")
    if len(notable) > SUMMARY_SOURCES:
        click.echo(f"    … and {len(notable) - SUMMARY_SOURCES} more: mediawatch runs {report.run_id}")


# ---- topic ----


@cli.group()
def topic() -> None:
    """Check the topic filter (topic.yaml) on saved pages."""


@topic.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--topic",
    "topic_path",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="Topic file [default: topic.yaml in $MEDIAWATCH_CONFIG_DIR, else the one shipped with mediawatch].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per page.")
def topic_test(files: tuple[Path, ...], topic_path: Path | None, as_json: bool) -> None:
    """Score saved pages as the crawler would: keep, candidate or skip, and why.

    FILES are HTML files (.html, .html.gz) or JSON Lines in the `import` format (url, and html
    or title + text). Each page is extracted and scored exactly as a crawled page; the output
    shows the score, the verdict and the term groups matched (in the lead, and in all).
    Bad input stops with one line and exit code 2.

    Example: mediawatch topic test saved/*.html --topic my-topic.yaml
    """
    from crawler.config import DEFAULT_TOPIC, load_topic
    from crawler.relevance import Relevance
    from crawler.topictest import score_files

    relevance = Relevance(load_topic(topic_path or DEFAULT_TOPIC))
    out = stdout()
    for page in score_files(relevance, files):
        if as_json:
            click.echo(json.dumps(page.as_dict(), ensure_ascii=False))
            continue
        s = page.score
        colour = {"keep": "green", "candidate": "yellow", "skip": "red"}[s.verdict]
        head = Text(f"{s.verdict:<9} {s.score:5.1f}  ", style=colour)
        head.append(terminal_safe(page.url or page.where))
        out.print(head)
        if page.title:
            out.print(Text("  title:   " + terminal_safe(page.title)))
        out.print(Text("  lead:    " + (", ".join(s.lead) or "-")))
        out.print(Text("  matched: " + (", ".join(s.groups) or "-")))
        if s.negative:
            out.print(Text("  negative: " + ", ".join(s.negative)))
        for reason in s.reasons:
            out.print(Text("  + " + reason if not reason.startswith("negative") else "  - " + reason))
    threshold = relevance.threshold
    floor = relevance.candidate_floor
    if not as_json:
        out.print(Text(f"(keep at score >= {threshold:g}; candidate from {floor:g})", style="dim"))


# ---- candidates ----


def _candidate_dict(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "url": c.fetched_url,
        "title": c.title,
        "score": c.score,
        "groups": list(c.groups or []),
        "status": c.status,
        "fetched_at": c.fetched_at.isoformat(),
        "article_id": c.article_id,
    }


@cli.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also promoted and dropped candidates.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per candidate.")
@archive_options
@click.pass_context
def candidates(
    ctx: click.Context, show_all: bool, limit: int, offset: int, as_json: bool, db_url: str | None
) -> None:
    """Pages that scored a little under the topic threshold, best first.

    Their extracted text and score are kept (no versions, no revisits). Promote one to a
    watched article with `mediawatch candidates promote ID|URL`; apply a changed topic file or
    threshold to all of them with `mediawatch candidates rescore`.
    """
    if ctx.invoked_subcommand is not None:
        return
    from archive.candidates import DROPPED, OPEN, PROMOTED
    from archive.queries import list_candidates

    statuses = (OPEN, PROMOTED, DROPPED) if show_all else (OPEN,)
    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        rows = list_candidates(session, statuses=statuses, limit=limit, offset=offset)
    if as_json:
        for row in rows:
            click.echo(json.dumps(_candidate_dict(row), ensure_ascii=False))
        return
    out = stdout()
    if not rows:
        out.print("no candidates")
        return
    for row in rows:
        status = "" if row.status == "open" else f" [{row.status}]"
        url = terminal_safe(row.fetched_url)
        groups = ", ".join(row.groups or []) or "-"
        out.print(Text(f"{row.id:>5}  {row.score:4g}  {row.fetched_at:%Y-%m-%d}  {url}{status}"))
        out.print(Text(f"       {terminal_safe(row.title or '(no title)')}  ({groups})"))


@candidates.command("promote")
@click.argument("key", metavar="ID|URL")
@click.option("--json", "as_json", is_flag=True)
@archive_options
def candidates_promote(key: str, as_json: bool, db_url: str | None) -> None:
    """Make a candidate a watched article: its stored text becomes version 1, and it is
    revisited like any other article.

    Example: mediawatch candidates promote 12
    """
    from archive.candidates import promote

    archive = open_archive(db_url)
    result = promote(archive.sessions, key)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "id": result.candidate_id,
                    "url": result.url,
                    "article_id": result.article_id,
                    "outcome": result.outcome,
                    "message": result.message,
                }
            )
        )
    elif result.promoted:
        click.echo(
            f"promoted candidate {result.candidate_id} as article {result.article_id}: "
            f"{terminal_safe(result.url)} ({result.outcome})"
        )
    if not result.promoted:
        raise MediawatchError(
            f"candidate {result.candidate_id} not promoted: {result.outcome}"
            + (f" ({result.message})" if result.message else "")
        )


@candidates.command("rescore")
@click.option(
    "--topic",
    "topic_path",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="Topic file [default: topic.yaml in $MEDIAWATCH_CONFIG_DIR, else the one shipped with mediawatch].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@archive_options
def candidates_rescore(topic_path: Path | None, as_json: bool, db_url: str | None) -> None:
    """Apply the topic file (a new threshold, new terms) to every stored candidate, from its
    stored text: those now kept are promoted, those under the margin are dropped (and can come
    back under a later, lower threshold). Nothing is fetched.

    Example: mediawatch candidates rescore --topic my-config/topic.yaml
    """
    from archive.candidates import Verdict, rescore
    from crawler.config import DEFAULT_TOPIC, load_topic
    from crawler.relevance import Relevance

    relevance = Relevance(load_topic(topic_path or DEFAULT_TOPIC))

    def scorer(text: str, title: str | None, url: str | None) -> Verdict:
        s = relevance.score(text, title=title, url=url)
        return Verdict(s.score, s.keep, s.candidate, s.groups)

    archive = open_archive(db_url)
    summary = rescore(archive.sessions, scorer)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
        return
    out = stdout()
    out.print(
        f"{summary.rescored} candidates rescored: {len(summary.promoted or [])} promoted, "
        f"{summary.still_candidates} still candidates ({summary.revived} back from dropped), "
        f"{summary.dropped} dropped"
    )
    for p in summary.promoted or []:
        out.print(Text(f"  promoted {p.candidate_id} as article {p.article_id}: {terminal_safe(p.url)}"))


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
    from archive import queries
    from archive.lookups import require_article
    from mediawatch.demo import run_demo
    from mediawatch.diff_terminal import words

    out = stdout()
    # Each step as it starts and each crawl's outcome as it ends: the three crawls take a while.
    result = run_demo(db_file, say=lambda line: out.print(line))
    archive = open_archive(result.db_url)
    with archive.reading() as session:
        article = require_article(session, result.edited_url)
        rows = queries.version_entries(session, article.id)
        page = queries.diff_page(session, article.id, changed_only=True)
        old, new = page.old, page.new
        removed = queries.version_entries(session, require_article(session, result.removed_url).id)
    out.print(Text(f"\nversions of {terminal_safe(result.edited_url)}", style="bold"))
    for r in rows:
        counts = f"+{r.words_added} -{r.words_removed}"
        out.print(f"  {r.seq}  {r.change_kind:<8} {counts:<10} {terminal_safe(r.title)}")
    out.print(Text(f"\nmediawatch diff {terminal_safe(result.edited_url)} --changed-only", style="bold"))
    # The same renderer as `mediawatch diff`, so the demo teaches the notation the command prints.
    click.echo(words(old, new, colour=out.is_terminal, safe=terminal_safe, changed_only=True))
    out.print(Text(f"\nversions of {terminal_safe(result.removed_url)}", style="bold"))
    for r in removed:
        out.print(f"  {r.seq}  {r.change_kind}")
    out.print(f"\nThe cricket report ({terminal_safe(result.skipped_url)}) was skipped as off-topic.")
    out.print(
        f"Explore it: mediawatch articles --db {result.db_url}\n"
        f"            mediawatch diff {result.edited_url} --db {result.db_url}"
    )


# ---- web archives (WARC import/export, Wayback backfill) ----


def _print_counts(label: str, counts: dict[str, int], out: Console | None = None) -> None:
    if counts:
        text = ", ".join(f"{terminal_safe(k)}: {v}" for k, v in sorted(counts.items()))
        (out or stdout()).print(f"  {label}: {text}")


@cli.command("import-warc")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@bulk_workers_option
@cluster_option
@trigger_option
@archive_options
def import_warc_command(
    files: tuple[Path, ...],
    as_json: bool,
    workers: int | None,
    cluster: str | None,
    trigger: str,
    db_url: str | None,
) -> None:
    """Import HTML captures from WARC/ARC files (gzipped or not) as fetches at their WARC-Date.

    Revisit records are resolved against their originals; non-HTML, truncated and corrupt
    records are skipped with a counted reason. Importing the same file twice changes nothing.
    Exits 1 when a file could not be read to its end (what was read before is kept).

    Example: mediawatch import-warc crawl-2026-03-01.warc.gz old-collection.arc
    """
    from archive.jobs import RunStatus, job

    refuse_sqlite_cluster(cluster, db_url)
    with job(db_url, command="import-warc", trigger=trigger, preload=("archive.warc",)) as (archive, run):
        from archive.warc import import_warc

        with _progress("importing WARC") as advance:
            if cluster is not None:
                from crawler.cluster import import_warc_on_cluster

                summary = import_warc_on_cluster(archive, run, list(files), cluster, progress=advance)
            else:
                with _bulk_executor(workers) as executor:
                    summary = import_warc(
                        archive, list(files), progress=advance, crawl_run_id=run.id, executor=executor
                    )
        run.add(
            {
                "files": summary.files,
                "records": summary.records,
                "taken": summary.taken,
                "new_articles": summary.new_articles,
                "new_versions": summary.new_versions,
                "skipped": sum(summary.skipped.values()),
                "errors": len(summary.errors),
            }
        )
        if summary.errors:
            path, error = summary.errors[0]
            more = f" (and {len(summary.errors) - 1} more files)" if len(summary.errors) > 1 else ""
            run.end(RunStatus.FAILED, f"{path}: {error}{more}")
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


def export_warc_to(
    output: Path, since: datetime | None, url: str | None, as_json: bool, db_url: str | None
) -> None:
    """Export fetches as WARC/1.1: responses with their raw bytes, unchanged re-fetches as revisits."""
    from archive.warc import export_warc

    archive = open_archive(db_url, readonly=True)
    with _progress("exporting WARC") as advance:
        summary = export_warc(archive, output, since=since, url=url, progress=advance)
    # With --output - the WARC is on stdout: the summary goes to stderr.
    on_stdout = str(output) == "-"
    if as_json:
        click.echo(json.dumps(summary.as_dict()), err=on_stdout)
        return
    out = stderr() if on_stdout else stdout()
    out.print(
        f"{terminal_safe(str(output))}: {summary.responses} response and {summary.revisits} revisit "
        f"records, {summary.bytes_written} bytes"
    )
    _print_counts("not exported", dict(summary.skipped), out)


@cli.command("backfill")
@click.argument("urls", nargs=-1, type=ARTICLE, metavar="[ID|URL]...")
@click.option("--all", "all_articles", is_flag=True, help="Backfill every archived article.")
@click.option(
    "--since",
    type=SINCE,
    default=None,
    help="Only captures at or after this: a duration back from now (30d) or a date/time (ISO 8601).",
)
@click.option(
    "--cdx-endpoint",
    default="https://web.archive.org/cdx/search/cdx",
    show_default=True,
    envvar="MEDIAWATCH_CDX_ENDPOINT",
    type=HTTP_URL,
    help="Wayback CDX API [env: MEDIAWATCH_CDX_ENDPOINT].",
)
@click.option(
    "--replay-endpoint",
    default=None,
    type=HTTP_URL,
    envvar="MEDIAWATCH_REPLAY_ENDPOINT",
    help="Replay prefix for {prefix}/{timestamp}id_/{url} [default: the CDX host's /web].",
)
@click.option(
    "--delay",
    default=1.0,
    show_default=True,
    type=SecondsType(),
    help="Seconds between two requests to the archive (robots.txt Crawl-delay wins if longer).",
)
@click.option(
    "--allow-private-networks",
    is_flag=True,
    help="Allow a web archive on loopback, private or link-local addresses (a local pywb, tests).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@bulk_workers_option
@trigger_option
@archive_options
def backfill_command(
    urls: tuple[str, ...],
    all_articles: bool,
    since: datetime | None,
    cdx_endpoint: str,
    replay_endpoint: str | None,
    delay: float,
    allow_private_networks: bool,
    as_json: bool,
    workers: int | None,
    trigger: str,
    db_url: str | None,
) -> None:
    """Record an article's earlier Wayback captures as backfilled fetches at their capture times.

    Exits 1 when the web archive could not be used for some article (refused, rate limited,
    unreachable); what was recorded before stays, and the next run resumes.

    Example: mediawatch backfill https://www.nytimes.com/2012/06/20/world/middleeast/mubarak.html
    """
    from archive.jobs import RunStatus, job

    if not urls and not all_articles:
        raise InputError("give article URLs or --all")
    urls = tuple(article_urls(db_url, urls))
    with job(db_url, command="backfill", trigger=trigger, preload=("archive.wayback",)) as (archive, run):
        from archive.wayback import backfill

        with _progress("backfilling") as advance, _bulk_executor(workers) as executor:
            summary = backfill(
                archive,
                list(urls),
                all_articles=all_articles,
                since=since,
                cdx_endpoint=cdx_endpoint,
                replay_endpoint=replay_endpoint,
                delay=delay,
                allow_private_networks=allow_private_networks,
                progress=advance,
                crawl_run_id=run.id,
                executor=executor,
            )
        run.add(
            {
                "articles": summary.articles,
                "listed": summary.listed,
                "already_recorded": summary.already_recorded,
                "fetched": summary.fetched,
                "new_articles": summary.new_articles,
                "new_versions": summary.new_versions,
                "skipped": sum(summary.skipped.values()),
                "errors": len(summary.errors),
            }
        )
        if summary.errors:
            url, error = summary.errors[0]
            more = f" (and {len(summary.errors) - 1} more articles)" if len(summary.errors) > 1 else ""
            run.end(RunStatus.FAILED, f"{url}: {error}{more}")
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


# ---- archivist views: diff rendering, search, export, web viewer ----


def render_comparison(page: Any, fmt: str) -> None:
    """Print a comparison (a DiffPage) side by side (terminal) or as a self-contained HTML page."""
    if fmt == "html":
        from mediawatch.web.render import standalone_diff

        click.echo(standalone_diff(page, generated=datetime.now(UTC)))
        return
    from mediawatch.diff_terminal import side_by_side, summary_line

    comparison, old, new, url, changed_only = page.comparison, page.old, page.new, page.url, page.changed_only
    out = stdout()
    colour = out.is_terminal
    out.print(Text(terminal_safe(url), style="bold"))
    out.print(Text(summary_line(comparison)))
    for change in comparison.metadata:
        out.print(
            Text(f"{change.field}: {terminal_safe(change.old or '')} -> {terminal_safe(change.new or '')}")
        )
    for notice in comparison.summary.notices:
        notice_text = f"{notice.kind} notice: {terminal_safe(notice.text)}"
        out.print(Text(notice_text, style="yellow" if colour else ""))
    out.print(
        side_by_side(
            comparison,
            old_label=f"version {old.seq} ({_second(old.first_seen)} UTC)",
            new_label=f"version {new.seq} ({_second(new.first_seen)} UTC)",
            colour=colour,
            safe=terminal_safe,
            changed_only=changed_only,
        )
    )


@cli.command("search")
@click.argument("query")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--offset", default=0, type=click.IntRange(0, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@archive_options
def search_cmd(query: str, limit: int, offset: int, as_json: bool, db_url: str | None) -> None:
    """Full-text search over every version of every article.

    Words must all match; "quoted phrases" match as written; prefix* matches word starts;
    OR between two terms accepts either; -word (or -"phrase") excludes. Removed articles are
    marked [removed].

    Example: mediawatch search 'Taliban OR TTP OR "Tehreek-e-Taliban" -cricket'
    """
    from archive.search import MARK_CLOSE, MARK_OPEN, search

    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        page = search(session, query, limit=limit, offset=offset)
    if as_json:
        click.echo(json_text(page))
        return
    out = stdout()
    out.print(
        f"{page.total}{'+' if page.total_capped else ''} matching articles for "
        f"{terminal_safe(page.query.describe())}"
    )
    for hit in page.hits:
        line = Text()
        if hit.status == "removed":
            line.append("[removed] ", style="red")
        line.append(terminal_safe(hit.title or hit.url), style="bold")
        line.append(f"  version {hit.seq}")
        if hit.matching_versions > 1:
            line.append(f" ({hit.matching_versions} versions match)")
        out.print(line)
        out.print(Text("  " + terminal_safe(hit.url), style="dim"))
        snippet = Text("  ")
        for part in hit.parts:
            text = terminal_safe(part.text.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")).replace("\n", " ")
            snippet.append(text, style="bold yellow" if part.highlighted and out.is_terminal else None)
        out.print(snippet)


@cli.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "warc"]),
    required=True,
    help="jsonl: one article (versions + fetches) a line; csv: one version or fetch a row; "
    "warc: raw captures as WARC/1.1 (revisit records for unchanged re-fetches).",
)
@click.option(
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    help="The file to write (a regular file is replaced when complete; a device or pipe is "
    "written into; symlinks are followed); - for stdout.",
)
@click.option(
    "--since",
    type=SINCE,
    default=None,
    help="Only versions first seen / fetches made since then: a duration (24h, 7d) or a date/time.",
)
@click.option(
    "--url",
    type=ARTICLE,
    default=None,
    metavar="ID|URL",
    help="Only this article (its id, canonical URL or an alias).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (warc).")
@archive_options
def export_cmd(
    fmt: str, output: Path, since: datetime | None, url: str | None, as_json: bool, db_url: str | None
) -> None:
    """Export full article histories (every version with metadata, every fetch) as evidence.

    Example: mediawatch export --format jsonl --output histories.jsonl --since 2026-03-01
    """
    from archive.export import export

    if fmt == "warc":
        if url is not None:  # (the WARC export selects by URL, not by article id)
            (url,) = article_urls(db_url, [url])
        export_warc_to(output, since, url, as_json, db_url)
        return
    archive = open_archive(db_url, readonly=True)
    summary = export(archive, fmt, output, since=since, url=url)
    if summary.path != "-":
        stderr().print(
            f"wrote {summary.articles} articles, {summary.versions} versions, {summary.fetches} fetches "
            f"to {terminal_safe(summary.path)}"
        )


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@archive_options
def serve_cmd(host: str, port: int, db_url: str | None) -> None:
    """Run the read-only web viewer: article list, version timelines, diffs, search, feed.

    Exit codes: 2 the port is taken (or not allowed), 3 no archive at --db.

    Example: mediawatch serve --port 8000   (then open http://127.0.0.1:8000/)
    """
    from mediawatch.web.app import serve

    def announce(url: str) -> None:
        stderr().print(f"mediawatch viewer on {terminal_safe(url)} (Ctrl-C to stop)")

    serve(db_url, host=host, port=port, on_listening=announce)


# ---- operations: scheduler, runs, due, report, db copy/backup ----


@cli.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="MEDIAWATCH_SCHEDULE",
    help="The jobs: name, mediawatch args, cron or interval, deadline [env: MEDIAWATCH_SCHEDULE; "
    "default: schedule.yaml of the configuration directory, see `mediawatch config init`].",
)
@archive_options
def schedule(config_path: Path | None, db_url: str | None) -> None:
    """Run the scheduler daemon: each job is a `mediawatch …` subprocess on a cron or interval trigger.

    Stops cleanly on SIGTERM/SIGINT (running jobs get SIGTERM and are waited for); a second
    scheduler on the same archive exits with code 75.

    Example: mediawatch schedule --config my-config/schedule.yaml
    """
    from crawler.config import DEFAULT_SCHEDULE
    from scheduler import serve

    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        # A daemon logs each run's outcome (the scheduler's own logger and the modules it calls).
        for name in ("scheduler", "archive", "mediawatch"):
            logging.getLogger(name).setLevel(logging.INFO)
    serve(db_url, config_path or DEFAULT_SCHEDULE)


@cli.command()
@click.argument("run_id", required=False, type=click.IntRange(1, MAX_INT), metavar="[RUN]")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@archive_options
def runs(run_id: int | None, limit: int, as_json: bool, db_url: str | None) -> None:
    """List recent runs, one line each; `runs RUN` shows one run in full.

    Every command that changes the archive (crawl, import, import-warc, backfill, rederive,
    db copy) is a run. Each line: id, start, duration, trigger, command, status (running,
    completed, failed, interrupted, abandoned), new articles, edits, removals, failures and the
    top failure causes, or why the run did not complete.

    Example: mediawatch runs --limit 10; mediawatch runs 42
    """
    from archive.runs import recent_runs, run_by_id

    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        rows = [run_by_id(session, run_id)] if run_id is not None else recent_runs(session, limit=limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row.as_dict(), ensure_ascii=False))
        return
    if run_id is not None:
        _render_run(rows[0])
        return
    if not rows:
        click.echo("no runs recorded yet")
        return
    click.echo(RUN_LINE.format("id", "started (UTC)", "took", "trigger", "command", "status", *RUN_COUNTS))
    for r in rows:
        # Why a run did not complete, else what failed along the way.
        cause = r.message if r.status not in ("completed", "running") and r.message else r.top_failures
        line = RUN_LINE.format(
            r.id,
            _second(r.started_at),
            _took(r.seconds),
            r.trigger,
            r.command,
            r.status,
            r.new_articles,
            r.edits,
            r.removed,
            r.failed,
        )
        click.echo(line + ("  " + one_line(cause) if cause else ""))


RUN_COUNTS = ("new", "edits", "removed", "failed")
RUN_LINE = "{:>5}  {:<19}  {:>8}  {:<8}  {:<11}  {:<11}  {:>5}  {:>5}  {:>7}  {:>6}"


def one_line(text: str) -> str:
    return " ".join(terminal_safe(text).split())


def _took(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} m {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} m"


def _render_run(r: Any) -> None:
    finished = f"{_second(r.finished_at)} UTC" if r.finished_at else "not finished"
    click.echo(f"run {r.id}: {r.command}, {r.status} (trigger: {r.trigger})")
    click.echo(f"  started {_second(r.started_at)} UTC, finished {finished}, took {_took(r.seconds)}")
    if r.message:
        click.echo(f"  {one_line(r.message)}")
    click.echo(f"  {r.new_articles} new articles, {r.edits} edits, {r.removed} removed, {r.failed} failed")
    if r.counts:
        click.echo("counts:")
        for key, value in sorted(r.counts.items()):
            click.echo(f"  {key:<32} {value}")
    if r.failures:
        click.echo("failure causes:")
        for cause, count in sorted(r.failures.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  {count:>6}  {one_line(cause)}")
    if r.sources:
        click.echo("sources:")
        for name, counts in sorted(r.sources.items()):
            shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            click.echo(f"  {one_line(name)}: {shown}")


@cli.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--overdue", is_flag=True, help="Only articles whose check is already due.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: counts and articles.")
@archive_options
def due(limit: int, overdue: bool, as_json: bool, db_url: str | None) -> None:
    """Show the revisit queue: which articles are due for a check, and when.

    Example: mediawatch due --overdue
    """
    from archive.runs import due_queue, utcnow

    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        queue = due_queue(session, now=utcnow(), limit=limit, overdue_only=overdue)
    if as_json:
        click.echo(json_text(queue))
        return
    out = stdout()
    out.print(f"{queue.overdue} due now, {queue.queued} queued for a revisit")
    # As `articles`: one line an article, its URL whole on the next.
    for r in queue.rows:
        line = Text(f"{r.id:>6}  {_second(r.next_check)}  ")
        line.append("due" if r.overdue else "   ", style="bold")
        line.append(f"  {r.versions:>3} v  ")
        line.append(terminal_safe(r.title or "(no title)"), style="bold")
        out.print(line)
        out.print(Text("        " + terminal_safe(r.url), style="dim"))


@cli.command()
@click.option(
    "--since", type=SINCE, default="24h", show_default=True, help="A duration (24h, 7d) or a date/time."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "html", "json"]),
    default="text",
    show_default=True,
)
@click.option("--base-url", default="", help="Prefix for diff links in html/markdown (the web viewer).")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 1000), help="Per section.")
@click.option(
    "--notify",
    is_flag=True,
    help="Post to the sources file's notify targets instead of printing (each its own format).",
)
@sources_option
@archive_options
def report(
    since: datetime,
    fmt: str,
    base_url: str,
    limit: int,
    notify: bool,
    sources_path: Path | None,
    db_url: str | None,
) -> None:
    """A digest of new articles, edits (with links to their diffs) and runs, for a cron mail.

    Exit code 7 when --notify could not deliver to every target.

    Example: mediawatch report --since 24h --format markdown --base-url https://archive.example.org
    """
    from archive.reports import digest, render
    from archive.runs import utcnow

    now, start = utcnow(), since
    if notify:
        _notify_report(sources_path, db_url, start, now)
        return
    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        result = digest(session, since=start, until=now, limit=limit)
    click.echo(render(result, fmt, base_url=base_url, safe=terminal_safe), nl=False)


@cli.command("stats")
@click.option(
    "--since", type=SINCE, default="30d", show_default=True, help="A duration (30d, 24h) or a date/time."
)
@click.option(
    "--by",
    type=click.Choice(["outlet", "day"]),
    default="outlet",
    show_default=True,
    help="outlet: how each outlet edits the articles first captured since then; day: what happened each day.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv"]),
    default="text",
    show_default=True,
    help="csv: one row per outlet or day, for a spreadsheet.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@archive_options
def stats_cmd(since: datetime, by: str, fmt: str, as_json: bool, db_url: str | None) -> None:
    """How each outlet edits: articles, share edited, edits, time to first edit, labels, notices.

    See docs/statistics.md for what counts as an edit.

    Example: mediawatch stats --since 30d --by outlet --format csv > outlets.csv
    """
    from archive.stats import day_stats, outlet_stats, snapshot, stats_csv, stats_text

    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        snapshot(session)
        rows: list[Any] = outlet_stats(session, since) if by == "outlet" else day_stats(session, since)
    if as_json or fmt == "json":
        payload = {"since": since.isoformat(), "by": by, "rows": [r.as_dict() for r in rows]}
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(stats_csv(rows, by), nl=False)
    else:
        click.echo(terminal_safe(stats_text(rows, by, since)), nl=False)


def _notify_report(sources_path: Path | None, db_url: str | None, since: Any, until: Any) -> None:
    from archive.errors import ConfigError, NotificationFailed
    from crawler.config import DEFAULT_SOURCES, load_sources
    from mediawatch.notify import notify_window

    targets = load_sources(sources_path or DEFAULT_SOURCES).notify
    if not targets:
        raise ConfigError(f"{sources_path or DEFAULT_SOURCES}: no notify targets are configured")
    result = notify_window(open_archive(db_url, readonly=True), targets, since=since, until=until)
    click.echo(f"{result.sent} message(s) sent to {len(targets)} target(s)")
    if result.failed:
        raise NotificationFailed("; ".join(result.failed))


@db.command("copy")
@click.option("--to", "target", required=True, metavar="URL", help="The database to copy into.")
@click.option("--from", "source", default=None, metavar="URL", help="The archive to copy (default: --db).")
@click.option("--force", is_flag=True, help="Empty a non-empty target first.")
@archive_options
def db_copy(target: str, source: str | None, force: bool, db_url: str | None) -> None:
    """Copy a whole archive to another database (e.g. SQLite to PostgreSQL) without loss.

    Every table, id and blob byte is copied; PostgreSQL sequences are reset afterwards. Holds
    the source's run lock so no crawl changes it meanwhile.

    Example: mediawatch db copy --to postgresql+psycopg://localhost/mediawatch
    """
    from archive.transfer import copy_archive

    result = copy_archive(source or db_url, target, force=force)
    click.echo(", ".join(f"{table}: {n}" for table, n in result.rows.items()))
    click.echo(f"copied to {result.target}")


@db.command("backup")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@archive_options
def db_backup(path: Path, db_url: str | None) -> None:
    """Write a consistent copy of a SQLite archive while crawls keep running (online backup).

    PATH is written as every output is (see docs/archivist.md): a regular file is replaced when
    the copy is complete, a device or pipe is written into, - is stdout.

    Example: mediawatch db backup /var/backups/mediawatch-$(date +%F).db
    """
    from archive.transfer import backup_sqlite

    result = backup_sqlite(db_url, path)
    line = f"{terminal_safe(str(result.path))}: {result.pages} pages, {result.bytes} bytes, integrity ok"
    click.echo(line, err=str(path) == "-")


# ---------------------------------------------------------------------------------------------
# ---- dedup and versioning (issue 5) ----


@cli.command()
@click.argument("url", metavar="ID|URL", type=ARTICLE)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per linked copy.")
@archive_options
def duplicates(url: str, as_json: bool, db_url: str | None) -> None:
    """List other articles carrying the same story (republished, syndicated, near-identical).

    Example: mediawatch duplicates https://www.dawn.com/news/1234567
    """
    from archive.dedup import duplicates_for_url

    archive = open_archive(db_url, readonly=True)
    with archive.reading() as session:
        article, found = duplicates_for_url(session, url)
    if as_json:
        for duplicate in found:
            click.echo(json.dumps(duplicate.as_dict(), ensure_ascii=False))
        return
    stdout().print(Text(terminal_safe(article.canonical_url), style="bold"))
    if not found:
        click.echo("no republished copies linked")
        return
    # As `articles`: one line a copy, its URL whole on the next (never cut to the width).
    out = stdout()
    heading = f"{'kind':<6}{'similar':>7}  {'first seen (UTC)':<19}  {'seen first':<10}  title"
    out.print(Text(heading, style="dim"))
    for d in found:
        line = Text(f"{d.kind:<6}{d.similarity:>7.2f}  {_second(d.first_seen)}  ")
        line.append(f"{'yes' if d.seen_first else '':<10}  ", style="bold")
        line.append(terminal_safe(d.title or "(no title)"), style="bold")
        out.print(line)
        out.print(Text("        " + terminal_safe(d.url), style="dim"))


@cli.command()
@click.option(
    "--url", default=None, type=ARTICLE, metavar="ID|URL", help="Only this article (else every article)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@bulk_workers_option
@cluster_option
@trigger_option
@archive_options
def rederive(
    url: str | None, as_json: bool, workers: int | None, cluster: str | None, trigger: str, db_url: str | None
) -> None:
    """Re-extract stored raw HTML with the current extractor; differences become re-derivations.

    Example: mediawatch rederive --url https://www.dawn.com/news/1234567
    """
    from archive.jobs import job

    refuse_sqlite_cluster(cluster, db_url)
    if url is not None:
        (url,) = article_urls(db_url, [url])
    preload = ("archive.rederive",)
    with job(db_url, command="rederive", trigger=trigger, preload=preload, existing=True) as (archive, run):
        from archive.rederive import rederive as run_rederive

        if cluster is not None:
            from crawler.cluster import rederive_on_cluster

            with _progress("re-deriving") as advance:
                summary = rederive_on_cluster(archive, cluster, url=url, progress=advance)
        else:
            with _bulk_executor(workers) as executor:
                summary = run_rederive(archive.sessions, url=url, executor=executor)
        run.add(summary.as_dict())
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
