"""Database writes of a crawl: one thread, captures recorded in batched transactions.

Several captures that arrive together are recorded by ``archive.store.record_batch`` in one
transaction (one commit, one fsync on SQLite): each as ``record_fetch`` would record it, the
look-ups shared and the fetch rows of unchanged pages inserted together. If the batch fails
(a lost race with another writer), the whole transaction is rolled back and each of its
captures is recorded again on its own with ``archive.store.record``, which retries races.
"""

from __future__ import annotations

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
# How long the writer waits for more captures to join a batch: a batch costs a transaction
# and a few look-ups whatever its size, and the pages of a crawl arrive a few milliseconds
# apart (each page's pipeline awaits its own write, so nothing is acknowledged before it).
LINGER_SECONDS = 0.05


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
        self.thread = threading.Thread(target=self._run, name="mediawatch-db", daemon=True)
        self.thread.start()

    def record(self, capture: Capture, extractor: Callable[..., Any]) -> Future[RecordResult]:
        future: Future[RecordResult] = Future()
        self.queue.put(("record", (capture, extractor), future))
        return future

    def call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run any other database function on the writer thread, in order."""
        future: Future[Any] = Future()
        self.queue.put(("call", (fn, *args), future))
        return future

    def close(self) -> None:
        self.queue.put(_STOP)
        self.thread.join()

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
            batch = [item]
            stop = False
            until = time.monotonic() + self.linger
            while len(batch) < self.max_batch:
                try:
                    nxt = self.queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            records: list[Any] = []
            for entry in batch:  # in order: a call sees the captures queued before it recorded
                kind, args, future = entry
                if kind == "record":
                    records.append(entry)
                    continue
                if records:
                    self._write(records)
                    records = []
                _settle(future, args[0], *args[1:])
            if records:
                self._write(records)
            if stop:
                return

    def _write(self, batch: list[Any]) -> None:
        if len(batch) > 1:
            try:
                with self.sessions.begin() as session:
                    results = record_batch(session, [args for _, args, _future in batch])
                self.batches += 1
                for (_, _, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
                return
            except Exception:  # noqa: BLE001 - the batch is rolled back and retried one by one below
                logger.debug("batch of %d failed; recording one by one", len(batch), exc_info=True)
        if len(batch) == 1:
            [(_, item, future)] = batch
            _settle(future, write_retrying, self.sessions, lambda session: record_batch(session, [item])[0])
            return
        for _, (capture, extractor), future in batch:
            _settle(future, record, self.sessions, capture, extractor=extractor)


def _settle(future: Future[Any], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        future.set_result(fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
        future.set_exception(exc)
