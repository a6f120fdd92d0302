"""The scheduler daemon runs real `mediawatch` jobs (F1-F6, I4): records runs, survives failing
jobs, refuses a second instance, and stops cleanly on SIGTERM; the systemd unit is what runs here.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import click
import pytest
from corpus_data import nyt_captures, nyt_slugs, write_nyt_jsonl
from ops_helpers import run_mediawatch, runs, wait_for
from sqlalchemy import func, inspect, select

from archive.db import Archive, make_engine
from archive.errors import ConfigError
from archive.models import Version
from mediawatch.cli import cli
from scheduler import load_config, parse_duration

pytestmark = pytest.mark.slow  # a real scheduler daemon starting real jobs

PROJECT = Path(__file__).resolve().parent.parent
UNIT = PROJECT / "deploy" / "mediawatch-scheduler.service"
UNIT_CONFIG = "/etc/mediawatch/schedule.yaml"


def unit_exec_start() -> list[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return shlex.split(parser["Service"]["ExecStart"])


def start_scheduler(db_url: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start the scheduler exactly as the systemd unit does (its ExecStart, our config file)."""
    argv = unit_exec_start()
    assert Path(argv[0]).name == "mediawatch"
    args = [str(config) if a == UNIT_CONFIG else a for a in argv[1:]]
    return subprocess.Popen(
        [sys.executable, "-m", "mediawatch", *args],
        env={**os.environ, "MEDIAWATCH_DATABASE_URL": db_url},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=300)


def version_count(db_url: str) -> int:
    with Archive(db_url) as archive, archive.reading() as s:
        return int(s.scalar(select(func.count()).select_from(Version)) or 0)


def write_states(path: Path, corpus: Path, states: int) -> None:
    """One NYT article, edited ``states - 1`` times: each state a later capture with one more line."""
    base = nyt_captures(corpus, nyt_slugs(corpus)[0])[0]
    with path.open("w") as out:
        for n in range(states):
            record = base.as_record()
            record["fetched_at"] = f"2026-03-01T{8 + n:02d}:00:00Z"
            record["text"] += "".join(f"\n\nCorrection number {i}." for i in range(1, n + 1))
            out.write(json.dumps(record) + "\n")


# Commands the crontab uses that this build does not have yet (crawl lands with the crawler).
PENDING_COMMANDS: set[str] = set()


def test_systemd_unit_runs_the_scheduler_and_outlasts_its_stop_grace() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    service = parser["Service"]
    argv = unit_exec_start()
    assert argv[1:] == ["schedule", "--config", UNIT_CONFIG]
    ctx = cli.commands["schedule"].make_context("schedule", list(argv[2:]), resilient_parsing=False)
    assert ctx.params["config_path"] == Path(UNIT_CONFIG)
    assert service["KillSignal"] == "SIGTERM" and service["KillMode"] == "mixed"
    shipped = load_config(PROJECT / "config" / "schedule.yaml")
    assert int(service["TimeoutStopSec"]) > shipped.stop_grace.total_seconds()
    assert "75" in service["RestartPreventExitStatus"].split()


def test_crontab_lines_are_valid_commands() -> None:
    from apscheduler.triggers.cron import CronTrigger

    lines = [
        line
        for line in (PROJECT / "deploy" / "crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 3
    seen = set()
    for line in lines:
        fields = line.split(None, 5)
        CronTrigger.from_crontab(" ".join(fields[:5]))
        command = fields[5].split("&&", 1)[1].split("||")[0].replace("\\%", "%")
        argv = shlex.split(command)
        while not argv[0].endswith("/mediawatch"):
            argv.pop(0)  # `timeout 25m`
        name, args = argv[1], argv[2:]
        seen.add(name)
        if name in PENDING_COMMANDS and name not in cli.commands:
            continue
        sub = cli.commands[name]
        while isinstance(sub, click.Group):
            sub, args = sub.commands[args[0]], args[1:]
        sub.make_context(name, [a for a in args if not a.startswith(">")], resilient_parsing=False)
    assert seen == {"crawl", "report", "db"}


def test_shipped_config_and_validation(tmp_path: Path) -> None:
    shipped = load_config(PROJECT / "config" / "schedule.yaml")
    assert {j.name for j in shipped.jobs} == {"discover", "revisit", "nightly"}
    assert all(j.args[0] == "crawl" and "--quiet" in j.args for j in shipped.jobs)
    assert shipped.misfire_grace_time >= timedelta(hours=1)
    revisit = next(j for j in shipped.jobs if j.name == "revisit")
    assert revisit.min_gap() == timedelta(hours=1)
    assert parse_duration("90s") == timedelta(seconds=90) and parse_duration("2h") == timedelta(hours=2)

    bad = tmp_path / "bad.yaml"
    for body, message in [
        ("jobs: [{name: a, args: [runs], interval: 10s, deadline: 10s}]", "shorter than the gap"),
        ("jobs: [{name: a, args: [runs], cron: 'not cron'}]", "invalid cron"),
        ("jobs: [{name: a, args: [runs], cron: '* * * * *', interval: 1h}]", "exactly one"),
        ("jobs: [{name: a, args: [runs], interval: 1h}, {name: a, args: [runs], interval: 2h}]", "unique"),
        ("jobs: [{name: 'a b', args: [runs], interval: 1h}]", r"bad.yaml:1: jobs\[0\]\.name"),
        ("jobs: [", "bad.yaml:1: invalid YAML"),
    ]:
        bad.write_text(body)
        with pytest.raises(ConfigError, match=message):
            load_config(bad)
    ok = tmp_path / "ok.yaml"
    ok.write_text("jobs: [{name: a, args: [runs], interval: 10m}]")
    assert load_config(ok).jobs[0].deadline == timedelta(minutes=9)
    result = run_mediawatch("schedule", "--config", str(bad), "--db", f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 2 and result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, not the YAML parser's report


def test_scheduler_records_every_edit_once_survives_failures_and_stops_on_sigterm(
    db_url: str, corpus: Path, tmp_path: Path
) -> None:
    captures = tmp_path / "captures.jsonl"
    write_states(captures, corpus, 1)
    config = tmp_path / "schedule.yaml"
    config.write_text(
        f"misfire_grace_time: 1h\nstop_grace: 30s\n"
        f"jobs:\n  - name: import\n    args: [import, {json.dumps(str(captures))}]\n"
        "    interval: 10s\n    deadline: 9s\n    run_at_start: true\n"
    )
    log = tmp_path / "scheduler.log"
    scheduler = start_scheduler(db_url, config, log)
    try:
        wait_for(lambda: version_count(db_url) == 1, timeout=300, what="the first scheduled import")
        # A second scheduler on the same archive is refused at once (F3).
        second = run_mediawatch("schedule", "--config", str(config), "--db", db_url)
        assert second.returncode == 75, second.stderr
        assert "another mediawatch scheduler is running" in second.stderr
        for states in (2,):
            write_states(captures, corpus, states)
            wait_for(lambda n=states: version_count(db_url) == n, timeout=300, what=f"state {states}")
        # A failing job (its input is gone) is recorded and logged; the scheduler keeps going.
        captures.unlink()
        wait_for(lambda: any(r.status == "failed" for r in runs(db_url)), timeout=300, what="a failed run")
        write_states(captures, corpus, 3)
        wait_for(lambda: version_count(db_url) == 3, timeout=300, what="a run after the failure")
        assert scheduler.poll() is None
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- scheduler log ---\n{log.read_text()[-4000:]}") from None
    finally:
        code = stop(scheduler)
    text = log.read_text()
    print(text)
    assert code == 0, text
    assert "job import: exit code 2" in text
    assert "job import: finished in" in text
    assert "scheduler stopped" in text and "Traceback" not in text
    recorded = runs(db_url)
    assert {r.trigger for r in recorded} == {"schedule"}
    assert {r.status for r in recorded} <= {"completed", "failed", "interrupted"}
    assert "running" not in {r.status for r in recorded}
    # Every edit exactly once, contiguous.
    with Archive(db_url) as archive, archive.reading() as s:
        assert list(s.scalars(select(Version.seq).order_by(Version.seq))) == [1, 2, 3]
    engine = make_engine(db_url)
    assert "apscheduler_jobs" in inspect(engine).get_table_names()
    engine.dispose()


def test_sigterm_stops_the_running_job_which_records_itself_interrupted(
    db_url: str, corpus: Path, tmp_path: Path
) -> None:
    big = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, big)
    config = tmp_path / "schedule.yaml"
    config.write_text(
        "jobs:\n  - name: slow-import\n"
        f"    args: [import, {json.dumps(str(big))}]\n    interval: 1h\n    run_at_start: true\n"
    )
    log = tmp_path / "scheduler.log"
    scheduler = start_scheduler(db_url, config, log)
    try:
        wait_for(lambda: any(r.status == "running" for r in runs(db_url)), timeout=300, what="a running job")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- scheduler log ---\n{log.read_text()[-4000:]}") from None
    finally:
        code = stop(scheduler)
    text = log.read_text()
    assert code == 0, text
    assert "received SIGTERM" in text and "stopped with the scheduler" in text and "scheduler stopped" in text
    [run] = runs(db_url)
    assert run.status == "interrupted" and run.message == "stopped by SIGTERM"
    # Nothing half-written: the next run finishes the import with every state exactly once.
    result = run_mediawatch("import", str(big), "--db", db_url)
    assert result.returncode == 0, result.stderr
    assert version_count(db_url) == 21


def test_restart_keeps_declared_jobs_only(db_url: str, tmp_path: Path) -> None:
    """After a restart the job store holds exactly the declared jobs (F5)."""
    from sqlalchemy import text

    def run_with(body: str) -> set[str]:
        config = tmp_path / "schedule.yaml"
        config.write_text(body)
        log = tmp_path / f"scheduler-{len(body)}.log"
        proc = start_scheduler(db_url, config, log)
        wait_for(lambda: "next run at" in log.read_text(), timeout=300, what="the scheduler to start")
        assert stop(proc) == 0, log.read_text()
        engine = make_engine(db_url)
        with engine.connect() as conn:
            jobs = set(conn.scalars(text("SELECT id FROM apscheduler_jobs")))
        engine.dispose()
        return jobs

    first = "jobs: [{name: a, args: [runs], interval: 1h}, {name: b, args: [due], interval: 2h}]"
    assert run_with(first) == {"a", "b"}
    second = "jobs: [{name: b, args: [due], interval: 3h}, {name: c, args: [runs], cron: '0 4 * * *'}]"
    assert run_with(second) == {"b", "c"}


def test_job_store_table_is_outside_alembic_drift_check(db_url: str) -> None:
    """The scheduler's apscheduler_jobs table lives in the archive but is not a migration's to own."""
    from alembic import command
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    from archive.db import alembic_config

    engine = make_engine(db_url)
    store = SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")
    store.start(BackgroundScheduler(), "default")  # creates the table
    assert "apscheduler_jobs" in inspect(engine).get_table_names()
    command.check(alembic_config(engine))  # raises AutogenerateDiffsDetected on drift
    engine.dispose()


def test_second_sigterm_kills_a_job_that_ignores_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A child stuck past SIGTERM (e.g. blocked in C code) is killed by a second SIGTERM, at once,
    not after the stop grace: what `systemctl stop` twice, or Ctrl-C twice, is expected to do."""
    import logging
    import threading
    import time

    import scheduler as scheduler_module

    started = tmp_path / "child-started"
    stubborn = (
        "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(600)"
    )
    monkeypatch.setattr(
        scheduler_module.Runner, "command", lambda self, args: [sys.executable, "-c", stubborn, str(started)]
    )
    config = tmp_path / "schedule.yaml"
    config.write_text(
        "stop_grace: 10m\njobs:\n  - {name: stubborn, args: [crawl], interval: 1h, run_at_start: true}\n"
    )
    signals_sent: list[str] = []

    def send_two_sigterms() -> None:
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        signals_sent.append("first")
        os.kill(os.getpid(), signal.SIGTERM)
        runner = scheduler_module._runner
        while runner is not None and not runner.stopping.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let stop_all() deliver its (ignored) SIGTERM and start waiting
        signals_sent.append("second")
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=send_two_sigterms, daemon=True)
    sender.start()
    with caplog.at_level(logging.INFO, logger="scheduler"):
        result = scheduler_module.serve(f"sqlite:///{tmp_path / 'a.db'}", config)
    sender.join(timeout=10)
    assert signals_sent == ["first", "second"]
    assert result.signal == "SIGTERM"
    messages = [r.getMessage() for r in caplog.records]
    assert "received SIGTERM again: killing running jobs" in messages
    assert "job stubborn: stopped with the scheduler (exit -9)" in messages
    assert messages[-1] == "scheduler stopped"


RUNNING_DOCS = PROJECT / "docs" / "running.md"


def _docs_block(page: Path, heading: str, fence: str) -> list[str]:
    """The first ```fence block under the section titled `heading` (any level) of a docs page."""
    lines = page.read_text().splitlines()
    headings = [line.lstrip("#").strip() if line.startswith("#") else None for line in lines]
    at = headings.index(heading)
    start = lines.index(f"```{fence}", at) + 1
    block = lines[start : lines.index("```", start)]
    return [line for line in block if line and not line.startswith("#")]


def test_documented_cron_and_systemd_recipes_are_the_tested_files() -> None:
    """What a reader copies from docs/running.md is exactly what the tests above run and parse."""
    crontab = (PROJECT / "deploy" / "crontab").read_text().splitlines()
    cron_lines = _docs_block(RUNNING_DOCS, "Cron", "crontab")
    assert len(cron_lines) >= 5 and all(line in crontab for line in cron_lines)
    unit = UNIT.read_text().splitlines()
    unit_lines = _docs_block(RUNNING_DOCS, "The scheduler (systemd)", "ini")
    assert "[Service]" in unit_lines and any(line.startswith("ExecStart=") for line in unit_lines)
    assert all(line in unit for line in unit_lines), [line for line in unit_lines if line not in unit]
