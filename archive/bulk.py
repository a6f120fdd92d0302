"""Bulk commands (``import``, ``import-warc``, ``rederive``, ``backfill``) in parallel, writes batched.

Extraction (and what ``archive.derive`` derives from it) is the CPU-heavy part of recording a
page; the database writes are not. So a bulk command reads its input in order, hands each page
to an *executor* to extract and derive, and records the results **in input order** (versions
are numbered in the order they were observed) in batched transactions, one savepoint per
capture. A batch that fails as a whole (a race with another writer) is written again capture by
capture, each in its own transaction with the store's race retries.

The executor is anything with ``submit`` returning a ``concurrent.futures.Future``-like object
(``result()``): the crawl's local process pool (``concurrent.futures.ProcessPoolExecutor``), a
Dask ``Client.get_executor()``, or :class:`InlineExecutor` (in the calling process, one page at
a time: the default when none is given). What is submitted is a module-level function and plain
data, so it pickles. At most ``window`` pages are in flight, so memory stays bounded however
large the input.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from archive.db import write_retrying
from archive.derive import Prepared, prepare
from archive.extract import Extracted, ExtractionError, extract
from archive.store import Capture

logger = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
# Pages in flight per executor worker: enough that the workers never wait for the writer.
IN_FLIGHT_PER_WORKER = 8
MIN_WINDOW = 16
# Captures recorded per transaction.
WRITE_BATCH = 32
# Pages a task of an import's executor carries at most. A process pool's task costs the calling process
# about 0.4 ms of CPU whatever it carries (its threads hand the task over and its result back; a
# Dask task costs its scheduler more), against some 30 ms of extraction a page on the workers
# (docs/development.md, Parallel work).
PAGES_PER_TASK = 4


class InlineExecutor(Executor):
    """Runs each call at once in the calling process (the default executor of bulk commands)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the future
            future.set_exception(exc)
        return future


def _workers(executor: Any) -> int | None:
    """How many workers the executor runs pages on (None: the calling process, one at a time)."""
    if executor is None or isinstance(executor, InlineExecutor):
        return None
    return int(getattr(executor, "_max_workers", None) or 2)


def window_for(executor: Any) -> int:
    """How many pages to keep in flight on this executor."""
    workers = _workers(executor)
    return 1 if workers is None else max(MIN_WINDOW, IN_FLIGHT_PER_WORKER * workers)


def pages_per_task_for(executor: Any, window: int) -> int:
    """How many pages one task of this executor carries: up to ``PAGES_PER_TASK``, while each
    worker still has a task running and one waiting within ``window`` pages in flight.

    For a loop whose every item is a page (``Recorder``: ``import``, ``import-warc``). Rederive's
    window also counts an item per article, with no page: four pages a task left its workers
    waiting for their next task (2 workers kept 87 % of bare extraction on the same pool instead of
    91 %), so it sends one page a task, as backfill does (a window of one page a worker).
    """
    workers = _workers(executor)
    return 1 if workers is None else max(1, min(PAGES_PER_TASK, window // (2 * workers)))


@dataclass(frozen=True)
class _Failed:
    """A call of a task of several pages that raised (re-raised when its item's turn comes)."""

    error: Exception


def run_calls(fn: Callable[..., R], calls: list[tuple[Any, ...]]) -> list[R | _Failed]:
    """``fn(*args)`` for each ``args`` of ``calls``: one task of the executor for several pages.
    A call that raises does not fail the others."""
    results: list[R | _Failed] = []
    for args in calls:
        try:
            results.append(fn(*args))
        except Exception as exc:  # noqa: BLE001 - re-raised for its own item by Ahead
            results.append(_Failed(exc))
    return results


class _Task:
    """Calls of one function waiting to go to the executor together, then their future."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.calls: list[tuple[Any, ...]] = []
        self.size = 0  # calls it carries, once submitted (their arguments are not kept)
        self.future: Future[Any] | None = None


class Ahead(Generic[T, R]):
    """Items in input order, each with the result of the work submitted for it (or None).

    ``put(item, fn, *args)`` submits ``fn(*args)`` (``fn`` None: nothing to do for this item);
    ``ready()`` yields the oldest items whose turn has come while more than ``window`` are in
    flight; ``drain()`` yields all the rest. Calls of the same ``fn`` go to the executor
    ``per_task`` at a time, as one task (:func:`run_calls`; see :func:`pages_per_task_for`);
    each item still gets its own call's result or exception.
    """

    def __init__(self, executor: Any, window: int | None = None, per_task: int = 1) -> None:
        self.executor = executor if executor is not None else InlineExecutor()
        self.window = window if window is not None else window_for(executor)
        self.per_task = per_task
        # Each item with its task and its call's place in it (no task: nothing to do).
        self.pending: deque[tuple[T, _Task | None, int]] = deque()
        self.filling: _Task | None = None  # the task calls are added to, not yet submitted

    def put(self, item: T, fn: Callable[..., R] | None = None, *args: Any) -> None:
        if fn is None:
            self.pending.append((item, None, 0))
            return
        if self.filling is not None and self.filling.fn is not fn:
            self._send()
        if self.filling is None:
            self.filling = _Task(fn)
        task = self.filling
        task.calls.append(args)
        self.pending.append((item, task, len(task.calls) - 1))
        if len(task.calls) >= self.per_task:
            self._send()

    def ready(self) -> Iterator[tuple[T, R | None]]:
        while len(self.pending) > self.window:
            yield self._pop()

    def drain(self) -> Iterator[tuple[T, R | None]]:
        while self.pending:
            yield self._pop()

    def _send(self) -> None:
        task, self.filling = self.filling, None
        if task is None:
            return
        task.size, calls, task.calls = len(task.calls), task.calls, []
        if task.size == 1:
            task.future = self.executor.submit(task.fn, *calls[0])
        else:
            task.future = self.executor.submit(run_calls, task.fn, calls)

    def _pop(self) -> tuple[T, R | None]:
        item, task, index = self.pending.popleft()
        if task is None:
            return item, None
        if task.future is None:
            self._send()  # its turn has come: the task goes as it is
        assert task.future is not None
        results = task.future.result()
        if task.size == 1:
            return item, results
        result = results[index]
        if isinstance(result, _Failed):
            raise result.error
        return item, result


# ---------------------------------------------------------------------------------------------
# Captures


def needs_extraction(capture: Capture) -> bool:
    """Whether the store would extract this capture (HTML bytes of a 2xx, not yet extracted)."""
    return (
        capture.extracted is None
        and capture.raw is not None
        and capture.status is not None
        and 200 <= capture.status < 300
        and not capture.error
    )


def prepare_capture(
    raw: bytes,
    url: str,
    content_type: str | None,
    patterns: tuple[str, ...],
    extractor: Callable[..., Extracted] = extract,
) -> Prepared:
    """The unit of work of a bulk command: extract one capture's bytes and derive from them."""
    return prepare(raw, url, content_type, patterns, extractor=extractor)


def prepare_args(capture: Capture, extractor: Callable[..., Extracted] = extract) -> tuple[Any, ...]:
    """The arguments of :func:`prepare_capture` for a capture (the URL the store extracts with)."""
    assert capture.raw is not None
    url = capture.final_url or capture.url
    if extractor is extract:
        return (capture.raw, url, capture.content_type, capture.ignore_patterns)
    return (capture.raw, url, capture.content_type, capture.ignore_patterns, extractor)


class FailedExtraction:
    """An extractor that fails with the worker's message: the store records a suspect fetch."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, *_args: Any, **_kwargs: Any) -> Extracted:
        raise ExtractionError(self.message)


def with_prepared(capture: Capture, prepared: Prepared | None) -> tuple[Capture, Callable[..., Extracted]]:
    """The capture with its extraction and derived data, and the extractor to record it with."""
    if prepared is None:
        return capture, extract
    if prepared.extracted is None:
        return replace(capture, derived=prepared.derived), FailedExtraction(prepared.error or "not extracted")
    return replace(capture, extracted=prepared.extracted, derived=prepared.derived), extract


# ---------------------------------------------------------------------------------------------
# Batched writes


def write_batch(
    sessions: sessionmaker[Session],
    items: list[T],
    write: Callable[[Session, T], R],
    *,
    attempts: int = 5,
    write_many: Callable[[Session, list[T]], list[R]] | None = None,
) -> list[R]:
    """``write(session, item)`` for each item: in one transaction (a savepoint each) when it
    goes through, else each in its own transaction, a lost race retried.

    ``write_many(session, items)``, when given, writes the whole batch in that one transaction
    instead (the same results as ``write`` of each in turn, with fewer statements: the store's
    ``record_batch``); ``write`` is still the capture-by-capture way after a failed batch.
    """
    if len(items) > 1:
        try:
            with sessions.begin() as session:
                if write_many is not None:
                    results = write_many(session, items)
                else:
                    results = []
                    for item in items:
                        with session.begin_nested():
                            results.append(write(session, item))
            return results
        except (IntegrityError, OperationalError):
            logger.debug("batch of %d failed; writing one by one", len(items), exc_info=True)
    return [write_one(sessions, item, write, attempts=attempts) for item in items]


def write_one(
    sessions: sessionmaker[Session], item: T, write: Callable[[Session, T], R], *, attempts: int = 5
) -> R:
    """``write(session, item)`` in its own transaction; a lost race is retried against the winner."""
    return write_retrying(sessions, lambda session: write(session, item), attempts=attempts)


class Batches(Generic[T, R]):
    """Items written ``size`` at a time with :func:`write_batch`, each result handed to ``done``
    in input order. ``flush()`` writes what is left."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        write: Callable[[Session, T], R],
        done: Callable[[R], object],
        size: int | None = None,
        write_many: Callable[[Session, list[T]], list[R]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.write = write
        self.write_many = write_many
        self.done = done
        self.size = size if size is not None else WRITE_BATCH
        self.items: list[T] = []

    def add(self, item: T) -> None:
        self.items.append(item)
        if len(self.items) >= self.size:
            self.flush()

    def flush(self) -> None:
        items, self.items = self.items, []
        for result in write_batch(self.sessions, items, self.write, write_many=self.write_many):
            self.done(result)


class Recorder(Generic[T, P, R]):
    """A bulk command's loop: work submitted ahead on the executor, each item recorded with the
    result of its work, in input order, in batched transactions.

    ``put(item, fn, *args)`` submits ``fn(*args)`` for ``item`` (``fn`` None: nothing to do) and
    records the items whose turn has come with ``write(session, (item, result))`` (or a batch of
    them with ``write_many``, see :func:`write_batch`), handing what that returns to ``done``;
    ``flush()`` records everything put so far.
    """

    def __init__(
        self,
        executor: Any,
        sessions: sessionmaker[Session],
        write: Callable[[Session, tuple[T, P | None]], R],
        done: Callable[[R], object],
        write_many: Callable[[Session, list[tuple[T, P | None]]], list[R]] | None = None,
    ) -> None:
        window = window_for(executor)
        self.ahead: Ahead[T, P] = Ahead(executor, window, pages_per_task_for(executor, window))
        self.batches: Batches[tuple[T, P | None], R] = Batches(sessions, write, done, write_many=write_many)

    def put(self, item: T, fn: Callable[..., P] | None = None, *args: Any) -> None:
        self.ahead.put(item, fn, *args)
        for ready in self.ahead.ready():
            self.batches.add(ready)

    def flush(self) -> None:
        for ready in self.ahead.drain():
            self.batches.add(ready)
        self.batches.flush()
