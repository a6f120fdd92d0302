"""The documentation a reader is sent to exists: code comments and the README cite docs/ pages and
sections that are there, and nothing cites the design notes that live outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DOCS = PROJECT / "docs"
SUFFIXES = {".py", ".yaml", ".service", ""}  # "": deploy/crontab
CITING = ["archive", "crawler", "mediawatch", "scheduler.py", "tests", "bench", "config", "deploy", "alembic"]
# "docs/versions.md, Removals": a page, and optionally the title of one of its sections.
CITATION = re.compile(r"docs/([a-z0-9-]+\.md)(?:, ([^\n]+))?")
OUTSIDE = re.compile(r"\b(?:DESIGN|RELIABILITY|SOURCES|PERFORMANCE|STYLE)\.md\b")


def _cited_files() -> list[Path]:
    files: list[Path] = []
    for name in CITING:
        path = PROJECT / name
        if path.is_file():
            files.append(path)
        else:
            files.extend(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    return files


def _headings(page: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in page.read_text().splitlines() if line.startswith("## ")]


def test_code_comments_cite_docs_sections_that_exist() -> None:
    cited = 0
    problems = []
    for path in _cited_files():
        text = path.read_text(errors="replace")
        where = path.relative_to(PROJECT)
        problems += [f"{where}: cites {m.group(0)}, outside the repository" for m in OUTSIDE.finditer(text)]
        for match in CITATION.finditer(text):
            page, rest = DOCS / match.group(1), match.group(2)
            cited += 1
            if not page.is_file():
                problems.append(f"{where}: cites {match.group(0)!r}: no such page")
            elif rest and rest[:1].isupper() and not any(rest.startswith(h) for h in _headings(page)):
                problems.append(f"{where}: cites {match.group(0)!r}: no such section in docs/{page.name}")
    assert not problems, "\n".join(problems)
    assert cited >= 20


def test_readme_links_lead_to_docs_pages() -> None:
    readme = (PROJECT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)(?:#([^)]+))?\)", readme)
    assert len(links) >= 9
    for target, _anchor in links:
        assert (PROJECT / target).is_file(), target
