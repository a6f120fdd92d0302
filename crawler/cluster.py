"""Bulk commands and a crawl's extraction on a Dask cluster (``--cluster tcp://HOST:8786``).

The calling process holds the run lock and the run row, submits the work to the Dask scheduler,
tracks it and writes the run's counters; the Dask workers do the CPU work. For ``import-warc``
and ``import`` each file is one task, and for ``rederive`` each chunk of articles: the task
extracts and records straight into the shared PostgreSQL archive (concurrent writers are safe:
the store locks the article row). A crawl keeps its downloads and database writes in the calling
process and sends each page's extraction to the cluster instead of a local process pool.

A task whose worker dies is run again on another worker by Dask. That is safe because every
write is idempotent: an imported record keeps its WARC-Record-ID (or is recognised as the same
fetch) and is skipped the second time, and a re-derivation compares with the current version.
The run's counters are therefore read back from the database, not summed from the tasks: a task
that ran twice would otherwise count as "already imported" what its first attempt recorded.

Each page is extracted in a child process of the worker, abandoned (the child killed) after the
per-page time limit, as in a local crawl. A child process needs a worker that is not daemonic:
workers run with ``DASK_DISTRIBUTED__WORKER__DAEMON=False`` (docs/cluster.md).

Dask is imported only here, and this module only for ``--cluster``: the extra
``mediawatch[cluster]`` installs it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from archive.db import Archive
from archive.errors import ConfigError, InputError, MediawatchError
from archive.extract import Extracted, ExtractionError, extract, warm_dates
from archive.files import require_input_files
from archive.models import Article, Fetch, FetchOutcome
from archive.runs import OpenRun
from crawler.extraction import ExtractionPool, ExtractionTimeout, kill_pool, process_pool

if TYPE_CHECKING:
    from dask.distributed import Client

    from archive.importer import ImportSummary
    from archive.rederive import RederiveSummary
    from archive.warc import WarcImportSummary

logger = logging.getLogger(__name__)

CLUSTER_ENV = "MEDIAWATCH_CLUSTER"
CONNECT_TIMEOUT = 20.0  # seconds to reach the scheduler
WORKERS_TIMEOUT = 60.0  # seconds to wait for a first worker to join the scheduler
TIMEOUT_ENV = "MEDIAWATCH_EXTRACT_TIMEOUT"  # seconds: a page's extraction limit on a worker
DEFAULT_PAGE_TIMEOUT = 60.0  # as a local crawl's
REDERIVE_CHUNK = 50  # articles per rederive task
DAEMON_HINT = (
    "start the Dask workers with DASK_DISTRIBUTED__WORKER__DAEMON=False: mediawatch extracts each "
    "page in a child process to enforce its time limit (docs/cluster.md)"
)


def page_timeout() -> float:
    """The per-page extraction limit for bulk tasks (env MEDIAWATCH_EXTRACT_TIMEOUT, default 60 s)."""
    value = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(value) if value.strip() else DEFAULT_PAGE_TIMEOUT
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86400:
        raise ConfigError(f"{TIMEOUT_ENV}={value!r}: give a number of seconds (at most a day)")
    return seconds


class ClusterUnavailable(MediawatchError):
    """The Dask scheduler cannot be reached, has no workers, or its workers cannot run our tasks."""

    exit_code = 3


# ---------------------------------------------------------------------------------------------
# The calling side


@contextmanager
def connected(address: str) -> Iterator[Client]:
    """A Dask client of the scheduler at ``address`` with at least one worker able to run our
    tasks (same mediawatch version, not daemonic); ClusterUnavailable (exit 3) otherwise."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError(
            "--cluster needs Dask: install the cluster extra (pip install 'mediawatch[cluster]')"
        ) from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise ClusterUnavailable(
                f"no Dask worker joined the scheduler at {address} within {WORKERS_TIMEOUT:.0f} s"
            ) from None
        ours = package_version("mediawatch")
        for worker, (version, daemonic) in client.run(_worker_facts).items():
            if version != ours:
                raise ClusterUnavailable(
                    f"Dask worker {worker} runs mediawatch {version}, this machine {ours}: "
                    "install the same version on every machine"
                )
            if daemonic:
                raise ClusterUnavailable(f"Dask worker {worker} is daemonic: {DAEMON_HINT}")
        yield client
    finally:
        client.close()


def _worker_facts() -> tuple[str, bool]:
    try:
        version = package_version("mediawatch")
    except Exception:  # noqa: BLE001 - a worker without mediawatch installed
        version = "none"
    return version, multiprocessing.current_process().daemon


def _run_tasks(
    client: Client,
    fn: Callable[..., Any],
    items: Sequence[Any],
    *args: Any,
    on_done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """``fn(item, *args)`` for each item as a Dask task; results in the order of ``items``.

    On any way out (an error, SIGTERM turned into Interrupted) the tasks still queued are
    cancelled, so nothing keeps writing into the archive after the run row is closed.
    """
    from dask.distributed import as_completed

    futures = [client.submit(fn, item, *args, pure=False) for item in items]
    index = {future.key: i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(items)
    try:
        for future in as_completed(futures, loop=client.loop):
            i = index[future.key]
            results[i] = future.result()  # re-raises the task's exception here
            if on_done is not None:
                on_done(i, results[i])
    finally:
        client.cancel([f for f in futures if not f.done()])
    return results


@dataclass
class RunRecount:
    """What a run recorded, counted in the database (exact even when a task ran twice)."""

    taken: int = 0
    new_articles: int = 0
    new_versions: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def recount(archive: Archive, run_id: int) -> RunRecount:
    """The fetches, versions and new articles of one run. Under the run lock nothing else writes,
    so an article all of whose fetches belong to this run is one this run created."""
    with archive.reading() as session:
        by_outcome = dict(
            session.execute(
                select(Fetch.outcome, func.count())
                .where(Fetch.crawl_run_id == run_id)
                .group_by(Fetch.outcome)
            ).all()
        )
        elsewhere = select(Fetch.article_id).where(
            Fetch.article_id == Article.id, (Fetch.crawl_run_id != run_id) | Fetch.crawl_run_id.is_(None)
        )
        ours = select(Fetch.article_id).where(Fetch.crawl_run_id == run_id, Fetch.article_id == Article.id)
        new_articles = session.scalar(
            select(func.count()).select_from(Article).where(ours.exists(), ~elsewhere.exists())
        )
    outcomes = {FetchOutcome(k).value: int(v) for k, v in by_outcome.items()}
    return RunRecount(
        taken=sum(outcomes.values()),
        new_articles=int(new_articles or 0),
        new_versions=outcomes.get(FetchOutcome.NEW_VERSION.value, 0),
        outcomes=outcomes,
    )


def _import_files(
    archive: Archive,
    run: OpenRun,
    paths: Sequence[Path],
    address: str,
    task: Callable[..., Any],
    progress: Callable[[int, int], None] | None,
    timeout: float | None,
) -> list[Any]:
    """``task(path, db_url, run_id, timeout)`` for each file, one Dask task each; the results in
    the order of ``paths``, progress counted in bytes of the files done."""
    require_input_files(paths)
    sizes = [p.stat().st_size for p in paths]
    total = sum(sizes)
    done = 0

    def on_done(i: int, _result: Any) -> None:
        nonlocal done
        done += sizes[i]
        if progress is not None:
            progress(done, total)

    with connected(address) as client:
        return _run_tasks(
            client,
            task,
            [str(p.resolve()) for p in paths],
            archive.url,
            run.id,
            timeout or page_timeout(),
            on_done=on_done,
        )


def import_warc_on_cluster(
    archive: Archive,
    run: OpenRun,
    paths: Sequence[Path],
    address: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
) -> WarcImportSummary:
    """``import-warc`` with one Dask task per file; the summary's counts come from the database.

    Files are imported side by side, so an article captured in several files may see its
    captures in another order than a one-machine import would (docs/cluster.md, Limits).
    """
    from archive.warc import WarcImportSummary

    parts = _import_files(archive, run, paths, address, import_warc_task, progress, timeout)
    summary = WarcImportSummary()
    for part in parts:
        summary.files += part.files
        summary.records += part.records
        summary.skipped.update(part.skipped)
        summary.notes.update(part.notes)
        summary.errors.extend(part.errors)
        summary.taken += part.taken
    counted = recount(archive, run.id)
    # Records a killed task's first attempt recorded were "already imported" for its second.
    summary.skipped["already imported"] -= counted.taken - summary.taken
    summary.skipped = +summary.skipped  # drops a count brought to zero
    summary.taken = counted.taken
    summary.new_articles = counted.new_articles
    summary.new_versions = counted.new_versions
    summary.outcomes.clear()
    summary.outcomes.update(counted.outcomes)
    return summary


def import_jsonl_on_cluster(
    archive: Archive,
    run: OpenRun,
    paths: Sequence[Path],
    address: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
) -> list[tuple[Path, ImportSummary]]:
    """``import`` with one Dask task per JSON Lines file (per-file summaries, as a local import)."""
    parts = _import_files(archive, run, paths, address, import_jsonl_task, progress, timeout)
    counted = recount(archive, run.id)
    run.add(
        {
            "files": len(parts),
            "records": sum(p.records for p in parts),
            "new_articles": counted.new_articles,
            "new_versions": counted.new_versions,
            "rejected": sum(len(p.rejected) for p in parts),
        }
    )
    return list(zip(paths, parts, strict=True))


def rederive_on_cluster(
    archive: Archive,
    address: str,
    *,
    url: str | None = None,
    chunk: int = REDERIVE_CHUNK,
    timeout: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RederiveSummary:
    """``rederive`` with one Dask task per chunk of articles (each article its own transaction)."""
    from archive.lookups import find_article
    from archive.rederive import RederiveSummary

    with archive.reading() as session:
        if url is not None:
            article = find_article(session, url)
            ids = [article.id] if article is not None else []
        else:
            ids = list(session.scalars(select(Article.id).order_by(Article.id)))
    chunks = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
    summary = RederiveSummary()
    done = 0

    def on_done(i: int, _part: Any) -> None:
        nonlocal done
        done += len(chunks[i])
        if progress is not None:
            progress(done, len(ids))

    if not chunks:
        return summary
    with connected(address) as client:
        parts = _run_tasks(
            client, rederive_task, chunks, archive.url, timeout or page_timeout(), on_done=on_done
        )
    for part in parts:
        for f in fields(summary):
            setattr(summary, f.name, getattr(summary, f.name) + getattr(part, f.name))
    return summary


@contextmanager
def crawl_extraction(address: str, timeout: float) -> Iterator[Callable[..., ExtractionPool]]:
    """For ``crawl --cluster``: while connected, a factory of extraction pools whose pages run on
    the cluster's workers (under the crawl's per-page limit there; abandoned here after it too).

    Every worker starts its extraction child first: the crawl's wait for a page counts from its
    submission, and a cold child (importing trafilatura) must not eat the first pages' time.
    """
    with connected(address) as client:
        client.run(warm_worker, timeout)
        executor = _ExtractionErrors(client.get_executor(pure=False))

        threads = sum(client.nthreads().values())

        def pool(workers: int, timeout: float, *, score: Any = None) -> ExtractionPool:
            task = partial(extract_task, timeout=timeout)
            # As many pages in flight as the cluster has threads (the pool keeps two per worker).
            return ExtractionPool(max(workers, threads), timeout, func=task, executor=executor, score=score)

        yield pool


class _ExtractionErrors(Executor):
    """The cluster's executor, with a lost task (its workers died, KilledWorker) or a lost
    scheduler turned into an ExtractionError: that page fails, the crawl goes on."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        outer: Future[Any] = Future()
        try:
            inner = self.inner.submit(fn, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the client is closed or the scheduler gone
            outer.set_exception(ExtractionError(f"extraction on the cluster failed: {exc}"))
            return outer

        def relay(done: Future[Any]) -> None:
            if done.cancelled():
                outer.cancel()
                return
            exc = done.exception()
            if exc is None:
                outer.set_result(done.result())
            elif isinstance(exc, ExtractionError):
                outer.set_exception(exc)
            else:
                outer.set_exception(ExtractionError(f"extraction on the cluster failed: {exc}"))

        inner.add_done_callback(relay)
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait)


# ---------------------------------------------------------------------------------------------
# The worker side: module-level functions (Dask pickles them by name), one archive connection
# pool and one extraction child per worker process.

_archives: dict[str, Archive] = {}
_extractors: dict[float, TimedExtractor] = {}
_lock = threading.Lock()


def _worker_archive(db_url: str) -> Archive:
    with _lock:
        archive = _archives.get(db_url)
        if archive is None:
            # The caller opened it first (and migrated it): the schema is at head.
            archive = _archives[db_url] = Archive(db_url, migrate=False)
        return archive


def warm_worker(timeout: float) -> None:
    """Start this worker's extraction child for ``timeout`` now (run on every worker)."""
    _timed(timeout).start()


def _timed(timeout: float) -> TimedExtractor:
    with _lock:
        extractor = _extractors.get(timeout)
        if extractor is None:
            extractor = _extractors[timeout] = TimedExtractor(timeout)
        return extractor


class TimedExtractor:
    """``archive.extract.extract`` in a child process, abandoned after ``timeout`` seconds.

    One pathological page must not wedge a worker: on the time limit the child is killed (the
    page fails as an extraction error, recorded as suspect) and the next page gets a new child.
    """

    def __init__(self, timeout: float, processes: int = 1) -> None:
        self.timeout = timeout
        self.processes = processes
        self.restarts = 0
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                if multiprocessing.current_process().daemon:
                    raise ClusterUnavailable(f"this Dask worker is daemonic: {DAEMON_HINT}")
                pool = process_pool(self.processes)
                # The child's start and warm-up (importing trafilatura, which compiles its date
                # tables) must not count against the first page's time limit.
                for started in [pool.submit(warm_dates) for _ in range(self.processes)]:
                    started.result()
                self._pool = pool
            return self._pool

    def start(self) -> None:
        self._current()

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not pool:
                return
            self._pool = None
            self.restarts += 1
        kill_pool(pool)

    def __call__(self, raw: bytes, *, url: str | None = None, content_type: str | None = None) -> Extracted:
        for attempt in (1, 2):
            pool = self._current()
            try:
                future = pool.submit(extract_page, raw, url, content_type)
                return future.result(timeout=self.timeout)
            except FutureTimeout:
                logger.warning("extracting %s took over %.0f s; abandoned", url, self.timeout)
                self._drop(pool)
                raise ExtractionTimeout(f"extraction took longer than {self.timeout:.0f} s") from None
            except BrokenProcessPool:
                self._drop(pool)
                if attempt == 2:
                    raise ExtractionError("extraction worker died") from None
        raise AssertionError("unreachable")


def extract_page(raw: bytes, url: str | None, content_type: str | None) -> Extracted:
    return extract(raw, url=url, content_type=content_type)


def extract_task(raw: bytes, url: str | None, content_type: str | None, *, timeout: float) -> Extracted:
    """One crawled page's extraction, on a worker."""
    return _timed(timeout)(raw, url=url, content_type=content_type)


def import_warc_task(path: str, db_url: str, run_id: int, timeout: float) -> WarcImportSummary:
    """One WARC/ARC file imported by a worker (a file it cannot read is an error of the summary)."""
    from archive.warc import WarcImportSummary, import_warc

    try:
        return import_warc(
            _worker_archive(db_url), [Path(path)], crawl_run_id=run_id, extractor=_timed(timeout)
        )
    except InputError as exc:
        summary = WarcImportSummary()
        summary.errors.append((path, f"not readable on the Dask worker: {exc}"))
        return summary


def import_jsonl_task(path: str, db_url: str, run_id: int, timeout: float) -> ImportSummary:
    """One JSON Lines file imported by a worker."""
    from archive.importer import import_jsonl

    return import_jsonl(_worker_archive(db_url), Path(path), crawl_run_id=run_id, extractor=_timed(timeout))


def rederive_task(article_ids: list[int], db_url: str, timeout: float) -> RederiveSummary:
    """A chunk of articles re-derived by a worker, one transaction per article."""
    from archive.rederive import RederiveSummary, rederive_article

    sessions = _worker_archive(db_url).sessions
    summary = RederiveSummary()
    for article_id in article_ids:
        with sessions.begin() as session:
            rederive_article(session, article_id, extractor=_timed(timeout), summary=summary)
    return summary
