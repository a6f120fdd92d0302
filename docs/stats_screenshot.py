"""Regenerate docs/stats.png and docs/timeline.png from the NYT revision histories of the corpus.

    MEDIAWATCH_CORPUS=../shared/corpus uv run python docs/stats_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import corpus_root  # noqa: E402
from corpus_data import nyt_slugs  # noqa: E402
from sqlalchemy import update  # noqa: E402
from views_site import import_nyt, live_viewer  # noqa: E402

from archive.db import Archive  # noqa: E402
from archive.models import Article, Source, SourceKind  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    corpus = corpus_root()
    assert corpus is not None, "set MEDIAWATCH_CORPUS"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        with Archive(url) as archive:
            import_nyt(archive, corpus, Path(tmp), nyt_slugs(corpus))
            with archive.transaction() as session:
                source = Source(name="The New York Times", kind=SourceKind.MANUAL, url="https://www.nytimes.com/")
                session.add(source)
                session.flush()
                session.execute(update(Article).values(source_id=source.id))
        with live_viewer(url) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(base + "/stats?since=2000-01-01")
            page.screenshot(path=str(ROOT / "docs" / "stats.png"), full_page=True)
            page.goto(base + "/articles/1")
            page.locator("#change-timeline").screenshot(path=str(ROOT / "docs" / "timeline.png"))
            browser.close()


if __name__ == "__main__":
    main()
