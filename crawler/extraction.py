"""Extraction off the reactor thread: a process pool sized to the cores, with a per-page timeout.

trafilatura holds the GIL for tens of milliseconds per page; run on the reactor thread it
would stall every download. A page that takes longer than the timeout is abandoned: the
pool's processes are killed and a fresh pool takes over (other pages in flight are retried
once on the new pool), so one pathological page cannot wedge a crawl.

Workers die with the crawl: a SIGKILLed or OOM-killed crawl cannot run its shutdown, and a
worker blocks on its task queue forever (it holds both ends). Each worker watches the pipe
multiprocessing keeps from the crawl process (the parent sentinel) and exits when it closes;
the forkserver then sees its last client gone and exits, and the resource tracker follows.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from archive.derive import Prepared, prepare
from archive.derive import warm_up as warm_up_derive
from archive.extract import Extracted, ExtractionError, extract
from archive.extract import warm_up as warm_up_extract
from archive.runlock import signals_held

logger = logging.getLogger(__name__)


class ExtractionTimeout(ExtractionError):
    pass


T = TypeVar("T")
# The topic scorer of this worker's crawl (set once per worker by the pool's initializer).
_score: Callable[[Extracted, str | None], Any] | None = None


def warm_up_worker() -> None:
    # What the first real page would otherwise wait for (see crawler/pool_preload.py). A worker
    # forked from the warmed forkserver has it already and this takes milliseconds; a worker
    # started some other way (a Dask worker's) does it here.
    warm_up_extract()
    warm_up_derive()


def _exit_with_parent() -> None:
    """Exit this worker as soon as the process that started it is gone (whatever killed it)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # the sentinel pipe reads EOF when the crawl process ends
        os._exit(1)  # no cleanup to run: the worker holds nothing the archive needs

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker(score: Callable[[Extracted, str | None], Any] | None = None) -> None:
    global _score
    _score = score
    _exit_with_parent()
    warm_up_worker()


def _extract(raw: bytes, url: str | None, content_type: str | None) -> Extracted:
    return extract(raw, url=url, content_type=content_type)


def _prepare(
    raw: bytes,
    url: str | None,
    content_type: str | None,
    patterns: tuple[str, ...],
    extractor: Callable[..., Extracted] = extract,
    score: Callable[[Extracted, str | None], Any] | None = None,
) -> Prepared:
    """``archive.derive.prepare`` in a worker, scored by ``score`` or else by the scorer the
    worker was started with."""
    return prepare(raw, url, content_type, patterns, extractor=extractor, score=score or _score)


def process_pool(
    workers: int, score: Callable[[Extracted, str | None], Any] | None = None
) -> ProcessPoolExecutor:
    """``workers`` extraction processes, each started with ``score`` as its topic scorer.

    forkserver: never fork a process that runs the reactor's threads. The forkserver warms up
    once (crawler/pool_preload.py) and every worker is forked from it already warm.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["crawler.pool_preload"])
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_start_worker, initargs=(score,)
    )


def kill_pool(pool: Executor) -> None:
    """Kill a pool's processes now (a page over its time limit must not keep its worker busy)
    and shut it down; what was in flight on it fails with BrokenProcessPool or is cancelled."""
    processes: dict[Any, Any] = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


class ExtractionPool:
    """``score``: the crawl's topic scorer (``Relevance.score_extracted``), run in the workers
    on every page :meth:`prepare` extracts; it is sent to each worker once, when it starts.

    ``executor``: run the pages on this one instead of a local process pool (a Dask cluster's,
    see crawler/cluster.py). Its owner enforces the per-page limit where the page runs and closes
    it; here a page over the timeout is only abandoned, and the scorer travels with each page."""

    def __init__(
        self,
        workers: int,
        timeout: float,
        *,
        func: Callable[..., Extracted] | None = None,
        score: Callable[[Extracted, str | None], Any] | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self.func = func or _extract  # a module-level function (it is pickled by name)
        self.score = score
        self.restarts = 0
        self._slots: asyncio.Semaphore | None = None  # made in the event loop, on first use
        self._started: asyncio.Lock | None = None  # the first page starts the workers
        self.warmed = False
        self.start_seconds = 0.0  # how long the first page waited for the workers to start
        self._executor = executor
        # The work of prepare(): a local pool's workers got the scorer when they started; a
        # caller's executor runs pages on workers we did not start, so it goes with each page.
        self._prepare = partial(_prepare, extractor=self.func, score=score if executor is not None else None)
        self._pool = self._new_pool()

    @property
    def executor(self) -> Executor:
        """The pool as a plain executor (bulk commands map their pages over it)."""
        return self._pool

    def _new_pool(self) -> Executor:
        return self._executor if self._executor is not None else process_pool(self.workers, self.score)

    def warm(self) -> None:
        """Start every worker now (not while the first pages wait).

        A worker that dies meanwhile (the kernel's OOM killer, a SIGKILL) breaks the pool as it
        would during a page: a new pool, one more try — the crawl starts rather than failing
        with a dead worker's error before its first page."""
        for attempt in (1, 2):
            pool = self._pool
            try:
                futures = [pool.submit(warm_up_worker) for _ in range(self.workers)]
                for f in futures:
                    f.result()
                self.warmed = True
                return
            except BrokenProcessPool:
                logger.warning("an extraction worker died while starting; restarting the pool")
                self._restart(pool)
                if attempt == 2:
                    raise ExtractionError("extraction worker died while starting") from None

    async def extract(self, raw: bytes, *, url: str | None, content_type: str | None) -> Extracted:
        return await self._run(self.func, raw, url, content_type, url=url)

    async def prepare(
        self, raw: bytes, *, url: str | None, content_type: str | None, patterns: Sequence[str] = ()
    ) -> Prepared:
        """Extract a page and derive what the store needs from it (archive/derive.py), in a worker.

        A page the extractor refuses comes back with ``extracted`` None and ``error`` set; a
        timeout or a dead worker raises, as :meth:`extract` does.
        """
        return await self._run(self._prepare, raw, url, content_type, tuple(patterns), url=url)

    async def start(self) -> None:
        """Start and warm the workers (:meth:`warm`) off the event loop, once, when the first page
        needs them: a crawl that only revisits unchanged pages (304s, the same bytes) starts no
        worker at all, and no page's time limit counts the workers' start."""
        if self.warmed:
            return
        if self._started is None:
            self._started = asyncio.Lock()
        async with self._started:
            if not self.warmed:
                began = time.perf_counter()
                try:
                    await asyncio.to_thread(self.warm)
                finally:
                    self.start_seconds += time.perf_counter() - began

    async def _run(self, fn: Callable[..., T], *args: Any, url: str | None) -> T:
        await self.start()
        # Two pages per worker in the pool (one running, one queued so the worker never waits for
        # the next): the time limit is then a page's own time plus at most one other page's, not
        # the time it waited behind every page a busy crawl has in flight.
        if self._slots is None:
            self._slots = asyncio.Semaphore(2 * self.workers)
        async with self._slots:
            return await self._run_now(fn, *args, url=url)

    async def _run_now(self, fn: Callable[..., T], *args: Any, url: str | None) -> T:
        for attempt in (1, 2):
            pool = self._pool
            try:
                future = pool.submit(fn, *args)
                return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
            except TimeoutError:
                logger.warning("extracting %s took over %.0f s; restarting the pool", url, self.timeout)
                self._restart(pool)
                raise ExtractionTimeout(f"extraction took longer than {self.timeout:.0f} s") from None
            except BrokenProcessPool:
                # A worker died (this page, or another one in flight): new pool, one more try.
                self._restart(pool)
                if attempt == 2:
                    raise ExtractionError("extraction worker died") from None
        raise AssertionError("unreachable")

    def _restart(self, pool: Executor) -> None:
        if pool is not self._pool or self._executor is not None:
            return  # someone else already replaced it; an executor of our caller is never killed
        self.restarts += 1
        self._pool = self._new_pool()
        kill_pool(pool)

    def close(self) -> None:
        if self._executor is None:
            self._pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def local_executor(workers: int | None = None) -> Iterator[Executor]:
    """The crawl's process pool as a plain ``concurrent.futures`` executor, for the bulk commands
    (archive/bulk.py): ``workers`` processes (default one per core), started and warmed now."""
    pool: ExtractionPool | None = None
    try:
        # Held while the pool starts: a SIGTERM or Ctrl-C that lands while the executor is
        # spawning a worker would leave that worker half-started and untracked (it then dies
        # printing a traceback once the pool's semaphores are gone).
        with signals_held():
            pool = ExtractionPool(workers or os.cpu_count() or 1, timeout=0)
            pool.warm()
        # A SIGTERM held during the start is delivered as the block ends: the pool is closed
        # then too (left open, its manager thread failed at exit with a traceback).
        yield pool.executor
    finally:
        if pool is not None:
            pool.close()
