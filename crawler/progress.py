"""A crawl's progress as it runs: requests done of those queued, pages done of those planned.

A Scrapy extension in the manner of Scrapy's LogStats: while the spider runs it reads the
crawl's stats and the spider's :class:`~crawler.state.CrawlState` a few times a second and hands
a :class:`CrawlProgress` to ``state.progress`` (the CLI's progress bar), and once more when the
spider closes, so the last report holds the final counts. Without a ``progress`` callback it
does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrapy import signals

REPORT_INTERVAL_S = 0.25


@dataclass(frozen=True)
class CrawlProgress:
    requests_done: int  # left the downloader (answered, failed, or refused by robots.txt)
    requests_queued: int  # every request the scheduler took so far (feeds, sitemaps, pages)
    pages_done: int  # article pages fetched and handed to the archive
    pages_planned: int  # new article links claimed so far, plus the revisits planned
    new_articles: int


def snapshot(crawler: Any) -> CrawlProgress:
    """What the crawl has done so far, from Scrapy's scheduler stats and the crawl's state."""
    stats = crawler.stats
    queued = int(stats.get_value("scheduler/enqueued", 0))
    taken = int(stats.get_value("scheduler/dequeued", 0))
    engine = crawler.engine
    # A request taken from the scheduler is in the downloader (its middlewares included) until it
    # is answered or fails; robots.txt fetches go around the scheduler, hence the clamp.
    in_flight = len(engine.downloader.active) if engine is not None else 0
    state = crawler.spider.state
    return CrawlProgress(
        requests_done=min(queued, max(0, taken - in_flight)),
        requests_queued=queued,
        pages_done=state.done_pages,
        pages_planned=state.planned_pages + len(state.plan.revisits),
        new_articles=int(state.counters.get("new_articles", 0)),
    )


class ProgressExtension:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.task: Any = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ProgressExtension:
        return cls(crawler)

    def _report(self) -> None:
        progress = self.crawler.spider.state.progress
        if progress is not None:
            progress(snapshot(self.crawler))

    def spider_opened(self, spider: Any) -> None:
        if getattr(spider, "state", None) is None or spider.state.progress is None:
            return
        from twisted.internet.task import LoopingCall

        self.task = LoopingCall(self._report)
        self.task.start(REPORT_INTERVAL_S, now=True)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.task is None:
            return
        if self.task.running:
            self.task.stop()
        self._report()
