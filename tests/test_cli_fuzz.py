"""Odd arguments to every command: a documented exit code, never a traceback, and a read-only
command never changes the archive (property-based, Hypothesis).

Every command and option is found by walking the click tree, so a new command is fuzzed as soon
as it exists. Values are drawn per parameter type (huge and negative numbers, overflowing
durations, out-of-range dates, broken URLs, bytes that are not UTF-8, …) and mixed with
arbitrary text. The commands that would run for long or reach the network (crawl, serve,
schedule, backfill, demo) are stopped by a stub at the point where their work would start:
everything before it (argument checks, opening the archive, the run lock) runs for real.
Every path the commands are given is a relative name inside a scratch directory.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from corpus_data import eval_pages
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from views_site import import_nyt

from archive import errors
from archive.db import Archive
from archive.models import Base
from archive.store import Capture, record
from mediawatch.cli import cli

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("MEDIAWATCH_FUZZ_EXAMPLES", "150"))  # more for a longer hunt
SLUG = "mubarak-is-on"
# Commands that must never change the archive, whatever their arguments.
READ_ONLY = {
    ("articles",),
    ("versions",),
    ("show",),
    ("diff",),
    ("search",),
    ("export",),
    ("runs",),
    ("due",),
    ("duplicates",),
    ("extract",),
    ("serve",),
    ("db", "backup"),
}


def documented_exit_codes() -> set[int]:
    """The exit codes of the README's table (the one under "Errors are one line")."""
    readme = (PROJECT / "README.md").read_text()
    table = readme.split("Errors are one line", 1)[1].split("\n\n", 2)[1]
    return {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}


def test_the_error_hierarchy_uses_documented_codes() -> None:
    codes = documented_exit_codes()
    assert {0, 1, 2, 3, 4, 75, 143} <= codes
    classes = [errors.Interrupted, *_subclasses(errors.MediawatchError)]
    assert {cls.exit_code for cls in classes} <= codes


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def commands(
    group: click.Group = cli, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += commands(command, (*path, name))
        else:
            found.append(((*path, name), command))
    return found


COMMANDS = commands()


class Reached(Exception):
    """Raised by a stub where a long-running or networked command would start its work."""


# ---------------------------------------------------------------------------------------------
# Values


def not_utf8(prefix: str = "") -> st.SearchStrategy[str]:
    """What Python makes of undecodable argv bytes: lone surrogates."""
    return st.binary(min_size=1, max_size=6).map(lambda b: prefix + os.fsdecode(b"\xff" + b))


ODD_TEXT = st.one_of(
    st.text(max_size=30),
    not_utf8(),
    st.sampled_from(["", " ", "-", "--", "*", '"', "()", "\x1b[2J", "\u202e", "%s%n", "\\", "NaN"]),
)
BIG = [0, 1, -1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**20, 10**30]
NUMBERS = st.one_of(
    st.integers(-5, 5), st.sampled_from(BIG), st.sampled_from(BIG).map(lambda n: -n), st.integers()
).map(str)
FLOATS = st.one_of(
    st.sampled_from(["nan", "-nan", "inf", "-inf", "1e308", "1e400", "-0", "0.5", "3600", "3601"]),
    st.floats().map(str),
)
DURATIONS = st.builds(
    lambda n, unit: f"{n}{unit}",
    st.one_of(st.integers(0, 10**15), st.sampled_from([999999999999, 99999999, 100000000, 36500, 36501])),
    st.sampled_from(["", "s", "m", "h", "d", "w", "x"]),
)
DATES = st.one_of(
    st.builds(
        lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
        st.integers(0, 99999),
        st.integers(0, 13),
        st.integers(0, 32),
    ),
    st.sampled_from(
        [
            "9999-12-31",
            "0001-01-01",
            "0001-01-01T00:00+01:00",
            "9999-12-31T23:59-01:00",
            "2026-03-01",
            "2026-03-01T08:00Z",
            "yesterday",
            "2026-02-30",
        ]
    ),
)
KNOWN_URL = "https://www.nytimes.com/2012/06/20/world/middleeast/mubarak-is-on-life-support-egypt-security-officials-say.html"
URLS = st.one_of(
    st.sampled_from(
        [
            "http://[::1",
            "http://[::1]:99999/",
            "http://example.com:99999/",
            "http://example.com:-1/",
            "https://example.com/a",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "http://",
            "https://xn--/",
            "http://[v1.x]/",
            "http://a/" + "b" * 3000,
        ]
    ),
    not_utf8("https://example.com/"),
    st.text(max_size=20).map(lambda t: "https://" + t),
)
DB_CHOICES = ["nonsense", "mysql://x/y", "sqlite://", "sqlite:///no/such/dir/x.db", "postgresql+psycopg://"]
PATHS = ["out.txt", "-", "missing.jsonl", "sub", "sub/out.db", "records.jsonl", "page.html", "junk.bin", ".."]


def safe_name(raw: bytes) -> str:
    name = os.fsdecode(raw).replace("/", "_")
    return name if name not in ("", ".", "..") else "x"


def value_for(param: click.Parameter, archive_url: str) -> st.SearchStrategy[str]:
    kind = param.type
    if param.name == "target":  # db copy --to: never the archive (--force would empty it)
        return st.one_of(st.just("sqlite:///scratch-copy.db"), st.sampled_from(DB_CHOICES), ODD_TEXT)
    if param.name in ("db_url", "source"):
        return st.one_of(
            st.just(archive_url),
            st.just(archive_url),
            st.sampled_from(DB_CHOICES),
            st.just("sqlite:///scratch-copy.db"),
            not_utf8("sqlite:///"),
            ODD_TEXT,
        )
    if isinstance(kind, click.Path):
        return st.one_of(st.sampled_from(PATHS), st.binary(min_size=1, max_size=8).map(safe_name))
    if isinstance(kind, click.Choice):
        return st.one_of(st.sampled_from([str(c) for c in kind.choices]), ODD_TEXT)
    if isinstance(kind, click.types.FloatParamType):
        return st.one_of(FLOATS, ODD_TEXT)
    if isinstance(kind, click.types.IntParamType):
        return st.one_of(NUMBERS, NUMBERS, ODD_TEXT)
    if kind.name == "url" or param.name in ("url", "urls", "cdx_endpoint", "replay_endpoint", "base_url"):
        return st.one_of(st.just(KNOWN_URL), URLS, URLS, ODD_TEXT)
    if kind.name in ("date", "duration|date") or param.name in ("since", "at"):
        return st.one_of(DURATIONS, DATES, ODD_TEXT)
    if param.name == "warc_max_size":
        return st.one_of(
            st.builds(lambda n, u: f"{n}{u}", NUMBERS, st.sampled_from(["", "K", "M", "G", "T"])), ODD_TEXT
        )
    if param.name == "query":
        return st.one_of(st.sampled_from(["Mubarak", '"life support"', "Mubar*", "x" * 600]), ODD_TEXT)
    return ODD_TEXT


@st.composite
def command_line(draw: st.DrawFn, archive_url: str) -> tuple[tuple[str, ...], list[str]]:
    path, command = draw(st.sampled_from(COMMANDS))
    argv: list[str] = []
    positional: list[str] = []
    for param in command.params:
        if isinstance(param, click.Argument):
            count = draw(st.integers(0 if not param.required else 1, 3)) if param.nargs == -1 else 1
            if not param.required and draw(st.booleans()):
                count = 0
            positional += [draw(value_for(param, archive_url)) for _ in range(count)]
        elif isinstance(param, click.Option) and param.name != "help":
            if param.name == "db_url":
                argv += ["--db", draw(value_for(param, archive_url))]  # never the default ./mediawatch.db
                continue
            if not draw(st.booleans()) and not (param.required and draw(st.integers(0, 9)) > 0):
                continue
            flag = param.opts[0]
            if param.is_flag:
                argv.append(flag)
            else:
                argv += [flag, draw(value_for(param, archive_url))]
    # A command line cannot carry NUL: the kernel ends each argument at the first one.
    return path, [arg.replace("\x00", "") for arg in (*path, *argv, *positional)]


# ---------------------------------------------------------------------------------------------
# The archive and the scratch directory


def fingerprint(archive: Archive) -> str:
    """A digest of every row of every table: equal before and after means nothing was written."""
    digest = hashlib.sha256()
    with archive.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode("utf-8", "backslashreplace"))
    return digest.hexdigest()


@pytest.fixture
def fuzz_archive(archive: Archive, corpus: Path, tmp_path: Path) -> Archive:
    import_nyt(archive, corpus, tmp_path, [SLUG])
    page = next(p for p in eval_pages(corpus) if p.url)
    assert page.url is not None
    from datetime import UTC, datetime

    record(
        archive.sessions,
        Capture(
            url=page.url,
            fetched_at=datetime(2026, 3, 1, tzinfo=UTC),
            raw=page.raw(),
            content_type="text/html",
        ),
    )
    return archive


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "scratch"
    (work / "sub").mkdir(parents=True)
    (work / "records.jsonl").write_text(
        '{"url": "https://example.com/fuzz", "fetched_at": "2026-03-01T08:00:00Z", "title": "T", '
        '"text": "Pakistan and Afghanistan held talks on the border crossing at Torkham today."}\n{oops\n'
    )
    (work / "page.html").write_text("<html><head><title>T</title></head><body><p>Hello</p></body></html>")
    (work / "junk.bin").write_bytes(b"\x00\xff" * 100)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop the long-running and networked commands where their work would start."""
    import crawler.run
    import mediawatch.demo
    import mediawatch.web.app
    import scheduler
    from archive import wayback

    def reached(*_args: Any, **_kwargs: Any) -> None:
        raise Reached

    monkeypatch.setattr(crawler.run, "run_crawl", reached)
    monkeypatch.setattr(mediawatch.web.app, "serve", reached)
    monkeypatch.setattr(scheduler, "serve", reached)
    monkeypatch.setattr(mediawatch.demo, "_crawl", reached)
    monkeypatch.setattr(wayback.Backfiller, "backfill", reached)


@pytest.mark.slow  # hundreds of generated command lines
def test_odd_arguments_never_give_a_traceback(
    fuzz_archive: Archive, scratch: Path, stubs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDIAWATCH_DATABASE_URL", raising=False)
    codes = documented_exit_codes()
    runner = CliRunner()
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(line=command_line(fuzz_archive.url))
    def run(line: tuple[tuple[str, ...], list[str]]) -> None:
        path, argv = line
        read_only = path in READ_ONLY or (path == ("report",) and "--notify" not in argv)
        before = fingerprint(fuzz_archive) if read_only else None
        result = runner.invoke(cli, argv)
        if isinstance(result.exception, Reached):
            return  # the arguments were accepted and the command was about to start its work
        shown = f"{argv!r} -> {result.exit_code}\n{result.output[-2000:]}"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            shown,
            result.exc_info,
        )
        assert result.exit_code in codes, shown
        assert "Traceback" not in result.output, shown
        if result.exit_code != 0:
            assert result.stderr.strip(), shown  # a failure always says why
        if read_only:
            assert fingerprint(fuzz_archive) == before, f"{argv!r} changed the archive"
        seen[result.exit_code] = seen.get(result.exit_code, 0) + 1

    run()
    print(f"exit codes over {sum(seen.values())} command lines: {dict(sorted(seen.items()))}")
    assert seen.get(0) and seen.get(2), seen  # both accepted and refused lines were generated


@pytest.mark.parametrize(
    "argv",
    [
        ["versions", "http://[::1"],
        ["versions", "http://example.com:99999/"],
        ["versions", os.fsdecode(b"https://example.com/\xff")],
        ["articles", "--db", os.fsdecode(b"sqlite:///\xff.db")],
        ["diff", KNOWN_URL, "99999999999999999999999", "1"],
        ["show", KNOWN_URL, "--version", "99999999999999999999"],
        ["show", KNOWN_URL, "--at", "9999-12-31T23:59-01:00"],
        ["report", "--since", "999999999999d"],
        ["report", "--since", "99999999h"],
        ["report", "--since", "100000000d"],
        ["articles", "--offset", "99999999999999999999"],
        ["backfill", "--cdx-endpoint", "http://[::1", KNOWN_URL],
    ],
)
def test_the_probes_odd_inputs_are_one_line_and_exit_2(fuzz_archive: Archive, argv: list[str]) -> None:
    """The inputs the probe found printing a traceback: each is now one line on stderr, exit 2."""
    if "--db" not in argv:
        argv = [*argv, "--db", fuzz_archive.url]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, (argv, result.output, result.exc_info)
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
