"""``extract()`` with and without its shortcuts, on every HTML page of the corpus.

    uv run python bench/extract_shortcuts.py [--limit N] [--only metadata|element-classes]

``extract()`` takes two shortcuts around trafilatura, each meant to change nothing it returns:
it runs trafilatura's metadata steps itself, less those whose results it never reads
(categories, tags, licence; the date search when the page declares its date), and it parses
pages with lxml.html's element classes chosen by lxml (``_ELEMENT_CLASSES``) instead of
lxml.html's Python lookup. This runs every HTML page of the corpus (trafilatura's evaluation
pages and every other ``.html``/``.htm``, gzipped or not) through ``extract()`` both ways, each
with and without a URL: with the shortcuts, and without them (trafilatura's own
``extract_metadata`` inside ``bare_extraction``, lxml.html's own lookup); ``--only`` switches
one shortcut alone. It prints how many results differ (the figure must be 0: run it after
upgrading trafilatura or lxml; exits 1 otherwise), the pages that do, and the CPU a page of each
way with their ratio (the baseline measured in the same run).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import sys
import time
from typing import Any

from crawl_bench import bench_corpus

import archive.extract
from archive.extract import ExtractionError, extract

MAX_PAGE_BYTES = 3_000_000  # larger files in the corpus are WARCs and archives, not pages


def corpus_html() -> list[tuple[str, bytes]]:
    """(name, bytes) of every HTML page of the corpus."""
    root = bench_corpus()
    pages = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.stat().st_size > MAX_PAGE_BYTES:
            continue
        name = path.name.lower()
        evaluation_page = "trafilatura-evaldata" in path.parts and name.endswith(".gz")
        if not (name.endswith((".html", ".htm", ".html.gz", ".htm.gz")) or evaluation_page):
            continue
        raw = path.read_bytes()
        if name.endswith(".gz"):
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                continue  # a gzip that is not one: not a page
        pages.append((str(path.relative_to(root)), raw))
    return pages


SHORTCUTS = ("metadata", "element-classes")


def extract_both(
    pages: list[tuple[str, bytes]], shortcuts: tuple[str, ...] = SHORTCUTS
) -> tuple[dict[Any, Any], dict[Any, Any], float, float]:
    """Each page extracted both ways (without and with ``shortcuts``), with and without a URL,
    the two ways taking turns to go first; the results of each way and the CPU seconds each took."""
    results: tuple[dict[Any, Any], dict[Any, Any]] = ({}, {})
    cpu = [0.0, 0.0]
    own_steps = archive.extract._page_metadata
    element_classes = archive.extract._ELEMENT_CLASSES

    def use(way: int) -> None:
        on = way == 1
        # _page_metadata returning None: trafilatura runs its own steps
        if "metadata" in shortcuts:
            archive.extract._page_metadata = own_steps if on else lambda *args, **kwargs: None
        if "element-classes" in shortcuts:
            archive.extract._ELEMENT_CLASSES = element_classes if on else None  # None: lxml.html's

    turn = 0
    try:
        for name, raw in pages:
            for url in ("https://example.com/news/story", None):
                turn += 1
                for way in (turn % 2, 1 - turn % 2):
                    use(way)
                    started = time.process_time()
                    try:
                        found: Any = extract(raw, url=url)
                    except ExtractionError as exc:
                        found = f"ExtractionError: {exc}"
                    cpu[way] += time.process_time() - started
                    results[way][name, url] = found
    finally:
        archive.extract._page_metadata = own_steps
        archive.extract._ELEMENT_CLASSES = element_classes
    return results[0], results[1], cpu[0], cpu[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="the first N pages only (0: all)")
    parser.add_argument("--only", choices=SHORTCUTS, help="compare with this shortcut alone switched off")
    args = parser.parse_args()
    shortcuts = (args.only,) if args.only else SHORTCUTS
    pages = corpus_html()
    if args.limit:
        pages = pages[: args.limit]
    archive.extract.warm_up()
    archive.extract.warm_dates()
    extract_both(pages[:20], shortcuts)  # each way's first pages pay for code and tables built once
    gc.collect()
    gc.freeze()  # the pages in memory should not weigh on the timings
    reference, shortcut, reference_cpu, shortcut_cpu = extract_both(pages, shortcuts)
    differ = [key for key in reference if reference[key] != shortcut[key]]
    for name, url in differ[:20]:
        print(f"differs: {name} (url {url})")
    n = len(reference)
    print(f"{len(pages)} HTML pages, {n} extractions each way: {len(differ)} differ (must be 0)")
    print(
        f"CPU a page: without {' and '.join(shortcuts)} shortcuts {1000 * reference_cpu / n:.2f} ms"
        " (baseline), "
        f"with them {1000 * shortcut_cpu / n:.2f} ms, ratio {reference_cpu / shortcut_cpu:.2f}x"
    )
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
