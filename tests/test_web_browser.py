"""The viewer in a real Chromium (Debian's, driven by Playwright): the archivist's path and XSS."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import PROJECT, unavailable
from corpus_data import nyt_captures
from views_site import PAYLOADS, hostile_archive, import_nyt, live_viewer

from archive.db import Archive

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("MEDIAWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(java_script_enabled=True)  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def test_archivist_filters_opens_an_article_and_compares_two_versions(
    page: object, corpus: Path, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'nyt.db'}"
    with Archive(db_url) as archive:
        import_nyt(archive, corpus, tmp_path, ["mubarak-is-on", "activism-grows-as", "in-shift-china"])
    with live_viewer(db_url) as base:
        p = page
        p.goto(base + "/")  # type: ignore[attr-defined]
        assert p.locator("#count").inner_text().startswith("3 articles")  # type: ignore[attr-defined]
        # Filter: edited only, then the search box.
        p.check("input[name=edited]")  # type: ignore[attr-defined]
        p.fill("input[name=q]", "Mubarak")  # type: ignore[attr-defined]
        p.click("form.filters button[type=submit]")  # type: ignore[attr-defined]
        p.wait_for_url("**/?*edited=1*")  # type: ignore[attr-defined]
        assert p.locator("#count").inner_text().startswith("1 article")  # type: ignore[attr-defined]
        links = p.locator("a.article-link")  # type: ignore[attr-defined]
        assert links.count() == 1
        links.first.click()
        assert "Mubarak Is on Life Support" in p.locator("#title").inner_text()  # type: ignore[attr-defined]
        assert p.locator("#versions tbody tr").count() == 4  # type: ignore[attr-defined]
        captures = len(nyt_captures(corpus, "mubarak-is-on"))
        assert f"{captures} checks" in p.locator("main").inner_text()  # type: ignore[attr-defined]
        # Pick two versions in the diff form (plain GET form, no JavaScript needed).
        p.click("#compare-link")  # type: ignore[attr-defined]
        p.select_option("select[name=a]", "2")  # type: ignore[attr-defined]
        p.select_option("select[name=b]", "3")  # type: ignore[attr-defined]
        p.click("#pick button[type=submit]")  # type: ignore[attr-defined]
        p.wait_for_url("**/diff?a=2&b=3")  # type: ignore[attr-defined]
        inserted = p.locator("#sbs ins").all_inner_texts()  # type: ignore[attr-defined]
        assert inserted == ["Mayy El Sheikh, Dina Salah Amer and Liam Stack contributed reporting."]
        assert p.locator("#sbs del").count() == 0  # type: ignore[attr-defined]
        assert p.locator("#inline-diff ins").all_inner_texts() == inserted  # type: ignore[attr-defined]
        colour = p.eval_on_selector(  # type: ignore[attr-defined]
            "#sbs ins", "e => getComputedStyle(e).backgroundColor"
        )
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent")  # highlighted by the stylesheet
        p.locator("#sbs ins").first.scroll_into_view_if_needed()  # type: ignore[attr-defined]
        ARTIFACTS.mkdir(exist_ok=True)
        p.screenshot(path=str(ARTIFACTS / "diff-page.png"), full_page=False)  # type: ignore[attr-defined]
        assert (ARTIFACTS / "diff-page.png").stat().st_size > 10_000


def test_hostile_archive_runs_no_script_in_any_view(page: object, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'hostile.db'}"
    with Archive(db_url) as archive:
        hostile_archive(archive)
    dialogs: list[str] = []
    console_violations: list[str] = []
    p = page
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    p.on("console", lambda m: console_violations.append(m.text))  # type: ignore[attr-defined]
    requests: list[str] = []
    p.on("request", lambda r: requests.append(r.url))  # type: ignore[attr-defined]
    views = [
        "/",
        "/?q=Paragraph",
        "/articles/1",
        "/articles/1/versions/1",
        "/articles/1/versions/2",
        "/articles/1/diff?a=1&b=2",
        "/search?q=Paragraph",
        "/candidates",
        "/feeds/edits.atom",
        "/api/articles/1",
    ]
    with live_viewer(db_url) as base:
        for view in views:
            p.goto(base + view)  # type: ignore[attr-defined]
            p.wait_for_timeout(300)  # type: ignore[attr-defined]  # let any refresh, onload, onerror fire
            assert p.url == base + view, f"navigated away from {view}"  # type: ignore[attr-defined]
            assert p.evaluate("typeof window.__pwned") == "undefined", view  # type: ignore[attr-defined]
            if view.startswith(("/feeds", "/api")):
                continue
            counts = p.evaluate(  # type: ignore[attr-defined]
                "document.querySelectorAll('script, img, svg:not(.pygal-chart), iframe, base, math, "
                "noscript, meta[http-equiv], form[action^=javascript], a[href^=javascript]').length"
            )
            assert counts == 0, view  # the one SVG allowed is the viewer's own chart
            shown = p.locator("main").inner_text()  # type: ignore[attr-defined]
            if view.startswith("/articles/1"):
                assert "<script>window.__pwned='script'</script>" in shown, view  # shown as text
        # The text of each payload is visible on the version page, character for character.
        p.goto(base + "/articles/1/versions/1")  # type: ignore[attr-defined]
        body_text = p.locator("#version-text").inner_text()  # type: ignore[attr-defined]
        for payload in PAYLOADS:
            assert payload.strip() in body_text, payload
        assert "Title 0 <script>" in p.locator("#title").inner_text()  # type: ignore[attr-defined]
        # The raw capture is a download, never a page that runs.
        with p.expect_download() as download_info:  # type: ignore[attr-defined]
            p.click("a[href$='/versions/1/raw']")  # type: ignore[attr-defined]
        assert download_info.value.suggested_filename == "article-1-version-1.html.txt"
        assert p.evaluate("typeof window.__pwned") == "undefined"  # type: ignore[attr-defined]
    assert dialogs == []
    assert all(r.startswith(base) for r in requests), [r for r in requests if not r.startswith(base)]


def _axe_script() -> Path:
    """axe-core as shipped inside the axe-playwright-python wheel (no npm, works offline)."""
    from importlib.resources import files

    return Path(str(files("axe_playwright_python") / "axe.min.js"))


# Every page type of the viewer, as an archivist meets it: {path: what the page must show}.
AXE_PAGES = {
    "/": "Articles",
    "/?status=removed&edited=1": "Articles",
    "/?q=Mubarak+OR+Singapore": "Articles",
    "/articles/{mubarak}": "Timeline of checks",
    "/articles/{removed}": "Removed since",
    "/articles/{restored}": "Restored on",
    "/articles/{hostile}": "Timeline of checks",
    "/articles/{mubarak}/versions/2": "Cite this version",
    "/articles/{hostile}/versions/2": "Cite this version",
    "/articles/{mubarak}/diff?a=2&b=3": "Side by side",
    "/articles/{mubarak}/diff?a=1&b=4&changed=1": "Side by side",
    "/articles/{hostile}/diff": "Side by side",
    "/articles/{removed}/diff?a=1&b=2": "Side by side",
    "/search": "How to write a search",
    "/search?q=Mubarak+OR+China+-Egypt": "matching article",
    "/search?q=zzzyzzx": "0 matching articles",
    "/search?q=*": "nothing to search for",
    "/candidates": "Candidates",
    "/candidates?status=promoted": "No promoted candidates",
    "/stats": "Per outlet",
    "/stats?since=2012-06-01": "Per day (UTC)",
    "/articles/999999": "no article 999999",
    "/?page=abc": "page: expected a number",
}


def test_axe_core_finds_no_serious_or_critical_violation_on_any_page_type(
    browser: object, corpus: Path, tmp_path: Path
) -> None:
    """axe-core (WCAG 2.x A/AA and best practices) in Chromium on every page type of the viewer."""
    from views_site import remove_and_restore

    from archive.db import Archive as _Archive

    db_url = f"sqlite:///{tmp_path / 'axe.db'}"
    slugs = ["mubarak-is-on", "activism-grows-as", "in-shift-china"]
    with _Archive(db_url) as archive:
        import_nyt(archive, corpus, tmp_path, slugs)
        urls = {slug: nyt_captures(corpus, slug)[0].url for slug in slugs}
        remove_and_restore(
            archive, urls["in-shift-china"], urls["activism-grows-as"], datetime(2030, 1, 1, tzinfo=UTC)
        )
        hostile_archive(archive)
    # The viewer's CSP forbids every script, so the test's own axe-core is let in by bypass_csp.
    context = browser.new_context(bypass_csp=True)  # type: ignore[attr-defined]
    page = context.new_page()
    failures: dict[str, list[str]] = {}
    minor: set[str] = set()
    try:
        with live_viewer(db_url) as base:
            ids = {a["url"]: a["id"] for a in page.request.get(base + "/api/articles").json()["articles"]}
            names = {
                "mubarak": ids[urls["mubarak-is-on"]],
                "removed": ids[urls["in-shift-china"]],
                "restored": ids[urls["activism-grows-as"]],
                "hostile": ids["https://hostile.example/news/xss-test"],
            }
            for template, shown in AXE_PAGES.items():
                path = template.format(**names)
                page.goto(base + path)
                assert shown in page.locator("main").inner_text(), path
                page.add_script_tag(path=str(_axe_script()))
                result = page.evaluate(
                    "axe.run(document, {runOnly: {type: 'tag', values: "
                    "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"
                )
                assert result["passes"], path  # axe really ran and checked something
                bad = [
                    f"{v['id']} ({v['impact']}): {len(v['nodes'])} element(s), e.g. {v['nodes'][0]['target']}"
                    for v in result["violations"]
                    # Serious and critical ones; and an empty table header (minor for axe, but a
                    # screen reader announces a column with no name).
                    if v["impact"] in ("serious", "critical") or v["id"] == "empty-table-header"
                ]
                minor.update(f"{v['id']} ({v['impact']})" for v in result["violations"])
                if bad:
                    failures[path] = bad
    finally:
        context.close()
    print("axe-core, every violation of any impact:", sorted(minor) or "none")
    assert failures == {}, "\n".join(f"{path}: {bad}" for path, bad in failures.items())
