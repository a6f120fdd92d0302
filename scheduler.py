"""The scheduler daemon (``mediawatch schedule``): runs mediawatch commands on cron or interval triggers.

An APScheduler 3.x ``BlockingScheduler`` whose jobs come from a YAML file (config/schedule.yaml).
Each run is a fresh ``python -m mediawatch …`` subprocess (Twisted's reactor cannot be restarted
in one process: docs/running.md, The scheduler (systemd)) that must finish within the job's
deadline, shorter than its interval; the child gets SIGTERM at the deadline and SIGKILL if it ignores that.

Safety (docs/running.md, The scheduler (systemd)): ``max_instances=1``, ``coalesce=True`` and an explicit
``misfire_grace_time`` of hours (the 3.x default of 1 s skips late runs silently); missed and
failed runs are logged through event listeners; the job store is a table in the archive's
database, reconciled with the declared jobs at every start (unchanged jobs keep their next run
time, so a run missed while the daemon was down is caught up once; changed jobs are replaced;
undeclared jobs are removed); a singleton lock refuses a second daemon on the same archive;
SIGTERM/SIGINT stop it cleanly: running children get SIGTERM and are waited for.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from archive.schedule import parse_duration

logger = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
STOP_GRACE_S = 60.0  # how long a child may take to finish after SIGTERM before SIGKILL
EXIT_ALREADY_RUNNING = 75


class JobConfig(BaseModel):
    """One scheduled command: ``args`` are mediawatch's arguments, e.g. ``["crawl", "--quiet"]``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    args: list[str] = Field(min_length=1)
    cron: str | None = None  # five crontab fields, in UTC
    interval: timedelta | None = None
    deadline: timedelta | None = None  # default: 90% of the (shortest) gap between runs
    run_at_start: bool = False  # also run as soon as the job is (re)declared, not only at its trigger

    @field_validator("interval", "deadline", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _one_trigger(self) -> JobConfig:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of cron or interval")
        if self.cron is not None:
            self.trigger()  # validates the expression
        gap = self.min_gap()
        if self.deadline is None:
            self.deadline = gap * 0.9
        if self.deadline >= gap:
            raise ValueError(f"deadline {self.deadline} must be shorter than the gap between runs ({gap})")
        return self

    def trigger(self) -> Any:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.interval is not None:
            return IntervalTrigger(seconds=self.interval.total_seconds(), timezone=UTC)
        assert self.cron is not None
        try:
            return CronTrigger.from_crontab(self.cron, timezone=UTC)
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {self.cron!r}: {exc}") from None

    def min_gap(self) -> timedelta:
        """The interval, or the shortest gap between a cron expression's runs over a week."""
        if self.interval is not None:
            return self.interval
        trigger = self.trigger()
        at = datetime(2026, 1, 5, tzinfo=UTC)  # any fixed Monday: the result must be stable
        previous = trigger.get_next_fire_time(None, at)
        gaps: list[timedelta] = []
        while previous is not None and previous < at + timedelta(days=8) and len(gaps) < 20000:
            following = trigger.get_next_fire_time(previous, previous + timedelta(microseconds=1))
            if following is None:
                break
            gaps.append(following - previous)
            previous = following
        return min(gaps) if gaps else timedelta(days=1)


class ScheduleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    misfire_grace_time: timedelta = timedelta(hours=6)  # a late run still runs within this
    stop_grace: timedelta = timedelta(seconds=STOP_GRACE_S)
    jobs: list[JobConfig] = Field(min_length=1)

    @field_validator("misfire_grace_time", "stop_grace", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @model_validator(mode="after")
    def _unique_names(self) -> ScheduleConfig:
        names = [job.name for job in self.jobs]
        if len(set(names)) != len(names):
            raise ValueError("job names must be unique")
        return self


def load_config(path: Path) -> ScheduleConfig:
    """The schedule file, read as the sources and topic files are (size bound, UTF-8, one line
    with the file's line number for any problem)."""
    from crawler.config import load_model

    return load_model(ScheduleConfig, path)


# ---------------------------------------------------------------------------------------------
# Running one job


@dataclass(frozen=True)
class JobOutcome:
    name: str
    returncode: int
    seconds: float
    timed_out: bool


class JobFailed(Exception):
    """A run ended with a non-zero exit code (raised so APScheduler's EVENT_JOB_ERROR fires)."""


class Runner:
    """Starts job subprocesses and remembers them, so a stopping scheduler can stop them."""

    def __init__(self, db_url: str, stop_grace: float = STOP_GRACE_S) -> None:
        self.db_url = db_url
        self.stop_grace = stop_grace
        self.stopping = threading.Event()
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def command(self, args: list[str]) -> list[str]:
        return [sys.executable, "-m", "mediawatch", *args]

    def run(self, name: str, args: list[str], deadline_s: float) -> JobOutcome:
        if self.stopping.is_set():
            return JobOutcome(name, 0, 0.0, False)
        env = {**os.environ, "MEDIAWATCH_DATABASE_URL": self.db_url, "MEDIAWATCH_RUN_TRIGGER": "schedule"}
        started = time.monotonic()
        logger.info("job %s: starting %s", name, " ".join(args))
        # The child's stdout/stderr go to the scheduler's (the journal under systemd).
        child = subprocess.Popen(self.command(args), env=env, stdin=subprocess.DEVNULL)
        with self._lock:
            self._children[child.pid] = child
        timed_out = False
        try:
            try:
                returncode = child.wait(timeout=deadline_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                logger.error(
                    "job %s: still running after its deadline of %.0f s; stopping it", name, deadline_s
                )
                returncode = self._stop(child)
        finally:
            with self._lock:
                self._children.pop(child.pid, None)
        outcome = JobOutcome(name, returncode, time.monotonic() - started, timed_out)
        if returncode == 0:
            logger.info("job %s: finished in %.1f s", name, outcome.seconds)
        elif returncode == EXIT_ALREADY_RUNNING:
            logger.warning("job %s: skipped, another run holds the archive's run lock", name)
        elif self.stopping.is_set():
            logger.info("job %s: stopped with the scheduler (exit %d)", name, returncode)
        else:
            ended = (
                f"killed by {signal.Signals(-returncode).name}"
                if returncode < 0
                else f"exit code {returncode}"
            )
            deadline = " (its deadline)" if timed_out else ""
            raise JobFailed(f"job {name}: {ended} after {outcome.seconds:.1f} s{deadline}")
        return outcome

    def _stop(self, child: subprocess.Popen[bytes]) -> int:
        child.send_signal(signal.SIGTERM)
        try:
            return child.wait(timeout=self.stop_grace)
        except subprocess.TimeoutExpired:
            logger.error("pid %d ignored SIGTERM for %.0f s; killing it", child.pid, self.stop_grace)
            child.kill()
            return child.wait()

    def children(self) -> list[subprocess.Popen[bytes]]:
        with self._lock:
            return list(self._children.values())

    def stop_all(self) -> None:
        """SIGTERM every running child (they record their run as interrupted) and wait for them."""
        self.stopping.set()
        children = self.children()
        for child in children:
            logger.info("stopping pid %d", child.pid)
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=self.stop_grace)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


_runner: Runner | None = None  # the job store pickles a function reference, not this object


def run_job(name: str, args: list[str], deadline_s: float) -> JobOutcome:
    """The job function APScheduler calls (by reference ``scheduler:run_job``)."""
    if _runner is None:
        raise RuntimeError("the scheduler's runner is not set up")
    return _runner.run(name, list(args), deadline_s)


# ---------------------------------------------------------------------------------------------
# The daemon


def _now() -> datetime:
    return datetime.now(UTC)


def _job_kwargs(job: JobConfig, config: ScheduleConfig, now: Callable[[], datetime] = _now) -> dict[str, Any]:
    assert job.deadline is not None
    extra: dict[str, Any] = {"next_run_time": now()} if job.run_at_start else {}
    return {
        **extra,
        "func": "scheduler:run_job",
        "trigger": job.trigger(),
        "args": [job.name, list(job.args), job.deadline.total_seconds()],
        "id": job.name,
        "name": job.name,
        "max_instances": 1,
        "coalesce": True,
        "misfire_grace_time": int(config.misfire_grace_time.total_seconds()),
        "replace_existing": True,
    }


def reconcile_jobs(
    scheduler: Any, config: ScheduleConfig, now: Callable[[], datetime] = _now
) -> dict[str, str]:
    """Make the job store hold exactly the declared jobs (F5); returns what happened to each.

    A job added now with ``run_at_start`` runs at once (``now()``); a kept one keeps its stored
    next run time, so a restart does not run it again (a run missed meanwhile still catches up).
    """
    declared = {job.name: _job_kwargs(job, config, now) for job in config.jobs}
    actions: dict[str, str] = {}
    for stored in scheduler.get_jobs():
        wanted = declared.get(stored.id)
        if wanted is None:
            scheduler.remove_job(stored.id)
            actions[stored.id] = "removed"
        elif (
            str(stored.trigger) == str(wanted["trigger"])
            and list(stored.args) == wanted["args"]
            and stored.misfire_grace_time == wanted["misfire_grace_time"]
            and stored.func_ref == wanted["func"]
        ):
            actions[stored.id] = "kept"  # keeps its stored next run time: a missed run catches up
    for name, kwargs in declared.items():
        if actions.get(name) != "kept":
            scheduler.add_job(**kwargs)
            actions[name] = "added"
    return actions


def _listen(event: Any) -> None:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

    if event.code == EVENT_JOB_MISSED:
        logger.error(
            "job %s: run due at %s was missed (later than misfire_grace_time)",
            event.job_id,
            event.scheduled_run_time,
        )
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        logger.warning("job %s: skipped, the previous run is still going", event.job_id)
    elif event.code == EVENT_JOB_ERROR:
        if isinstance(event.exception, JobFailed):
            logger.error("%s", event.exception)
        else:  # a bug in the job function itself
            logger.error("job %s: %r\n%s", event.job_id, event.exception, event.traceback)


def build_scheduler(db_url: str, config: ScheduleConfig) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    from archive.db import make_engine

    # Our EVENT_JOB_ERROR listener reports failed runs; APScheduler would add a traceback each.
    logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
    store = SQLAlchemyJobStore(engine=make_engine(db_url), tablename=JOB_TABLE)
    scheduler = BlockingScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(max_workers=max(2, len(config.jobs)))},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(config.misfire_grace_time.total_seconds()),
        },
        timezone=UTC,
    )
    from apscheduler.events import (
        EVENT_JOB_ERROR,
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
        EVENT_SCHEDULER_STARTED,
    )

    scheduler.add_listener(_listen, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)

    def _on_start(_event: Any) -> None:
        # Runs in start(), after the job store is open and before the first job is looked at.
        if _runner is not None and _runner.stopping.is_set():  # SIGTERM arrived while starting
            scheduler.shutdown(wait=False)
            return
        for name, action in sorted(reconcile_jobs(scheduler, config).items()):
            logger.info("job %s: %s", name, action)
        for job in scheduler.get_jobs():
            logger.info("job %s: next run at %s", job.id, job.next_run_time)

    scheduler.add_listener(_on_start, EVENT_SCHEDULER_STARTED)
    return scheduler


@dataclass(frozen=True)
class ScheduleResult:
    signal: str | None


def serve(db_url: str | None, config_path: Path) -> ScheduleResult:
    """Run the scheduler until SIGTERM or SIGINT; a second scheduler on the archive is refused."""
    global _runner
    from archive.db import Archive, database_url
    from archive.runlock import SCHEDULER_LOCK, acquire_run_lock

    config = load_config(config_path)
    url = database_url(db_url)
    with acquire_run_lock(url, SCHEDULER_LOCK):
        runner = Runner(url, config.stop_grace.total_seconds())
        _runner = runner
        scheduler = build_scheduler(url, config)
        received: list[str] = []

        def _stop(signum: int, _frame: Any) -> None:
            received.append(signal.Signals(signum).name)
            if len(received) > 1:  # a second signal: stop the running jobs now
                logger.warning("received %s again: killing running jobs", received[-1])
                for child in runner.children():
                    child.kill()
                return
            logger.info("received %s: stopping the scheduler", received[-1])
            runner.stopping.set()
            if scheduler.running:
                scheduler.shutdown(wait=False)
            # else: still starting; the start listener sees runner.stopping and shuts down

        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            Archive(url).close()  # migrate (and check) the archive before any job starts
            logger.info("scheduler started with %d job(s) from %s", len(config.jobs), config_path)
            if not runner.stopping.is_set():
                scheduler.start()
            runner.stop_all()  # the children record their runs as interrupted
            _wait_for_job_threads(scheduler)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _runner = None
        logger.info("scheduler stopped")
        return ScheduleResult(signal=received[0] if received else None)


def _wait_for_job_threads(scheduler: Any) -> None:
    for executor in _executors(scheduler):
        executor.shutdown(wait=True)


def _executors(scheduler: Any) -> Iterator[Any]:
    yield from scheduler._executors.values()
