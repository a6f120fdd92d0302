"""Statistics (docs/statistics.md) on real NYT revision histories, checked against figures
computed here in Python from the captures themselves; the CLI, the /stats page and the article
timeline, with hostile outlet names and titles."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus_data import nyt_captures, nyt_slugs, write_nyt_jsonl
from sqlalchemy import select
from sqlalchemy.orm import Session
from views_site import PAYLOADS

from archive.db import Archive
from archive.diff import ChangeLabel, TextVersion, compare
from archive.importer import import_jsonl, parse_timestamp
from archive.models import Article, Source, SourceKind, VersionChange
from archive.stats import OutletStats
from mediawatch.cli import cli

pytestmark = pytest.mark.slow  # each test imports the 704 NYT captures

HOSTILE_OUTLET = PAYLOADS[0] + " & " + PAYLOADS[5]
EPOCH = "2000-01-01"


def expected_edits(corpus: Path, slug: str) -> list[tuple[datetime, str]]:
    """(time, label) of each text edit of one NYT history, from its captures: a capture whose
    folded text differs from the previous distinct state is an edit, labelled by compare()."""
    edits: list[tuple[datetime, str]] = []
    state = None
    previous: TextVersion | None = None
    for capture in nyt_captures(corpus, slug):
        new = capture.folded_state()
        if new == state:
            continue
        version = TextVersion(
            "\n".join(" ".join(line.split()) for line in capture.text.split("\n") if line.strip()),
            capture.title or None,
            new[1] or None,
        )
        if state is not None and new[2] != state[2]:
            assert previous is not None
            label = compare(previous, version).summary.label.value
            edits.append((parse_timestamp(capture.fetched_at), label))
        previous, state = version, new
    return edits


def nearest_rank(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[-(-len(ordered) * percent // 100) - 1]


@pytest.fixture
def nyt_archive(archive: Archive, corpus: Path, tmp_path: Path) -> tuple[Archive, dict[str, str]]:
    """Every NYT history imported; the first three articles under a hostile outlet name, the
    others under "The New York Times". Returns the archive and {slug: outlet}."""
    path = tmp_path / "nyt.jsonl"
    write_nyt_jsonl(corpus, path)
    assert not import_jsonl(archive, path).rejected
    slugs = nyt_slugs(corpus)
    outlets = {slug: HOSTILE_OUTLET if i < 3 else "The New York Times" for i, slug in enumerate(slugs)}
    with archive.transaction() as session:
        ids = {}
        for name in dict.fromkeys(outlets.values()):
            source = Source(name=name, kind=SourceKind.MANUAL, url="https://www.nytimes.com/")
            session.add(source)
            session.flush()
            ids[name] = source.id
        for slug in slugs:
            url = nyt_captures(corpus, slug)[0].url
            article = session.query(Article).filter(Article.canonical_url.contains(url.split("/")[-1])).one()
            article.source_id = ids[outlets[slug]]
    return archive, outlets


def independent_outlets(corpus: Path, outlets: dict[str, str]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for slug, outlet in outlets.items():
        row = out.setdefault(outlet, {"articles": 0, "edited": 0, "edits": 0, "substantive": 0, "delays": []})
        edits = expected_edits(corpus, slug)
        first = parse_timestamp(nyt_captures(corpus, slug)[0].fetched_at)
        row["articles"] += 1  # type: ignore[operator]
        row["edits"] += len(edits)  # type: ignore[operator]
        row["substantive"] += sum(label == ChangeLabel.SUBSTANTIVE.value for _, label in edits)  # type: ignore[operator]
        if edits:
            row["edited"] += 1  # type: ignore[operator]
            row["delays"].append((edits[0][0] - first).total_seconds())  # type: ignore[attr-defined]
    return out


def test_outlet_statistics_match_the_histories(
    nyt_archive: tuple[Archive, dict[str, str]], corpus: Path
) -> None:
    archive, outlets = nyt_archive
    expected = independent_outlets(corpus, outlets)
    result = CliRunner().invoke(cli, ["stats", "--since", EPOCH, "--json", "--db", archive.url])
    assert result.exit_code == 0, result.output
    rows = {row["outlet"]: row for row in json.loads(result.output)["rows"]}
    assert set(rows) == set(expected)
    assert sum(e["edits"] for e in expected.values()) > 5  # type: ignore[misc]
    for outlet, want in expected.items():
        got = rows[outlet]
        assert got["articles"] == want["articles"], outlet
        assert got["edited"] == want["edited"], outlet
        assert got["edits"] == want["edits"], outlet
        assert got["substantive"] == want["substantive"], outlet
        delays: list[float] = want["delays"]  # type: ignore[assignment]
        assert got["median_first_edit_s"] == pytest.approx(nearest_rank(delays, 50), abs=1)
        assert got["p90_first_edit_s"] == pytest.approx(nearest_rank(delays, 90), abs=1)
        assert sum(got["first_edit_buckets"].values()) == want["edited"]


def test_per_day_edits_and_csv(nyt_archive: tuple[Archive, dict[str, str]], corpus: Path) -> None:
    archive, outlets = nyt_archive
    per_day: dict[str, int] = {}
    for slug in outlets:
        for when, _label in expected_edits(corpus, slug):
            per_day[when.date().isoformat()] = per_day.get(when.date().isoformat(), 0) + 1
    result = CliRunner().invoke(
        cli, ["stats", "--since", EPOCH, "--by", "day", "--format", "csv", "--db", archive.url]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {r["day"]: int(r["edits"]) for r in rows if int(r["edits"])} == per_day
    new_days: dict[str, int] = {}
    for slug in outlets:
        day = parse_timestamp(nyt_captures(corpus, slug)[0].fetched_at).date().isoformat()
        new_days[day] = new_days.get(day, 0) + 1
    assert {r["day"]: int(r["new_articles"]) for r in rows if int(r["new_articles"])} == new_days
    # The outlet table as CSV: a hostile name stays one cell and cannot start a formula.
    result = CliRunner().invoke(cli, ["stats", "--since", EPOCH, "--format", "csv", "--db", archive.url])
    outlets_csv = list(csv.DictReader(io.StringIO(result.output)))
    assert HOSTILE_OUTLET in {r["outlet"] for r in outlets_csv}
    text = CliRunner().invoke(cli, ["stats", "--since", EPOCH, "--db", archive.url])
    assert text.exit_code == 0 and "The New York Times" in text.output


def test_stats_json_does_not_import_the_chart_library(nyt_archive: tuple[Archive, dict[str, str]]) -> None:
    archive, _ = nyt_archive
    probe = (
        "import sys\nfrom mediawatch.cli import cli\n"
        "try:\n    cli.main(args=sys.argv[1:], prog_name='mediawatch')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pygal', 'fastapi'))\n"
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    for args in (["stats", "--json"], ["stats"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args, "--since", EPOCH, "--db", archive.url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "HEAVY []" in done.stderr, done.stderr
        assert done.stdout.strip()


def test_stats_page_and_timeline_escape_hostile_names(nyt_archive: tuple[Archive, dict[str, str]]) -> None:
    from fastapi.testclient import TestClient

    from mediawatch.web.app import create_app

    archive, _ = nyt_archive
    viewer = Archive(archive.url, readonly=True)
    with TestClient(create_app(viewer)) as client:
        page = client.get(f"/stats?since={EPOCH}")
        assert page.status_code == 200
        assert "<script" not in page.text and " style=" not in page.text
        assert page.text.count("<svg") >= 3
        assert "&lt;script&gt;window.__pwned" in page.text  # the hostile name, escaped (table and SVG)
        assert "'self'" in page.headers["content-security-policy"]
        edited = json.loads(client.get(f"/api/stats?since={EPOCH}").text)
        assert sum(o["edits"] for o in edited["outlets"]) > 0
        # The histories span years: one bar per month and label with edits, none drawn for zero.
        charts = re.findall(r"<svg.*?</svg>", page.text, re.S)
        (edits_chart,) = [svg for svg in charts if "Edits per month" in svg]
        bars = [int(v) for v in re.findall(r'<desc class="value">([^<]*)</desc>', edits_chart)]
        assert 0 not in bars and sum(bars) == sum(d["edits"] for d in edited["days"]) > 0
        article = client.get("/articles/1")
        timeline = article.text.split('id="change-timeline">', 1)[1].split("</svg>", 1)[0]
        with archive.reading() as session:
            versions = session.execute(
                select(VersionChange.seq, VersionChange.label)
                .where(VersionChange.article_id == 1)
                .order_by(VersionChange.seq)
            ).all()
        assert len(versions) >= 2
        # One mark per version, each a link to its diff with the version before …
        marks = re.findall(r'<a [^>]*xlink:href="([^"]+)"', timeline)
        assert sorted(marks) == sorted(
            [
                "/articles/1/versions/1",
                *(f"/articles/1/diff?a={a}&amp;b={b}" for (a, _), (b, _) in itertools.pairwise(versions)),
            ]
        )
        # … naming the version and its change label on hover.
        for seq, label in versions[1:]:
            hint = re.search(rf"<title>version {seq}: ([^<]*)</title>", timeline)
            assert hint is not None and (label is None or f", {label}, " in hint.group(1)), seq
        assert client.get("/stats?since=yesterday-ish").status_code == 400
    viewer.close()


@pytest.mark.browser
def test_stats_page_and_timeline_in_chromium(
    nyt_archive: tuple[Archive, dict[str, str]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Both pages render in a real Chromium with their charts; the hostile outlet name runs
    nothing; clicking a timeline mark opens that diff. Screenshots stay in the test's tmp dir."""
    from conftest import unavailable
    from test_web_browser import CHROMIUM, CHROMIUM_ARGS
    from views_site import live_viewer

    archive, _ = nyt_archive
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with live_viewer(archive.url) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(base + f"/stats?since={EPOCH}")
        assert page.locator("svg.pygal-chart").count() == 3
        assert page.evaluate("window.__pwned === undefined")
        assert HOSTILE_OUTLET in page.locator("#outlets").inner_text()
        # The hostile name is text inside the chart's labels, not elements.
        assert page.locator("svg.pygal-chart script, svg.pygal-chart img").count() == 0
        page.screenshot(path=str(tmp_path / "stats.png"), full_page=True)
        page.goto(base + "/articles/1")
        marks = page.locator("#change-timeline svg a")
        assert marks.count() >= 2
        page.locator("#change-timeline").screenshot(path=str(tmp_path / "timeline.png"))
        marks.nth(1).dispatch_event("click")
        page.wait_for_url("**/articles/1/diff?a=*")
        assert "/diff?a=" in page.url
        browser.close()
    assert (tmp_path / "stats.png").stat().st_size > 10_000


def test_stats_page_follows_the_archive_while_the_viewer_runs(
    archive: Archive, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page keeps the figures of an unchanged archive, also while windows given as durations
    are viewed in between; an edit recorded meanwhile shows at once."""
    from fastapi.testclient import TestClient

    from mediawatch.web import stats as stats_web
    from mediawatch.web.app import create_app

    counted: list[datetime | None] = []
    count_outlets = stats_web.outlet_stats

    def counting(session: Session, since: datetime | None) -> list[OutletStats]:
        counted.append(since)
        return count_outlets(session, since)

    monkeypatch.setattr(stats_web, "outlet_stats", counting)
    stats_web.forget()

    slug = next(s for s in nyt_slugs(corpus) if len(expected_edits(corpus, s)) >= 2)
    edits = expected_edits(corpus, slug)
    captures = nyt_captures(corpus, slug)
    before = [c for c in captures if parse_timestamp(c.fetched_at) < edits[-1][0]]
    after = captures[len(before) :]
    for name, part in (("before", before), ("after", after)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(c.as_record()) + "\n" for c in part))
    assert not import_jsonl(archive, tmp_path / "before.jsonl").rejected

    def edits_shown(client: TestClient) -> int:
        return sum(o["edits"] for o in client.get(f"/api/stats?since={EPOCH}").json()["outlets"])

    viewer = Archive(archive.url, readonly=True)
    with TestClient(create_app(viewer)) as client:
        assert edits_shown(client) == edits_shown(client) == len(edits) - 1
        assert len(counted) == 1  # the second view was served from memory
        for _ in range(stats_web.CACHE_SIZE + 1):
            assert client.get("/api/stats?since=30d").status_code == 200
        assert len(counted) == 2 + stats_web.CACHE_SIZE  # a moving window is counted every time…
        assert edits_shown(client) == len(edits) - 1
        assert len(counted) == 2 + stats_web.CACHE_SIZE  # …and pushed nothing out
        assert not import_jsonl(archive, tmp_path / "after.jsonl").rejected
        assert edits_shown(client) == len(edits)
        assert len(counted) == 3 + stats_web.CACHE_SIZE
    viewer.close()
