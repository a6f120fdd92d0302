"""Regenerate docs/diff.png: import the NYT Mubarak history, serve it, screenshot the diff page.

    MEDIAWATCH_CORPUS=../shared/corpus uv run python docs/screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import corpus_root  # noqa: E402
from views_site import import_nyt, live_viewer  # noqa: E402

from archive.db import Archive  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    corpus = corpus_root()
    assert corpus is not None, "set MEDIAWATCH_CORPUS"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        with Archive(url) as archive:
            import_nyt(archive, corpus, Path(tmp), ["mubarak-is-on"])
        with live_viewer(url) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(base + "/articles/1/diff?a=1&b=2&changed=1")
            page.screenshot(path=str(ROOT / "docs" / "diff.png"))
            browser.close()


if __name__ == "__main__":
    main()
