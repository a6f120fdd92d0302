"""Installing mediawatch as a service (issue 13 point 19): the steps in the running guide
(docs/running.md, Install as a service) and the files in deploy/ describe one layout (user,
data directory, venv, env file, configuration and backups directories), and the shipped schedule
starts a discovery crawl as soon as a new scheduler starts."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from conftest import FakeClock

from archive.db import DATABASE_URL_ENV
from crawler.config import CONFIG_DIR_ENV, CONFIG_FILES
from mediawatch.cli import cli
from scheduler import load_config, reconcile_jobs

PROJECT = Path(__file__).resolve().parent.parent
DEPLOY = PROJECT / "deploy"
RUNNING = PROJECT / "docs" / "running.md"


def install_steps() -> list[list[str]]:
    """The commands of the console blocks under "## Install as a service", split like a shell."""
    lines = RUNNING.read_text().splitlines()
    start = lines.index("## Install as a service")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    commands, inside = [], False
    for line in (raw.strip() for raw in lines[start:end]):
        if line.startswith("```"):
            inside = line == "```console"
        elif inside and line:
            commands.append(shlex.split(line))
    return commands


def step(steps: list[list[str]], *words: str) -> list[str]:
    """The one documented command that contains all ``words`` (sudo dropped)."""
    [found] = [argv for argv in steps if all(w in argv for w in words)]
    return found[1:] if found[0] == "sudo" else found


def unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name)
    return parser["Service"]


def assignments(path: Path) -> dict[str, str]:
    """NAME=value lines of an env file or a crontab."""
    pairs = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and name.isidentifier():
            pairs[name] = value
    return pairs


def test_documented_install_steps_match_the_deploy_files() -> None:
    steps = install_steps()
    # 1. the user and its directories
    useradd = step(steps, "useradd")
    user, home = useradd[-1], useradd[useradd.index("--home-dir") + 1]
    made = step(steps, "install", "-d", "-o", user)
    assert made[made.index("-o") + 1] == made[made.index("-g") + 1] == user
    data_dir, backups_dir = made[-2:]
    assert home == data_dir == "/var/lib/mediawatch"
    # 2. the venv under /opt
    venv = Path(step(steps, "venv")[-1])
    assert venv.is_relative_to("/opt")
    mediawatch = str(venv / "bin" / "mediawatch")
    installed = step(steps, "install", "-r")
    assert installed[0] == str(venv / "bin" / "pip")
    # 3. the env file and the configuration
    env_install = step(steps, "deploy/env")
    env_file = env_install[-1]
    assert env_install[env_install.index("-g") + 1] == user  # the services can read it, others not
    config_init = step(steps, "config", "init")
    assert config_init[0] == mediawatch
    config_dir = config_init[-1]
    env = assignments(DEPLOY / "env")
    # The names mediawatch reads: the archive (archive/db.py) and the configuration directory.
    assert set(env) == {DATABASE_URL_ENV, CONFIG_DIR_ENV}
    assert env[CONFIG_DIR_ENV] == config_dir
    database = env[DATABASE_URL_ENV]
    assert database.startswith("sqlite:////") and Path(database[10:]).parent == Path(data_dir)

    # 4a. systemd: every unit copied exists; each runs as the user, in the data directory, with the
    # env file, the venv's mediawatch, and may write where it writes.
    copied = step(steps, "cp")
    assert copied[-1] == "/etc/systemd/system/"
    assert {Path(p).name for p in copied[1:-1]} == {
        "mediawatch-scheduler.service",
        "mediawatch-backup.service",
        "mediawatch-backup.timer",
    }
    assert all((PROJECT / p).is_file() for p in copied[1:-1])
    enabled = step(steps, "systemctl", "enable")
    assert set(enabled[3:]) == {"mediawatch-scheduler", "mediawatch-backup.timer"}
    for name in ("mediawatch-scheduler.service", "mediawatch-backup.service"):
        service = unit(name)
        assert service["User"] == service["Group"] == user, name
        assert service["WorkingDirectory"] == data_dir, name
        assert service["EnvironmentFile"] == env_file, name
        assert shlex.split(service["ExecStart"])[0] == mediawatch, name
        assert data_dir in service["ReadWritePaths"].split(), name
    scheduler_args = shlex.split(unit("mediawatch-scheduler.service")["ExecStart"])[1:]
    assert scheduler_args == ["schedule", "--config", f"{config_dir}/schedule.yaml"]
    assert "schedule.yaml" in CONFIG_FILES  # what `config init` writes there
    backup = unit("mediawatch-backup.service")
    backup_args = shlex.split(backup["ExecStart"])[1:]
    assert backup_args[:2] == ["db", "backup"] and Path(backup_args[2]).parent == Path(backups_dir)
    assert backups_dir in backup["ReadWritePaths"].split()
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.read(DEPLOY / "mediawatch-backup.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"

    # 4b. cron: the user's crontab sets the env file's variables and runs the venv's mediawatch in
    # the data directory, its backup into the backups directory.
    crontab = step(steps, "crontab")
    assert crontab == ["crontab", "-u", user, "deploy/crontab"]
    cron_env = assignments(DEPLOY / "crontab")
    assert {k: cron_env[k] for k in env} == env
    jobs = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line and not line.startswith("#") and line not in {f"{k}={v}" for k, v in cron_env.items()}
    ]
    assert len(jobs) == 3
    for line in jobs:
        assert f"cd {data_dir} && " in line and f" {mediawatch} " in line, line
    [cron_backup] = [line for line in jobs if " db backup " in line]
    assert f" {backups_dir}/" in cron_backup


def test_shipped_schedule_starts_a_discovery_crawl_at_once(clock: FakeClock) -> None:
    """A newly installed scheduler does not wait three hours for its first discovery crawl; a
    restart keeps the next run time it had (no extra crawl for every restart)."""
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    shipped = load_config(PROJECT / "config" / "schedule.yaml")
    scheduler = BackgroundScheduler(jobstores={"default": MemoryJobStore()}, timezone="UTC")
    scheduler.start(paused=True)  # the job store is live; nothing runs
    try:
        assert reconcile_jobs(scheduler, shipped, now=clock) == {j.name: "added" for j in shipped.jobs}
        at_start = {job.id for job in scheduler.get_jobs() if job.next_run_time == clock.now}
        assert at_start == {"discover"}
        [discover] = [job for job in shipped.jobs if job.name == "discover"]
        # It is a crawl that discovers: the command line it runs parses with discovery on.
        ctx = cli.commands["crawl"].make_context("crawl", list(discover.args[1:]))
        assert discover.args[0] == "crawl" and ctx.params["no_discovery"] is False
        assert ctx.params["revisit"] == "none"

        started_at = clock.now
        clock.advance(hours=1)  # restarted an hour later: the first discovery run is not repeated
        assert reconcile_jobs(scheduler, shipped, now=clock)["discover"] == "kept"
        assert scheduler.get_job("discover").next_run_time == started_at
    finally:
        scheduler.shutdown(wait=False)
