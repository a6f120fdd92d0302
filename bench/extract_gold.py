"""Extraction accuracy on all 990 pages of trafilatura's evaluation set (human gold).

    uv run python bench/extract_gold.py

Prints title / author / date accuracy and the share of must-include snippets found and
must-exclude snippets leaked, against bare trafilatura on the same pages (the baseline).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import test_extract  # noqa: E402
from conftest import corpus_root  # noqa: E402
from test_extract import GOLD_STRIDE, metadata_accuracy  # noqa: E402


def main() -> None:
    corpus = corpus_root()
    if corpus is None:
        sys.exit("the shared corpus is absent (set MEDIAWATCH_CORPUS)")
    test_extract.GOLD_STRIDE = 1  # every page, not the test's sample
    started = time.perf_counter()
    scores = metadata_accuracy(corpus)
    seconds = time.perf_counter() - started
    for name, (hit, total) in scores.items():
        print(f"{name:8} {hit:5}/{total:<5} = {hit / total:.3f}")
    print(f"{seconds:.0f} s for all pages (the test suite checks every {GOLD_STRIDE}nd page)")


if __name__ == "__main__":
    main()
