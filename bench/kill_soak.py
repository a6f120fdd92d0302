"""Kill soak: `uv run python bench/kill_soak.py [--kills 1000] [--lanes N] [--pg-url URL] [--seed N]`.

Run it on a copy of the code nobody edits meanwhile (``git archive HEAD | tar -x -C DIR``, then
``PYTHONPATH=DIR python DIR/bench/kill_soak.py``): every crawl imports the code afresh.

SIGKILLs real crawls (``mediawatch crawl`` subprocesses, the real Scrapy downloader and extraction
pool) at random points, against a loopback site (127.0.0.1) whose pages move through real revision
histories of the shared corpus between runs (New York Times articles captured by the Wayback
Machine, a Wikipedia article's revisions). Crawls alternate between two archives: SQLite, and
PostgreSQL (a throwaway cluster started from /usr/lib/postgresql/*/bin, or ``--pg-url``).

The kill lands anywhere in a crawl: the delay is drawn uniformly over the crawl's measured length
from the moment the process starts (start-up, discovery, fetching, extraction, writes); a share of
kills take the extraction workers down too (the whole process group, as an OOM kill of a cgroup or
``timeout -s KILL`` would), or kill a worker first and the crawl a moment later.

After each kill, with the process dead and nothing writing, the archive it wrote to is checked:

- integrity: SQLite ``PRAGMA integrity_check``; both backends: no dangling foreign key;
- every version has a fetch row; seq runs 1..n per article and ``version_count`` is n;
- every version's blob exists (and each blob's bytes hash to its key, checked once per blob);
- no two consecutive versions hold the same state (text digest, title, byline, declared dates);
- the search index is in step with the versions (FTS5 integrity check and one row per version;
  PostgreSQL's generated tsvector equals its expression for every version);
- at most one ``running`` run row, and only the newest: the start of the next crawl closes it as
  ``abandoned`` (checked on the following kill);
- no process of the killed crawl (extraction workers, forkserver, resource tracker) is alive 10 s
  after the kill (checked without waiting, on a later iteration).

Every 25 kills per backend one crawl runs to completion: it must exit 0 with status ``completed``.
Prints the counts at the end; exits 1 if any invariant was broken. A bench, not a CI test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import PostgresCluster, corpus_root  # noqa: E402
from corpus_data import article_page  # noqa: E402
from crawl_bench import crawl_command  # noqa: E402
from crawl_site import Site, nyt_states, rewrite_feed, sources_file  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from archive.blobs import decompress  # noqa: E402
from archive.db import Archive, make_engine, upgrade  # noqa: E402
from archive.models import Base, Blob, CrawlRun, Fetch, Version  # noqa: E402

NYT_SLUGS = ("mubarak-is-on", "rodney-king-whose", "road-trip-helps")
WIKIPEDIA_ARTICLE = "Haber process"
CATCH_UP_EVERY = 25  # kills per backend between two crawls run to completion
ORPHAN_GRACE = 10.0  # seconds a killed crawl's children get to exit


# ---------------------------------------------------------------------------------------------
# The site: real revision histories served as HTML pages


def revision_histories(corpus: Path) -> dict[str, list[bytes]]:
    """Path -> the page's successive states (each differs from the one before)."""
    histories = {
        f"/nyt/{slug}": [article_page(*state) for state in nyt_states(corpus, slug)] for slug in NYT_SLUGS
    }
    folder = corpus / "wikipedia-revision-versions" / "version_documents" / WIKIPEDIA_ARTICLE
    revisions = sorted(folder.glob("*.txt"), key=lambda p: int(p.stem))
    histories["/wiki/haber-process"] = [
        article_page(WIKIPEDIA_ARTICLE, "", p.read_text("utf-8")) for p in revisions
    ]
    return histories


class EditingSite:
    """The loopback site; ``edit`` moves some pages to their next state (cycling: reverts too)."""

    def __init__(self, corpus: Path, rng: random.Random) -> None:
        self.rng = rng
        self.histories = revision_histories(corpus)
        self.position = dict.fromkeys(self.histories, 0)
        self.site = Site().start()
        # A killed crawl resets its connections: not worth a traceback on the terminal.
        self.site.server.handle_error = lambda *_: None  # type: ignore[method-assign]
        self.edits = 0
        self.site.set("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
        feed = rewrite_feed(corpus, self.site, list(self.histories))
        self.site.set("/feed.xml", feed, content_type="application/rss+xml")
        self._serve()

    def _serve(self) -> None:
        for path, states in self.histories.items():
            # A small random answer time spreads the kills over fetching and extraction.
            delay = self.rng.choice((0.0, 0.0, 0.05, 0.2, 0.4))
            self.site.set(path, states[self.position[path] % len(states)], delay=delay)

    def edit(self) -> None:
        for path in self.histories:
            if self.rng.random() < 0.35:
                self.position[path] += 1
                self.edits += 1
        self._serve()

    @property
    def feed_url(self) -> str:
        return self.site.url("/feed.xml")


# ---------------------------------------------------------------------------------------------
# Processes


def _stat(pid: int) -> tuple[int, int, str, str] | None:
    """(parent pid, process group, state, start time) of a live process; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[2]), fields[0], fields[19]


def group_members(pgid: int) -> dict[int, str]:
    """Live processes of a process group (pid -> start time); children keep it when reparented."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            if stat[1] == pgid and stat[2] != "Z":
                found[int(entry.name)] = stat[3]
    return found


def still_alive(processes: dict[int, str]) -> list[int]:
    alive = []
    for pid, start in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[3] == start and stat[2] != "Z":
            alive.append(pid)
    return alive


def extraction_workers(members: dict[int, str], crawl_pid: int) -> list[int]:
    """The pool's worker processes: children of the forkserver (not the tracker, not the server)."""
    workers = []
    for pid in members:
        stat = _stat(pid)
        if stat is None or pid == crawl_pid or stat[0] == crawl_pid:
            continue  # the crawl itself, the forkserver and the resource tracker
        workers.append(pid)
    return workers


# ---------------------------------------------------------------------------------------------
# Invariants


@dataclass
class Backend:
    name: str
    url: str
    archive: Archive
    kills: int = 0
    catch_ups: int = 0
    clean_seconds: list[float] = field(default_factory=list)
    verified_blobs: set[str] = field(default_factory=set)
    running_seen: set[int] = field(default_factory=set)
    run_row_seconds: list[float] = field(default_factory=list)


def check_invariants(backend: Backend) -> list[tuple[str, str]]:
    """Every broken invariant of the archive, as (kind, detail)."""
    broken: list[tuple[str, str]] = []
    sqlite = backend.url.startswith("sqlite")
    with backend.archive.reading() as session:
        if sqlite:
            result = [r[0] for r in session.execute(text("PRAGMA integrity_check"))]
            if result != ["ok"]:
                broken.append(("integrity", "; ".join(result)[:300]))
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                column, target = fk.parent, fk.column
                dangling = session.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(column.is_not(None), ~column.in_(select(target)))
                )
                if dangling:
                    broken.append(("integrity", f"{dangling} dangling {table.name}.{column.name}"))

        orphans = session.scalars(
            select(Version.id).where(
                ~Version.id.in_(select(Fetch.version_id).where(Fetch.version_id.is_not(None)))
            )
        ).all()
        for vid in orphans:
            broken.append(("version without fetch", f"version {vid}"))

        rows = session.execute(
            select(
                Version.article_id,
                Version.seq,
                Version.text_sha256,
                Version.title,
                Version.byline,
                Version.published,
                Version.modified,
                Version.blob_sha256,
                Version.flags,
            ).order_by(Version.article_id, Version.seq)
        ).all()
        by_article: dict[int, list[tuple[object, ...]]] = {}
        for row in rows:
            by_article.setdefault(row[0], []).append(tuple(row))
        counts = dict(session.execute(text("SELECT id, version_count FROM article")).all())
        for article_id, versions in by_article.items():
            seqs = [v[1] for v in versions]
            if seqs != list(range(1, len(seqs) + 1)):
                broken.append(("seq gap", f"article {article_id}: {seqs}"))
            if counts.get(article_id) != len(seqs):
                broken.append(("seq gap", f"article {article_id}: version_count {counts.get(article_id)}"))
            for before, after in zip(versions, versions[1:], strict=False):
                if _state(before) == _state(after):
                    broken.append(("duplicate state", f"article {article_id} seq {before[1]}/{after[1]}"))
        for article_id, count in counts.items():
            if count and article_id not in by_article:
                broken.append(("seq gap", f"article {article_id}: version_count {count}, no version"))

        digests = {r[7] for r in rows if r[7] is not None}
        present = (
            set(session.scalars(select(Blob.sha256).where(Blob.sha256.in_(digests)))) if digests else set()
        )
        for missing in sorted(digests - present):
            broken.append(("missing blob", missing))
        for digest in sorted(present - backend.verified_blobs):
            blob = session.get(Blob, digest)
            assert blob is not None
            if hashlib.sha256(decompress(blob.data)).hexdigest() != digest:
                broken.append(("missing blob", f"{digest}: bytes do not match"))
            else:
                backend.verified_blobs.add(digest)

        broken += _search_index(session, sqlite, len(rows))

        runs = session.execute(select(CrawlRun.id, CrawlRun.status).order_by(CrawlRun.id)).all()
        newest = runs[-1][0] if runs else None
        status = dict(runs)
        for run_id, run_status in runs:
            if run_status == "running" and run_id != newest:
                broken.append(("running row not closed", f"run {run_id} still running after run {newest}"))
        for run_id in sorted(backend.running_seen):
            if run_id != newest and status.get(run_id) != "abandoned":
                broken.append(("running row not closed", f"run {run_id} is {status.get(run_id)}"))
        backend.running_seen = {r for r, s in runs if s == "running"}
    return broken


def _state(version: tuple[object, ...]) -> tuple[object, ...]:
    # The store's own notion of a state: dates guessed from the text are not part of it.
    guessed = "dates-guessed" in (version[8] or [])  # type: ignore[operator]
    return (
        version[2],
        " ".join(str(version[3] or "").split()),
        " ".join(str(version[4] or "").split()),
        None if guessed else version[5],
        None if guessed else version[6],
    )


def _search_index(session: object, sqlite: bool, versions: int) -> list[tuple[str, str]]:
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    broken: list[tuple[str, str]] = []
    if sqlite:
        try:
            # rank 1: compare the index with the content of the version table itself.
            session.execute(text("INSERT INTO version_fts(version_fts, rank) VALUES ('integrity-check', 1)"))
        except DBAPIError as exc:
            broken.append(("search index", str(exc.orig)[:200]))
        session.rollback()
        indexed = session.scalar(text("SELECT count(*) FROM version_fts_docsize"))
        if indexed != versions:
            broken.append(("search index", f"{indexed} documents indexed for {versions} versions"))
    else:
        stale = session.scalar(
            text(
                "SELECT count(*) FROM version WHERE search_vector IS NULL OR search_vector IS DISTINCT FROM ("
                "setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A') || "
                "setweight(to_tsvector('simple'::regconfig, coalesce(byline, '')), 'B') || "
                "setweight(to_tsvector('simple'::regconfig, left(text, 200000)), 'C'))"
            )
        )
        if stale:
            broken.append(("search index", f"{stale} versions out of step"))
    return broken


# ---------------------------------------------------------------------------------------------
# The soak


def wait_for_run_row(backend: Backend, proc: subprocess.Popen[bytes], run_before: int | None) -> None:
    """Until the crawl has committed its run row, or ended."""
    while proc.poll() is None:
        with backend.archive.reading() as session:
            if session.scalar(select(func.max(CrawlRun.id))) != run_before:
                return
        time.sleep(0.05)


def kill_phase(backend: Backend, run_before: int | None, pages: int) -> str:
    """Where the kill landed, read from the rows the crawl left."""
    with backend.archive.reading() as session:
        run = session.execute(
            select(CrawlRun.id, CrawlRun.status).order_by(CrawlRun.id.desc()).limit(1)
        ).first()
        if run is None or run[0] == run_before:
            return "start-up (no run row yet)"
        if run[1] != "running":
            return "shutdown (run closed)"
        fetched = session.scalar(select(func.count()).select_from(Fetch).where(Fetch.crawl_run_id == run[0]))
    if not fetched:
        return "discovery/fetching (no fetch written)"
    if fetched < pages:
        return "fetching/extraction/writes (some fetches written)"
    return "after the last fetch write"


KINDS = (
    "integrity",
    "version without fetch",
    "seq gap",
    "missing blob",
    "duplicate state",
    "search index",
    "running row not closed",
    "orphaned worker",
    "clean crawl failed",
)


class Tally:
    """Counts shared by the backends' loops (each runs in its own thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kills = 0
        self.violations: Counter[str] = Counter()
        self.details: list[str] = []
        self.phases: Counter[str] = Counter()
        self.modes: Counter[str] = Counter()
        self.not_killed = 0
        self.orphaned = 0
        self.seen: set[str] = set()
        self.stop = threading.Event()

    def report(self, kind: str, detail: str, fact: str | None = None) -> None:
        """Count a broken invariant once: ``fact`` names it when it outlives one check (a row)."""
        with self.lock:
            if fact is not None:
                if fact in self.seen:
                    return
                self.seen.add(fact)
            self.violations[kind] += 1
            if len(self.details) < 40:
                self.details.append(f"{kind}: {detail}")
        print(f"  BROKEN {kind}: {detail}", flush=True)


class BackendLoop:
    """Crawl, kill, check, over and over, against one archive and its own copy of the site."""

    def __init__(
        self, backend: Backend, site: EditingSite, work: Path, rng: random.Random, tally: Tally
    ) -> None:
        self.backend, self.site, self.work, self.rng, self.tally = backend, site, work, rng, tally
        self.command = crawl_command(sources_file(work), site.feed_url, "--workers", "1", "--revisit", "all")
        self.pending_orphans: list[tuple[float, dict[int, str], str]] = []
        self.env = {
            **os.environ,
            "MEDIAWATCH_DATABASE_URL": backend.url,
            "MEDIAWATCH_REMOVAL_CONFIRM_SECONDS": "0",
        }

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.work / "crawl.log").open("wb")  # a file, not a pipe: a full pipe would stall the crawl
        # Started in the lane's own directory: ``python -m`` puts the working directory first on
        # sys.path, so a crawl started from a checkout would import that (changing) checkout and
        # not the copy on PYTHONPATH.
        proc = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=log,
            env=self.env,
            start_new_session=True,
            cwd=self.work,
        )
        log.close()
        return proc

    def log_tail(self) -> str:
        return (self.work / "crawl.log").read_text(errors="replace")[-400:]

    def last_run(self) -> int | None:
        with self.backend.archive.reading() as session:
            return session.scalar(select(func.max(CrawlRun.id)))

    def clean_crawl(self) -> None:
        backend = self.backend
        run_before = self.last_run()
        begin = time.monotonic()
        proc = self.start()
        wait_for_run_row(backend, proc, run_before)
        backend.run_row_seconds.append(time.monotonic() - begin)
        out, _ = proc.communicate(timeout=900)
        backend.catch_ups += 1
        backend.clean_seconds.append(time.monotonic() - begin)
        summary = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not summary or summary[-1].get("status") != "completed":
            self.tally.report(
                "clean crawl failed", f"{backend.name} exit {proc.returncode}: {self.log_tail()}"
            )
        self.check(f"crawl run to completion {backend.catch_ups}")

    def kill_crawl(self) -> bool:
        """One crawl killed at a random point; False when it ended before the kill."""
        backend, rng = self.backend, self.rng
        run_before = self.last_run()
        proc = self.start()
        # A quarter of the kills land in start-up (imports, schema check, run lock, pool start);
        # the rest anywhere between the run row's commit and the crawl's usual end.
        to_run_row = statistics.median(backend.run_row_seconds[-5:])
        total = statistics.median(backend.clean_seconds[-5:])
        if rng.random() < 0.25:
            delay = rng.uniform(0.0, to_run_row)
        else:
            wait_for_run_row(backend, proc, run_before)
            delay = rng.uniform(0.0, max(0.2, total - to_run_row))
        mode = rng.choices(("crawl", "group", "worker-first"), weights=(6, 2, 2))[0]
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        if proc.poll() is not None:
            proc.communicate()
            with self.tally.lock:
                self.tally.not_killed += 1
            if proc.returncode != 0:
                self.tally.report(
                    "clean crawl failed",
                    f"{backend.name} exit {proc.returncode} before its kill: {self.log_tail()}",
                )
            return False
        members = group_members(proc.pid)
        workers = extraction_workers(members, proc.pid)
        if mode == "worker-first" and workers:
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            time.sleep(rng.uniform(0.0, 0.5))
        elif mode == "worker-first":
            mode = "crawl"  # no worker yet: an ordinary kill
        if mode == "group":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGKILL)
        proc.communicate()
        members.update(group_members(proc.pid))  # any child started since the scan
        members.pop(proc.pid, None)
        backend.kills += 1
        label = f"{backend.name} kill {backend.kills}"
        self.pending_orphans.append((time.monotonic() + ORPHAN_GRACE, members, label))
        phase = kill_phase(backend, run_before, len(self.site.histories))
        with self.tally.lock:
            self.tally.kills += 1
            self.tally.modes[mode + (" (workers alive)" if workers else " (no worker yet)")] += 1
            self.tally.phases[phase] += 1
        self.check(f"kill {backend.kills}")
        self.check_orphans()
        return True

    def check(self, when: str) -> None:
        for kind, detail in check_invariants(self.backend):
            # The same broken row is found again by every later check: counted once.
            fact = f"{self.backend.name} {kind}: {detail}"
            self.tally.report(kind, f"{self.backend.name} after {when}: {detail}", fact)

    def check_orphans(self, final: bool = False) -> None:
        keep = []
        for deadline, members, label in self.pending_orphans:
            now = time.monotonic()
            if not final and now < deadline:
                keep.append((deadline, members, label))
                continue
            if now < deadline:
                time.sleep(deadline - now)
            alive = still_alive(members)
            if alive:
                with self.tally.lock:
                    self.tally.orphaned += len(alive)
                self.tally.report(
                    "orphaned worker", f"{len(alive)} process(es) of {label} alive {ORPHAN_GRACE:.0f} s after"
                )
                for pid in alive:
                    os.kill(pid, signal.SIGKILL)
        self.pending_orphans = keep

    def run(self, share: int) -> None:
        try:
            # Two crawls to completion first: they measure the crawl (the range of kill points).
            self.clean_crawl()
            self.clean_crawl()
            while self.backend.kills < share and not self.tally.stop.is_set():
                self.site.edit()
                if self.kill_crawl() and self.backend.kills % CATCH_UP_EVERY == 0:
                    self.clean_crawl()
            self.clean_crawl()
            self.check_orphans(final=True)
        except Exception as exc:  # noqa: BLE001 - one backend's failure must not hide the figures
            self.tally.report("clean crawl failed", f"{self.backend.name}: soak stopped by {exc!r}")


def create_database(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1000, help="SIGKILLs in all (split between backends)")
    parser.add_argument(
        "--pg-url", help="an existing, migrated-or-empty PostgreSQL database (default: throwaway)"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--lanes", type=int, default=1, help="archives soaked side by side per backend (default 1)"
    )
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--progress", type=int, default=50, help="print a line every N kills")
    args = parser.parse_args()

    corpus = corpus_root()
    if corpus is None:
        raise SystemExit("no corpus: set MEDIAWATCH_CORPUS or put it at ../shared/corpus")
    work = Path(tempfile.mkdtemp(prefix="kill-soak-"))
    cluster: PostgresCluster | None = None
    loops: list[BackendLoop] = []
    tally = Tally()
    # Ctrl-C or SIGTERM: stop after the current kill and print the figures so far.
    signal.signal(signal.SIGTERM, lambda *_: tally.stop.set())
    try:
        lanes = range(1, args.lanes + 1)
        urls = [(f"sqlite-{i}", f"sqlite:///{work / f'soak-{i}.db'}") for i in lanes]
        if args.pg_url:
            urls.append(("postgresql-1", args.pg_url))
        elif not args.no_postgres:
            cluster = PostgresCluster()
            cluster.start()
            for i in lanes:
                create_database(cluster.url(), f"soak_{i}")
                urls.append((f"postgresql-{i}", cluster.url(f"soak_{i}")))
        for index, (name, url) in enumerate(urls):
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            rng = random.Random(args.seed * 100 + index)
            (work / name).mkdir()
            site = EditingSite(corpus, rng)
            loops.append(BackendLoop(Backend(name, url, Archive(url)), site, work / name, rng, tally))
        return soak(args, tally, loops)
    finally:
        for loop in loops:
            loop.backend.archive.engine.dispose()
            loop.site.site.stop()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def soak(args: argparse.Namespace, tally: Tally, loops: list[BackendLoop]) -> int:
    started = time.monotonic()
    # The backends are soaked side by side, each against its own archive and site: the crawls
    # mostly wait on start-up and I/O, and one archive never sees the other's crawls.
    shares = [args.kills // len(loops) + (1 if i < args.kills % len(loops) else 0) for i in range(len(loops))]
    threads = [
        threading.Thread(target=loop.run, args=(share,)) for loop, share in zip(loops, shares, strict=True)
    ]
    for thread in threads:
        thread.start()
    printed = 0
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if args.progress and tally.kills >= printed + args.progress:
                printed = tally.kills - tally.kills % args.progress
                broken = sum(tally.violations.values())
                print(f"{tally.kills} kills, {broken} broken, {time.monotonic() - started:.0f} s", flush=True)
    except KeyboardInterrupt:
        tally.stop.set()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - started

    print()
    print(f"kills: {tally.kills} in {elapsed / 60:.1f} min ({elapsed / max(tally.kills, 1):.2f} s per kill)")
    for loop in loops:
        backend = loop.backend
        with backend.archive.reading() as session:
            versions = session.scalar(select(func.count()).select_from(Version))
            fetches = session.scalar(select(func.count()).select_from(Fetch))
            statuses = Counter(session.scalars(select(CrawlRun.status)))
        runs = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        median = statistics.median(backend.clean_seconds) if backend.clean_seconds else 0.0
        print(
            f"  {backend.name}: {backend.kills} kills; {backend.catch_ups} crawls run to completion"
            f" (median {median:.1f} s); {versions} versions and {fetches} fetches archived;"
            f" page edits served {loop.site.edits}; runs: {runs}"
        )
    print("kill modes: " + ", ".join(f"{k} {v}" for k, v in tally.modes.most_common()))
    print("kill points: " + ", ".join(f"{k} {v}" for k, v in tally.phases.most_common()))
    print(f"crawls that ended before their kill (not counted): {tally.not_killed}")
    print(f"orphaned extraction processes: {tally.orphaned}")
    print("invariant violations: " + ", ".join(f"{k} {tally.violations[k]}" for k in KINDS))
    print(f"total violations: {sum(tally.violations.values())}")
    for line in tally.details:
        print("  " + line)
    return 1 if tally.violations else 0


if __name__ == "__main__":
    sys.exit(main())
