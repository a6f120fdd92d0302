"""Database writes of a crawl: one thread, captures recorded in batched transactions.

The pipeline hands captures over from the event loop; those arriving within ``LINGER_SECONDS``
of each other (up to ``max_batch``) go to the writer thread together, and are recorded by
``archive.store.record_batch`` in one transaction (one commit, one fsync on SQLite): each as
``record_fetch`` would record it, the look-ups shared and the fetch rows of unchanged pages
inserted together. Each capture's future resolves once its batch is committed, so a page is
never counted as archived before it is. If the batch fails (a lost race with another writer),
the whole transaction is rolled back and each of its captures is recorded again on its own
with ``archive.store.record``, which retries races.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from archive.db import write_retrying
from archive.store import Capture, RecordResult, record, record_batch

logger = logging.getLogger(__name__)

_STOP = object()
# How long a capture waits for others to share its batch: a batch costs a transaction, a few
# look-ups and a wake-up of each thread whatever its size, and a crawl's pages arrive a few
# milliseconds apart.
LINGER_SECONDS = 0.1

# A capture waiting for its batch: what ``record_batch`` takes, and the future to resolve.
_Entry = tuple[Capture, Callable[..., Any], "asyncio.Future[RecordResult]"]


class BatchWriter:
    def __init__(
        self, sessions: sessionmaker[Session], *, max_batch: int = 64, linger: float = LINGER_SECONDS
    ) -> None:
        self.sessions = sessions
        self.max_batch = max_batch
        self.linger = linger
        self.batches = 0
        self.cpu_seconds = 0.0  # CPU time of the writer thread, set when it ends
        self.queue: queue.Queue[Any] = queue.Queue()
        self._waiting: list[_Entry] = []  # on the event loop's thread, until handed over
        self._timer: asyncio.TimerHandle | None = None
        self.thread = threading.Thread(target=self._run, name="mediawatch-db", daemon=True)
        self.thread.start()

    def record(self, capture: Capture, extractor: Callable[..., Any]) -> asyncio.Future[RecordResult]:
        """Record a capture with the next batch (called on the event loop)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[RecordResult] = loop.create_future()
        self._waiting.append((capture, extractor, future))
        if len(self._waiting) >= self.max_batch:
            self._hand_over()
        elif self._timer is None:
            self._timer = loop.call_later(self.linger, self._hand_over)
        return future

    def call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run any other database function on the writer thread, after the captures before it."""
        self._hand_over()
        future: Future[Any] = Future()
        self.queue.put(("call", (fn, *args), future))
        return future

    def close(self) -> None:
        self._hand_over()
        self.queue.put(_STOP)
        self.thread.join()

    def _hand_over(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiting:
            self.queue.put(("records", self._waiting, None))
            self._waiting = []

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.cpu_seconds = time.thread_time()

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            kind, args, future = item
            if kind == "call":
                _settle(future, args[0], *args[1:])
                continue
            outcomes = self._write(args)
            loop = args[0][2].get_loop()
            loop.call_soon_threadsafe(_resolve, args, outcomes)

    def _write(self, batch: list[_Entry]) -> list[RecordResult | BaseException]:
        if len(batch) > 1:
            try:
                with self.sessions.begin() as session:
                    results = record_batch(session, [(capture, extractor) for capture, extractor, _ in batch])
                self.batches += 1
                return list(results)
            except Exception:  # noqa: BLE001 - the batch is rolled back and recorded one by one below
                logger.debug("batch of %d failed; recording one by one", len(batch), exc_info=True)
        outcomes: list[RecordResult | BaseException] = []
        for capture, extractor, _ in batch:
            try:
                outcomes.append(self._record_one(capture, extractor, alone=len(batch) == 1))
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                outcomes.append(exc)
        return outcomes

    def _record_one(self, capture: Capture, extractor: Callable[..., Any], *, alone: bool) -> RecordResult:
        """One capture in its own transaction, a lost race retried (``record``); a batch of one
        goes the batch's way (its fetch row inserted without the ORM)."""
        if not alone:
            return record(self.sessions, capture, extractor=extractor)
        return write_retrying(self.sessions, lambda session: record_batch(session, [(capture, extractor)])[0])


def _resolve(batch: list[_Entry], outcomes: list[RecordResult | BaseException]) -> None:
    for (_, _, future), outcome in zip(batch, outcomes, strict=True):
        if future.cancelled():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _settle(future: Future[Any], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        future.set_result(fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
        future.set_exception(exc)
