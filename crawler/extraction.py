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
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from archive.extract import Extracted, ExtractionError, extract

logger = logging.getLogger(__name__)


class ExtractionTimeout(ExtractionError):
    pass


def _warm_up() -> None:
    # Import trafilatura and its models in the worker before the first real page arrives.
    extract(b"<html><body><article><p>warm up</p></article></body></html>")


def _exit_with_parent() -> None:
    """Exit this worker as soon as the process that started it is gone (whatever killed it)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # the sentinel pipe reads EOF when the crawl process ends
        os._exit(1)  # no cleanup to run: the worker holds nothing the archive needs

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker() -> None:
    _exit_with_parent()
    _warm_up()


def _extract(raw: bytes, url: str | None, content_type: str | None) -> Extracted:
    return extract(raw, url=url, content_type=content_type)


class ExtractionPool:
    """``executor``: run the pages on this one instead of a local process pool (a Dask cluster's,
    see crawler/cluster.py). Its owner enforces the per-page limit where the page runs and closes
    it; here a page over the timeout is only abandoned."""

    def __init__(
        self,
        workers: int,
        timeout: float,
        *,
        func: Callable[..., Extracted] | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self.func = func or _extract  # a module-level function (it is pickled by name)
        self.restarts = 0
        self._executor = executor
        self._pool = self._new_pool()

    def _new_pool(self) -> Executor:
        if self._executor is not None:
            return self._executor
        # forkserver: never fork a process that runs the reactor's threads.
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["archive.extract"])
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_start_worker)
        return pool

    def warm(self) -> None:
        """Start every worker now (not while the first pages wait)."""
        futures = [self._pool.submit(_warm_up) for _ in range(self.workers)]
        for f in futures:
            f.result()

    async def extract(self, raw: bytes, *, url: str | None, content_type: str | None) -> Extracted:
        for attempt in (1, 2):
            pool = self._pool
            try:
                future = pool.submit(self.func, raw, url, content_type)
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
        processes: dict[Any, Any] = getattr(pool, "_processes", None) or {}
        for process in list(processes.values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._executor is None:
            self._pool.shutdown(wait=True, cancel_futures=True)
