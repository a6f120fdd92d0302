"""Regenerate docs/diff.png: import the NYT Mubarak history, serve it, screenshot the diff page.

    MEDIAWATCH_CORPUS=../shared/corpus uv run python docs/screenshot.py

``nyt_page`` is the set-up every screenshot script here shares (docs/stats_screenshot.py too).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import corpus_root  # noqa: E402
from views_site import import_nyt, live_viewer  # noqa: E402

from archive.db import Archive  # noqa: E402


@contextmanager
def nyt_page(
    slugs: list[str] | None, *, height: int, prepare: Callable[[Archive], None] | None = None
) -> Iterator[tuple[str, Any]]:
    """The corpus's NYT histories (``slugs``; None: all of them) in a throwaway archive, passed to
    ``prepare``, served by the viewer: its base URL and a Chromium page 1100 px wide."""
    from playwright.sync_api import sync_playwright

    corpus = corpus_root()
    assert corpus is not None, "set MEDIAWATCH_CORPUS"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        with Archive(url) as archive:
            import_nyt(archive, corpus, Path(tmp), slugs)
            if prepare is not None:
                prepare(archive)
        with live_viewer(url) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                yield base, browser.new_page(viewport={"width": 1100, "height": height})
            finally:
                browser.close()


def main() -> None:
    with nyt_page(["mubarak-is-on"], height=760) as (base, page):
        page.goto(base + "/articles/1/diff?a=1&b=2&changed=1")
        page.screenshot(path=str(ROOT / "docs" / "diff.png"))


if __name__ == "__main__":
    main()
