"""Regenerate docs/stats.png and docs/timeline.png from the NYT revision histories of the corpus.

    MEDIAWATCH_CORPUS=../shared/corpus uv run python docs/stats_screenshot.py
"""

from __future__ import annotations

from screenshot import ROOT, nyt_page
from sqlalchemy import update

from archive.db import Archive
from archive.models import Article, Source, SourceKind


def one_outlet(archive: Archive) -> None:
    with archive.transaction() as session:
        source = Source(name="The New York Times", kind=SourceKind.MANUAL, url="https://www.nytimes.com/")
        session.add(source)
        session.flush()
        session.execute(update(Article).values(source_id=source.id))


def main() -> None:
    with nyt_page(None, height=900, prepare=one_outlet) as (base, page):
        page.goto(base + "/stats?since=2000-01-01")
        page.screenshot(path=str(ROOT / "docs" / "stats.png"), full_page=True)
        page.goto(base + "/articles/1")
        page.locator("#change-timeline").screenshot(path=str(ROOT / "docs" / "timeline.png"))


if __name__ == "__main__":
    main()
