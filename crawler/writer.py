"""Database writes of a crawl: one thread, captures recorded in batched transactions.

``archive.store.record_fetch`` is called once per capture, as always, but several captures
that arrive together share one transaction (one commit, one fsync on SQLite), each inside
its own savepoint. If a batch fails as a whole (a lost race with another writer), each of
its captures is recorded again on its own with ``archive.store.record``, which retries races.
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

from archive.store import Capture, RecordResult, record, record_fetch

logger = logging.getLogger(__name__)

_STOP = object()


class BatchWriter:
    def __init__(self, sessions: sessionmaker[Session], *, max_batch: int = 64) -> None:
        self.sessions = sessions
        self.max_batch = max_batch
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
            while len(batch) < self.max_batch:
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            records = [b for b in batch if b[0] == "record"]
            for kind, args, future in batch:
                if kind == "call":
                    _settle(future, args[0], *args[1:])
            if records:
                self._write(records)
            if stop:
                return

    def _write(self, batch: list[Any]) -> None:
        if len(batch) > 1:
            try:
                results = []
                with self.sessions.begin() as session:
                    for _, (capture, extractor), _future in batch:
                        with session.begin_nested():
                            results.append(record_fetch(session, capture, extractor=extractor))
                self.batches += 1
                for (_, _, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
                return
            except Exception:  # noqa: BLE001 - the batch is rolled back and retried one by one below
                logger.debug("batch of %d failed; recording one by one", len(batch), exc_info=True)
        for _, (capture, extractor), future in batch:
            _settle(future, record, self.sessions, capture, extractor=extractor)


def _settle(future: Future[Any], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        future.set_result(fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
        future.set_exception(exc)
