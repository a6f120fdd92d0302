"""Progress bars on a terminal, with the log lines printed above them rather than into them.

Only on a terminal: when stderr is a pipe or a file (cron, the scheduler's journal, tests) there
is no bar and log lines are written as they always are. Rich treats stderr as a terminal when
``TTY_COMPATIBLE=1`` is set (or ``FORCE_COLOR``), which is how the tests see the bar.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

    from crawler.progress import CrawlProgress


@contextmanager
def logs_above_the_bar() -> Iterator[None]:
    """Route the root logger's stderr handlers through the live display while it runs.

    A running rich ``Progress`` replaces ``sys.stderr`` with a proxy that prints each line above
    the bar; the logging handlers still hold the real stderr, so a WARNING would be written into
    the middle of the bar's line. Each such handler writes to the proxy meanwhile (same format,
    same filters), and gets its stream back afterwards.
    """
    real = getattr(sys.stderr, "rich_proxied_file", None)
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    if real is not None:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is real:
                swapped.append((handler, handler.setStream(sys.stderr)))
    try:
        yield
    finally:
        for handler, stream in swapped:
            handler.setStream(stream)


def crawl_counts(p: CrawlProgress) -> str:
    """The bar's text: ``12/40 requests, 9/31 pages, 4 new``."""
    return (
        f"{p.requests_done}/{p.requests_queued} requests, "
        f"{p.pages_done}/{p.pages_planned} pages, {p.new_articles} new"
    )


class CrawlProgressBar:
    """``with CrawlProgressBar(enabled) as report:`` a bar of the crawl's requests, with its page
    counts beside it; ``report`` is None (nothing to show) when disabled or not on a terminal."""

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console
        self.bar: Progress | None = None
        self._logs: Any = None

    def __enter__(self) -> Callable[[CrawlProgress], None] | None:
        console = self.console or Console(stderr=True)
        if not self.enabled or not console.is_terminal:
            return None
        # Imported only when a bar is drawn (every command imports this module).
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        bar.start()
        self._logs = logs_above_the_bar()
        self._logs.__enter__()
        task = bar.add_task("crawling", total=None, counts="starting")

        def report(p: CrawlProgress) -> None:
            # The bar is of requests (known from the first one on); pages are only known once
            # the feeds and sitemaps are read.
            total = p.requests_queued or None
            bar.update(task, completed=p.requests_done, total=total, counts=crawl_counts(p))

        return report

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self._logs.__exit__(None, None, None)
            self.bar.stop()
